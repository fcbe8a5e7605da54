package seal_test

import (
	"crypto/sha256"
	"crypto/sha3"
	"errors"
	"testing"

	"github.com/charta/charta/ledger/seal"
)

// testBinding is the binding most tests seal under.
var testBinding = seal.Binding{
	Consortium: "7c1f0e5a9b3d4c2e8f6a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e",
	Kind:       "grant",
	ID:         "grant-2031-acme-beta",
}

// testTerms is a plaintext shaped like the confidential part of a grant.
var testTerms = []byte(`{"price_micros":1250000,"cap":{"metric":"gpu-hours","hard":4000},"clauses":["audit-on-notice"]}`)

// testKey returns the fixed key named name: its seed is
// SHA-256("charta seal test key " ‖ name).
func testKey(t testing.TB, name string) *seal.PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte("charta seal test key " + name))
	k, err := seal.NewKeyFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// recipients returns the recipients named members, each with its test key.
func recipients(t testing.TB, members ...string) []seal.Recipient {
	t.Helper()
	rs := make([]seal.Recipient, len(members))
	for i, m := range members {
		rs[i] = seal.Recipient{Member: m, Key: testKey(t, m).Public()}
	}
	return rs
}

// stream returns n bytes of SHAKE-256(label): reproducible randomness.
func stream(label string, n int) []byte {
	out := make([]byte, n)
	h := sha3.NewSHAKE256()
	_, _ = h.Write([]byte(label))
	_, _ = h.Read(out)
	return out
}

// mustSeal seals plaintext to members under testBinding.
func mustSeal(t testing.TB, plaintext []byte, members ...string) (*seal.Sealed, seal.Opening) {
	t.Helper()
	s, o, err := seal.Seal(plaintext, recipients(t, members...), testBinding)
	if err != nil {
		t.Fatal(err)
	}
	return s, o
}

// clone returns a deep copy of s, for tests that alter one field.
func clone(s *seal.Sealed) *seal.Sealed {
	c := *s
	c.Nonce = append([]byte(nil), s.Nonce...)
	c.Ciphertext = append([]byte(nil), s.Ciphertext...)
	c.Wraps = make([]seal.Wrap, len(s.Wraps))
	for i, w := range s.Wraps {
		w.Enc = append([]byte(nil), w.Enc...)
		w.WrappedKey = append([]byte(nil), w.WrappedKey...)
		c.Wraps[i] = w
	}
	return &c
}

// wantErr fails t unless err is kind.
func wantErr(t testing.TB, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("got %v, want %v", err, kind)
	}
}

// isErr reports whether err is kind.
func isErr(err, kind error) bool { return err != nil && errors.Is(err, kind) }
