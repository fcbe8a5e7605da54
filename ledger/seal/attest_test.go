package seal_test

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"testing"

	"github.com/charta/charta/ledger/seal"
)

// TestStatementTag_IsHMACUnderTheDerivedKey recomputes the tag from the
// documented formula with the standard library's HKDF and HMAC, and checks
// that it depends on both the statement and the grant's salt.
func TestStatementTag_IsHMACUnderTheDerivedKey(t *testing.T) {
	o := seal.Opening{Salt: bytes.Repeat([]byte{7}, seal.SaltSize), Plaintext: []byte(`{"usage":{}}`)}
	st := []byte(`{"format":"charta-statement/1","total_micros":42}`)
	got, err := seal.StatementTag(o, st)
	if err != nil {
		t.Fatal(err)
	}
	k, err := hkdf.Key(sha256.New, o.Salt, nil, "charta-seal-v1 statement attestation", 32)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, k)
	m.Write(st)
	if !bytes.Equal(got[:], m.Sum(nil)) {
		t.Fatalf("tag %x is not HMAC-SHA256 under the derived key", got)
	}
	if plain := sha256.Sum256(st); got == plain {
		t.Fatal("the tag is the plain hash of the statement")
	}
	other, _ := seal.StatementTag(o, append(st[:len(st):len(st)], ' '))
	o2 := o
	o2.Salt = bytes.Repeat([]byte{8}, seal.SaltSize)
	salted, _ := seal.StatementTag(o2, st)
	if other == got || salted == got {
		t.Fatal("the tag does not depend on both the statement and the salt")
	}
	if _, err := seal.StatementTag(seal.Opening{Salt: []byte{1}}, st); err == nil {
		t.Fatal("a short salt was accepted")
	}
}
