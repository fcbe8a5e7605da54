package ledger

import (
	"crypto/sha256"
	"fmt"

	"github.com/cloudflare/circl/kem/xwing"
)

// The shape of a sealed object (package ledger/seal, format version 1).
// The types and their keyless validation live here, not in ledger/seal,
// because Apply checks the sealed part of a confidential grant and
// ledger/seal imports ledger; ledger/seal builds on these types and adds
// the cryptography. Nothing here seals or opens anything.
const (
	SealVersion = 1             // the format version
	SealKEM     = "x-wing"      // the HPKE KEM, 0x647a
	SealKDF     = "hkdf-sha256" // the HPKE KDF, 0x0001
	SealAEAD    = "aes-256-gcm" // the HPKE AEAD, 0x0002, and the payload's

	// SealMaxRecipients bounds the wraps of one sealed object.
	SealMaxRecipients = 32
	// SealMaxPlaintext bounds the sealed plaintext, in bytes.
	SealMaxPlaintext = 256 << 10
	// SealSaltSize is the length of the commitment's salt.
	SealSaltSize = 32
	// SealNonceSize is the length of the payload's AES-GCM nonce.
	SealNonceSize = 12
	// SealEncSize is the length of one HPKE encapsulated key.
	SealEncSize = xwing.CiphertextSize
	// SealWrappedKeySize is one wrapped 32-byte content key with its tag.
	SealWrappedKeySize = 32 + sealTagSize

	sealTagSize       = 16
	sealMinCiphertext = SealSaltSize + sealTagSize
	sealMaxCiphertext = SealSaltSize + SealMaxPlaintext + sealTagSize
)

// Sealed is the wire form of a sealed object: a payload encrypted to a set
// of recipients with a hiding commitment to its plaintext. ledger/seal
// makes and opens it; the ledger only checks its shape (Validate).
type Sealed struct {
	Version int    `json:"v"`    // SealVersion
	KEM     string `json:"kem"`  // SealKEM
	KDF     string `json:"kdf"`  // SealKDF
	AEAD    string `json:"aead"` // SealAEAD
	// Commitment is the hiding commitment to the plaintext.
	Commitment Hash `json:"commitment"`
	// Nonce is the AES-GCM nonce of the payload.
	Nonce []byte `json:"nonce"`
	// Ciphertext is the payload, salt ‖ plaintext encrypted, tag included.
	Ciphertext []byte `json:"ciphertext"`
	// Wraps holds the content key wrapped for each recipient, sorted by
	// member, one per member.
	Wraps []SealedWrap `json:"wraps"`
}

// SealedWrap is the content key of a sealed object wrapped for one
// recipient with HPKE.
type SealedWrap struct {
	Member string `json:"member"` // the recipient's member ID
	// KeyFingerprint is the EncryptionKey.Fingerprint of the recipient's
	// key.
	KeyFingerprint string `json:"key_fingerprint"`
	// Enc is the HPKE encapsulated key (SealEncSize bytes).
	Enc []byte `json:"enc"`
	// WrappedKey is the HPKE ciphertext of the content key
	// (SealWrappedKeySize bytes).
	WrappedKey []byte `json:"wrapped_key"`
}

// Validate checks the shape of s without any key: the version and suite,
// the sizes of every field, and that the wraps are sorted by member ID,
// one per member, each naming a key by a well-formed fingerprint. It
// reads nothing but s, so Apply may call it. It cannot tell whether a wrap
// really holds the content key: only that key's holder can.
func (s *Sealed) Validate() error {
	if s == nil {
		return Errorf(CodeInvalid, "missing")
	}
	bad := func(format string, args ...any) error { return Errorf(CodeInvalid, format, args...) }
	switch {
	case s.Version != SealVersion:
		return bad("v: must be %d, got %d", SealVersion, s.Version)
	case s.KEM != SealKEM:
		return bad("kem: must be %q, got %q", SealKEM, truncate(s.KEM, 40))
	case s.KDF != SealKDF:
		return bad("kdf: must be %q, got %q", SealKDF, truncate(s.KDF, 40))
	case s.AEAD != SealAEAD:
		return bad("aead: must be %q, got %q", SealAEAD, truncate(s.AEAD, 40))
	case s.Commitment == Hash{}:
		return bad("commitment: missing")
	case len(s.Nonce) != SealNonceSize:
		return bad("nonce: must be %d bytes, got %d", SealNonceSize, len(s.Nonce))
	case len(s.Ciphertext) < sealMinCiphertext:
		return bad("ciphertext: at least %d bytes (salt and tag), got %d", sealMinCiphertext, len(s.Ciphertext))
	case len(s.Ciphertext) > sealMaxCiphertext:
		return bad("ciphertext: at most %d bytes, got %d", sealMaxCiphertext, len(s.Ciphertext))
	case len(s.Wraps) == 0:
		return bad("wraps: missing")
	case len(s.Wraps) > SealMaxRecipients:
		return bad("wraps: at most %d, got %d", SealMaxRecipients, len(s.Wraps))
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
func (w SealedWrap) validate() error {
	switch {
	case !ValidMemberID(w.Member):
		return fmt.Errorf("member: %q is not a member ID (1..64 of [a-z0-9-], starting with a letter)", truncate(w.Member, 80))
	case !validEncFingerprint(w.KeyFingerprint):
		return fmt.Errorf("key_fingerprint: must be %d lowercase hex digits", 2*sha256.Size)
	case len(w.Enc) != SealEncSize:
		return fmt.Errorf("enc: must be %d bytes, got %d", SealEncSize, len(w.Enc))
	case len(w.WrappedKey) != SealWrappedKeySize:
		return fmt.Errorf("wrapped_key: must be %d bytes, got %d", SealWrappedKeySize, len(w.WrappedKey))
	}
	return nil
}

// Recipients returns the member IDs of the wraps, in order.
func (s *Sealed) Recipients() []string {
	out := make([]string, len(s.Wraps))
	for i, w := range s.Wraps {
		out[i] = w.Member
	}
	return out
}

// validEncFingerprint reports whether s is an encryption key's
// fingerprint: 64 lowercase hex digits (a signing key's is 16).
func validEncFingerprint(s string) bool {
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
