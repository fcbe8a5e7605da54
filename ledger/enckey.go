package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"io"

	"github.com/cloudflare/circl/kem/xwing"
)

// EncryptionScheme is the only scheme of a member's encryption key: X-Wing
// (draft-connolly-cfrg-xwing-kem), ML-KEM-768 combined with X25519. The name
// is part of every encryption key and of its fingerprint, so it never
// changes.
const EncryptionScheme = "x-wing"

// Sizes of an X-Wing encryption key, in bytes.
const (
	EncryptionKeySize  = xwing.PublicKeySize  // 1216: the ML-KEM-768 key, then the X25519 key
	EncryptionSeedSize = xwing.PrivateKeySize // 32: the decapsulation key is a seed
)

// EncryptionKey is the public half of a member's X-Wing encryption key,
// what others seal confidential terms to (package ledger/seal). It has the
// shape of a signing key (PublicKey): Key is the 1216-byte X-Wing
// encapsulation key, standard base64 in JSON.
//
//	{"scheme": "x-wing", "key": "<standard base64>"}
//
// The ledger only records encryption keys; it never seals or opens
// anything. ledger/seal turns an EncryptionKey into a seal.PublicKey with
// the same validation (seal.PublicKeyFrom), so the two cannot disagree.
type EncryptionKey struct {
	Scheme string `json:"scheme"`
	Key    []byte `json:"key"`
}

// Validate checks the scheme, the length, and FIPS 203's modulus check of
// the ML-KEM-768 part, which every coefficient of a well-formed key passes.
// It reads nothing but the key, so Apply may call it.
func (k EncryptionKey) Validate() error {
	if k.Scheme != EncryptionScheme {
		return Errorf(CodeInvalid, "scheme: must be %q, got %q", EncryptionScheme, truncate(k.Scheme, 40))
	}
	if len(k.Key) != EncryptionKeySize {
		return Errorf(CodeInvalid, "key: an %s key is %d bytes, got %d", EncryptionScheme, EncryptionKeySize, len(k.Key))
	}
	if _, err := xwing.Scheme().UnmarshalBinaryPublicKey(k.Key); err != nil {
		return Errorf(CodeInvalid, "key: not an %s key: %v", EncryptionScheme, err)
	}
	return nil
}

// Fingerprint returns the 64 hex digits of SHA-256(scheme ‖ key). It is
// built like a signing key's fingerprint, but not shortened: a sealed
// object names the key it is wrapped to by the whole digest.
func (k EncryptionKey) Fingerprint() string {
	h := sha256.New()
	_, _ = io.WriteString(h, k.Scheme)
	_, _ = h.Write(k.Key)
	return hex.EncodeToString(h.Sum(nil))
}

// Equal reports whether k and o are the same key.
func (k EncryptionKey) Equal(o EncryptionKey) bool {
	return k.Scheme == o.Scheme && string(k.Key) == string(o.Key)
}

// EncryptionKeyFromSeed returns the public key of the X-Wing key whose
// 32-byte decapsulation key is seed, as draft-connolly-cfrg-xwing-kem
// derives it.
func EncryptionKeyFromSeed(seed []byte) (EncryptionKey, error) {
	if len(seed) != EncryptionSeedSize {
		return EncryptionKey{}, Errorf(CodeInvalid, "seed: an %s seed is %d bytes, got %d", EncryptionScheme, EncryptionSeedSize, len(seed))
	}
	_, pub := xwing.DeriveKeyPairPacked(seed)
	return EncryptionKey{Scheme: EncryptionScheme, Key: pub}, nil
}
