package ledger

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"

	"github.com/cloudflare/circl/sign/ed25519"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// Scheme names a signature scheme. The name is part of every public key and
// of the input to its fingerprint, so it never changes.
type Scheme string

// The supported schemes.
const (
	SchemeEd25519 Scheme = "ed25519"
	SchemeMLDSA44 Scheme = "ml-dsa-44" // FIPS 204, pure mode, empty context
	SchemeMLDSA65 Scheme = "ml-dsa-65" // FIPS 204, pure mode, empty context
	// SchemeComposite pairs ML-DSA-65 with Ed25519, so that a signature stays
	// sound while either component holds. Both parts must verify; see
	// compositeMessage for the exact construction.
	SchemeComposite Scheme = "ml-dsa-65+ed25519"

	// DefaultScheme is the scheme of newly generated keys.
	DefaultScheme = SchemeComposite
)

// SeedSize is the length in bytes of the seed of a private key, whatever the
// scheme: the Ed25519 seed of RFC 8032, the ML-DSA seed ξ of FIPS 204, or the
// composite seed from which both component seeds are derived.
const SeedSize = 32

// Sizes of public keys and signatures, per component.
const (
	ed25519PublicKeySize = ed25519.PublicKeySize
	ed25519SignatureSize = ed25519.SignatureSize

	compositePublicKeySize = mldsa65.PublicKeySize + ed25519.PublicKeySize
	compositeSignatureSize = mldsa65.SignatureSize + ed25519.SignatureSize
)

// Composite construction constants. They follow the shape of
// draft-ietf-lamps-pq-composite-sigs: a fixed prefix, then a label naming the
// algorithm pair, so a component signature can never be lifted out of the
// composite and presented as a stand-alone ML-DSA or Ed25519 signature.
const (
	compositePrefix = "CompositeAlgorithmSignatures2025"
	compositeLabel  = "COMPSIG-MLDSA65-Ed25519-SHA512"
	// compositeSeedTag separates the component seeds derived from one
	// composite seed.
	compositeSeedTag = "charta composite seed v1"
)

// Valid reports whether s is one of the supported schemes.
func (s Scheme) Valid() bool {
	switch s {
	case SchemeEd25519, SchemeMLDSA44, SchemeMLDSA65, SchemeComposite:
		return true
	}
	return false
}

// publicKeySize returns the length of a public key of scheme s, or 0.
func (s Scheme) publicKeySize() int {
	switch s {
	case SchemeEd25519:
		return ed25519PublicKeySize
	case SchemeMLDSA44:
		return mldsa44.PublicKeySize
	case SchemeMLDSA65:
		return mldsa65.PublicKeySize
	case SchemeComposite:
		return compositePublicKeySize
	}
	return 0
}

// signatureSize returns the length of a signature of scheme s, or 0.
func (s Scheme) signatureSize() int {
	switch s {
	case SchemeEd25519:
		return ed25519SignatureSize
	case SchemeMLDSA44:
		return mldsa44.SignatureSize
	case SchemeMLDSA65:
		return mldsa65.SignatureSize
	case SchemeComposite:
		return compositeSignatureSize
	}
	return 0
}

// PublicKey is a public key together with its scheme. Key is the raw
// encoding of the scheme: 32 bytes for Ed25519, the FIPS 204 encoding for
// ML-DSA, and the ML-DSA-65 key followed by the Ed25519 key for the
// composite. In JSON, Key is standard base64.
type PublicKey struct {
	Scheme Scheme `json:"scheme"`
	Key    []byte `json:"key"`
}

// fingerprintLen is the number of hex digits in a fingerprint.
const fingerprintLen = 16

// Fingerprint returns the first 16 hex digits of SHA-256(scheme ‖ key),
// where scheme is the ASCII name of the scheme. Hashing the scheme in means
// the same bytes under two schemes never share a fingerprint.
func (p PublicKey) Fingerprint() string {
	var fp [fingerprintLen]byte
	p.fingerprintTo(&fp)
	return string(fp[:])
}

// fingerprintTo writes the fingerprint into fp without allocating a string,
// so that Verify can compare it cheaply.
func (p PublicKey) fingerprintTo(fp *[fingerprintLen]byte) {
	h := sha256.New()
	_, _ = io.WriteString(h, string(p.Scheme))
	_, _ = h.Write(p.Key)
	var sum [sha256.Size]byte
	hex.Encode(fp[:], h.Sum(sum[:0])[:fingerprintLen/2])
}

// Validate checks that the scheme is supported and the key has the length
// that scheme requires.
func (p PublicKey) Validate() error {
	if !p.Scheme.Valid() {
		return Errorf(CodeInvalid, "scheme: unknown signature scheme %q", p.Scheme)
	}
	if n := p.Scheme.publicKeySize(); len(p.Key) != n {
		return Errorf(CodeInvalid, "key: a %s public key is %d bytes, got %d", p.Scheme, n, len(p.Key))
	}
	return nil
}

// Verify reports whether sig is a valid signature of msg by p. It returns
// false, and never panics, for any malformed key or signature. Verifying
// many signatures by one key is cheaper through Parse.
func (p PublicKey) Verify(msg, sig []byte) bool {
	v, err := p.Parse()
	if err != nil {
		return false
	}
	return v.Verify(msg, sig)
}

// VerifyingKey is a public key decoded once for repeated verification. An
// ML-DSA public key expands into a matrix that costs about as much to derive
// as a verification, so a key table that keeps VerifyingKeys saves that work
// on every proposal. A VerifyingKey is immutable and safe for concurrent use.
type VerifyingKey struct {
	pub  PublicKey
	fp   [fingerprintLen]byte
	id   Hash               // SHA-256 of the scheme and the key: the key's identity in the signature cache
	ed   ed25519.PublicKey  // ed25519 and composite
	ml44 *mldsa44.PublicKey // ml-dsa-44
	ml65 *mldsa65.PublicKey // ml-dsa-65 and composite
}

// Parse validates p and decodes it for verification.
func (p PublicKey) Parse() (*VerifyingKey, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	key := append([]byte(nil), p.Key...) // p.Key belongs to the caller
	v := &VerifyingKey{pub: PublicKey{Scheme: p.Scheme, Key: key}}
	p.fingerprintTo(&v.fp)
	h := sha256.New()
	h.Write([]byte(p.Scheme))
	h.Write([]byte{0})
	h.Write(key)
	h.Sum(v.id[:0])
	switch p.Scheme {
	case SchemeEd25519:
		v.ed = ed25519.PublicKey(key)
	case SchemeMLDSA44:
		v.ml44 = new(mldsa44.PublicKey)
		if err := v.ml44.UnmarshalBinary(key); err != nil {
			return nil, Errorf(CodeInvalid, "key: %v", err)
		}
	case SchemeMLDSA65:
		v.ml65 = new(mldsa65.PublicKey)
		if err := v.ml65.UnmarshalBinary(key); err != nil {
			return nil, Errorf(CodeInvalid, "key: %v", err)
		}
	case SchemeComposite:
		v.ml65 = new(mldsa65.PublicKey)
		if err := v.ml65.UnmarshalBinary(key[:mldsa65.PublicKeySize]); err != nil {
			return nil, Errorf(CodeInvalid, "key: %v", err)
		}
		v.ed = ed25519.PublicKey(key[mldsa65.PublicKeySize:])
	}
	return v, nil
}

// PublicKey returns the key that v was parsed from. The caller may not modify
// its Key bytes.
func (v *VerifyingKey) PublicKey() PublicKey { return v.pub }

// Fingerprint returns the fingerprint of the key, computed once by Parse.
func (v *VerifyingKey) Fingerprint() string { return string(v.fp[:]) }

// Verify reports whether sig is a valid signature of msg. It never panics on
// a malformed signature.
func (v *VerifyingKey) Verify(msg, sig []byte) bool {
	if v == nil || len(sig) != v.pub.Scheme.signatureSize() {
		return false
	}
	switch v.pub.Scheme {
	case SchemeEd25519:
		return ed25519.Verify(v.ed, msg, sig)
	case SchemeMLDSA44:
		return mldsa44.Verify(v.ml44, msg, nil, sig)
	case SchemeMLDSA65:
		return mldsa65.Verify(v.ml65, msg, nil, sig)
	case SchemeComposite:
		return verifyComposite(v.ml65, v.ed, msg, sig)
	}
	return false
}

// verifyComposite checks both halves of a composite signature. Both are
// always evaluated, so the time taken does not reveal which half failed.
func verifyComposite(ml *mldsa65.PublicKey, ed ed25519.PublicKey, msg, sig []byte) bool {
	var m [compositeMessageSize]byte
	compositeMessage(&m, msg)
	okML := mldsa65.Verify(ml, m[:], []byte(compositeLabel), sig[:mldsa65.SignatureSize])
	okEd := ed25519.Verify(ed, m[:], sig[mldsa65.SignatureSize:])
	return okML && okEd
}

// compositeMessageSize is the length of the message that both components of
// a composite signature sign.
const compositeMessageSize = len(compositePrefix) + len(compositeLabel) + 1 + sha512.Size

// compositeMessage writes the message M′ that both components of a
// ml-dsa-65+ed25519 signature sign:
//
//	M′ = "CompositeAlgorithmSignatures2025" ‖ "COMPSIG-MLDSA65-Ed25519-SHA512" ‖ 0x00 ‖ SHA-512(msg)
//
// The 0x00 is the length of the (always empty) application context. The
// ML-DSA-65 component signs M′ in pure mode with the label as its FIPS 204
// context string; the Ed25519 component signs M′ as pure Ed25519. The
// composite signature is the ML-DSA-65 signature (3309 bytes) followed by the
// Ed25519 signature (64 bytes). This mirrors the construction of
// draft-ietf-lamps-pq-composite-sigs; interoperability with other
// implementations of that draft is not claimed.
func compositeMessage(m *[compositeMessageSize]byte, msg []byte) {
	n := copy(m[:], compositePrefix)
	n += copy(m[n:], compositeLabel)
	m[n] = 0
	n++
	digest := sha512.Sum512(msg)
	copy(m[n:], digest[:])
}

// Ed25519 returns the Ed25519 public key inside p: p's key itself for
// ed25519, the Ed25519 half for the composite. ok is false for the ML-DSA
// schemes, which hold none, and for a key of the wrong length.
func (p PublicKey) Ed25519() (key []byte, ok bool) {
	switch {
	case p.Scheme == SchemeEd25519 && len(p.Key) == ed25519PublicKeySize:
		return p.Key, true
	case p.Scheme == SchemeComposite && len(p.Key) == compositePublicKeySize:
		return p.Key[mldsa65.PublicKeySize:], true
	}
	return nil, false
}

// KeyID returns the ID of member's key p: "<member>/<fingerprint>".
func KeyID(member string, p PublicKey) string {
	return member + "/" + p.Fingerprint()
}

// SplitKeyID splits a key ID into its member and fingerprint. ok is false
// unless the member is a valid member ID and the fingerprint is 16 lowercase
// hex digits.
func SplitKeyID(id string) (member, fingerprint string, ok bool) {
	member, fingerprint, found := strings.Cut(id, "/")
	if !found || !ValidMemberID(member) || !validFingerprint(fingerprint) {
		return "", "", false
	}
	return member, fingerprint, true
}

func validFingerprint(s string) bool {
	if len(s) != fingerprintLen {
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

// PrivateKey is a signing key. It keeps its seed, so that a key file needs
// to store only the seed, and it never prints its secret parts: String,
// GoString and LogValue show only the scheme and the fingerprint.
type PrivateKey struct {
	scheme Scheme
	seed   [SeedSize]byte
	ed     ed25519.PrivateKey  // ed25519 and composite
	ml44   *mldsa44.PrivateKey // ml-dsa-44
	ml65   *mldsa65.PrivateKey // ml-dsa-65 and composite
	pub    PublicKey
}

// GenerateKey returns a new key of scheme s, whose seed is SeedSize bytes
// read from rand. A nil rand means crypto/rand.
func GenerateKey(s Scheme, rand io.Reader) (*PrivateKey, error) {
	if !s.Valid() {
		return nil, Errorf(CodeInvalid, "scheme: unknown signature scheme %q", s)
	}
	if rand == nil {
		rand = cryptoRand{}
	}
	seed := make([]byte, SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, err
	}
	return NewKeyFromSeed(s, seed)
}

// cryptoRand reads from crypto/rand.
type cryptoRand struct{}

func (cryptoRand) Read(b []byte) (int, error) { return rand.Read(b) }

// NewKeyFromSeed derives the key of scheme s from seed, which must be
// SeedSize (32) bytes for every scheme. The same seed always gives the same
// key.
//
// For Ed25519 the seed is the RFC 8032 private key; for ML-DSA it is the
// FIPS 204 key-generation seed ξ. For the composite, the component seeds are
//
//	ML-DSA-65 seed = SHA-256("charta composite seed v1" ‖ 0x00 ‖ "ml-dsa-65" ‖ 0x00 ‖ seed)
//	Ed25519 seed   = SHA-256("charta composite seed v1" ‖ 0x00 ‖ "ed25519" ‖ 0x00 ‖ seed)
//
// so that one 32-byte secret backs both halves without reusing it.
func NewKeyFromSeed(s Scheme, seed []byte) (*PrivateKey, error) {
	if !s.Valid() {
		return nil, Errorf(CodeInvalid, "scheme: unknown signature scheme %q", s)
	}
	if len(seed) != SeedSize {
		return nil, Errorf(CodeInvalid, "seed: must be %d bytes, got %d", SeedSize, len(seed))
	}
	k := &PrivateKey{scheme: s}
	copy(k.seed[:], seed)
	var pub []byte
	switch s {
	case SchemeEd25519:
		k.ed = ed25519.NewKeyFromSeed(seed)
		pub = k.ed.Public().(ed25519.PublicKey)
	case SchemeMLDSA44:
		pk, sk := mldsa44.NewKeyFromSeed(&k.seed)
		k.ml44 = sk
		pub = pk.Bytes()
	case SchemeMLDSA65:
		pk, sk := mldsa65.NewKeyFromSeed(&k.seed)
		k.ml65 = sk
		pub = pk.Bytes()
	case SchemeComposite:
		mlSeed := compositeComponentSeed("ml-dsa-65", seed)
		edSeed := compositeComponentSeed("ed25519", seed)
		pk, sk := mldsa65.NewKeyFromSeed(&mlSeed)
		k.ml65 = sk
		k.ed = ed25519.NewKeyFromSeed(edSeed[:])
		pub = make([]byte, 0, compositePublicKeySize)
		pub = append(pub, pk.Bytes()...)
		pub = append(pub, k.ed.Public().(ed25519.PublicKey)...)
	}
	k.pub = PublicKey{Scheme: s, Key: pub}
	return k, nil
}

// compositeComponentSeed derives the seed of one component of a composite key.
func compositeComponentSeed(component string, seed []byte) [SeedSize]byte {
	h := sha256.New()
	_, _ = io.WriteString(h, compositeSeedTag)
	_, _ = h.Write([]byte{0})
	_, _ = io.WriteString(h, component)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(seed)
	var out [SeedSize]byte
	h.Sum(out[:0])
	return out
}

// Scheme returns the key's scheme.
func (k *PrivateKey) Scheme() Scheme { return k.scheme }

// Public returns the public key. The caller may not modify its Key bytes.
func (k *PrivateKey) Public() PublicKey { return k.pub }

// Sign signs msg. ML-DSA signing, alone or inside the composite, is hedged
// (randomised), as FIPS 204 recommends against fault and side-channel
// attacks; Ed25519 is deterministic. Use SignDeterministic where
// reproducible bytes matter more, as in test vectors.
func (k *PrivateKey) Sign(msg []byte) ([]byte, error) {
	return k.sign(msg, true)
}

// SignDeterministic signs msg with the deterministic variant of ML-DSA
// (FIPS 204, rnd = 0), so the same key and message always give the same
// signature. Both variants verify the same way.
func (k *PrivateKey) SignDeterministic(msg []byte) ([]byte, error) {
	return k.sign(msg, false)
}

func (k *PrivateKey) sign(msg []byte, randomized bool) ([]byte, error) {
	sig := make([]byte, k.scheme.signatureSize())
	switch k.scheme {
	case SchemeEd25519:
		copy(sig, ed25519.Sign(k.ed, msg))
	case SchemeMLDSA44:
		if err := mldsa44.SignTo(k.ml44, msg, nil, randomized, sig); err != nil {
			return nil, err
		}
	case SchemeMLDSA65:
		if err := mldsa65.SignTo(k.ml65, msg, nil, randomized, sig); err != nil {
			return nil, err
		}
	case SchemeComposite:
		var m [compositeMessageSize]byte
		compositeMessage(&m, msg)
		if err := mldsa65.SignTo(k.ml65, m[:], []byte(compositeLabel), randomized, sig[:mldsa65.SignatureSize]); err != nil {
			return nil, err
		}
		copy(sig[mldsa65.SignatureSize:], ed25519.Sign(k.ed, m[:]))
	default:
		return nil, Errorf(CodeInvalid, "scheme: unknown signature scheme %q", k.scheme)
	}
	return sig, nil
}

// SignEd25519 signs msg as pure Ed25519 with the key's Ed25519 part: the
// whole key for ed25519, the Ed25519 half for the composite. ok is false
// for the ML-DSA schemes. It exists for formats that stock verifiers know
// only as Ed25519 (C2SP signed notes and tlog cosignatures); each such
// message starts with its own fixed header, and a composite's Ed25519 half
// otherwise signs only the composite message M′, which starts with
// "CompositeAlgorithmSignatures2025", so no signature made here can pass as
// part of a composite signature or the other way round.
func (k *PrivateKey) SignEd25519(msg []byte) (sig []byte, ok bool) {
	if k.ed == nil {
		return nil, false
	}
	return ed25519.Sign(k.ed, msg), true
}

// String identifies the key without revealing it. It and GoString have
// value receivers so that printing a dereferenced key is just as safe.
func (k PrivateKey) String() string {
	return "PrivateKey(" + string(k.scheme) + " " + k.pub.Fingerprint() + ")"
}

// GoString keeps %#v from printing the secret fields.
func (k PrivateKey) GoString() string { return k.String() }

// LogValue keeps structured logs from recording the secret fields.
func (k PrivateKey) LogValue() slog.Value { return slog.StringValue(k.String()) }
