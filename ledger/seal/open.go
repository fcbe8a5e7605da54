package seal

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"

	"github.com/cloudflare/circl/hpke"
)

// Open decrypts s as member with key, bound to bind, and returns the
// plaintext and the Opening that discloses it. See OpenWith.
func Open(s *Sealed, member string, key *PrivateKey, bind Binding) ([]byte, Opening, error) {
	return OpenWith(s, member, bind, key)
}

// OpenWith is Open for a member that holds several keys, such as its
// current key and the keys it has retired: it uses the one whose
// fingerprint member's wrap names.
//
// It validates s and bind (ErrMalformed), finds member's wrap and the key
// it names (ErrNotRecipient), unwraps the content key and decrypts the
// payload (ErrCorrupt if either fails to authenticate: an altered or
// truncated field, a wrap or ciphertext from another object, or another
// binding), and recomputes the commitment (ErrCommitmentMismatch). A
// plaintext is returned only when all of these pass, so the plaintext
// always matches s.Commitment. The returned plaintext and the Opening's
// are separate copies.
func OpenWith(s *Sealed, member string, bind Binding, keys ...*PrivateKey) ([]byte, Opening, error) {
	if err := s.Validate(); err != nil {
		return nil, Opening{}, err
	}
	if err := bind.Validate(); err != nil {
		return nil, Opening{}, err
	}
	w, k, err := s.find(member, keys)
	if err != nil {
		return nil, Opening{}, err
	}
	bd := bind.digest()
	c := [sha256.Size]byte(s.Commitment)
	key, err := unwrapKey(w, k, &bd, &c)
	if err != nil {
		return nil, Opening{}, err
	}
	pt, err := decryptPayload(key, s.Nonce, s.Ciphertext, payloadAAD(&bd, &c))
	if err != nil {
		return nil, Opening{}, err
	}
	o := Opening{Salt: pt[:SaltSize], Plaintext: pt[SaltSize:]}
	if commit(o.Salt, o.Plaintext) != s.Commitment {
		return nil, Opening{}, fail(ErrCommitmentMismatch, "member %s's plaintext does not match the commitment %s: the sealer committed to other terms than it encrypted", member, s.Commitment)
	}
	return bytes.Clone(o.Plaintext), o, nil
}

// find returns member's wrap and the key among keys that it names.
func (s *Sealed) find(member string, keys []*PrivateKey) (Wrap, *PrivateKey, error) {
	i, ok := slices.BinarySearchFunc(s.Wraps, member, func(w Wrap, m string) int { return strings.Compare(w.Member, m) })
	if !ok {
		return Wrap{}, nil, fail(ErrNotRecipient, "member %q is not a recipient of this sealed object", truncate(member, 80))
	}
	w := s.Wraps[i]
	for _, k := range keys {
		if k != nil && k.pub.Fingerprint() == w.KeyFingerprint {
			return w, k, nil
		}
	}
	return Wrap{}, nil, fail(ErrNotRecipient, "member %s's wrap is for the key %s, and none of the %d key(s) given is that key", member, w.KeyFingerprint, len(keys))
}

// unwrapKey opens w's HPKE ciphertext with k and returns the content key.
func unwrapKey(w Wrap, k *PrivateKey, bd, commitment *[sha256.Size]byte) ([]byte, error) {
	receiver, err := suite().NewReceiver(k.kem, info(bd))
	if err != nil {
		return nil, fail(ErrCorrupt, "wrap for %s: %v", w.Member, err)
	}
	opener, err := receiver.Setup(w.Enc)
	if err != nil {
		return nil, fail(ErrCorrupt, "wrap for %s: enc: %v", w.Member, err)
	}
	fp := wrapFingerprint(w)
	key, err := opener.Open(w.WrappedKey, wrapAAD(commitment, &fp, w.Member))
	if err != nil || len(key) != ContentKeySize {
		return nil, fail(ErrCorrupt, "wrap for %s: the wrapped key does not authenticate (altered, from another object, or sealed under another binding)", w.Member)
	}
	return key, nil
}

// decryptPayload opens the payload and returns salt ‖ plaintext.
func decryptPayload(key, nonce, ct, aad []byte) ([]byte, error) {
	aead, err := hpke.AEAD_AES256GCM.New(key)
	if err != nil {
		return nil, fail(ErrCorrupt, "payload: %v", err)
	}
	pt, err := aead.Open(nil, nonce, ct, aad)
	if err != nil || len(pt) < SaltSize {
		return nil, fail(ErrCorrupt, "payload: the ciphertext does not authenticate (altered, truncated, from another object, or sealed under another binding)")
	}
	return pt, nil
}
