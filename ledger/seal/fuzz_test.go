package seal_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"

	"github.com/charta/charta/ledger/seal"
)

// fuzzKeys returns the vector keys, by name, that FuzzOpen opens with.
func fuzzKeys(f *testing.F) map[string]*seal.PrivateKey {
	keys := map[string]*seal.PrivateKey{}
	for _, name := range []string{"alpha", "alpha-2029", "beta", "gamma", "delta"} {
		seed := sha256.Sum256([]byte("charta seal vector key " + name))
		k, err := seal.NewKeyFromSeed(seed[:])
		if err != nil {
			f.Fatal(err)
		}
		keys[name] = k
	}
	return keys
}

// FuzzOpen feeds hostile input to ParseSealed and Open: whole documents,
// and bytes put in place of each field of a valid object. Nothing may
// panic, every error must be one of the package's classes, and a
// plaintext may come back only with an opening that matches the
// commitment.
func FuzzOpen(f *testing.F) {
	v, _ := readVectors(f)
	for _, c := range v.Valid {
		f.Add([]byte(c.Sealed))
	}
	for _, c := range v.Invalid {
		f.Add([]byte(c.Sealed))
	}
	f.Add([]byte(`{"v":1,"kem":"x-wing","kdf":"hkdf-sha256","aead":"aes-256-gcm","wraps":[]}`))
	f.Add([]byte{})
	keys := fuzzKeys(f)
	base, err := seal.ParseSealed(v.Valid[0].Sealed)
	if err != nil {
		f.Fatal(err)
	}
	bind := v.Valid[0].Binding
	members := []struct{ member, key string }{{"alpha", "alpha"}, {"alpha", "alpha-2029"}, {"beta", "beta"}, {"gamma", "gamma"}, {"delta", "delta"}}

	f.Fuzz(func(t *testing.T, doc []byte) {
		check := func(s *seal.Sealed, member, key string) {
			pt, o, err := seal.Open(s, member, keys[key], bind)
			if err != nil {
				if !errors.Is(err, seal.ErrMalformed) && !errors.Is(err, seal.ErrNotRecipient) &&
					!errors.Is(err, seal.ErrCorrupt) && !errors.Is(err, seal.ErrCommitmentMismatch) {
					t.Fatalf("unclassified error: %v", err)
				}
				if pt != nil || o.Plaintext != nil {
					t.Fatalf("a plaintext with an error: %v", err)
				}
				return
			}
			if !bytes.Equal(pt, o.Plaintext) || seal.VerifyDisclosure(s.Commitment, o) != nil {
				t.Fatalf("opened a plaintext that does not match the commitment")
			}
		}
		if s, err := seal.ParseSealed(doc); err == nil {
			for _, m := range members {
				check(s, m.member, m.key)
			}
		} else if !errors.Is(err, seal.ErrMalformed) {
			t.Fatalf("unclassified parse error: %v", err)
		}
		// The same bytes in place of each field of a valid object, cut
		// or repeated to the field's length where Validate demands one.
		for _, alter := range []func(s *seal.Sealed){
			func(s *seal.Sealed) { s.Ciphertext = doc },
			func(s *seal.Sealed) { s.Nonce = fit(doc, seal.NonceSize) },
			func(s *seal.Sealed) { s.Commitment = [32]byte(fit(doc, 32)) },
			func(s *seal.Sealed) { s.Wraps[0].Enc = fit(doc, seal.EncSize) },
			func(s *seal.Sealed) { s.Wraps[0].WrappedKey = fit(doc, seal.WrappedKeySize) },
			func(s *seal.Sealed) { s.Wraps[0].Member = string(doc) },
		} {
			s := clone(base)
			alter(s)
			check(s, "alpha", "alpha")
			check(s, "beta", "beta")
		}
	})
}

// fit returns b cut or repeated to n bytes (n zeros for an empty b).
func fit(b []byte, n int) []byte {
	out := make([]byte, n)
	for i := 0; len(b) > 0 && i < n; i += len(b) {
		copy(out[i:], b)
	}
	return out
}

// FuzzParsePublicKey feeds hostile bytes to every public key parser.
// Nothing may panic, and whatever parses must round-trip through every
// form to the same key.
func FuzzParsePublicKey(f *testing.F) {
	k := fuzzKeys(f)["alpha"].Public()
	j, _ := json.Marshal(k)
	f.Add(k.Bytes())
	f.Add([]byte(k.String()))
	f.Add(j)
	f.Add(k.Bytes()[:1215])
	f.Add([]byte("x-wing:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip := func(p seal.PublicKey) {
			if p.IsZero() || len(p.Fingerprint()) != 64 {
				t.Fatal("parsed a zero key")
			}
			fromBytes, err := seal.ParsePublicKey(p.Bytes())
			if err != nil || !fromBytes.Equal(p) {
				t.Fatalf("bytes: %v", err)
			}
			fromText, err := seal.ParsePublicKeyText(p.String())
			if err != nil || !fromText.Equal(p) {
				t.Fatalf("text: %v", err)
			}
			jb, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var fromJSON seal.PublicKey
			if err := json.Unmarshal(jb, &fromJSON); err != nil || !fromJSON.Equal(p) {
				t.Fatalf("JSON: %v", err)
			}
		}
		if p, err := seal.ParsePublicKey(b); err == nil {
			if !bytes.Equal(p.Bytes(), b) {
				t.Fatal("the key is not its bytes")
			}
			roundTrip(p)
		} else if !errors.Is(err, seal.ErrMalformed) {
			t.Fatal(err)
		}
		if p, err := seal.ParsePublicKeyText(string(b)); err == nil {
			if p.String() != string(b) {
				t.Fatal("the text form is not canonical")
			}
			roundTrip(p)
		} else if !errors.Is(err, seal.ErrMalformed) {
			t.Fatal(err)
		}
		var p seal.PublicKey
		if err := json.Unmarshal(b, &p); err == nil {
			roundTrip(p)
		}
	})
}
