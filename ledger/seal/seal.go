package seal

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"slices"
	"strings"

	"github.com/charta/charta/ledger"
	"github.com/cloudflare/circl/hpke"
)

// Recipient is a member that may open a sealed object, with the encryption
// key it is sealed to.
type Recipient struct {
	Member string
	Key    PublicKey
}

// suite is the HPKE suite of format version 1.
func suite() hpke.Suite {
	return hpke.NewSuite(hpke.KEM_XWING, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES256GCM)
}

// Seal encrypts plaintext to recipients, bound to bind, and returns the
// sealed object and its Opening (the salt and the plaintext, which any
// recipient can also recover with Open).
//
// A fresh random content key encrypts salt ‖ plaintext once with
// AES-256-GCM under a random nonce; HPKE wraps that key for each
// recipient; the commitment hashes a fresh random salt and the plaintext.
// The recipients may be given in any order; the wraps are sorted by
// member. A member listed twice, an invalid member ID, a missing key, no
// recipient or more than MaxRecipients, a plaintext over MaxPlaintextSize
// and an invalid binding fail with ErrMalformed.
func Seal(plaintext []byte, recipients []Recipient, bind Binding) (*Sealed, Opening, error) {
	return sealFrom(rand.Reader, plaintext, recipients, bind)
}

// sealFrom is Seal with its randomness read from r, in this order: the
// content key (32 bytes), the salt (32), the nonce (12), then for each
// recipient in member order the 64-byte X-Wing encapsulation seed that HPKE
// Setup reads. The test vectors are made from a fixed r.
func sealFrom(r io.Reader, plaintext []byte, recipients []Recipient, bind Binding) (*Sealed, Opening, error) {
	if err := bind.Validate(); err != nil {
		return nil, Opening{}, err
	}
	if len(plaintext) > MaxPlaintextSize {
		return nil, Opening{}, fail(ErrMalformed, "plaintext: longer than %d bytes", MaxPlaintextSize)
	}
	rs, err := sortedRecipients(recipients)
	if err != nil {
		return nil, Opening{}, err
	}
	var key [ContentKeySize]byte
	var nonce [NonceSize]byte
	salt := make([]byte, SaltSize)
	for _, b := range [][]byte{key[:], salt, nonce[:]} {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, Opening{}, err
		}
	}
	o := Opening{Salt: salt, Plaintext: bytes.Clone(plaintext)}
	if o.Plaintext == nil {
		o.Plaintext = []byte{}
	}
	s, err := assemble(r, key[:], nonce[:], o, commit(salt, plaintext), rs, bind)
	if err != nil {
		return nil, Opening{}, err
	}
	return s, o, nil
}

// assemble encrypts the opening o under key and wraps key for rs, which
// must be sorted and valid, recording commitment as the object's
// commitment. Seal passes the commitment of o; a test passes another one
// to make the object a lying sealer would.
func assemble(r io.Reader, key, nonce []byte, o Opening, commitment ledger.Hash, rs []Recipient, bind Binding) (*Sealed, error) {
	bd := bind.digest()
	c := [sha256.Size]byte(commitment)
	ct, err := encryptPayload(key, nonce, o, payloadAAD(&bd, &c))
	if err != nil {
		return nil, err
	}
	s := &Sealed{
		Version: Version, KEM: SuiteKEM, KDF: SuiteKDF, AEAD: SuiteAEAD,
		Commitment: commitment,
		Nonce:      bytes.Clone(nonce),
		Ciphertext: ct,
		Wraps:      make([]Wrap, 0, len(rs)),
	}
	for _, rc := range rs {
		w, err := wrapKey(r, rc, key, &bd, &c)
		if err != nil {
			return nil, err
		}
		s.Wraps = append(s.Wraps, w)
	}
	return s, nil
}

// sortedRecipients checks recipients and returns a copy sorted by member.
func sortedRecipients(recipients []Recipient) ([]Recipient, error) {
	switch {
	case len(recipients) == 0:
		return nil, fail(ErrMalformed, "recipients: missing")
	case len(recipients) > MaxRecipients:
		return nil, fail(ErrMalformed, "recipients: at most %d, got %d", MaxRecipients, len(recipients))
	}
	rs := slices.Clone(recipients)
	slices.SortFunc(rs, func(a, b Recipient) int { return strings.Compare(a.Member, b.Member) })
	for i, rc := range rs {
		switch {
		case !ledger.ValidMemberID(rc.Member):
			return nil, fail(ErrMalformed, "recipients: %q is not a member ID (1..64 of [a-z0-9-], starting with a letter)", truncate(rc.Member, 80))
		case rc.Key.IsZero():
			return nil, fail(ErrMalformed, "recipients: %s: missing key", rc.Member)
		case i > 0 && rs[i-1].Member == rc.Member:
			return nil, fail(ErrMalformed, "recipients: %s: listed twice", rc.Member)
		}
	}
	return rs, nil
}

// encryptPayload returns AES-256-GCM(key, nonce, salt ‖ plaintext, aad).
func encryptPayload(key, nonce []byte, o Opening, aad []byte) ([]byte, error) {
	aead, err := hpke.AEAD_AES256GCM.New(key)
	if err != nil {
		return nil, err
	}
	pt := make([]byte, 0, len(o.Salt)+len(o.Plaintext))
	pt = append(append(pt, o.Salt...), o.Plaintext...)
	return aead.Seal(nil, nonce, pt, aad), nil
}

// wrapKey wraps the content key for rc: HPKE base mode to rc.Key with the
// binding's info, sealing key with the wrap AAD.
func wrapKey(r io.Reader, rc Recipient, key []byte, bd, commitment *[sha256.Size]byte) (Wrap, error) {
	sender, err := suite().NewSender(rc.Key.kem, info(bd))
	if err != nil {
		return Wrap{}, err
	}
	enc, sealer, err := sender.Setup(r)
	if err != nil {
		return Wrap{}, err
	}
	wrapped, err := sealer.Seal(key, wrapAAD(commitment, &rc.Key.fp, rc.Member))
	if err != nil {
		return Wrap{}, err
	}
	return Wrap{Member: rc.Member, KeyFingerprint: rc.Key.Fingerprint(), Enc: enc, WrappedKey: wrapped}, nil
}
