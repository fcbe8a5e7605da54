package seal

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/charta/charta/ledger"
)

// SaltSize is the length of a commitment's salt in bytes.
const SaltSize = 32

// Opening is what a recipient discloses to a court or an auditor: the
// plaintext and the salt that, together, hash to the commitment on the
// ledger. It reveals nothing about the content key or any other object.
type Opening struct {
	Salt      []byte `json:"salt"`
	Plaintext []byte `json:"plaintext"`
}

// commit returns the commitment to plaintext under salt:
//
//	C = SHA-256("charta-seal-v1 commitment" ‖ 0x00 ‖ salt ‖ len64(plaintext) ‖ plaintext)
//
// where salt is SaltSize bytes and len64 an 8-byte big-endian length. The
// random salt makes the commitment hiding: without it, anyone could test
// guesses of low-entropy terms (a price among a few likely ones) against
// the public commitment.
func commit(salt, plaintext []byte) ledger.Hash {
	h := sha256.New()
	h.Write([]byte(labelCommitment))
	h.Write([]byte{0})
	h.Write(salt)
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(plaintext))))
	h.Write(plaintext)
	var c ledger.Hash
	h.Sum(c[:0])
	return c
}

// Commitment returns the commitment that o opens. It fails with
// ErrMalformed if the salt is not SaltSize bytes or the plaintext is longer
// than MaxPlaintextSize.
func (o Opening) Commitment() (ledger.Hash, error) {
	if len(o.Salt) != SaltSize {
		return ledger.Hash{}, fail(ErrMalformed, "opening: salt: must be %d bytes, got %d", SaltSize, len(o.Salt))
	}
	if len(o.Plaintext) > MaxPlaintextSize {
		return ledger.Hash{}, fail(ErrMalformed, "opening: plaintext: longer than %d bytes", MaxPlaintextSize)
	}
	return commit(o.Salt, o.Plaintext), nil
}

// VerifyDisclosure checks that o opens commitment: that the disclosed
// plaintext is the one the sealer committed to on the ledger. Anyone can
// run it; it needs no key. It fails with ErrMalformed for a malformed
// opening and ErrCommitmentMismatch for any other plaintext or salt.
func VerifyDisclosure(commitment ledger.Hash, o Opening) error {
	c, err := o.Commitment()
	if err != nil {
		return err
	}
	if c != commitment {
		return fail(ErrCommitmentMismatch, "the disclosed plaintext and salt hash to %s, not to the commitment %s", c, commitment)
	}
	return nil
}
