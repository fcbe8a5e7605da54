package ledger

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFile_RoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, s := range allSchemes {
		t.Run(string(s), func(t *testing.T) {
			k := testKey(t, s, "keyfile")
			path := filepath.Join(dir, string(s)+".key")
			if err := WriteKeyFile(path, "acme", k); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("mode = %v, want 0600", mode)
			}
			member, got, err := ReadKeyFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if member != "acme" || got.Scheme() != s || !bytes.Equal(got.Public().Key, k.Public().Key) || got.seed != k.seed {
				t.Errorf("read back member %q, key %v; want acme, %v", member, got, k)
			}
			msg := []byte("m")
			sig, err := got.Sign(msg)
			if err != nil || !k.Public().Verify(msg, sig) {
				t.Errorf("the read key does not sign for the written one: %v", err)
			}

			var kf map[string]any
			raw, _ := os.ReadFile(path)
			if err := json.Unmarshal(raw, &kf); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"format": "charta-key-v1",
				"member": "acme",
				"key_id": KeyID("acme", k.Public()),
				"scheme": string(s),
				"public": base64.StdEncoding.EncodeToString(k.Public().Key),
				"seed":   base64.StdEncoding.EncodeToString(k.seed[:]),
			}
			if fmt.Sprint(kf) != fmt.Sprint(want) {
				t.Errorf("file = %v\nwant %v", kf, want)
			}
		})
	}
}

func TestWriteKeyFile_RefusesToOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acme.key")
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteKeyFile(path, "acme", testKey(t, SchemeEd25519, "x"))
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("err = %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Errorf("existing file changed to %q", b)
	}
}

func TestWriteKeyFile_Rejects(t *testing.T) {
	dir := t.TempDir()
	err := WriteKeyFile(filepath.Join(dir, "a.key"), "Acme", testKey(t, SchemeEd25519, "x"))
	wantCode(t, err, CodeInvalid, `member: "Acme" is not a member ID`)
	err = WriteKeyFile(filepath.Join(dir, "b.key"), "acme", nil)
	wantCode(t, err, CodeInvalid, "key: missing")
	if err := WriteKeyFile(filepath.Join(dir, "missing", "c.key"), "acme", testKey(t, SchemeEd25519, "x")); err == nil {
		t.Error("wrote into a missing directory")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left files behind: %v", entries)
	}
}

func TestReadKeyFile_Rejects(t *testing.T) {
	dir := t.TempDir()
	k := testKey(t, SchemeEd25519, "read")
	other := testKey(t, SchemeEd25519, "other")
	good := map[string]string{
		"format": `"charta-key-v1"`,
		"member": `"acme"`,
		"key_id": `"` + KeyID("acme", k.Public()) + `"`,
		"scheme": `"ed25519"`,
		"public": `"` + base64.StdEncoding.EncodeToString(k.Public().Key) + `"`,
		"seed":   `"` + base64.StdEncoding.EncodeToString(k.seed[:]) + `"`,
	}
	order := []string{"format", "member", "key_id", "scheme", "public", "seed"}
	doc := func(change map[string]string) string {
		var parts []string
		for _, name := range order {
			v := good[name]
			if c, ok := change[name]; ok {
				v = c
			}
			if v != "" {
				parts = append(parts, `"`+name+`":`+v)
			}
		}
		for name, v := range change {
			if _, ok := good[name]; !ok {
				parts = append(parts, `"`+name+`":`+v)
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	tests := []struct {
		name   string
		change map[string]string
		raw    string
		want   string
	}{
		{name: "other format", change: map[string]string{"format": `"charta-key-v2"`}, want: `format: must be "charta-key-v1", got "charta-key-v2"`},
		{name: "no format", change: map[string]string{"format": ""}, want: `format: must be "charta-key-v1", got ""`},
		{name: "bad member", change: map[string]string{"member": `"ACME"`}, want: `member: "ACME" is not a member ID`},
		{name: "bad scheme", change: map[string]string{"scheme": `"rsa"`}, want: `scheme: unknown signature scheme "rsa"`},
		{name: "short seed", change: map[string]string{"seed": `"AAAA"`}, want: "seed: must be 32 bytes, got 3"},
		{name: "seed not base64", change: map[string]string{"seed": `"%%%%"`}, want: "seed: invalid base64"},
		{name: "public of another key", change: map[string]string{"public": `"` + base64.StdEncoding.EncodeToString(other.Public().Key) + `"`}, want: "public: does not match the key derived from the seed"},
		{name: "key_id of another key", change: map[string]string{"key_id": `"` + KeyID("acme", other.Public()) + `"`}, want: "key_id: \"" + KeyID("acme", other.Public()) + "\" does not match the key, whose ID is " + KeyID("acme", k.Public())},
		{name: "key_id of another member", change: map[string]string{"member": `"globex"`}, want: "key_id: \"acme/"},
		{name: "scheme changed", change: map[string]string{"scheme": `"ml-dsa-44"`}, want: "public: does not match"},
		{name: "unknown field", change: map[string]string{"private": `"x"`}, want: "private: unknown field"},
		{name: "not JSON", raw: "seed=abc", want: "document: invalid JSON"},
		{name: "too large", raw: strings.Repeat(" ", maxKeyFileSize+1), want: "larger than 65536 bytes"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := tt.raw
			if content == "" {
				content = doc(tt.change)
			}
			path := filepath.Join(dir, fmt.Sprintf("%d.key", i))
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			member, got, err := ReadKeyFile(path)
			if member != "" || got != nil {
				t.Errorf("returned %q, %v", member, got)
			}
			wantCode(t, err, CodeInvalid, "key file "+path+": "+strings.TrimPrefix(tt.want, "key file "))
			if strings.Contains(err.Error(), hex.EncodeToString(k.seed[:])) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(k.seed[:])) {
				t.Errorf("error reveals the seed: %v", err)
			}
		})
	}
	// The valid document itself reads.
	path := filepath.Join(dir, "good.key")
	if err := os.WriteFile(path, []byte(doc(nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadKeyFile(path); err != nil {
		t.Errorf("valid key file: %v", err)
	}
	if _, _, err := ReadKeyFile(filepath.Join(dir, "absent.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestKeyFile_NeverPrintsSeed(t *testing.T) {
	k := testKey(t, SchemeComposite, "kf")
	kf := KeyFile{Format: KeyFileFormat, Member: "acme", KeyID: KeyID("acme", k.Public()), Scheme: k.scheme, Public: k.pub.Key, Seed: k.seed[:]}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("loaded", "file", kf)
	outs := []string{fmt.Sprintf("%v", kf), fmt.Sprintf("%+v", kf), fmt.Sprintf("%#v", kf), fmt.Sprintf("%v", &kf), logBuf.String()}
	for _, out := range outs {
		for _, secret := range []string{hex.EncodeToString(k.seed[:]), base64.StdEncoding.EncodeToString(k.seed[:]), fmt.Sprint(k.seed[:])} {
			if strings.Contains(out, secret) {
				t.Errorf("output reveals the seed: %.200s", out)
			}
		}
	}
	if want := "KeyFile(" + kf.KeyID + " ml-dsa-65+ed25519)"; outs[0] != want {
		t.Errorf("%%v = %q, want %q", outs[0], want)
	}
}
