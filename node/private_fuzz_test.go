package node

import (
	"crypto/sha256"
	"encoding/json"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
)

// fuzzConsortium is the binding's consortium of the fuzz target's seeds.
const fuzzConsortium = "fuzz-consortium"

// fuzzGrant is the public part the fuzzed sealed objects are opened
// against: a grant from alpha to beta.
func fuzzGrant(s *ledger.Sealed) *ledger.Grant {
	g := &ledger.Grant{ID: "g-f", Licensors: []string{"alpha"}, Licensees: []string{"beta"},
		Terms: ledger.Terms{Assets: []string{"m"}, Rights: []ledger.Right{"use"}}}
	g.Confidential = &ledger.Confidential{Sealed: s}
	if s != nil {
		g.Confidential.Commitment = s.Commitment
	}
	return g
}

// fuzzSeed seals plaintext to alpha and beta for grant g-f and returns the
// sealed object's JSON.
func fuzzSeed(f *testing.F, plaintext []byte, tamper bool) []byte {
	f.Helper()
	var rs []seal.Recipient
	for _, m := range []string{"alpha", "beta"} {
		pk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey(m))
		if err != nil {
			f.Fatal(err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	s, _, err := seal.Seal(plaintext, rs, seal.Binding{Consortium: fuzzConsortium, Kind: ledger.ConfidentialKind, ID: "g-f"})
	if err != nil {
		f.Fatal(err)
	}
	if tamper {
		s.Ciphertext[len(s.Ciphertext)-1] ^= 1
	}
	b, err := json.Marshal(s)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzOpenConfidential feeds hostile sealed objects to the node's opening
// path, as beta's node: it never panics, and it records terms only when
// they opened, matched the commitment and are valid, with the digest of
// their canonical bytes.
func FuzzOpenConfidential(f *testing.F) {
	ok, _ := json.Marshal(ledger.ConfidentialTerms{Clauses: ledger.Clauses{GoverningLaw: "DE"}})
	f.Add(fuzzSeed(f, ok, false))
	f.Add(fuzzSeed(f, ok, true))
	f.Add(fuzzSeed(f, []byte(`{"clauses":{"data":{"may_share":true,"may_sell":false}}}`), false))
	f.Add(fuzzSeed(f, []byte(`not json`), false))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	key, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed("beta"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var s *ledger.Sealed
		if err := ledger.DecodeStrict(doc, &s); err != nil {
			s = nil
		}
		g := fuzzGrant(s)
		rec := openConfidential(g, fuzzConsortium, "beta", []*seal.PrivateKey{key})
		switch rec.Status {
		case privateOpened:
			if rec.Terms == nil || rec.Digest == nil || *rec.Digest != ledger.Hash(sha256.Sum256(rec.Terms.Canonical())) {
				t.Fatalf("opened record without matching terms and digest: %+v", rec)
			}
		case privateRefused:
			if rec.Terms != nil || rec.Reason == "" {
				t.Fatalf("refused record: %+v", rec)
			}
		default:
			t.Fatalf("status %q", rec.Status)
		}
		if rec.Grant != "g-f" {
			t.Fatalf("record of %q", rec.Grant)
		}
	})
}
