package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudflare/circl/sign/ed25519"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// update rewrites the golden files under testdata/ instead of comparing with
// them. Other golden tests in this package share it.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var allSchemes = []Scheme{SchemeEd25519, SchemeMLDSA44, SchemeMLDSA65, SchemeComposite}

// testSeed returns a fixed seed for tests inside package ledger.
func testSeed(label string) []byte {
	s := sha256.Sum256([]byte("ledger test seed " + label))
	return s[:]
}

func testKey(t testing.TB, s Scheme, label string) *PrivateKey {
	t.Helper()
	k, err := NewKeyFromSeed(s, testSeed(label))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func wantCode(t *testing.T, err error, code Code, msgPart string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s error containing %q", code, msgPart)
	}
	var le *Error
	if !errors.As(err, &le) {
		t.Fatalf("got %T %v, want *ledger.Error", err, err)
	}
	if le.Code != code {
		t.Errorf("code = %s, want %s (%v)", le.Code, code, err)
	}
	if !strings.Contains(le.Message, msgPart) {
		t.Errorf("message = %q, want it to contain %q", le.Message, msgPart)
	}
}

func TestScheme_Valid(t *testing.T) {
	for _, s := range allSchemes {
		if !s.Valid() {
			t.Errorf("%q.Valid() = false", s)
		}
	}
	for _, s := range []Scheme{"", "ED25519", "ml-dsa-87", "ed25519+ml-dsa-65", "eddilithium3"} {
		if s.Valid() {
			t.Errorf("%q.Valid() = true", s)
		}
	}
	if DefaultScheme != SchemeComposite {
		t.Errorf("DefaultScheme = %q", DefaultScheme)
	}
}

func TestSign_RoundTrip(t *testing.T) {
	msg := []byte("grant acme → globex: train, DE, 2025")
	sizes := map[Scheme][2]int{ // public key, signature
		SchemeEd25519:   {32, 64},
		SchemeMLDSA44:   {1312, 2420},
		SchemeMLDSA65:   {1952, 3309},
		SchemeComposite: {1952 + 32, 3309 + 64},
	}
	for _, s := range allSchemes {
		t.Run(string(s), func(t *testing.T) {
			k := testKey(t, s, "roundtrip")
			pub := k.Public()
			if pub.Scheme != s || len(pub.Key) != sizes[s][0] {
				t.Fatalf("public key: scheme %q, %d bytes; want %q, %d", pub.Scheme, len(pub.Key), s, sizes[s][0])
			}
			if err := pub.Validate(); err != nil {
				t.Fatal(err)
			}
			for _, det := range []bool{false, true} {
				var sig []byte
				var err error
				if det {
					sig, err = k.SignDeterministic(msg)
				} else {
					sig, err = k.Sign(msg)
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(sig) != sizes[s][1] {
					t.Errorf("signature is %d bytes, want %d", len(sig), sizes[s][1])
				}
				if !pub.Verify(msg, sig) {
					t.Errorf("deterministic=%v: valid signature does not verify", det)
				}
				if pub.Verify(append([]byte{}, msg[1:]...), sig) {
					t.Errorf("deterministic=%v: signature verifies for another message", det)
				}
			}
			a, _ := k.SignDeterministic(msg)
			b, _ := k.SignDeterministic(msg)
			if !bytes.Equal(a, b) {
				t.Error("SignDeterministic gave two different signatures")
			}
		})
	}
}

func TestSign_HedgedMLDSAIsRandomised(t *testing.T) {
	k := testKey(t, SchemeMLDSA65, "hedged")
	a, _ := k.Sign([]byte("m"))
	b, _ := k.Sign([]byte("m"))
	if bytes.Equal(a, b) {
		t.Error("two hedged ML-DSA signatures are equal")
	}
}

func TestNewKeyFromSeed_Deterministic(t *testing.T) {
	for _, s := range allSchemes {
		a := testKey(t, s, "same")
		b := testKey(t, s, "same")
		c := testKey(t, s, "other")
		if !bytes.Equal(a.Public().Key, b.Public().Key) {
			t.Errorf("%s: same seed, different keys", s)
		}
		if bytes.Equal(a.Public().Key, c.Public().Key) {
			t.Errorf("%s: different seeds, same key", s)
		}
	}
	// The halves of a composite key come from derived seeds, not the seed
	// itself, so they differ from the stand-alone keys of the same seed.
	comp := testKey(t, SchemeComposite, "same").Public().Key
	ml := testKey(t, SchemeMLDSA65, "same").Public().Key
	ed := testKey(t, SchemeEd25519, "same").Public().Key
	if bytes.Equal(comp[:mldsa65.PublicKeySize], ml) || bytes.Equal(comp[mldsa65.PublicKeySize:], ed) {
		t.Error("a composite component reuses the composite seed directly")
	}
}

func TestNewKeyFromSeed_Rejects(t *testing.T) {
	tests := []struct {
		name   string
		scheme Scheme
		seed   []byte
		want   string
	}{
		{"unknown scheme", "rsa", make([]byte, 32), `scheme: unknown signature scheme "rsa"`},
		{"short seed", SchemeEd25519, make([]byte, 31), "seed: must be 32 bytes, got 31"},
		{"long seed", SchemeComposite, make([]byte, 64), "seed: must be 32 bytes, got 64"},
		{"nil seed", SchemeMLDSA44, nil, "seed: must be 32 bytes, got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewKeyFromSeed(tt.scheme, tt.seed)
			wantCode(t, err, CodeInvalid, tt.want)
		})
	}
}

func TestGenerateKey(t *testing.T) {
	r := bytes.NewReader(testSeed("gen"))
	k, err := GenerateKey(SchemeEd25519, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := testKey(t, SchemeEd25519, "gen"); !bytes.Equal(k.Public().Key, want.Public().Key) {
		t.Error("GenerateKey does not use its 32 bytes of randomness as the seed")
	}
	if _, err := GenerateKey(SchemeEd25519, bytes.NewReader(make([]byte, 5))); err == nil {
		t.Error("GenerateKey succeeded on a short random stream")
	}
	a, err := GenerateKey(DefaultScheme, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateKey(DefaultScheme, nil)
	if bytes.Equal(a.Public().Key, b.Public().Key) {
		t.Error("two generated keys are equal")
	}
	if _, err := GenerateKey("nope", nil); err == nil {
		t.Error("GenerateKey accepted an unknown scheme")
	}
}

func TestVerify_CompositeHalfCorrupted(t *testing.T) {
	k := testKey(t, SchemeComposite, "composite")
	pub := k.Public()
	msg := []byte("bundle 7")
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		s := bytes.Clone(sig)
		s[i] ^= 0x01
		return s
	}
	if pub.Verify(msg, flip(10)) {
		t.Error("verifies with the ML-DSA half corrupted")
	}
	if pub.Verify(msg, flip(mldsa65.SignatureSize+10)) {
		t.Error("verifies with the Ed25519 half corrupted")
	}
	if pub.Verify(msg, flip(len(sig)-1)) {
		t.Error("verifies with the last byte corrupted")
	}

	// A half taken from a signature of another message must not do either.
	other, _ := k.Sign([]byte("bundle 8"))
	mixed := append(bytes.Clone(sig[:mldsa65.SignatureSize]), other[mldsa65.SignatureSize:]...)
	if pub.Verify(msg, mixed) {
		t.Error("verifies with the Ed25519 half of another message's signature")
	}
	mixed = append(bytes.Clone(other[:mldsa65.SignatureSize]), sig[mldsa65.SignatureSize:]...)
	if pub.Verify(msg, mixed) {
		t.Error("verifies with the ML-DSA half of another message's signature")
	}

	// The components sign the domain-separated message, so neither half is
	// a valid stand-alone signature of msg.
	edPub := ed25519.PublicKey(pub.Key[mldsa65.PublicKeySize:])
	if ed25519.Verify(edPub, msg, sig[mldsa65.SignatureSize:]) {
		t.Error("the Ed25519 half is a stand-alone Ed25519 signature of msg")
	}
	var mlPub mldsa65.PublicKey
	if err := mlPub.UnmarshalBinary(pub.Key[:mldsa65.PublicKeySize]); err != nil {
		t.Fatal(err)
	}
	if mldsa65.Verify(&mlPub, msg, nil, sig[:mldsa65.SignatureSize]) {
		t.Error("the ML-DSA half is a stand-alone ML-DSA-65 signature of msg")
	}

	// Conversely, stand-alone signatures of msg by the component keys do
	// not combine into a composite signature.
	var m [compositeMessageSize]byte
	compositeMessage(&m, msg)
	forged := make([]byte, 0, compositeSignatureSize)
	mlSig := make([]byte, mldsa65.SignatureSize)
	if err := mldsa65.SignTo(k.ml65, msg, nil, false, mlSig); err != nil {
		t.Fatal(err)
	}
	forged = append(forged, mlSig...)
	forged = append(forged, ed25519.Sign(k.ed, msg)...)
	if pub.Verify(msg, forged) {
		t.Error("stand-alone component signatures verify as a composite")
	}
}

func TestVerify_WrongKey(t *testing.T) {
	msg := []byte("pool.consume 40")
	for _, s := range allSchemes {
		t.Run(string(s), func(t *testing.T) {
			sig, err := testKey(t, s, "alice").Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if testKey(t, s, "bob").Public().Verify(msg, sig) {
				t.Error("another key of the same scheme verifies the signature")
			}
			// The same key bytes under another scheme name must fail too.
			for _, other := range allSchemes {
				if other == s {
					continue
				}
				p := testKey(t, s, "alice").Public()
				p.Scheme = other
				if p.Verify(msg, sig) {
					t.Errorf("verifies when the key is relabelled %s", other)
				}
			}
		})
	}
}

func TestVerify_NeverPanicsOnGarbage(t *testing.T) {
	msg := []byte("m")
	lengths := []int{0, 1, 31, 32, 33, 63, 64, 65, 1312, 1952, 1984, 2420, 3309, 3373, 5000}
	stream := sha256.Sum256([]byte("garbage"))
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			if i%32 == 0 {
				stream = sha256.Sum256(stream[:])
			}
			b[i] = stream[i%32]
		}
		return b
	}
	schemes := append([]Scheme{"", "bogus"}, allSchemes...)
	for _, s := range schemes {
		for _, kl := range lengths {
			for _, sl := range lengths {
				for _, fill := range []func(int) []byte{garbage, func(n int) []byte { return make([]byte, n) }, func(n int) []byte { return bytes.Repeat([]byte{0xff}, n) }} {
					p := PublicKey{Scheme: s, Key: fill(kl)}
					if p.Verify(msg, fill(sl)) {
						t.Fatalf("%s key of %d bytes verified a garbage signature of %d bytes", s, kl, sl)
					}
				}
			}
		}
	}
	// A valid key with garbage signatures of the right length.
	for _, s := range allSchemes {
		p := testKey(t, s, "garbage").Public()
		for range 3 {
			if p.Verify(msg, garbage(s.signatureSize())) {
				t.Fatalf("%s: garbage signature verified", s)
			}
		}
	}
	var nilKey *VerifyingKey
	if nilKey.Verify(msg, nil) {
		t.Error("nil VerifyingKey verified")
	}
}

func TestPublicKey_Validate(t *testing.T) {
	good := testKey(t, SchemeComposite, "v").Public()
	tests := []struct {
		name string
		key  PublicKey
		want string // "" for valid
	}{
		{"composite", good, ""},
		{"unknown scheme", PublicKey{Scheme: "dsa", Key: good.Key}, `scheme: unknown signature scheme "dsa"`},
		{"empty scheme", PublicKey{Key: good.Key}, `scheme: unknown signature scheme ""`},
		{"composite too short", PublicKey{Scheme: SchemeComposite, Key: good.Key[:100]}, "key: a ml-dsa-65+ed25519 public key is 1984 bytes, got 100"},
		{"ed25519 too long", PublicKey{Scheme: SchemeEd25519, Key: make([]byte, 33)}, "key: a ed25519 public key is 32 bytes, got 33"},
		{"ml-dsa-44 empty", PublicKey{Scheme: SchemeMLDSA44}, "key: a ml-dsa-44 public key is 1312 bytes, got 0"},
		{"ml-dsa-65 given a composite key", PublicKey{Scheme: SchemeMLDSA65, Key: good.Key}, "1952 bytes, got 1984"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.key.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, CodeInvalid, tt.want)
		})
	}
}

func TestPublicKey_Fingerprint(t *testing.T) {
	p := PublicKey{Scheme: SchemeEd25519, Key: bytes.Repeat([]byte{7}, 32)}
	sum := sha256.Sum256(append([]byte("ed25519"), p.Key...))
	if got, want := p.Fingerprint(), hex.EncodeToString(sum[:8]); got != want {
		t.Errorf("Fingerprint() = %s, want %s", got, want)
	}
	q := p
	q.Scheme = SchemeMLDSA44
	if p.Fingerprint() == q.Fingerprint() {
		t.Error("the scheme does not enter the fingerprint")
	}
	v, err := testKey(t, SchemeMLDSA65, "fp").Public().Parse()
	if err != nil {
		t.Fatal(err)
	}
	if v.Fingerprint() != v.PublicKey().Fingerprint() {
		t.Error("VerifyingKey.Fingerprint differs from PublicKey.Fingerprint")
	}
}

func TestSplitKeyID(t *testing.T) {
	tests := []struct {
		id, member, fp string
		ok             bool
	}{
		{"acme/0123456789abcdef", "acme", "0123456789abcdef", true},
		{"a-1/ffffffffffffffff", "a-1", "ffffffffffffffff", true},
		{"acme/0123456789ABCDEF", "", "", false},
		{"acme/0123456789abcde", "", "", false},
		{"acme/0123456789abcdef0", "", "", false},
		{"Acme/0123456789abcdef", "", "", false},
		{"1acme/0123456789abcdef", "", "", false},
		{"/0123456789abcdef", "", "", false},
		{"acme0123456789abcdef", "", "", false},
		{"acme/x/0123456789abcdef", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		m, fp, ok := SplitKeyID(tt.id)
		if m != tt.member || fp != tt.fp || ok != tt.ok {
			t.Errorf("SplitKeyID(%q) = %q, %q, %v; want %q, %q, %v", tt.id, m, fp, ok, tt.member, tt.fp, tt.ok)
		}
	}
	p := testKey(t, SchemeEd25519, "kid").Public()
	id := KeyID("globex", p)
	if m, fp, ok := SplitKeyID(id); !ok || m != "globex" || fp != p.Fingerprint() {
		t.Errorf("SplitKeyID(KeyID(...)) = %q, %q, %v", m, fp, ok)
	}
}

func TestPrivateKey_NeverPrintsSecret(t *testing.T) {
	k := testKey(t, SchemeComposite, "secret")
	seedHex := hex.EncodeToString(k.seed[:])
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("signing", "key", k)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("signing", "key", k)
	jsonBytes, _ := json.Marshal(k) //lint:ignore SA9005 checks that marshalling a key leaks nothing
	outputs := []string{
		fmt.Sprintf("%v", k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), k.String(),
		fmt.Sprint(*k), logBuf.String(), string(jsonBytes),
	}
	secrets := []string{seedHex, base64.StdEncoding.EncodeToString(k.seed[:]), fmt.Sprint(k.seed), fmt.Sprint(k.seed[:])}
	for _, out := range outputs {
		for _, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Errorf("output reveals the seed: %.200s", out)
			}
		}
	}
	var nilKey *PrivateKey
	if got := fmt.Sprint(nilKey); got != "<nil>" {
		t.Errorf("nil key prints as %q", got)
	}
	if want := "PrivateKey(ml-dsa-65+ed25519 " + k.Public().Fingerprint() + ")"; outputs[0] != want {
		t.Errorf("%%v = %q, want %q", outputs[0], want)
	}
	if !strings.Contains(logBuf.String(), k.Public().Fingerprint()) {
		t.Errorf("log does not identify the key: %s", logBuf.String())
	}
}

// vectorMessage is the message signed in the golden vectors.
const vectorMessage = "DSSEv1 39 application/vnd.charta.proposal.v1+json 2 {}"

type signatureVectors struct {
	Comment string            `json:"comment"`
	Message string            `json:"message"`
	Vectors []signatureVector `json:"vectors"`
}

type signatureVector struct {
	Scheme      Scheme `json:"scheme"`
	Seed        string `json:"seed"` // hex
	Member      string `json:"member"`
	Public      string `json:"public"` // hex
	Fingerprint string `json:"fingerprint"`
	KeyID       string `json:"key_id"`
	Signature   string `json:"signature"` // hex; deterministic signing
}

// TestSignatureVectors pins key derivation, fingerprints, key IDs and
// deterministic signatures for every scheme. Run with -update to rewrite
// testdata/vectors/signatures.json after an intended change.
func TestSignatureVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors", "signatures.json")
	if *update {
		out := signatureVectors{
			Comment: "Seeds are hex; public keys and signatures are hex. Signatures use deterministic ML-DSA (FIPS 204, rnd = 0). " +
				"fingerprint = first 16 hex digits of SHA-256(scheme || public key); key_id = member/fingerprint.",
			Message: vectorMessage,
		}
		for i, s := range allSchemes {
			seed := make([]byte, SeedSize)
			for j := range seed {
				seed[j] = byte(i*SeedSize + j)
			}
			k, err := NewKeyFromSeed(s, seed)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := k.SignDeterministic([]byte(vectorMessage))
			if err != nil {
				t.Fatal(err)
			}
			out.Vectors = append(out.Vectors, signatureVector{
				Scheme:      s,
				Seed:        hex.EncodeToString(seed),
				Member:      "acme",
				Public:      hex.EncodeToString(k.Public().Key),
				Fingerprint: k.Public().Fingerprint(),
				KeyID:       KeyID("acme", k.Public()),
				Signature:   hex.EncodeToString(sig),
			})
		}
		writeGoldenJSON(t, path, out)
	}
	var vs signatureVectors
	readGoldenJSON(t, path, &vs)
	if len(vs.Vectors) != len(allSchemes) {
		t.Fatalf("%d vectors, want one per scheme (%d)", len(vs.Vectors), len(allSchemes))
	}
	for _, v := range vs.Vectors {
		t.Run(string(v.Scheme), func(t *testing.T) {
			seed := mustHex(t, v.Seed)
			k, err := NewKeyFromSeed(v.Scheme, seed)
			if err != nil {
				t.Fatal(err)
			}
			pub := k.Public()
			if got := hex.EncodeToString(pub.Key); got != v.Public {
				t.Errorf("public key differs from the vector:\n got %.64s…\nwant %.64s…", got, v.Public)
			}
			if got := pub.Fingerprint(); got != v.Fingerprint {
				t.Errorf("fingerprint = %s, want %s", got, v.Fingerprint)
			}
			if got := KeyID(v.Member, pub); got != v.KeyID {
				t.Errorf("key ID = %s, want %s", got, v.KeyID)
			}
			sig := mustHex(t, v.Signature)
			vpub := PublicKey{Scheme: v.Scheme, Key: mustHex(t, v.Public)}
			if !vpub.Verify([]byte(vs.Message), sig) {
				t.Error("the vector's signature does not verify")
			}
			got, err := k.SignDeterministic([]byte(vs.Message))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, sig) {
				t.Error("deterministic signature differs from the vector")
			}
			bad := bytes.Clone(sig)
			bad[len(bad)/2] ^= 0x80
			if vpub.Verify([]byte(vs.Message), bad) {
				t.Error("a corrupted vector signature verifies")
			}
		})
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeGoldenJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readGoldenJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, s := range allSchemes {
		b.Run(string(s), func(b *testing.B) {
			k := testKey(b, s, "bench")
			p := &Proposal{V: 1, Consortium: strings.Repeat("ab", 32), ID: "bench-1", Type: "grant.offer",
				Signer: "acme", Body: json.RawMessage(`{"asset":"m1","rights":["train"]}`)}
			p.IssuedAt = p.IssuedAt.AddDate(2025, 0, 0)
			e, err := SignDeterministic(p, NewSigner("acme", k))
			if err != nil {
				b.Fatal(err)
			}
			b.Run("PublicKey", func(b *testing.B) {
				lookup := func(string) (PublicKey, bool) { return k.Public(), true }
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.Verify(lookup); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("VerifyingKey", func(b *testing.B) {
				v, err := k.Public().Parse()
				if err != nil {
					b.Fatal(err)
				}
				lookup := func(string) (*VerifyingKey, bool) { return v, true }
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.VerifyWith(lookup); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
