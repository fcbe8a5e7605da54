package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// TestKeys_RotateAndReload reproduces "after a raw key.rotate the node kept
// cosigning checkpoints with the retired key until it was restarted, so
// audits failed with too few cosignatures; nothing said why". beta rotates
// with charta key rotate and its node picks the new key up on SIGHUP;
// gamma's key file is replaced before its rotation commits, so its node
// keeps the old key (and says why) until the rotation makes the new one
// valid. Each time, a fresh checkpoint carries every node's signature
// under the verifier keys the ledger publishes, and charta audit
// --checkpoint accepts it.
func TestKeys_RotateAndReload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium")
	}
	bin := chartaBin(t)
	dir, _, c := devConsortium(t, bin)
	tmp := t.TempDir()
	nodeLog := func(m string) string { b, _ := os.ReadFile(filepath.Join(dir, m+".log")); return string(b) }
	waitLog := func(m, what string) {
		t.Helper()
		waitFor(t, 20*time.Second, m+" logs "+what, func() error {
			if !strings.Contains(nodeLog(m), what) {
				return fmt.Errorf("not yet")
			}
			return nil
		})
	}

	// beta: rotate, then the node still holds the old key and says so.
	c.ok("keygen", "--member", "beta", "--scheme", "ed25519", "--out", filepath.Join(tmp, "beta-2.key"))
	out := c.ok("key", "rotate", "--key", filepath.Join(dir, "beta.key"), "--new", filepath.Join(tmp, "beta-2.key"))
	if !strings.Contains(out, "key.rotate") || !strings.Contains(out, "accepted") {
		t.Fatalf("key rotate: %s", out)
	}
	show := c.ok("member", "show", "beta")
	if !regexp.MustCompile(`beta/[0-9a-f]{16}  ed25519  retired, valid from index 0 until \d+ \(rotated\)`).MatchString(show) ||
		!regexp.MustCompile(`beta/[0-9a-f]{16}  ed25519  active, valid from index \d+`).MatchString(show) {
		t.Fatalf("member show does not mark the retired and the active key:\n%s", show)
	}
	waitLog("beta", "this node's member key was retired")
	copyKey(t, filepath.Join(tmp, "beta-2.key"), filepath.Join(dir, "beta.key"))
	pid, err := os.ReadFile(filepath.Join(dir, "beta.pid"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err := syscall.Kill(p, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog("beta", "switched the member key this node signs with")
	cosignedByAll(t, c, "beta")
	// charta audit trusts the founders' genesis keys: alpha's and gamma's
	// cosignatures still meet the charter's threshold.
	export := filepath.Join(tmp, "journal.jsonl")
	cpNote := filepath.Join(tmp, "checkpoint.note")
	if err := os.WriteFile(cpNote, []byte(c.ok("checkpoint", "show")), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("journal", "export", "--out", export)
	// A time entry may follow the checkpoint: this audit is about whose
	// cosignatures count, so entries past it only warn.
	if out := c.ok("audit", "--genesis", filepath.Join(dir, "genesis.json"), "--checkpoint", cpNote, "--allow-unanchored", export); !strings.Contains(out, "cosigned by alpha, gamma") {
		t.Fatalf("audit: %s", out)
	}

	// gamma: the file changes first; the node keeps its key until the
	// rotation commits, then switches without a signal.
	c.ok("keygen", "--member", "gamma", "--scheme", "ed25519", "--out", filepath.Join(tmp, "gamma-2.key"))
	copyKey(t, filepath.Join(dir, "gamma.key"), filepath.Join(tmp, "gamma-1.key"))
	copyKey(t, filepath.Join(tmp, "gamma-2.key"), filepath.Join(dir, "gamma.key"))
	waitLog("gamma", "is not in the ledger's key table (yet)")
	c.ok("key", "rotate", "--key", filepath.Join(tmp, "gamma-1.key"), "--new", filepath.Join(tmp, "gamma-2.key"))
	waitLog("gamma", "switched the member key this node signs with")
	cosignedByAll(t, c, "gamma")
}

// cosignedByAll writes until a fresh checkpoint carries a valid signature
// of every member node under the verifier keys the ledger publishes now
// (charta checkpoint vkeys: the current keys, so the rotated member's new
// one), checked with golang.org/x/mod/sumdb/note as a third party would.
func cosignedByAll(t *testing.T, c *cli, rotated string) {
	t.Helper()
	n := 0
	waitFor(t, 30*time.Second, "a checkpoint whose three signatures verify under the current vkeys", func() error {
		n++
		c.ok("asset", "register", "--id", fmt.Sprintf("after-%s-%d", rotated, n), "--kind", "model", "--digest", "sha256:"+strings.Repeat("ab", 32))
		var verifiers []note.Verifier
		for _, k := range strings.Fields(c.ok("checkpoint", "vkeys")) {
			v, err := note.NewVerifier(k)
			if err != nil {
				return err
			}
			verifiers = append(verifiers, v)
		}
		cp := c.ok("checkpoint", "show")
		opened, err := note.Open([]byte(cp), note.VerifierList(verifiers...))
		if err != nil {
			return fmt.Errorf("note.Open: %v", err)
		}
		keys := map[uint32]bool{}
		for _, s := range opened.Sigs {
			keys[s.Hash] = true
		}
		if len(keys) != 3 {
			return fmt.Errorf("%d of 3 nodes' signatures verify under the current vkeys:\n%s", len(keys), cp)
		}
		return nil
	})
}

// TestKeys_BadInput: the key and sla commands refuse bad input with one
// line and exit status 2, before anything is sent.
func TestKeys_BadInput(t *testing.T) {
	bin := chartaBin(t)
	dir := t.TempDir()
	c := &cli{t: t, bin: bin, env: []string{"CHARTA_SERVER=http://127.0.0.1:1", "CHARTA_TOKEN=x"}}
	c.ok("keygen", "--member", "alpha", "--scheme", "ed25519", "--out", filepath.Join(dir, "alpha.key"))
	c.ok("keygen", "--member", "beta", "--scheme", "ed25519", "--out", filepath.Join(dir, "beta.key"))
	key := filepath.Join(dir, "alpha.key")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"key", "rotate", "--key", key}, "--new is required"},
		{[]string{"key", "rotate", "--key", key, "--new", filepath.Join(dir, "beta.key")}, "holds a key of member beta, not alpha"},
		{[]string{"key", "rotate", "--key", key, "--new", filepath.Join(dir, "nope.key")}, "--new:"},
		{[]string{"key", "revoke", "--key", key}, "a key ID"},
		{[]string{"key", "revoke", "--key", key, "beta-0123"}, "is not a key ID"},
		{[]string{"key", "revoke", "--key", key, "beta/0123456789ABCDEF"}, "is not a key ID"},
		{[]string{"sla", "report", "--key", key, "--grant", "g", "--report-id", "r"}, "are required"},
		{[]string{"sla", "report", "--key", key, "--grant", "g", "--report-id", "r", "--period", "2026-11", "--measurements", "uptime=high"}, "want metric=integer"},
		{[]string{"sla", "report", "--key", key, "--grant", "g", "--report-id", "r", "--period", "2026-11", "--measurements", "a=1,a=2"}, "a is given twice"},
	} {
		_, errs, code := c.run(tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("charta %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
}

func copyKey(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}
