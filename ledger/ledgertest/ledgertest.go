// Package ledgertest provides deterministic keys and signed proposals for
// tests of package ledger and the packages above it. Everything here is
// reproducible: the same arguments always give the same bytes, so tests can
// compare envelopes, hashes and golden files. It panics instead of returning
// errors, because a failure here is a bug in the test.
package ledgertest

import (
	"crypto/sha256"
	"encoding/json"
	"time"

	"github.com/charta/charta/ledger"
)

// Consortium is a fixed, well-formed consortium ID for tests that do not
// build a genesis document.
const Consortium = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"

// Seed returns the fixed seed of member's test key of scheme s:
// SHA-256("charta ledgertest key v1" ‖ 0x00 ‖ s ‖ 0x00 ‖ member).
func Seed(member string, s ledger.Scheme) []byte {
	h := sha256.New()
	h.Write([]byte("charta ledgertest key v1\x00"))
	h.Write([]byte(s))
	h.Write([]byte{0})
	h.Write([]byte(member))
	return h.Sum(nil)
}

// Key returns member's deterministic test key of scheme s. It is a real key,
// so never use it outside tests: its seed is public.
func Key(member string, s ledger.Scheme) *ledger.PrivateKey {
	k, err := ledger.NewKeyFromSeed(s, Seed(member, s))
	if err != nil {
		panic("ledgertest: " + err.Error())
	}
	return k
}

// Signer returns a signer for member's test key of scheme s.
func Signer(member string, s ledger.Scheme) ledger.Signer {
	return ledger.NewSigner(member, Key(member, s))
}

// KeyID returns the key ID of member's test key of scheme s.
func KeyID(member string, s ledger.Scheme) string {
	return Signer(member, s).KeyID
}

// Lookup returns a key lookup for Envelope.Verify that knows exactly the
// keys of signers.
func Lookup(signers ...ledger.Signer) func(keyID string) (ledger.PublicKey, bool) {
	keys := make(map[string]ledger.PublicKey, len(signers))
	for _, s := range signers {
		keys[s.KeyID] = s.Key.Public()
	}
	return func(keyID string) (ledger.PublicKey, bool) {
		pk, ok := keys[keyID]
		return pk, ok
	}
}

// Proposal returns the proposal that Propose signs, for tests that need to
// change it before signing. body is marshalled with encoding/json.
func Proposal(consortium, member, typ, id string, issuedAt time.Time, body any) *ledger.Proposal {
	raw, err := json.Marshal(body)
	if err != nil {
		panic("ledgertest: marshal body: " + err.Error())
	}
	return &ledger.Proposal{
		V:          1,
		Consortium: consortium,
		ID:         id,
		Type:       typ,
		Signer:     member,
		IssuedAt:   issuedAt.UTC(),
		Body:       raw,
	}
}

// Propose builds a proposal from member and signs it deterministically (see
// ledger.SignDeterministic) with signers, or, if there are none, with
// member's test key of the default scheme. body is marshalled with
// encoding/json. It panics if the proposal is malformed; to test rejections
// of malformed payloads, build the envelope by hand.
func Propose(consortium, member, typ, id string, issuedAt time.Time, body any, signers ...ledger.Signer) *ledger.Envelope {
	if len(signers) == 0 {
		signers = []ledger.Signer{Signer(member, ledger.DefaultScheme)}
	}
	e, err := ledger.SignDeterministic(Proposal(consortium, member, typ, id, issuedAt, body), signers...)
	if err != nil {
		panic("ledgertest: " + err.Error())
	}
	return e
}

// StampedCharter is the default charter with ledger time moved by the
// leader's record stamps instead of attested time entries: for tests that
// drive ledger time by the stamps they give their records.
func StampedCharter() ledger.Charter {
	c := ledger.DefaultCharter()
	c.AttestedTime = false
	return c
}

// EncryptionSeed returns the fixed X-Wing seed of member's test encryption
// key: SHA-256("charta ledgertest encryption key v1" ‖ 0x00 ‖ member).
func EncryptionSeed(member string) []byte {
	h := sha256.New()
	h.Write([]byte("charta ledgertest encryption key v1\x00"))
	h.Write([]byte(member))
	return h.Sum(nil)
}

// EncryptionKey returns the public half of member's deterministic test
// encryption key. Its seed is public: never use it outside tests.
func EncryptionKey(member string) ledger.EncryptionKey {
	k, err := ledger.EncryptionKeyFromSeed(EncryptionSeed(member))
	if err != nil {
		panic("ledgertest: " + err.Error())
	}
	return k
}
