package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDev_FailoverWalkthrough follows the README's failover lines on a
// real charta dev: the leader's node is killed with SIGKILL, a survivor
// takes a write within 15 s while charta dev keeps the others running, the
// node comes back with `charta dev restart` and catches up to the same
// applied index and state digest, and `charta dev stop`/`start` take a
// node down and bring it back on purpose.
func TestDev_FailoverWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium")
	}
	bin := chartaBin(t)
	dir, base, c, stop := devConsortiumStop(t, bin)
	url := func(m string) string { return fmt.Sprintf("http://127.0.0.1:%d", base+1+slices.Index(devMembers, m)) }

	var st struct{ Leader string }
	if err := json.Unmarshal([]byte(c.ok("status", "-o", "json")), &st); err != nil || st.Leader == "" {
		t.Fatalf("status: %v %+v", err, st)
	}
	victim := st.Leader
	survivor := devMembers[(slices.Index(devMembers, victim)+1)%len(devMembers)]
	pidText, err := os.ReadFile(filepath.Join(dir, victim+".pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()

	// A survivor takes a write within 15 s.
	digest := "sha256:" + strings.Repeat("cd", 32)
	waitFor(t, 15*time.Second, "a write through "+survivor, func() error {
		_, errs, code := c.run("asset", "register", "--server", url(survivor), "--id", "after-failover", "--kind", "model", "--digest", digest)
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, errs)
		}
		return nil
	})
	t.Logf("write through %s accepted %v after %s was killed", survivor, time.Since(killed).Round(time.Millisecond), victim)
	if out := c.devOut.String(); !strings.Contains(out, victim+" stopped unexpectedly") || !strings.Contains(out, "restart "+victim) {
		t.Fatalf("charta dev did not say that %s stopped and how to restart it:\n%s", victim, out)
	}
	if out := c.ok("status", "--all", "--server", url(survivor)); !strings.Contains(out, victim+" ") || !strings.Contains(out, "down") {
		t.Fatalf("status --all does not show %s down:\n%s", victim, out)
	}

	// Back on request; it catches up.
	if out := c.ok("dev", "--dir", dir, "restart", victim); !strings.Contains(out, victim+" is running and caught up") {
		t.Fatalf("dev restart: %s", out)
	}
	sameEverywhere(t, c, url(survivor))

	// On purpose: stop, a second stop refused, start.
	if out := c.ok("dev", "--dir", dir, "stop", "gamma"); !strings.Contains(out, "gamma stopped") {
		t.Fatalf("dev stop: %s", out)
	}
	if _, errs, code := c.run("dev", "--dir", dir, "stop", "gamma"); code != 1 || !strings.Contains(errs, "gamma is not running") {
		t.Fatalf("second stop: exit %d: %s", code, errs)
	}
	if _, errs, code := c.run("dev", "--dir", dir, "stop", "zed"); code != 2 || !strings.Contains(errs, `no member "zed"`) {
		t.Fatalf("stop zed: exit %d: %s", code, errs)
	}
	c.ok("asset", "register", "--server", url("alpha"), "--id", "while-gamma-stopped", "--kind", "model", "--digest", digest)
	c.ok("dev", "--dir", dir, "start", "gamma")
	sameEverywhere(t, c, url("alpha"))

	if err := stop(); err != nil {
		t.Fatalf("dev did not stop cleanly: %v", err)
	}
	if _, errs, code := c.run("dev", "--dir", dir, "restart", "beta"); code != 1 || !strings.Contains(errs, "no charta dev is running") {
		t.Fatalf("restart with dev stopped: exit %d: %s", code, errs)
	}
}

// sameEverywhere waits until `charta status --all` shows every node up at
// the same applied index and state digest.
func sameEverywhere(t *testing.T, c *cli, server string) {
	t.Helper()
	waitFor(t, 30*time.Second, "every node at the same index and digest", func() error {
		out, errs, code := c.run("status", "--all", "-o", "json", "--server", server)
		if code != 0 {
			return fmt.Errorf("status --all: %s", errs)
		}
		var nodes []struct {
			Member string
			Status *struct {
				AppliedIndex uint64 `json:"applied_index"`
				StateDigest  string `json:"state_digest"`
			}
			Error string
		}
		if err := json.Unmarshal([]byte(out), &nodes); err != nil {
			return err
		}
		if len(nodes) != len(devMembers) {
			return fmt.Errorf("%d nodes: %s", len(nodes), out)
		}
		for _, n := range nodes {
			if n.Status == nil {
				return fmt.Errorf("%s: %s", n.Member, n.Error)
			}
			if *n.Status != *nodes[0].Status {
				return fmt.Errorf("%s at %+v, %s at %+v", n.Member, *n.Status, nodes[0].Member, *nodes[0].Status)
			}
		}
		return nil
	})
}
