package seal_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
)

// TestPublicKeyFrom_LedgerKey: a key as the ledger records it converts to
// the same seal key, with the same fingerprint and JSON, and back; what the
// ledger refuses, seal refuses as ErrMalformed.
func TestPublicKeyFrom_LedgerKey(t *testing.T) {
	k := testKey(t, "alpha")
	lk := k.Public().Ledger()
	if lk.Scheme != "x-wing" || lk.Validate() != nil {
		t.Fatalf("Ledger() = %+v: %v", lk.Scheme, lk.Validate())
	}
	p, err := seal.PublicKeyFrom(lk)
	if err != nil || !p.Equal(k.Public()) || p.Fingerprint() != lk.Fingerprint() || p.Fingerprint() != k.Public().Fingerprint() {
		t.Fatalf("PublicKeyFrom: %v, fingerprint %s, want %s", err, p.Fingerprint(), k.Public().Fingerprint())
	}
	a, _ := json.Marshal(lk)
	b, _ := json.Marshal(p)
	if string(a) != string(b) {
		t.Fatalf("JSON differs:\n%s\n%s", a, b)
	}
	if !(seal.PublicKey{}).Ledger().Equal(ledger.EncryptionKey{}) {
		t.Fatal("the zero key has a ledger form")
	}
	_, err = seal.PublicKeyFrom(ledger.EncryptionKey{Scheme: "ml-kem-768", Key: lk.Key})
	wantErr(t, err, seal.ErrMalformed)
	if !strings.Contains(err.Error(), `scheme: must be "x-wing"`) {
		t.Fatalf("error %q", err)
	}
}

// TestReadKeyFile_SealsAndOpens: the encryption key of a member's key file
// opens what is sealed to the public key the ledger records for it; a key
// file without one is refused with a reason.
func TestReadKeyFile_SealsAndOpens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alpha.key")
	if err := ledger.WriteKeyFileWithEncryption(path, "alpha", ledgertest.Key("alpha", ledger.SchemeEd25519), ledgertest.EncryptionSeed("alpha")); err != nil {
		t.Fatal(err)
	}
	member, k, err := seal.ReadKeyFile(path)
	if err != nil || member != "alpha" {
		t.Fatalf("ReadKeyFile: %q, %v", member, err)
	}
	registered, err := seal.PublicKeyFrom(ledgertest.EncryptionKey("alpha"))
	if err != nil || !registered.Equal(k.Public()) {
		t.Fatalf("the file's key is not the registered one: %v", err)
	}
	s, _, err := seal.Seal(testTerms, []seal.Recipient{{Member: "alpha", Key: registered}}, testBinding)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := seal.Open(s, "alpha", k, testBinding)
	if err != nil || string(got) != string(testTerms) {
		t.Fatalf("Open: %q, %v", got, err)
	}

	old := filepath.Join(dir, "old.key")
	if err := ledger.WriteKeyFile(old, "alpha", ledgertest.Key("alpha", ledger.SchemeEd25519)); err != nil {
		t.Fatal(err)
	}
	if _, k, err := seal.ReadKeyFile(old); k != nil || err == nil || !strings.Contains(err.Error(), "holds no encryption key") {
		t.Fatalf("a key file without an encryption key: %v, %v", k, err)
	}
}
