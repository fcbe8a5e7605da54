package seal_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
)

// TestValidate_MalformedShapes: every shape a node can refuse without a
// key is refused by Validate with ErrMalformed and a message naming the
// field; Open refuses the same objects before decrypting anything.
func TestValidate_MalformedShapes(t *testing.T) {
	s, _ := mustSeal(t, testTerms, "alpha", "beta")
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	w := s.Wraps[0]
	manyWraps := make([]seal.Wrap, seal.MaxRecipients+1)
	for i := range manyWraps {
		manyWraps[i] = w
		manyWraps[i].Member = "m" + strings.Repeat("a", i)
	}
	for _, c := range []struct {
		name  string
		alter func(c *seal.Sealed)
		want  string
	}{
		{"version 0", func(c *seal.Sealed) { c.Version = 0 }, "v: must be 1, got 0"},
		{"version 2", func(c *seal.Sealed) { c.Version = 2 }, "v: must be 1, got 2"},
		{"other kem", func(c *seal.Sealed) { c.KEM = "x25519" }, `kem: must be "x-wing"`},
		{"other kdf", func(c *seal.Sealed) { c.KDF = "hkdf-sha512" }, `kdf: must be "hkdf-sha256"`},
		{"other aead", func(c *seal.Sealed) { c.AEAD = "chacha20-poly1305" }, `aead: must be "aes-256-gcm"`},
		{"no commitment", func(c *seal.Sealed) { c.Commitment = ledger.Hash{} }, "commitment: missing"},
		{"short nonce", func(c *seal.Sealed) { c.Nonce = c.Nonce[:11] }, "nonce: must be 12 bytes, got 11"},
		{"long nonce", func(c *seal.Sealed) { c.Nonce = append(c.Nonce, 0) }, "nonce: must be 12 bytes, got 13"},
		{"no ciphertext", func(c *seal.Sealed) { c.Ciphertext = nil }, "ciphertext: at least 48 bytes"},
		{"ciphertext without room for a salt", func(c *seal.Sealed) { c.Ciphertext = c.Ciphertext[:47] }, "got 47"},
		{"ciphertext too large", func(c *seal.Sealed) { c.Ciphertext = make([]byte, seal.MaxPlaintextSize+49) }, "ciphertext: at most"},
		{"no wraps", func(c *seal.Sealed) { c.Wraps = nil }, "wraps: missing"},
		{"too many wraps", func(c *seal.Sealed) { c.Wraps = manyWraps }, "wraps: at most 32, got 33"},
		{"unsorted wraps", func(c *seal.Sealed) { c.Wraps[0], c.Wraps[1] = c.Wraps[1], c.Wraps[0] }, "wraps[1]: member \"alpha\": wraps must be sorted"},
		{"duplicate member", func(c *seal.Sealed) { c.Wraps[1].Member = "alpha" }, "one per member"},
		{"invalid member", func(c *seal.Sealed) { c.Wraps[0].Member = "Alpha" }, `wraps[0]: member: "Alpha" is not a member ID`},
		{"empty member", func(c *seal.Sealed) { c.Wraps[0].Member = "" }, "is not a member ID"},
		{"short fingerprint", func(c *seal.Sealed) { c.Wraps[0].KeyFingerprint = c.Wraps[0].KeyFingerprint[:16] }, "key_fingerprint: must be 64 lowercase hex digits"},
		{"uppercase fingerprint", func(c *seal.Sealed) { c.Wraps[0].KeyFingerprint = strings.ToUpper(c.Wraps[0].KeyFingerprint) }, "key_fingerprint"},
		{"short enc", func(c *seal.Sealed) { c.Wraps[1].Enc = c.Wraps[1].Enc[:1088] }, "wraps[1]: enc: must be 1120 bytes, got 1088"},
		{"no enc", func(c *seal.Sealed) { c.Wraps[1].Enc = nil }, "enc: must be 1120 bytes, got 0"},
		{"long wrapped key", func(c *seal.Sealed) { c.Wraps[0].WrappedKey = append(c.Wraps[0].WrappedKey, 0) }, "wrapped_key: must be 48 bytes, got 49"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := clone(s)
			c.alter(m)
			err := m.Validate()
			wantErr(t, err, seal.ErrMalformed)
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			_, _, err = seal.Open(m, "alpha", testKey(t, "alpha"), testBinding)
			wantErr(t, err, seal.ErrMalformed)
		})
	}
	var nilSealed *seal.Sealed
	wantErr(t, nilSealed.Validate(), seal.ErrMalformed)
}

// TestParseSealed: the JSON form round-trips through ParseSealed, has the
// documented field names, and is decoded strictly.
func TestParseSealed(t *testing.T) {
	s, _ := mustSeal(t, testTerms, "alpha", "beta")
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"v":1`, `"kem":"x-wing"`, `"kdf":"hkdf-sha256"`, `"aead":"aes-256-gcm"`,
		`"commitment":"` + s.Commitment.String() + `"`, `"nonce":`, `"ciphertext":`, `"wraps":[{"member":"alpha","key_fingerprint":"`, `"enc":`, `"wrapped_key":`} {
		if !bytes.Contains(b, []byte(field)) {
			t.Fatalf("JSON lacks %s: %.200s", field, b)
		}
	}
	got, err := seal.ParseSealed(b)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip: %v", err)
	}
	if again, _ := json.Marshal(got); !bytes.Equal(again, b) {
		t.Fatal("re-encoding changed the bytes")
	}
	if pt, _, err := seal.Open(got, "beta", testKey(t, "beta"), testBinding); err != nil || !bytes.Equal(pt, testTerms) {
		t.Fatalf("parsed object does not open: %v", err)
	}

	text := string(b)
	for _, c := range []struct{ name, doc, want string }{
		{"unknown field", strings.Replace(text, `"v":1`, `"v":1,"recipients":[]`, 1), "recipients: unknown field"},
		{"duplicate key", strings.Replace(text, `"v":1`, `"v":1,"v":1`, 1), "v: duplicate key"},
		{"trailing data", text + "{}", "after"},
		{"url-safe base64", strings.Replace(text, `"nonce":"`, `"nonce":"-_`, 1), "nonce: invalid base64"},
		{"null wraps", strings.Replace(text, `"wraps":[`, `"wraps":null,"x":[`, 1), "unknown field"},
		{"string version", strings.Replace(text, `"v":1`, `"v":"1"`, 1), "v: expected"},
		{"short commitment", strings.Replace(text, `"commitment":"`, `"commitment":"ab`, 1), "commitment: hash"},
		{"valid JSON, bad shape", strings.Replace(text, `"v":1`, `"v":7`, 1), "v: must be 1, got 7"},
		{"not JSON", "\x00", "sealed:"},
		{"too large", `"` + strings.Repeat("a", 1<<20) + `"`, "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := seal.ParseSealed([]byte(c.doc))
			wantErr(t, err, seal.ErrMalformed)
			if got != nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}
