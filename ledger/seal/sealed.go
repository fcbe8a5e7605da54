package seal

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/charta/charta/ledger"
)

// Version is the format version of the sealed objects Seal makes.
const Version = 1

// The suite of format version 1, by name. The HPKE code points are KEM
// 0x647a (X-Wing), KDF 0x0001 (HKDF-SHA256) and AEAD 0x0002 (AES-256-GCM);
// the payload is encrypted with AES-256-GCM too.
const (
	SuiteKEM  = KeyScheme
	SuiteKDF  = "hkdf-sha256"
	SuiteAEAD = "aes-256-gcm"
)

// Limits of format version 1.
const (
	// MaxRecipients bounds the wraps of one sealed object: the parties to
	// a deal and the consortium's auditors.
	MaxRecipients = 32
	// MaxPlaintextSize bounds the sealed plaintext. Deal terms are a few
	// kilobytes; the bound keeps a sealed object well inside a proposal.
	MaxPlaintextSize = 256 << 10
)

// Sizes of the other fields of a sealed object, in bytes.
const (
	ContentKeySize = 32 // the AES-256-GCM content key
	NonceSize      = 12 // the payload's AES-GCM nonce
	tagSize        = 16 // an AES-GCM tag
	// WrappedKeySize is the length of one wrapped content key: the HPKE
	// ciphertext of the 32-byte key, with its tag.
	WrappedKeySize = ContentKeySize + tagSize
	// minCiphertextSize is the ciphertext of an empty plaintext: the
	// salt and the tag.
	minCiphertextSize = SaltSize + tagSize
	maxCiphertextSize = SaltSize + MaxPlaintextSize + tagSize
	// maxSealedJSON bounds what ParseSealed reads; the largest valid
	// object is about 400 KiB of JSON.
	maxSealedJSON = 1 << 20
)

// Sealed is a payload encrypted to a set of recipients, with a commitment
// to its plaintext. Its JSON form goes into signed proposals and onto the
// ledger; every node can check its shape (Validate), only its recipients
// can open it (Open), and anyone can check a disclosure against its
// Commitment (VerifyDisclosure).
type Sealed struct {
	Version int    `json:"v"`    // Version
	KEM     string `json:"kem"`  // SuiteKEM
	KDF     string `json:"kdf"`  // SuiteKDF
	AEAD    string `json:"aead"` // SuiteAEAD
	// Commitment is the hiding commitment to the plaintext; see
	// VerifyDisclosure.
	Commitment ledger.Hash `json:"commitment"`
	// Nonce is the AES-GCM nonce of the payload.
	Nonce []byte `json:"nonce"`
	// Ciphertext is AES-256-GCM(content key, Nonce, salt ‖ plaintext,
	// payload AAD), tag included.
	Ciphertext []byte `json:"ciphertext"`
	// Wraps holds the content key wrapped for each recipient, sorted by
	// member, one per member.
	Wraps []Wrap `json:"wraps"`
}

// Wrap is the content key of a sealed object wrapped for one recipient
// with HPKE.
type Wrap struct {
	Member string `json:"member"` // the recipient's member ID
	// KeyFingerprint is the Fingerprint of the recipient's public key.
	KeyFingerprint string `json:"key_fingerprint"`
	// Enc is the HPKE encapsulated key (EncSize bytes).
	Enc []byte `json:"enc"`
	// WrappedKey is the HPKE ciphertext of the content key
	// (WrappedKeySize bytes).
	WrappedKey []byte `json:"wrapped_key"`
}

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

// Validate checks the shape of s without any key: the version and suite,
// the sizes of every field, and that the wraps are sorted by member ID,
// one per member, each naming a key by a well-formed fingerprint. It is
// what any node can check; it cannot tell whether a wrap really holds the
// content key for the key it names, which only that key's holder can.
func (s *Sealed) Validate() error {
	if s == nil {
		return fail(ErrMalformed, "sealed: missing")
	}
	bad := func(format string, args ...any) error {
		return fail(ErrMalformed, "sealed: "+format, args...)
	}
	switch {
	case s.Version != Version:
		return bad("v: must be %d, got %d", Version, s.Version)
	case s.KEM != SuiteKEM:
		return bad("kem: must be %q, got %q", SuiteKEM, truncate(s.KEM, 40))
	case s.KDF != SuiteKDF:
		return bad("kdf: must be %q, got %q", SuiteKDF, truncate(s.KDF, 40))
	case s.AEAD != SuiteAEAD:
		return bad("aead: must be %q, got %q", SuiteAEAD, truncate(s.AEAD, 40))
	case s.Commitment == ledger.Hash{}:
		return bad("commitment: missing")
	case len(s.Nonce) != NonceSize:
		return bad("nonce: must be %d bytes, got %d", NonceSize, len(s.Nonce))
	case len(s.Ciphertext) < minCiphertextSize:
		return bad("ciphertext: at least %d bytes (salt and tag), got %d", minCiphertextSize, len(s.Ciphertext))
	case len(s.Ciphertext) > maxCiphertextSize:
		return bad("ciphertext: at most %d bytes, got %d", maxCiphertextSize, len(s.Ciphertext))
	case len(s.Wraps) == 0:
		return bad("wraps: missing")
	case len(s.Wraps) > MaxRecipients:
		return bad("wraps: at most %d, got %d", MaxRecipients, len(s.Wraps))
	}
	for i, w := range s.Wraps {
		if err := w.validate(); err != nil {
			return bad("wraps[%d]: %s", i, err)
		}
		if i > 0 && s.Wraps[i-1].Member >= w.Member {
			return bad("wraps[%d]: member %q: wraps must be sorted by member, one per member", i, w.Member)
		}
	}
	return nil
}

// validate checks the shape of one wrap. Its errors are plain strings for
// Validate to prefix.
func (w Wrap) validate() error {
	switch {
	case !ledger.ValidMemberID(w.Member):
		return fmt.Errorf("member: %q is not a member ID (1..64 of [a-z0-9-], starting with a letter)", truncate(w.Member, 80))
	case !validFingerprint(w.KeyFingerprint):
		return fmt.Errorf("key_fingerprint: must be %d lowercase hex digits", 2*sha256.Size)
	case len(w.Enc) != EncSize:
		return fmt.Errorf("enc: must be %d bytes, got %d", EncSize, len(w.Enc))
	case len(w.WrappedKey) != WrappedKeySize:
		return fmt.Errorf("wrapped_key: must be %d bytes, got %d", WrappedKeySize, len(w.WrappedKey))
	}
	return nil
}

// fingerprint decodes the wrap's fingerprint, which validate has checked.
func (w Wrap) fingerprint() [sha256.Size]byte {
	var fp [sha256.Size]byte
	_, _ = hex.Decode(fp[:], []byte(w.KeyFingerprint))
	return fp
}

// validFingerprint reports whether s is 64 lowercase hex digits.
func validFingerprint(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
