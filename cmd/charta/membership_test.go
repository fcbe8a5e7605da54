package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// devConsortium starts charta dev in a temporary directory and returns the
// directory, the base port and a CLI acting as alpha.
func devConsortium(t *testing.T, bin string) (string, int, *cli) {
	dir, base, c, _ := devConsortiumStop(t, bin)
	return dir, base, c
}

// devConsortiumStop is devConsortium that also returns a function that
// stops the consortium (Ctrl-C), waits for it and returns how it exited.
func devConsortiumStop(t *testing.T, bin string) (string, int, *cli, func() error) {
	t.Helper()
	return devConsortiumScheme(t, bin, ledger.SchemeEd25519)
}

// devConsortiumScheme is devConsortiumStop with the members' keys of
// another scheme.
func devConsortiumScheme(t *testing.T, bin string, scheme ledger.Scheme, extra ...string) (string, int, *cli, func() error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dev")
	base := freeBase(t)
	dev := exec.Command(bin, append([]string{"dev", "--dir", dir, "--base-port", strconv.Itoa(base), "--scheme", string(scheme)}, extra...)...)
	out := &syncBuffer{}
	dev.Stdout, dev.Stderr = out, out
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- dev.Wait() }()
	var stopOnce sync.Once
	var stopErr error
	stop := func() error {
		stopOnce.Do(func() {
			dev.Process.Signal(syscall.SIGINT)
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				dev.Process.Kill()
				exec.Command("pkill", "-KILL", "-f", dir).Run()
				stopErr = fmt.Errorf("dev did not stop within 30s of SIGINT")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			for _, m := range devMembers {
				b, _ := os.ReadFile(filepath.Join(dir, m+".log"))
				t.Logf("%s.log:\n%s", m, lastLines(string(b), 20))
			}
			t.Logf("dev output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		select {
		case err := <-done:
			t.Fatalf("dev exited (%v):\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev did not come up:\n%s", out.String())
		}
	}
	tok, err := os.ReadFile(filepath.Join(dir, "alpha.token"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, base, &cli{t: t, bin: bin, devOut: out, env: []string{
		fmt.Sprintf("CHARTA_SERVER=http://127.0.0.1:%d", base+1),
		"CHARTA_TOKEN=" + strings.TrimSpace(string(tok)), "CHARTA_KEY=" + filepath.Join(dir, "alpha.key"),
	}}, stop
}

type nodeStatus struct {
	ID           string   `json:"id"`
	Role         string   `json:"role"`
	AppliedIndex uint64   `json:"applied_index"`
	StateDigest  string   `json:"state_digest"`
	Voters       []string `json:"voters"`
	Nonvoters    []string `json:"nonvoters"`
}

func (c *cli) status(server string) (nodeStatus, error) {
	var s nodeStatus
	out, errs, code := c.run("status", "-o", "json", "--server", server)
	if code != 0 {
		return s, fmt.Errorf("status %s: %s", server, errs)
	}
	return s, json.Unmarshal([]byte(out), &s)
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestMembership_AdmitJoinRemove admits a fourth member by ballot, starts
// its node with --join, checks that it replicates, then removes the member
// by ballot and checks that its node leaves Raft and its token and key stop
// working.
func TestMembership_AdmitJoinRemove(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four node processes")
	}
	bin := chartaBin(t)
	dir, base, c := devConsortium(t, bin)
	alphaAPI := fmt.Sprintf("http://127.0.0.1:%d", base+1)
	deltaAPI := fmt.Sprintf("127.0.0.1:%d", base+4)
	deltaRaft := fmt.Sprintf("127.0.0.1:%d", base+104)

	c.ok("keygen", "--member", "delta", "--scheme", "ed25519", "--out", filepath.Join(dir, "delta.key"))
	c.ok("cert", "node", "--dir", filepath.Join(dir, "certs"), "--id", "delta", "--hosts", "127.0.0.1")
	pub, err := os.ReadFile(filepath.Join(dir, "delta.pub"))
	if err != nil {
		t.Fatal(err)
	}
	var pk struct {
		Public json.RawMessage `json:"public_key"`
	}
	if err := json.Unmarshal(pub, &pk); err != nil {
		t.Fatal(err)
	}
	params := fmt.Sprintf(`{"member":"delta","role":"member","keys":[%s],"node":{"raft_addr":%q,"api_addr":%q}}`,
		pk.Public, deltaRaft, "http://"+deltaAPI)

	// A node whose member is not admitted cannot join.
	if out, errs, code := c.run("token", "create", "--key", filepath.Join(dir, "delta.key"), "--out", filepath.Join(dir, "delta.token")); code == 0 {
		t.Fatalf("a non-member registered a token: %s %s", out, errs)
	}

	c.ok("ballot", "open", "--id", "admit-delta", "--action", "member.admit", "--params", params)
	c.ok("ballot", "vote", "--key", filepath.Join(dir, "beta.key"), "admit-delta")
	if out := c.ok("member", "show", "delta", "-o", "json"); !strings.Contains(out, `"active"`) {
		t.Fatalf("delta not admitted: %s", out)
	}
	c.ok("token", "create", "--key", filepath.Join(dir, "delta.key"), "--scopes", "read,write,admin", "--out", filepath.Join(dir, "delta.token"))

	delta := exec.Command(bin, "node", "--id", "delta", "--data-dir", filepath.Join(dir, "delta"),
		"--genesis", filepath.Join(dir, "genesis.json"), "--http", deltaAPI, "--raft", deltaRaft,
		"--tls-ca", filepath.Join(dir, "certs", "ca.crt"), "--tls-cert", filepath.Join(dir, "certs", "delta.crt"),
		"--tls-key", filepath.Join(dir, "certs", "delta.key"),
		"--join", alphaAPI, "--join-token-file", filepath.Join(dir, "delta.token"), "--key", filepath.Join(dir, "delta.key"))
	dlog := &syncBuffer{}
	delta.Stdout, delta.Stderr = dlog, dlog
	if err := delta.Start(); err != nil {
		t.Fatal(err)
	}
	ddone := make(chan error, 1)
	go func() { ddone <- delta.Wait() }()
	t.Cleanup(func() {
		delta.Process.Signal(syscall.SIGTERM)
		select {
		case <-ddone:
		case <-time.After(20 * time.Second):
			delta.Process.Kill()
		}
		if t.Failed() {
			t.Logf("delta log:\n%s", lastLines(dlog.String(), 30))
		}
	})

	// delta joins and replicates: same applied index and digest as alpha,
	// and it is in the Raft configuration.
	c.ok("asset", "register", "--id", "after-delta", "--kind", "dataset", "--digest", "sha256:"+strings.Repeat("cd", 32))
	waitFor(t, 30*time.Second, "delta replicates", func() error {
		a, err := c.status(alphaAPI)
		if err != nil {
			return err
		}
		d, err := c.status("http://" + deltaAPI)
		if err != nil {
			return err
		}
		if !slices.Contains(append(a.Voters, a.Nonvoters...), "delta") {
			return fmt.Errorf("delta not in the configuration: voters %v non-voters %v", a.Voters, a.Nonvoters)
		}
		if d.AppliedIndex != a.AppliedIndex || d.StateDigest != a.StateDigest {
			return fmt.Errorf("delta at %d %s, alpha at %d %s", d.AppliedIndex, d.StateDigest, a.AppliedIndex, a.StateDigest)
		}
		return nil
	})
	waitFor(t, 30*time.Second, "delta promoted to voter", func() error {
		a, err := c.status(alphaAPI)
		if err != nil {
			return err
		}
		if !slices.Contains(a.Voters, "delta") {
			return fmt.Errorf("voters %v", a.Voters)
		}
		return nil
	})

	// delta's node cosigns checkpoints too; an auditor who learned delta's
	// key out of band can demand all four cosignatures.
	receipt := filepath.Join(t.TempDir(), "receipt.json")
	gen := filepath.Join(dir, "genesis.json")
	waitFor(t, 20*time.Second, "a receipt cosigned by all four nodes", func() error {
		out, errs, code := c.run("journal", "receipt", "3", "-o", "json")
		if code != 0 {
			return errors.New(errs)
		}
		if err := os.WriteFile(receipt, []byte(out), 0o644); err != nil {
			return err
		}
		if _, errs, code := c.run("verify", "--genesis", gen, "--threshold", "4", "--trust-key", "delta="+filepath.Join(dir, "delta.pub"), receipt); code != 0 {
			return errors.New(errs)
		}
		return nil
	})
	if _, errs, code := c.run("verify", "--genesis", gen, "--threshold", "4", receipt); code == 0 {
		t.Error("four cosignatures counted without trusting delta's key")
	} else if !strings.Contains(errs, "threshold") && !strings.Contains(errs, "cosign") {
		t.Errorf("verify without delta's key: %s", errs)
	}

	// Removal by ballot takes delta's node out and shuts its credentials.
	c.ok("ballot", "open", "--id", "remove-delta", "--action", "member.remove", "--params", `{"member":"delta"}`)
	c.ok("ballot", "vote", "--key", filepath.Join(dir, "beta.key"), "remove-delta")
	c.ok("ballot", "vote", "--key", filepath.Join(dir, "gamma.key"), "remove-delta")
	waitFor(t, 30*time.Second, "delta leaves Raft", func() error {
		a, err := c.status(alphaAPI)
		if err != nil {
			return err
		}
		if slices.Contains(append(a.Voters, a.Nonvoters...), "delta") {
			return fmt.Errorf("still in the configuration: voters %v non-voters %v", a.Voters, a.Nonvoters)
		}
		return nil
	})
	dtok, _ := os.ReadFile(filepath.Join(dir, "delta.token"))
	asDelta := &cli{t: t, bin: bin, env: []string{"CHARTA_SERVER=" + alphaAPI, "CHARTA_TOKEN=" + strings.TrimSpace(string(dtok))}}
	if _, errs, code := asDelta.run("member", "list"); code == 0 || !strings.Contains(errs, "unauthorized") {
		t.Errorf("removed member can still read: exit %d %s", code, errs)
	}
	if _, errs, code := c.run("asset", "register", "--key", filepath.Join(dir, "delta.key"), "--id", "by-delta", "--kind", "model",
		"--digest", "sha256:"+strings.Repeat("ef", 32)); code == 0 {
		t.Errorf("removed member can still write: %s", errs)
	}
}
