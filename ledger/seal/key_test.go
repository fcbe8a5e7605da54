package seal_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
)

// TestKey_FromSeed: a seed always gives the same key, another seed another
// key, and a generated key round-trips through its seed.
func TestKey_FromSeed(t *testing.T) {
	a, b := testKey(t, "alpha"), testKey(t, "alpha")
	if !a.Public().Equal(b.Public()) || len(a.Public().Bytes()) != seal.PublicKeySize {
		t.Fatal("the same seed gave different keys")
	}
	if testKey(t, "beta").Public().Equal(a.Public()) {
		t.Fatal("different seeds gave the same key")
	}
	g, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	again, err := seal.NewKeyFromSeed(g.Seed())
	if err != nil || !again.Public().Equal(g.Public()) {
		t.Fatalf("generated key does not round-trip through its seed: %v", err)
	}
	for _, n := range []int{0, 31, 33, 64} {
		_, err := seal.NewKeyFromSeed(make([]byte, n))
		wantErr(t, err, seal.ErrMalformed)
	}
}

// TestPublicKey_Forms: the bytes, text and JSON forms round-trip, the JSON
// has the shape of a signing key, and the fingerprint is the full
// SHA-256("x-wing" ‖ key) in hex.
func TestPublicKey_Forms(t *testing.T) {
	pub := testKey(t, "alpha").Public()
	raw := pub.Bytes()

	fromBytes, err := seal.ParsePublicKey(raw)
	if err != nil || !fromBytes.Equal(pub) {
		t.Fatalf("bytes: %v", err)
	}
	text := pub.String()
	if want := "x-wing:" + base64.StdEncoding.EncodeToString(raw); text != want {
		t.Fatalf("text form %.40q…", text)
	}
	fromText, err := seal.ParsePublicKeyText(text)
	if err != nil || !fromText.Equal(pub) {
		t.Fatalf("text: %v", err)
	}
	j, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"scheme":"x-wing","key":"` + base64.StdEncoding.EncodeToString(raw) + `"}`; string(j) != want {
		t.Fatalf("JSON form %.60s…", j)
	}
	var fromJSON seal.PublicKey
	if err := ledger.DecodeStrict(j, &fromJSON); err != nil || !fromJSON.Equal(pub) {
		t.Fatalf("JSON: %v", err)
	}

	sum := sha256.Sum256(append([]byte("x-wing"), raw...))
	if got := pub.Fingerprint(); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("fingerprint %s", got)
	}
	if (seal.PublicKey{}).Fingerprint() != "" || !(seal.PublicKey{}).IsZero() || (seal.PublicKey{}).Bytes() != nil {
		t.Fatal("the zero key has a fingerprint or bytes")
	}
	if _, err := json.Marshal(seal.PublicKey{}); err == nil {
		t.Fatal("the zero key marshals")
	}

	// Bytes returns a copy: altering it does not alter the key.
	raw[0] ^= 0xff
	if bytes.Equal(raw, pub.Bytes()) {
		t.Fatal("Bytes shares the key's memory")
	}
}

// TestParsePublicKey_Rejects: every malformed form fails with
// ErrMalformed and a message naming the problem.
func TestParsePublicKey_Rejects(t *testing.T) {
	raw := testKey(t, "alpha").Public().Bytes()
	b64 := base64.StdEncoding.EncodeToString(raw)
	// An ML-KEM-768 key whose first coefficient is 0xfff, above the
	// modulus q = 3329: FIPS 203's encapsulation key check refuses it.
	overModulus := bytes.Clone(raw)
	overModulus[0], overModulus[1] = 0xff, 0x0f

	for _, c := range []struct {
		name, text string
		bin        []byte
		json       string
		want       string
	}{
		{name: "empty bytes", bin: []byte{}, want: "1216 bytes, got 0"},
		{name: "short bytes", bin: raw[:1215], want: "got 1215"},
		{name: "long bytes", bin: append(bytes.Clone(raw), 0), want: "got 1217"},
		{name: "over the ML-KEM modulus", bin: overModulus, want: "not an x-wing key"},
		{name: "text without prefix", text: b64, want: `must start with "x-wing:"`},
		{name: "text with another scheme", text: "ed25519:" + b64, want: "must start with"},
		{name: "text url-safe base64", text: "x-wing:" + base64.URLEncoding.EncodeToString(raw), want: "invalid base64"},
		{name: "text unpadded", text: "x-wing:" + base64.RawStdEncoding.EncodeToString(raw), want: "invalid base64"},
		{name: "text with line break", text: "x-wing:" + b64[:76] + "\n" + b64[76:], want: "invalid base64"},
		{name: "text too short", text: "x-wing:" + base64.StdEncoding.EncodeToString(raw[:32]), want: "got 32"},
		{name: "json other scheme", json: `{"scheme":"ml-kem-768","key":"` + b64 + `"}`, want: `scheme: must be "x-wing"`},
		{name: "json unknown field", json: `{"scheme":"x-wing","key":"` + b64 + `","id":1}`, want: "unknown field"},
		{name: "json duplicate key", json: `{"scheme":"x-wing","key":"` + b64 + `","key":"` + b64 + `"}`, want: "duplicate key"},
		{name: "json missing key", json: `{"scheme":"x-wing"}`, want: "got 0"},
		{name: "json string", json: `"x-wing:` + b64 + `"`, want: "expected an object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			switch {
			case c.bin != nil:
				_, err = seal.ParsePublicKey(c.bin)
			case c.text != "":
				_, err = seal.ParsePublicKeyText(c.text)
			default:
				var p seal.PublicKey
				err = json.Unmarshal([]byte(c.json), &p)
				if err == nil && p.IsZero() {
					t.Fatal("decoded a zero key without error")
				}
			}
			wantErr(t, err, seal.ErrMalformed)
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if ledger.CodeOf(err) != ledger.CodeInvalid {
				t.Fatalf("code %s", ledger.CodeOf(err))
			}
		})
	}
}

// TestPrivateKey_NeverPrints: fmt verbs and structured logs show the
// fingerprint, never the seed.
func TestPrivateKey_NeverPrints(t *testing.T) {
	k := testKey(t, "alpha")
	seed := k.Seed()
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("key", "key", k, "deref", *k)
	for _, out := range []string{
		fmt.Sprintf("%v", k), fmt.Sprintf("%+v", *k), fmt.Sprintf("%#v", k), fmt.Sprintf("%#v", *k), fmt.Sprint(*k), logged.String(),
	} {
		for _, secret := range []string{hex.EncodeToString(seed), base64.StdEncoding.EncodeToString(seed), fmt.Sprint(seed)} {
			if strings.Contains(out, secret) {
				t.Fatalf("printed the seed: %s", out)
			}
		}
		if !strings.Contains(out, k.Public().Fingerprint()) {
			t.Fatalf("does not identify the key: %s", out)
		}
	}
}
