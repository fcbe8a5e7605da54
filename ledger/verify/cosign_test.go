package verify_test

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// TestCosign_StockVerifiers checks each member node's signature lines with
// third-party code only: golang.org/x/mod/sumdb/note for the plain Ed25519
// signature under the origin, and transparency-dev/formats for the C2SP
// cosignature/v1, each given nothing but the vkey Charta publishes.
func TestCosign_StockVerifiers(t *testing.T) {
	f := newFixture(t, "Test consortium")
	cp := f.checkpoint()
	text := f.note(cp, all3...)
	for _, m := range all3 {
		pk := ledgertest.Key(m, schemes[m]).Public()
		logKey, ok := verify.NoteVKey(cp.Origin, pk)
		if !ok {
			t.Fatalf("%s: no note vkey", m)
		}
		v, err := note.NewVerifier(logKey)
		if err != nil {
			t.Fatalf("%s: x/mod/sumdb/note refuses vkey %q: %v", m, logKey, err)
		}
		n, err := note.Open([]byte(text), note.VerifierList(v))
		if err != nil || len(n.Sigs) != 1 || n.Sigs[0].Name != cp.Origin || n.Text != cp.Body() {
			t.Fatalf("%s: note.Open: %+v %v", m, n, err)
		}
		cosigKey, ok := verify.CosignatureVKey(cp.Origin, m, pk)
		if !ok {
			t.Fatalf("%s: no cosignature vkey", m)
		}
		cv, err := fnote.NewVerifierForCosignatureV1(cosigKey)
		if err != nil {
			t.Fatalf("%s: formats refuses vkey %q: %v", m, cosigKey, err)
		}
		n, err = note.Open([]byte(text), note.VerifierList(cv))
		if err != nil || len(n.Sigs) != 1 || n.Sigs[0].Name != verify.KeyName(cp.Origin, m) {
			t.Fatalf("%s: cosignature/v1: %+v %v", m, n, err)
		}
		ts, err := fnote.CoSigV1Timestamp(n.Sigs[0])
		if err != nil || ts.Unix() != cosignTime {
			t.Fatalf("%s: cosignature timestamp %v %v, want %d", m, ts, err, cosignTime)
		}
		// The key ID is the one C2SP tlog-cosignature defines.
		ed, _ := pk.Ed25519()
		h := sha256.Sum256(append([]byte(verify.KeyName(cp.Origin, m)+"\n\x04"), ed...))
		if cv.KeyHash() != binary.BigEndian.Uint32(h[:]) {
			t.Fatalf("%s: key hash %08x, want SHA-256(name ‖ 0x0A ‖ 0x04 ‖ key)[:4] %x", m, cv.KeyHash(), h[:4])
		}
	}
}

// TestCosign_PostQuantumCounts: a composite key's Ed25519 lines do not
// count on their own (an Ed25519 forger would pass); its post-quantum
// cosignature does. An ML-DSA key, which has no Ed25519 part, signs only
// the post-quantum cosignature.
func TestCosign_PostQuantumCounts(t *testing.T) {
	f := newFixture(t, "Test consortium")
	cp := f.checkpoint()
	tr := &verify.Trust{Consortium: f.consortium(), Threshold: 1, Keys: map[string][]ledger.PublicKey{
		"gamma": {ledgertest.Key("gamma", ledger.SchemeComposite).Public()},
		"delta": {ledgertest.Key("delta", ledger.SchemeMLDSA65).Public()},
	}}
	n, err := verify.ParseNote(f.note(cp, "gamma"))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Sigs) != 3 {
		t.Fatalf("composite: %d lines, want log, cosignature/v1 and post-quantum", len(n.Sigs))
	}
	edOnly := &verify.Note{Text: n.Text, Sigs: n.Sigs[:2]}
	if _, s, err := tr.VerifyCheckpoint(edOnly.String(), 1); !errors.Is(err, verify.ErrThreshold) || len(s) != 0 {
		t.Fatalf("composite member counted on Ed25519 lines alone: %v %v", s, err)
	}
	if _, s, err := tr.VerifyCheckpoint(n.String(), 1); err != nil || strings.Join(s, ",") != "gamma" {
		t.Fatalf("composite with its post-quantum cosignature: %v %v", s, err)
	}
	ml, err := verify.CosignCheckpoint(cp, "delta", ledgertest.Key("delta", ledger.SchemeMLDSA65), cosignTime)
	if err != nil || len(ml.Sigs) != 1 {
		t.Fatalf("ml-dsa-65: %+v %v", ml, err)
	}
	if _, ok := verify.NoteVKey(cp.Origin, ledgertest.Key("delta", ledger.SchemeMLDSA65).Public()); ok {
		t.Fatal("an ML-DSA key has a note vkey")
	}
	if _, s, err := tr.VerifyCheckpoint(ml.String(), 1); err != nil || strings.Join(s, ",") != "delta" {
		t.Fatalf("ml-dsa-65: %v %v", s, err)
	}
	// Its timestamp is signed: changing it breaks the signature.
	ml.Sigs[0].Sig[7] ^= 1
	if _, _, err := tr.VerifyCheckpoint(ml.String(), 1); !errors.Is(err, verify.ErrSignature) {
		t.Fatalf("changed timestamp: %v", err)
	}
}

// TestCosign_LegacyStillVerifies: checkpoints cosigned before
// cosignature/v1 (plain signatures by the whole key under
// "<origin>/<member>") still verify, so old receipts and certificates do.
func TestCosign_LegacyStillVerifies(t *testing.T) {
	f := newFixture(t, "Test consortium")
	cp := f.checkpoint()
	n := &verify.Note{Text: cp.Body()}
	for _, m := range all3 {
		s, err := verify.SignNote(cp.Body(), cp.Origin, m, ledgertest.Key(m, schemes[m]))
		if err != nil {
			t.Fatal(err)
		}
		n.Add(s)
	}
	tr, err := verify.TrustGenesis(f.g, f.consortium())
	if err != nil {
		t.Fatal(err)
	}
	if _, s, err := tr.VerifyCheckpoint(n.String(), 3); err != nil || strings.Join(s, ",") != "alpha,beta,gamma" {
		t.Fatalf("legacy note: %v %v", s, err)
	}
}

// TestCosign_TimestampBound: C2SP forbids timestamps over 2^63-1; Charta
// neither makes nor accepts them.
func TestCosign_TimestampBound(t *testing.T) {
	f := newFixture(t, "Test consortium")
	cp := f.checkpoint()
	k := ledgertest.Key("alpha", ledger.SchemeEd25519)
	if _, err := verify.Cosign(cp.Body(), cp.Origin, "alpha", k, 1<<63); err == nil {
		t.Fatal("cosigned with a timestamp of 2^63")
	}
	n, err := verify.CosignCheckpoint(cp, "alpha", k, cosignTime)
	if err != nil {
		t.Fatal(err)
	}
	n.Sigs[1].Sig[0] |= 0x80 // the cosignature/v1 timestamp's top bit
	tr := &verify.Trust{Consortium: f.consortium(), Threshold: 1, Keys: map[string][]ledger.PublicKey{"alpha": {k.Public()}}}
	n.Sigs = n.Sigs[1:]
	if _, _, err := tr.VerifyCheckpoint(n.String(), 1); !errors.Is(err, verify.ErrSignature) {
		t.Fatalf("timestamp over 2^63-1: %v", err)
	}
}

// TestCosignRequest_AuthenticatesAndNeverCounts: a cosign request line
// names its member to Requesters, but no verifier counts it as a
// cosignature, in any scheme, and it verifies for its own text only.
func TestCosignRequest_AuthenticatesAndNeverCounts(t *testing.T) {
	f := newFixture(t, "Test consortium")
	cp := f.checkpoint()
	trust, err := verify.TrustGenesis(f.g, f.consortium())
	if err != nil {
		t.Fatal(err)
	}
	n := &verify.Note{Text: cp.Body()}
	for _, m := range []string{"alpha", "gamma"} { // ed25519 and the composite
		line, err := verify.CosignRequest(cp.Body(), cp.Origin, m, ledgertest.Key(m, schemes[m]))
		if err != nil {
			t.Fatal(err)
		}
		n.Add(line)
	}
	parsed, err := verify.ParseNote(n.String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := trust.Requesters(parsed)
	if err != nil || strings.Join(got, ",") != "alpha,gamma" {
		t.Fatalf("Requesters = %v, %v; want alpha,gamma", got, err)
	}
	members, _, err := trust.Cosigners(parsed)
	if err != nil || len(members) != 0 {
		t.Fatalf("Cosigners = %v, %v; a request must count for nobody", members, err)
	}
	if _, _, err := trust.VerifyCheckpoint(n.String(), 1); err == nil {
		t.Fatal("a note with request lines only passed a threshold of 1")
	}
	// Moved to another checkpoint, the lines do not verify.
	other := *cp
	other.Size++
	moved := &verify.Note{Text: other.Body(), Sigs: parsed.Sigs}
	if _, err := trust.Requesters(moved); !errors.Is(err, verify.ErrSignature) {
		t.Fatalf("Requesters on another text = %v, want ErrSignature", err)
	}
	// Cosignatures are not requests.
	cosigned, err := verify.ParseNote(f.note(cp, all3...))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := trust.Requesters(cosigned); err != nil || len(got) != 0 {
		t.Fatalf("Requesters on cosignatures = %v, %v; want none", got, err)
	}
}
