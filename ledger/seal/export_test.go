package seal

import (
	"crypto/sha256"
	"io"

	"github.com/charta/charta/ledger"
)

// SealFrom is Seal with its randomness read from r, for reproducible test
// vectors.
func SealFrom(r io.Reader, plaintext []byte, recipients []Recipient, bind Binding) (*Sealed, Opening, error) {
	return sealFrom(r, plaintext, recipients, bind)
}

// SealLying encrypts plaintext but records the commitment to claimed: the
// object a sealer makes that commits to one set of terms and encrypts
// another. Its randomness is read from r as sealFrom reads it.
func SealLying(r io.Reader, plaintext, claimed []byte, recipients []Recipient, bind Binding) (*Sealed, error) {
	rs, err := sortedRecipients(recipients)
	if err != nil {
		return nil, err
	}
	key, salt, nonce := make([]byte, ContentKeySize), make([]byte, SaltSize), make([]byte, NonceSize)
	for _, b := range [][]byte{key, salt, nonce} {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
	}
	return assemble(r, key, nonce, Opening{Salt: salt, Plaintext: plaintext}, commit(salt, claimed), rs, bind)
}

// Intermediates returns the derived inputs of the construction, which the
// test vectors record for implementers: the binding digest B, the HPKE
// info, the payload AAD and each wrap's AAD, by member.
func Intermediates(s *Sealed, bind Binding) (bd, hpkeInfo, payload []byte, wraps map[string][]byte) {
	d := bind.digest()
	c := [sha256.Size]byte(s.Commitment)
	wraps = make(map[string][]byte)
	for _, w := range s.Wraps {
		fp := wrapFingerprint(w)
		wraps[w.Member] = wrapAAD(&c, &fp, w.Member)
	}
	return d[:], info(&d), payloadAAD(&d, &c), wraps
}

// Commit exposes the commitment formula.
func Commit(salt, plaintext []byte) ledger.Hash { return commit(salt, plaintext) }
