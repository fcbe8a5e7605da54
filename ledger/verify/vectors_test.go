package verify_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/charta/charta/ledger/verify"
)

// vectorsFile holds proof test vectors: documents that must verify and
// documents that must fail, each with the error class expected.
var vectorsFile = filepath.Join("..", "testdata", "vectors", "proofs.json")

type vector struct {
	Name       string          `json:"name"`
	Consortium string          `json:"consortium"`
	At         time.Time       `json:"at,omitzero"`
	Want       string          `json:"want"` // "ok" or the error class
	Document   json.RawMessage `json:"document"`
}

var classes = map[string]error{
	"malformed": verify.ErrMalformed, "consortium": verify.ErrConsortium, "signature": verify.ErrSignature,
	"threshold": verify.ErrThreshold, "entry": verify.ErrEntry, "inclusion": verify.ErrInclusion,
	"replay": verify.ErrReplay, "expired": verify.ErrExpired,
}

func TestVectors_Proofs(t *testing.T) {
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 10 {
		t.Fatalf("%d vectors", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			err := verifyAny(v.Document, v.Consortium, v.At)
			if v.Want == "ok" {
				if err != nil {
					t.Fatalf("must verify: %v", err)
				}
				return
			}
			if want := classes[v.Want]; want == nil || !errors.Is(err, want) {
				t.Fatalf("must fail with %s, got %v", v.Want, err)
			}
		})
	}
}

func verifyAny(b []byte, consortium string, at time.Time) error {
	doc, err := verify.Decode(b)
	if err != nil {
		return err
	}
	switch d := doc.(type) {
	case *verify.Receipt:
		_, _, err = d.Verify(consortium, verify.Options{})
	case *verify.CheckProof:
		_, err = d.Verify(consortium, verify.Options{})
	case *verify.Certificate:
		_, err = d.Verify(consortium, at, verify.Options{})
	}
	return err
}

// TestWriteVectors rewrites the proof vectors when CHARTA_WRITE_VECTORS is
// set. The fixture has fixed keys and times; gamma's composite (ML-DSA)
// signatures are randomized, so a rewrite changes those bytes too.
func TestWriteVectors(t *testing.T) {
	if os.Getenv("CHARTA_WRITE_VECTORS") == "" {
		t.Skip("set CHARTA_WRITE_VECTORS=1 to rewrite " + vectorsFile)
	}
	f := newFixture(t, "Test consortium")
	other := newFixture(t, "Another consortium")
	id := f.consortium()
	var vs []vector
	add := func(name, want string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, vector{Name: name, Consortium: id, Want: want, Document: b})
	}
	r := f.receipt("accept-g-1", all3...)
	add("receipt", "ok", r)
	x := clone(t, r)
	x.Entry.Entry.Envelope[10] ^= 1
	add("receipt with a flipped envelope byte", "entry", x)
	x = clone(t, r)
	x.Entry.Proof.Hashes[0][31] ^= 1
	add("receipt with a wrong proof hash", "inclusion", x)
	x = clone(t, r)
	x.Entry.Proof.Hashes = x.Entry.Proof.Hashes[1:]
	add("receipt with a truncated proof", "inclusion", x)
	x = clone(t, r)
	x.Checkpoint = f.note(f.checkpoint(), "beta")
	add("receipt with one cosignature of three", "threshold", x)
	add("receipt from another consortium", "consortium", other.receipt("accept-g-1", all3...))
	p := f.checkProof(all3, "reg-model-a", "offer-g-1", "accept-g-1")
	add("check proof", "ok", p)
	y := clone(t, p)
	y.Entries[2], y.Entries[3] = y.Entries[3], y.Entries[2]
	add("check proof with reordered entries", "malformed", y)
	y = clone(t, p)
	y.Entries = y.Entries[:3]
	add("check proof without the acceptance", "replay", y)
	y = clone(t, p)
	y.Decision.Allowed = false
	add("check proof claiming the wrong decision", "replay", y)
	if err := os.WriteFile(vectorsFile, append(mustIndent(t, vs), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustIndent(t *testing.T, v any) []byte {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
