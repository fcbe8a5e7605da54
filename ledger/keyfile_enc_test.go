package ledger

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testEncSeed is a fixed X-Wing seed for the key file tests.
func testEncSeed(label string) []byte {
	s := make([]byte, EncryptionSeedSize)
	copy(s, label)
	return s
}

// TestKeyFile_EncryptionRoundTrip: a key file with an encryption key
// stores its seed, public key and fingerprint, and reads back the same
// signing key and encryption seed.
func TestKeyFile_EncryptionRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acme.key")
	k := testKey(t, SchemeEd25519, "enc")
	seed := testEncSeed("enc")
	if err := WriteKeyFileWithEncryption(path, "acme", k, seed); err != nil {
		t.Fatal(err)
	}
	member, got, err := ReadKeyFile(path)
	if err != nil || member != "acme" || got.seed != k.seed {
		t.Fatalf("ReadKeyFile = %q, %v, %v", member, got, err)
	}
	member, gotSeed, err := ReadEncryptionSeed(path)
	if err != nil || member != "acme" || string(gotSeed) != string(seed) {
		t.Fatalf("ReadEncryptionSeed = %q, %x, %v", member, gotSeed, err)
	}
	want, _ := EncryptionKeyFromSeed(seed)
	pub, err := ReadKeyFilePublic(path)
	if err != nil || pub.EncryptionKey == nil || !pub.EncryptionKey.Equal(want) || pub.KeyID != KeyID("acme", k.Public()) {
		t.Fatalf("ReadKeyFilePublic = %+v, %v", pub, err)
	}

	var kf struct{ Encryption map[string]string }
	raw, _ := os.ReadFile(path)
	if err := json.Unmarshal(raw, &kf); err != nil {
		t.Fatal(err)
	}
	wantEnc := map[string]string{
		"scheme":      "x-wing",
		"fingerprint": want.Fingerprint(),
		"public":      base64.StdEncoding.EncodeToString(want.Key),
		"seed":        base64.StdEncoding.EncodeToString(seed),
	}
	if fmt.Sprint(kf.Encryption) != fmt.Sprint(wantEnc) {
		t.Errorf("encryption = %v\nwant %v", kf.Encryption, wantEnc)
	}
	if len(want.Fingerprint()) != 64 || len(want.Key) != 1216 {
		t.Errorf("fingerprint %q, key of %d bytes", want.Fingerprint(), len(want.Key))
	}
}

// TestKeyFile_WithoutEncryptionStillLoads: a file written as before
// encryption keys existed reads as a signing key; asking it for an
// encryption key fails and says why.
func TestKeyFile_WithoutEncryptionStillLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.key")
	k := testKey(t, SchemeEd25519, "old")
	// The exact shape of a file from before encryption keys.
	old := fmt.Sprintf(`{
  "format": "charta-key-v1",
  "member": "acme",
  "key_id": %q,
  "scheme": "ed25519",
  "public": %q,
  "seed": %q
}
`, KeyID("acme", k.Public()), base64.StdEncoding.EncodeToString(k.Public().Key), base64.StdEncoding.EncodeToString(k.seed[:]))
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if member, got, err := ReadKeyFile(path); err != nil || member != "acme" || got.seed != k.seed {
		t.Fatalf("old key file: %q, %v, %v", member, got, err)
	}
	if pub, err := ReadKeyFilePublic(path); err != nil || pub.EncryptionKey != nil {
		t.Fatalf("old key file's public half: %+v, %v", pub, err)
	}
	_, seed, err := ReadEncryptionSeed(path)
	if seed != nil {
		t.Fatal("an old file gave an encryption seed")
	}
	wantCode(t, err, CodeInvalid, "key file "+path+": holds no encryption key")
}

// TestReadKeyFile_RejectsBadEncryption: a malformed encryption object
// makes the whole file fail to load, with a message naming the field and
// never the seed.
func TestReadKeyFile_RejectsBadEncryption(t *testing.T) {
	dir := t.TempDir()
	k := testKey(t, SchemeEd25519, "read")
	seed := testEncSeed("read")
	pub, _ := EncryptionKeyFromSeed(seed)
	other, _ := EncryptionKeyFromSeed(testEncSeed("other"))
	b64 := base64.StdEncoding.EncodeToString
	good := map[string]string{
		"scheme": `"x-wing"`, "fingerprint": `"` + pub.Fingerprint() + `"`,
		"public": `"` + b64(pub.Key) + `"`, "seed": `"` + b64(seed) + `"`,
	}
	doc := func(change map[string]string, extra string) string {
		var parts []string
		for _, name := range []string{"scheme", "fingerprint", "public", "seed"} {
			v := good[name]
			if c, ok := change[name]; ok {
				v = c
			}
			if v != "" {
				parts = append(parts, `"`+name+`":`+v)
			}
		}
		if extra != "" {
			parts = append(parts, extra)
		}
		return fmt.Sprintf(`{"format":"charta-key-v1","member":"acme","key_id":%q,"scheme":"ed25519","public":%q,"seed":%q,"encryption":{%s}}`,
			KeyID("acme", k.Public()), b64(k.Public().Key), b64(k.seed[:]), strings.Join(parts, ","))
	}
	for i, tt := range []struct {
		name   string
		change map[string]string
		extra  string
		want   string
	}{
		{name: "other scheme", change: map[string]string{"scheme": `"ml-kem-768"`}, want: `encryption.scheme: must be "x-wing", got "ml-kem-768"`},
		{name: "no scheme", change: map[string]string{"scheme": ""}, want: `encryption.scheme: must be "x-wing", got ""`},
		{name: "short seed", change: map[string]string{"seed": `"AAAA"`}, want: "encryption.seed: must be 32 bytes, got 3"},
		{name: "no seed", change: map[string]string{"seed": ""}, want: "encryption.seed: must be 32 bytes, got 0"},
		{name: "seed not base64", change: map[string]string{"seed": `"%%%%"`}, want: "encryption.seed: invalid base64"},
		{name: "public of another key", change: map[string]string{"public": `"` + b64(other.Key) + `"`}, want: "encryption.public: does not match the key derived from the seed"},
		{name: "fingerprint of another key", change: map[string]string{"fingerprint": `"` + other.Fingerprint() + `"`}, want: "encryption.fingerprint: \"" + other.Fingerprint() + "\" does not match the key, whose fingerprint is " + pub.Fingerprint()},
		{name: "unknown field", extra: `"private":"x"`, want: "encryption.private: unknown field"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%d.key", i))
			if err := os.WriteFile(path, []byte(doc(tt.change, tt.extra)), 0o600); err != nil {
				t.Fatal(err)
			}
			member, got, err := ReadKeyFile(path)
			if member != "" || got != nil {
				t.Errorf("returned %q, %v", member, got)
			}
			wantCode(t, err, CodeInvalid, "key file "+path+": "+tt.want)
			for _, secret := range []string{hex.EncodeToString(seed), b64(seed)} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error reveals the seed: %v", err)
				}
			}
			if _, _, err := ReadEncryptionSeed(path); err == nil {
				t.Error("ReadEncryptionSeed accepted it")
			}
		})
	}
	path := filepath.Join(dir, "good.key")
	if err := os.WriteFile(path, []byte(doc(nil, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, got, err := ReadEncryptionSeed(path); err != nil || string(got) != string(seed) {
		t.Errorf("valid key file: %x, %v", got, err)
	}
}

// TestKeyFile_NeverPrintsEncryptionSeed: printing or logging a key file
// with an encryption key shows neither seed.
func TestKeyFile_NeverPrintsEncryptionSeed(t *testing.T) {
	seed := testEncSeed("print")
	pub, _ := EncryptionKeyFromSeed(seed)
	kf := KeyFile{Format: KeyFileFormat, Member: "acme", KeyID: "acme/0123456789abcdef", Scheme: SchemeEd25519,
		Encryption: &KeyFileEncryption{Scheme: EncryptionScheme, Fingerprint: pub.Fingerprint(), Public: pub.Key, Seed: seed}}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("loaded", "file", kf, "encryption", kf.Encryption)
	for _, out := range []string{fmt.Sprintf("%v", kf), fmt.Sprintf("%+v", kf), fmt.Sprintf("%#v", kf), fmt.Sprintf("%v", &kf),
		fmt.Sprintf("%v", kf.Encryption), fmt.Sprintf("%+v", *kf.Encryption), fmt.Sprintf("%#v", kf.Encryption), logBuf.String()} {
		if strings.Contains(out, b64seed(seed)) || strings.Contains(out, hex.EncodeToString(seed)) || strings.Contains(out, fmt.Sprint(seed)) {
			t.Errorf("output reveals the encryption seed: %.200s", out)
		}
	}
}

func b64seed(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
