package seal

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/charta/charta/ledger"
)

// Version is the format version of the sealed objects Seal makes.
const Version = ledger.SealVersion

// The suite of format version 1, by name. The HPKE code points are KEM
// 0x647a (X-Wing), KDF 0x0001 (HKDF-SHA256) and AEAD 0x0002 (AES-256-GCM);
// the payload is encrypted with AES-256-GCM too.
const (
	SuiteKEM  = ledger.SealKEM
	SuiteKDF  = ledger.SealKDF
	SuiteAEAD = ledger.SealAEAD
)

// Limits of format version 1.
const (
	// MaxRecipients bounds the wraps of one sealed object: the parties to
	// a deal and the consortium's auditors.
	MaxRecipients = ledger.SealMaxRecipients
	// MaxPlaintextSize bounds the sealed plaintext. Deal terms are a few
	// kilobytes; the bound keeps a sealed object well inside a proposal.
	MaxPlaintextSize = ledger.SealMaxPlaintext
)

// Sizes of the other fields of a sealed object, in bytes.
const (
	ContentKeySize = 32                   // the AES-256-GCM content key
	NonceSize      = ledger.SealNonceSize // the payload's AES-GCM nonce
	// WrappedKeySize is the length of one wrapped content key: the HPKE
	// ciphertext of the 32-byte key, with its tag.
	WrappedKeySize = ledger.SealWrappedKeySize
	// maxSealedJSON bounds what ParseSealed reads; the largest valid
	// object is about 400 KiB of JSON.
	maxSealedJSON = 1 << 20
)

// Sealed is a payload encrypted to a set of recipients, with a commitment
// to its plaintext. Its JSON form goes into signed proposals and onto the
// ledger; every node can check its shape (Validate), only its recipients
// can open it (Open), and anyone can check a disclosure against its
// Commitment (VerifyDisclosure).
//
// Its fields and JSON form are ledger.Sealed's, which Apply checks the
// shape of without this package's cryptography: the two convert into
// each other (Ledger, FromLedger).
type Sealed ledger.Sealed

// Wrap is the content key of a sealed object wrapped for one recipient
// with HPKE (ledger.SealedWrap).
type Wrap = ledger.SealedWrap

// Ledger returns s as the ledger holds it.
func (s *Sealed) Ledger() *ledger.Sealed { return (*ledger.Sealed)(s) }

// FromLedger returns the sealed object the ledger holds as a Sealed.
func FromLedger(s *ledger.Sealed) *Sealed { return (*Sealed)(s) }

// ParseSealed decodes the JSON form of a sealed object strictly (unknown
// or duplicate fields, non-canonical base64 and trailing data are errors)
// and validates it.
func ParseSealed(b []byte) (*Sealed, error) {
	if len(b) > maxSealedJSON {
		return nil, fail(ErrMalformed, "sealed: larger than %d bytes", maxSealedJSON)
	}
	s := new(Sealed)
	if err := ledger.DecodeStrict(b, s); err != nil {
		return nil, fail(ErrMalformed, "sealed: %s", messageOf(err))
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate checks the shape of s without any key (ledger.Sealed.Validate):
// the version and suite, the sizes of every field, and that the wraps are
// sorted by member ID, one per member, each naming a key by a well-formed
// fingerprint. It is what any node can check; it cannot tell whether a
// wrap really holds the content key for the key it names, which only that
// key's holder can.
func (s *Sealed) Validate() error {
	if err := s.Ledger().Validate(); err != nil {
		return fail(ErrMalformed, "sealed: %s", messageOf(err))
	}
	return nil
}

// wrapFingerprint decodes a wrap's fingerprint, which Validate has checked.
func wrapFingerprint(w Wrap) [sha256.Size]byte {
	var fp [sha256.Size]byte
	_, _ = hex.Decode(fp[:], []byte(w.KeyFingerprint))
	return fp
}
