package seal_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
)

// vectorsFile holds the sealing test vectors: sealed objects with the keys
// that open them and every intermediate value, objects that must fail to
// open with the error class expected, and disclosures. A third-party
// implementation checks itself against them; docs/confidentiality.md
// describes the format. TestWriteVectors rewrites the file.
var vectorsFile = filepath.Join("testdata", "vectors.json")

// vectors is the file's content.
type vectors struct {
	Comment     []string           `json:"comment"`
	Keys        []vectorKey        `json:"keys"`
	Valid       []validVector      `json:"valid"`
	Invalid     []invalidVector    `json:"invalid"`
	Disclosures []disclosureVector `json:"disclosures"`
}

// vectorKey is a named key: its seed, public key and fingerprint.
type vectorKey struct {
	Name        string         `json:"name"`
	Seed        hexBytes       `json:"seed"`
	PublicKey   seal.PublicKey `json:"public_key"`
	Fingerprint string         `json:"fingerprint"`
}

// validVector is an object that every recipient opens. Randomness is every
// random byte Seal read, in order, so sealing can be reproduced exactly.
type validVector struct {
	Name          string              `json:"name"`
	Binding       seal.Binding        `json:"binding"`
	Recipients    []vectorRecipient   `json:"recipients"`
	Plaintext     hexBytes            `json:"plaintext"`
	Randomness    hexBytes            `json:"randomness"`
	Salt          hexBytes            `json:"salt"`
	Commitment    ledger.Hash         `json:"commitment"`
	BindingDigest hexBytes            `json:"binding_digest"`
	Info          hexBytes            `json:"info"`
	PayloadAAD    hexBytes            `json:"payload_aad"`
	WrapAAD       map[string]hexBytes `json:"wrap_aad"`
	Sealed        json.RawMessage     `json:"sealed"`
}

// vectorRecipient names a member and the key (in keys) it is sealed to.
type vectorRecipient struct {
	Member string `json:"member"`
	Key    string `json:"key"`
}

// invalidVector is an object that member, holding key, must fail to open
// under binding with the error class want: "malformed", "not_recipient",
// "corrupt" or "commitment_mismatch". Sealed is the document's exact
// bytes as a JSON string, since some are not even valid sealed objects
// (duplicate keys, unknown fields).
type invalidVector struct {
	Name    string       `json:"name"`
	Binding seal.Binding `json:"binding"`
	Member  string       `json:"member"`
	Key     string       `json:"key"`
	Want    string       `json:"want"`
	Sealed  string       `json:"sealed"`
}

// disclosureVector is an opening checked against a commitment: want is
// "ok", "commitment_mismatch" or "malformed".
type disclosureVector struct {
	Name       string      `json:"name"`
	Commitment ledger.Hash `json:"commitment"`
	Salt       hexBytes    `json:"salt"`
	Plaintext  hexBytes    `json:"plaintext"`
	Want       string      `json:"want"`
}

var classes = map[string]error{
	"malformed": seal.ErrMalformed, "not_recipient": seal.ErrNotRecipient,
	"corrupt": seal.ErrCorrupt, "commitment_mismatch": seal.ErrCommitmentMismatch,
}

// hexBytes is bytes written as lowercase hex.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }
func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

func readVectors(t testing.TB) (*vectors, []byte) {
	t.Helper()
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := ledger.DecodeStrict(b, &v); err != nil {
		t.Fatal(err)
	}
	return &v, b
}

// TestVectors_Keys: each seed derives its public key and fingerprint.
func TestVectors_Keys(t *testing.T) {
	v, _ := readVectors(t)
	if len(v.Keys) < 5 {
		t.Fatalf("%d keys", len(v.Keys))
	}
	for _, k := range v.Keys {
		pk, err := seal.NewKeyFromSeed(k.Seed)
		if err != nil || !pk.Public().Equal(k.PublicKey) || pk.Public().Fingerprint() != k.Fingerprint {
			t.Fatalf("%s: the seed does not derive the key (%v)", k.Name, err)
		}
	}
}

// TestVectors_Valid: every valid object parses, reseals byte for byte from
// its randomness, has the recorded intermediates, and opens for each
// recipient to the plaintext and salt, which verify as a disclosure.
func TestVectors_Valid(t *testing.T) {
	v, _ := readVectors(t)
	keys := vectorKeys(t, v)
	if len(v.Valid) < 3 {
		t.Fatalf("%d valid vectors", len(v.Valid))
	}
	for _, c := range v.Valid {
		t.Run(c.Name, func(t *testing.T) {
			s, err := seal.ParseSealed(c.Sealed)
			if err != nil {
				t.Fatal(err)
			}
			var rs []seal.Recipient
			for _, r := range c.Recipients {
				rs = append(rs, seal.Recipient{Member: r.Member, Key: keys[r.Key].Public()})
			}
			r := bytes.NewReader(c.Randomness)
			again, o, err := seal.SealFrom(r, c.Plaintext, rs, c.Binding)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := mustJSON(t, again), compact(t, c.Sealed); !bytes.Equal(got, want) {
				t.Fatalf("resealing from the randomness gives other bytes:\n%.300s\nwant\n%.300s", got, want)
			}
			if r.Len() != 0 || !bytes.Equal(o.Salt, c.Salt) {
				t.Fatalf("%d random bytes left over; salt %x", r.Len(), o.Salt)
			}
			bd, info, payload, wraps := seal.Intermediates(s, c.Binding)
			if !bytes.Equal(bd, c.BindingDigest) || !bytes.Equal(info, c.Info) || !bytes.Equal(payload, c.PayloadAAD) || len(info) > 64 {
				t.Fatal("intermediates differ")
			}
			for m, aad := range c.WrapAAD {
				if !bytes.Equal(wraps[m], aad) {
					t.Fatalf("wrap AAD of %s differs", m)
				}
			}
			if seal.Commit(c.Salt, c.Plaintext) != c.Commitment || s.Commitment != c.Commitment {
				t.Fatal("commitment differs")
			}
			for _, r := range c.Recipients {
				pt, o, err := seal.Open(s, r.Member, keys[r.Key], c.Binding)
				if err != nil || !bytes.Equal(pt, c.Plaintext) || !bytes.Equal(o.Salt, c.Salt) {
					t.Fatalf("%s: %q %v", r.Member, pt, err)
				}
				if err := seal.VerifyDisclosure(c.Commitment, o); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestVectors_Invalid: every invalid object fails with its class, and
// yields no plaintext.
func TestVectors_Invalid(t *testing.T) {
	v, _ := readVectors(t)
	keys := vectorKeys(t, v)
	if len(v.Invalid) < 15 {
		t.Fatalf("%d invalid vectors", len(v.Invalid))
	}
	for _, c := range v.Invalid {
		t.Run(c.Name, func(t *testing.T) {
			want := classes[c.Want]
			if want == nil || keys[c.Key] == nil {
				t.Fatalf("class %q, key %q", c.Want, c.Key)
			}
			s, err := seal.ParseSealed([]byte(c.Sealed))
			if err == nil {
				var pt []byte
				pt, _, err = seal.Open(s, c.Member, keys[c.Key], c.Binding)
				if pt != nil {
					t.Fatalf("opened %q", pt)
				}
			}
			if !errors.Is(err, want) {
				t.Fatalf("got %v, want %s", err, c.Want)
			}
		})
	}
}

// TestVectors_Disclosures: each disclosure verifies or fails as recorded.
func TestVectors_Disclosures(t *testing.T) {
	v, _ := readVectors(t)
	if len(v.Disclosures) < 4 {
		t.Fatalf("%d disclosures", len(v.Disclosures))
	}
	for _, c := range v.Disclosures {
		err := seal.VerifyDisclosure(c.Commitment, seal.Opening{Salt: c.Salt, Plaintext: c.Plaintext})
		if c.Want == "ok" {
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
		} else if want := classes[c.Want]; want == nil || !errors.Is(err, want) {
			t.Fatalf("%s: got %v, want %s", c.Name, err, c.Want)
		}
	}
}

// TestVectors_UpToDate: the file is what TestWriteVectors writes, so the
// vectors and the code that checks them cannot drift apart.
func TestVectors_UpToDate(t *testing.T) {
	_, b := readVectors(t)
	if !bytes.Equal(buildVectors(t), b) {
		t.Fatalf("%s is stale: run CHARTA_WRITE_VECTORS=1 go test -run TestWriteVectors ./ledger/seal/", vectorsFile)
	}
}

// TestWriteVectors rewrites the vectors when CHARTA_WRITE_VECTORS is set.
// All randomness comes from SHAKE-256 streams, so a rewrite with unchanged
// code gives identical bytes.
func TestWriteVectors(t *testing.T) {
	if os.Getenv("CHARTA_WRITE_VECTORS") == "" {
		t.Skip("set CHARTA_WRITE_VECTORS=1 to rewrite " + vectorsFile)
	}
	if err := os.WriteFile(vectorsFile, buildVectors(t), 0o644); err != nil {
		t.Fatal(err)
	}
}

// vectorKeys returns the private keys of v by name.
func vectorKeys(t *testing.T, v *vectors) map[string]*seal.PrivateKey {
	t.Helper()
	keys := make(map[string]*seal.PrivateKey)
	for _, k := range v.Keys {
		pk, err := seal.NewKeyFromSeed(k.Seed)
		if err != nil {
			t.Fatal(err)
		}
		keys[k.Name] = pk
	}
	return keys
}

// buildVectors makes the content of the vectors file.
func buildVectors(t *testing.T) []byte {
	t.Helper()
	v := vectors{Comment: []string{
		"Test vectors of Charta's sealed objects (ledger/seal, format version 1); docs/confidentiality.md states the construction.",
		"keys: seed is the 32-byte X-Wing decapsulation key; public_key and fingerprint derive from it.",
		"valid: randomness is every random byte sealing read, in order: content key (32), salt (32), nonce (12), then per recipient in member order the 64-byte X-Wing encapsulation seed. Resealing from it must give sealed byte for byte; every recipient must open it to plaintext and salt.",
		"invalid: member, holding the key named key, must fail to open sealed (the document's exact bytes, as a string) under binding with the class want: malformed (refused before decrypting), not_recipient, corrupt (authentication failed) or commitment_mismatch.",
		"disclosures: salt and plaintext checked against commitment; want is ok, commitment_mismatch or malformed.",
	}}
	keys := map[string]*seal.PrivateKey{}
	for _, name := range []string{"alpha", "alpha-2029", "beta", "gamma", "delta"} {
		seed := sha256.Sum256([]byte("charta seal vector key " + name))
		k, err := seal.NewKeyFromSeed(seed[:])
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = k
		v.Keys = append(v.Keys, vectorKey{Name: name, Seed: seed[:], PublicKey: k.Public(), Fingerprint: k.Public().Fingerprint()})
	}
	bundle := seal.Binding{Consortium: testBinding.Consortium, Kind: "bundle", ID: "xl-2031-07"}
	three := []vectorRecipient{{"alpha", "alpha"}, {"beta", "beta"}, {"gamma", "gamma"}}
	valid := func(name string, bind seal.Binding, rc []vectorRecipient, plaintext []byte) *seal.Sealed {
		var rs []seal.Recipient
		for _, r := range rc {
			rs = append(rs, seal.Recipient{Member: r.Member, Key: keys[r.Key].Public()})
		}
		randomness := stream("charta seal vector "+name, seal.ContentKeySize+seal.SaltSize+seal.NonceSize+64*len(rs))
		s, o, err := seal.SealFrom(bytes.NewReader(randomness), plaintext, rs, bind)
		if err != nil {
			t.Fatal(err)
		}
		bd, info, payload, wraps := seal.Intermediates(s, bind)
		wrapAAD := map[string]hexBytes{}
		for m, aad := range wraps {
			wrapAAD[m] = aad
		}
		v.Valid = append(v.Valid, validVector{
			Name: name, Binding: bind, Recipients: rc, Plaintext: o.Plaintext, Randomness: randomness, Salt: o.Salt,
			Commitment: s.Commitment, BindingDigest: bd, Info: info, PayloadAAD: payload, WrapAAD: wrapAAD,
			Sealed: mustJSON(t, s),
		})
		return s
	}
	base := valid("three recipients", testBinding, three, testTerms)
	valid("a retired key", testBinding, []vectorRecipient{{"alpha", "alpha-2029"}, {"beta", "beta"}}, testTerms)
	valid("empty plaintext", bundle, []vectorRecipient{{"gamma", "gamma"}}, []byte{})

	invalid := func(name, want, member, key string, bind seal.Binding, doc []byte) {
		v.Invalid = append(v.Invalid, invalidVector{Name: name, Binding: bind, Member: member, Key: key, Want: want, Sealed: string(doc)})
	}
	altered := func(alter func(s *seal.Sealed)) []byte {
		c := clone(base)
		alter(c)
		return mustJSON(t, c)
	}
	rewritten := func(old, new string) []byte {
		doc := string(mustJSON(t, base))
		if !strings.Contains(doc, old) {
			t.Fatalf("%q not in the base document", old)
		}
		return []byte(strings.Replace(doc, old, new, 1))
	}
	baseDoc := mustJSON(t, base)
	tb := testBinding
	invalid("another object ID", "corrupt", "alpha", "alpha", seal.Binding{Consortium: tb.Consortium, Kind: tb.Kind, ID: "grant-2031-acme-gamma"}, baseDoc)
	invalid("another consortium", "corrupt", "beta", "beta", seal.Binding{Consortium: strings.Repeat("0", 64), Kind: tb.Kind, ID: tb.ID}, baseDoc)
	invalid("another kind", "corrupt", "gamma", "gamma", seal.Binding{Consortium: tb.Consortium, Kind: "bundle", ID: tb.ID}, baseDoc)
	invalid("ciphertext first byte flipped", "corrupt", "alpha", "alpha", tb, altered(func(s *seal.Sealed) { s.Ciphertext[0] ^= 1 }))
	invalid("ciphertext tag flipped", "corrupt", "alpha", "alpha", tb, altered(func(s *seal.Sealed) { s.Ciphertext[len(s.Ciphertext)-1] ^= 0x80 }))
	invalid("ciphertext truncated by one byte", "corrupt", "alpha", "alpha", tb, altered(func(s *seal.Sealed) { s.Ciphertext = s.Ciphertext[:len(s.Ciphertext)-1] }))
	invalid("nonce flipped", "corrupt", "beta", "beta", tb, altered(func(s *seal.Sealed) { s.Nonce[5] ^= 4 }))
	invalid("commitment flipped", "corrupt", "beta", "beta", tb, altered(func(s *seal.Sealed) { s.Commitment[31] ^= 1 }))
	invalid("enc flipped", "corrupt", "alpha", "alpha", tb, altered(func(s *seal.Sealed) { s.Wraps[0].Enc[600] ^= 2 }))
	invalid("enc X25519 part flipped", "corrupt", "alpha", "alpha", tb, altered(func(s *seal.Sealed) { s.Wraps[0].Enc[seal.EncSize-1] ^= 2 }))
	invalid("wrapped key flipped", "corrupt", "gamma", "gamma", tb, altered(func(s *seal.Sealed) { s.Wraps[2].WrappedKey[0] ^= 1 }))
	invalid("wrap relabelled to another member", "corrupt", "alpha-labs", "alpha", tb, altered(func(s *seal.Sealed) { s.Wraps[0].Member = "alpha-labs" }))
	other := valid("same binding, other object", testBinding, three, testTerms)
	v.Valid = v.Valid[:len(v.Valid)-1] // used only as a source of foreign parts
	invalid("wrap from another object", "corrupt", "alpha", "alpha", tb, altered(func(s *seal.Sealed) { s.Wraps[0] = other.Wraps[0] }))
	invalid("payload from another object", "corrupt", "alpha", "alpha", tb, altered(func(s *seal.Sealed) { s.Nonce, s.Ciphertext = other.Nonce, other.Ciphertext }))
	invalid("not a recipient", "not_recipient", "delta", "delta", tb, baseDoc)
	invalid("recipient with a retired key", "not_recipient", "alpha", "alpha-2029", tb, baseDoc)
	claimed := bytes.Replace(testTerms, []byte("1250000"), []byte("990000"), 1)
	lying, err := seal.SealLying(bytes.NewReader(stream("charta seal vector lying sealer", 1024)), testTerms, claimed,
		[]seal.Recipient{{Member: "alpha", Key: keys["alpha"].Public()}, {Member: "beta", Key: keys["beta"].Public()}}, tb)
	if err != nil {
		t.Fatal(err)
	}
	invalid("sealer committed to other terms", "commitment_mismatch", "beta", "beta", tb, mustJSON(t, lying))
	invalid("version 2", "malformed", "alpha", "alpha", tb, altered(func(s *seal.Sealed) { s.Version = 2 }))
	invalid("wraps unsorted", "malformed", "alpha", "alpha", tb, altered(func(s *seal.Sealed) { s.Wraps[0], s.Wraps[1] = s.Wraps[1], s.Wraps[0] }))
	invalid("enc truncated", "malformed", "alpha", "alpha", tb, altered(func(s *seal.Sealed) { s.Wraps[0].Enc = s.Wraps[0].Enc[:seal.EncSize-1] }))
	invalid("uppercase fingerprint", "malformed", "alpha", "alpha", tb, rewritten(base.Wraps[0].KeyFingerprint, strings.ToUpper(base.Wraps[0].KeyFingerprint)))
	invalid("unknown field", "malformed", "alpha", "alpha", tb, rewritten(`"v":1,`, `"v":1,"binding":null,`))
	invalid("url-safe base64", "malformed", "alpha", "alpha", tb, rewritten(`"nonce":"`, `"nonce":"-_`))
	invalid("duplicate key", "malformed", "alpha", "alpha", tb, rewritten(`"v":1,`, `"v":1,"v":1,`))

	o := seal.Opening{Salt: v.Valid[0].Salt, Plaintext: v.Valid[0].Plaintext}
	disclose := func(name, want string, c ledger.Hash, salt, plaintext []byte) {
		v.Disclosures = append(v.Disclosures, disclosureVector{Name: name, Commitment: c, Salt: salt, Plaintext: plaintext, Want: want})
	}
	disclose("the opening", "ok", base.Commitment, o.Salt, o.Plaintext)
	disclose("forged plaintext", "commitment_mismatch", base.Commitment, o.Salt, claimed)
	disclose("forged salt", "commitment_mismatch", base.Commitment, v.Valid[1].Salt, o.Plaintext)
	disclose("another object's commitment", "commitment_mismatch", v.Valid[1].Commitment, o.Salt, o.Plaintext)
	disclose("short salt", "malformed", base.Commitment, o.Salt[:16], o.Plaintext)

	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
