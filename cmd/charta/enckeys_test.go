package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
)

// TestKeygen_MakesBothKeys: charta keygen writes a signing and an
// encryption key, prints both public identities and never a seed, and
// its .pub file carries the encryption key for charta genesis init.
func TestKeygen_MakesBothKeys(t *testing.T) {
	bin := chartaBin(t)
	c := &cli{t: t, bin: bin}
	path := filepath.Join(t.TempDir(), "acme.key")
	out := c.ok("keygen", "--member", "acme", "--scheme", "ed25519", "--out", path)
	pub, err := ledger.ReadKeyFilePublic(path)
	if err != nil {
		t.Fatal(err)
	}
	if pub.EncryptionKey == nil {
		t.Fatal("keygen wrote no encryption key")
	}
	want := "signing key " + pub.KeyID + " (ed25519) and encryption key " + pub.EncryptionKey.Fingerprint() + " (x-wing) written to " + path
	if !strings.Contains(out, want) {
		t.Fatalf("keygen printed %q, want %q", out, want)
	}
	_, seed, err := ledger.ReadEncryptionSeed(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := seal.NewKeyFromSeed(seed)
	if err != nil || k.Public().Fingerprint() != pub.EncryptionKey.Fingerprint() {
		t.Fatalf("the seed does not give the printed key: %v", err)
	}
	for _, secret := range []string{base64.StdEncoding.EncodeToString(seed), hex.EncodeToString(seed)} {
		if strings.Contains(out, secret) {
			t.Fatal("keygen printed the encryption seed")
		}
	}
	fromPub, err := readPublicKey(strings.TrimSuffix(path, ".key") + ".pub")
	if err != nil || fromPub.EncryptionKey == nil || !fromPub.EncryptionKey.Equal(*pub.EncryptionKey) {
		t.Fatalf(".pub file: %+v, %v", fromPub, err)
	}

	// genesis init takes both keys from the .pub file; a .pub from before
	// encryption keys gives a founder without one.
	dir := filepath.Dir(path)
	oldPub := filepath.Join(dir, "globex.pub")
	gk := ledgertest.Key("globex", ledger.SchemeEd25519)
	b, _ := json.Marshal(ledger.PublicKeyFile{Member: "globex", KeyID: ledger.KeyID("globex", gk.Public()), Public: gk.Public()})
	if err := os.WriteFile(oldPub, b, 0o644); err != nil {
		t.Fatal(err)
	}
	gpath := filepath.Join(dir, "genesis.json")
	c.ok("genesis", "init", "--name", "Test", "--out", gpath,
		"--founder", "acme="+strings.TrimSuffix(path, ".key")+".pub,raft=127.0.0.1:7000,api=http://127.0.0.1:8080",
		"--founder", "globex="+oldPub+",raft=127.0.0.1:7001,api=http://127.0.0.1:8081")
	g, err := readGenesis(gpath, false)
	if err != nil {
		t.Fatal(err)
	}
	if g.Members[0].ID != "acme" || g.Members[0].EncryptionKey == nil || !g.Members[0].EncryptionKey.Equal(*pub.EncryptionKey) {
		t.Fatalf("acme in genesis: %+v", g.Members[0])
	}
	if g.Members[1].ID != "globex" || g.Members[1].EncryptionKey != nil {
		t.Fatalf("globex in genesis: %+v", g.Members[1])
	}
}

// TestDev_MembersHaveEncryptionKeys: every member of a dev consortium has
// an encryption key from genesis, and charta key rotate-encryption
// replaces one, which charta member show lists with its history.
func TestDev_MembersHaveEncryptionKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium")
	}
	bin := chartaBin(t)
	dir, _, c := devConsortium(t, bin)
	for _, m := range devMembers {
		pub, err := ledger.ReadKeyFilePublic(filepath.Join(dir, m+".key"))
		if err != nil || pub.EncryptionKey == nil {
			t.Fatalf("%s.key: %+v, %v", m, pub, err)
		}
		show := c.ok("member", "show", m)
		if want := pub.EncryptionKey.Fingerprint() + "  x-wing  current, from index 0"; !strings.Contains(show, want) {
			t.Fatalf("member show %s lacks %q:\n%s", m, want, show)
		}
	}

	tmp := t.TempDir()
	c.ok("keygen", "--member", "beta", "--scheme", "ed25519", "--out", filepath.Join(tmp, "beta-2.key"))
	next, err := ledger.ReadKeyFilePublic(filepath.Join(tmp, "beta-2.key"))
	if err != nil {
		t.Fatal(err)
	}
	out := c.ok("key", "rotate-encryption", "--key", filepath.Join(dir, "beta.key"), "--new", filepath.Join(tmp, "beta-2.key"))
	if !strings.Contains(out, "key.encryption.rotate") || !strings.Contains(out, "accepted") {
		t.Fatalf("rotate-encryption: %s", out)
	}
	show := c.ok("member", "show", "beta")
	if !regexp.MustCompile(`[0-9a-f]{64}  x-wing  retired, from index 0 until \d+ \(rotated\)`).MatchString(show) ||
		!regexp.MustCompile(regexp.QuoteMeta(next.EncryptionKey.Fingerprint())+`  x-wing  current, from index \d+`).MatchString(show) {
		t.Fatalf("member show does not list the retired and the current encryption key:\n%s", show)
	}
	// The same file again: its key is already registered.
	_, errOut, code := c.run("key", "rotate-encryption", "--key", filepath.Join(dir, "beta.key"), "--new", filepath.Join(tmp, "beta-2.key"))
	if code == 0 || !strings.Contains(errOut, "already registered to beta") {
		t.Fatalf("a second rotation to the same key: exit %d, %s", code, errOut)
	}
}
