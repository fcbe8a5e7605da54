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
	sameEverywhere(t, c, url, url(survivor))

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
	sameEverywhere(t, c, url, url("alpha"))
	// A restart with nothing written since: the restarted node's ledger
	// has all the leader applied, though the commit index is higher
	// (election no-ops).
	if out := c.ok("dev", "--dir", dir, "restart", "alpha"); !strings.Contains(out, "alpha is running and caught up") {
		t.Fatalf("dev restart of an idle node: %s", out)
	}

	if err := stop(); err != nil {
		t.Fatalf("dev did not stop cleanly: %v", err)
	}
	if _, errs, code := c.run("dev", "--dir", dir, "restart", "beta"); code != 1 || !strings.Contains(errs, "no charta dev is running") {
		t.Fatalf("restart with dev stopped: exit %d: %s", code, errs)
	}
}

// sameEverywhere waits until every node of the dev consortium (asked one
// by one with --server, at url(member)) is up at the same applied index and
// state digest, and `charta status --all` through server shows every node
// at that index.
func sameEverywhere(t *testing.T, c *cli, url func(string) string, server string) {
	t.Helper()
	waitFor(t, 30*time.Second, "every node at the same index and digest", func() error {
		var want *nodeStatus
		for _, m := range devMembers {
			s, err := c.status(url(m))
			if err != nil {
				return err
			}
			if want == nil {
				want = &s
			} else if s.AppliedIndex != want.AppliedIndex || s.StateDigest != want.StateDigest {
				return fmt.Errorf("%s at %d %s, %s at %d %s", s.ID, s.AppliedIndex, s.StateDigest, want.ID, want.AppliedIndex, want.StateDigest)
			}
		}
		out, errs, code := c.run("status", "--all", "-o", "json", "--server", server)
		if code != 0 {
			return fmt.Errorf("status --all: %s", errs)
		}
		var nodes []struct {
			Member string
			Status *struct {
				AppliedIndex uint64 `json:"applied_index"`
			}
			Health *struct {
				AppliedIndex uint64 `json:"applied_index"`
			}
		}
		if err := json.Unmarshal([]byte(out), &nodes); err != nil || len(nodes) != len(devMembers) {
			return fmt.Errorf("status --all: %v %s", err, out)
		}
		for _, n := range nodes {
			switch {
			case n.Status != nil && n.Status.AppliedIndex == want.AppliedIndex:
			case n.Health != nil && n.Health.AppliedIndex == want.AppliedIndex:
			default:
				return fmt.Errorf("status --all shows %s not at %d: %s", n.Member, want.AppliedIndex, out)
			}
		}
		return nil
	})
}
