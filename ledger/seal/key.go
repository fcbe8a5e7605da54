package seal

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/charta/charta/ledger"
	"github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"
	"github.com/cloudflare/circl/kem/xwing"
)

// KeyScheme is the name of the only encryption key scheme: X-Wing
// (draft-connolly-cfrg-xwing-kem), ML-KEM-768 combined with X25519, so that
// a sealed object stays confidential while either component holds. It is
// part of every public key's JSON and text forms and of its fingerprint.
const KeyScheme = ledger.EncryptionScheme

// Sizes of X-Wing keys and encapsulations, in bytes.
const (
	PublicKeySize = ledger.EncryptionKeySize  // 1216: the ML-KEM-768 key, then the X25519 key
	SeedSize      = ledger.EncryptionSeedSize // 32: the X-Wing decapsulation key is a seed
	EncSize       = xwing.CiphertextSize      // 1120: one encapsulated key
)

// textPrefix starts the text form of a public key.
const textPrefix = KeyScheme + ":"

// PublicKey is a member's X-Wing encryption key. A PublicKey obtained from
// ParsePublicKey, ParsePublicKeyText, JSON or PrivateKey.Public is valid;
// the zero value is no key, and Seal refuses it. A PublicKey is immutable.
//
// In JSON it has the shape of a signing key (ledger.PublicKey):
//
//	{"scheme": "x-wing", "key": "<standard base64 of the 1216-byte key>"}
//
// and String gives the one-line text form "x-wing:<standard base64>".
type PublicKey struct {
	raw string            // the 1216-byte encoding; a string, so the value cannot be altered
	fp  [sha256.Size]byte // SHA-256("x-wing" ‖ raw), see Fingerprint
	kem kem.PublicKey     // raw, decoded
}

// ParsePublicKey decodes the 1216-byte X-Wing encoding of a public key (the
// ML-KEM-768 encapsulation key, then the X25519 key). It checks what the
// ledger checks of a member's key (ledger.EncryptionKey.Validate): the
// length and the FIPS 203 modulus check of the ML-KEM part.
func ParsePublicKey(b []byte) (PublicKey, error) {
	return PublicKeyFrom(ledger.EncryptionKey{Scheme: KeyScheme, Key: b})
}

// PublicKeyFrom returns the key a member registered in the ledger (as
// ledger.View.EncryptionKey and the member records give it), validated as
// the ledger validates it.
func PublicKeyFrom(k ledger.EncryptionKey) (PublicKey, error) {
	if err := k.Validate(); err != nil {
		return PublicKey{}, fail(ErrMalformed, "public key: %s", messageOf(err))
	}
	kp, err := xwingScheme().UnmarshalBinaryPublicKey(k.Key)
	if err != nil {
		return PublicKey{}, fail(ErrMalformed, "public key: not an %s key: %v", KeyScheme, err)
	}
	p := PublicKey{raw: string(k.Key), kem: kp}
	if _, err := hex.Decode(p.fp[:], []byte(k.Fingerprint())); err != nil {
		panic(err) // Fingerprint is 64 hex digits
	}
	return p, nil
}

// Ledger returns the key as the ledger records it, for a member's
// admission or key.encryption.rotate; the zero value gives the zero
// ledger.EncryptionKey.
func (p PublicKey) Ledger() ledger.EncryptionKey {
	if p.raw == "" {
		return ledger.EncryptionKey{}
	}
	return ledger.EncryptionKey{Scheme: KeyScheme, Key: []byte(p.raw)}
}

// ParsePublicKeyText decodes the text form "x-wing:<standard base64>" that
// String writes. The base64 must be canonical and padded.
func ParsePublicKeyText(s string) (PublicKey, error) {
	b64, ok := strings.CutPrefix(s, textPrefix)
	if !ok {
		return PublicKey{}, fail(ErrMalformed, "public key: must start with %q", textPrefix)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || strings.ContainsAny(b64, "\r\n") {
		return PublicKey{}, fail(ErrMalformed, "public key: invalid base64 after %q", textPrefix)
	}
	return ParsePublicKey(b)
}

// Bytes returns the 1216-byte encoding of the key, or nil for the zero
// value. The caller owns the slice.
func (p PublicKey) Bytes() []byte {
	if p.raw == "" {
		return nil
	}
	return []byte(p.raw)
}

// IsZero reports whether p is the zero value, which is no key.
func (p PublicKey) IsZero() bool { return p.raw == "" }

// Equal reports whether p and q are the same key.
func (p PublicKey) Equal(q PublicKey) bool { return p.raw == q.raw }

// Fingerprint returns the 64 hex digits of SHA-256("x-wing" ‖ key), where
// key is the 1216-byte encoding. It is built like a signing key's
// fingerprint (ledger.PublicKey.Fingerprint), but not shortened: a wrap
// names its key by the whole digest, since machines compare it, not people.
// The zero value has the empty fingerprint.
func (p PublicKey) Fingerprint() string {
	if p.raw == "" {
		return ""
	}
	return hex.EncodeToString(p.fp[:])
}

// String returns the text form "x-wing:<standard base64>", or "" for the
// zero value.
func (p PublicKey) String() string {
	if p.raw == "" {
		return ""
	}
	return textPrefix + base64.StdEncoding.EncodeToString([]byte(p.raw))
}

// MarshalJSON writes {"scheme":"x-wing","key":"<base64>"}. The zero value
// cannot be written.
func (p PublicKey) MarshalJSON() ([]byte, error) {
	if p.raw == "" {
		return nil, fail(ErrMalformed, "public key: missing")
	}
	return json.Marshal(p.Ledger())
}

// UnmarshalJSON reads what MarshalJSON writes, strictly: unknown or
// duplicate fields, another scheme, non-canonical base64 and a key that
// ParsePublicKey refuses are errors.
func (p *PublicKey) UnmarshalJSON(b []byte) error {
	var j ledger.EncryptionKey
	if err := ledger.DecodeStrict(b, &j); err != nil {
		return fail(ErrMalformed, "public key: %s", messageOf(err))
	}
	k, err := PublicKeyFrom(j)
	if err != nil {
		return err
	}
	*p = k
	return nil
}

// PrivateKey is a member's X-Wing decryption key. It holds the 32-byte
// X-Wing decapsulation key (a seed from which both component keys are
// derived), and never prints it: String, GoString and LogValue show only
// the fingerprint of the public key.
type PrivateKey struct {
	seed [SeedSize]byte
	kem  kem.PrivateKey
	pub  PublicKey
}

// GenerateKey returns a new key whose seed is read from crypto/rand.
func GenerateKey() (*PrivateKey, error) {
	var seed [SeedSize]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	return NewKeyFromSeed(seed[:])
}

// NewKeyFromSeed returns the key whose X-Wing decapsulation key is seed,
// which must be SeedSize (32) bytes. The same seed always gives the same
// key, as in draft-connolly-cfrg-xwing-kem.
func NewKeyFromSeed(seed []byte) (*PrivateKey, error) {
	if len(seed) != SeedSize {
		return nil, fail(ErrMalformed, "seed: must be %d bytes, got %d", SeedSize, len(seed))
	}
	sk, err := xwingScheme().UnmarshalBinaryPrivateKey(seed)
	if err != nil {
		return nil, fail(ErrMalformed, "seed: %v", err)
	}
	raw, err := sk.Public().MarshalBinary()
	if err != nil {
		return nil, fail(ErrMalformed, "seed: %v", err)
	}
	pub, err := ParsePublicKey(raw)
	if err != nil {
		return nil, err
	}
	k := &PrivateKey{kem: sk, pub: pub}
	copy(k.seed[:], seed)
	return k, nil
}

// Seed returns a copy of the key's 32-byte seed, what a key file stores.
func (k *PrivateKey) Seed() []byte { return bytes.Clone(k.seed[:]) }

// Public returns the public key.
func (k *PrivateKey) Public() PublicKey { return k.pub }

// String identifies the key without revealing it. It and GoString have
// value receivers so that printing a dereferenced key is just as safe.
func (k PrivateKey) String() string {
	return "seal.PrivateKey(" + KeyScheme + " " + k.pub.Fingerprint() + ")"
}

// GoString keeps %#v from printing the seed.
func (k PrivateKey) GoString() string { return k.String() }

// LogValue keeps structured logs from recording the seed.
func (k PrivateKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// xwingScheme is the X-Wing KEM as HPKE uses it.
func xwingScheme() kem.Scheme { return hpke.KEM_XWING.Scheme() }

// messageOf returns the message of a *ledger.Error, or err's text.
func messageOf(err error) string {
	if le, ok := err.(*ledger.Error); ok {
		return le.Message
	}
	return err.Error()
}

// truncate shortens s to n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
