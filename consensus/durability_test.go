package consensus

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bootFile writes a boot ID file holding id and returns its path.
func bootFile(t *testing.T, id string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "boot_id")
	if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrepareStateStore_SetsAsideAfterMachineCrash(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")
	marker := filepath.Join(dir, stateOpenMarker)
	log := testLogger(t)

	if deferSync, err := prepareStateStore(dir, filepath.Join(dir, "no-such-file"), log); err != nil || deferSync {
		t.Fatalf("without a boot ID: defer %v, err %v; want synced commits", deferSync, err)
	}

	bootA, bootB, bootC := bootFile(t, "boot-a"), bootFile(t, "boot-b"), bootFile(t, "boot-c")
	if deferSync, err := prepareStateStore(dir, bootA, log); err != nil || !deferSync {
		t.Fatalf("first open: defer %v, err %v", deferSync, err)
	}
	if b, _ := os.ReadFile(marker); string(b) != "boot-a\n" {
		t.Fatalf("marker holds %q", b)
	}
	os.WriteFile(state, []byte("state"), 0o600)

	// A process crash: same boot, the marker is still there. Keep the store.
	if _, err := prepareStateStore(dir, bootA, log); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("the store was moved after a process crash: %v", err)
	}

	// A machine crash: another boot. Set the store aside.
	if _, err := prepareStateStore(dir, bootB, log); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("the store is still in place after a machine crash: %v", err)
	}
	aside, _ := filepath.Glob(state + ".unsynced-*")
	if len(aside) != 1 {
		t.Fatalf("set-aside stores: %v", aside)
	}
	if b, _ := os.ReadFile(marker); string(b) != "boot-b\n" {
		t.Fatalf("marker holds %q", b)
	}

	// A close whose sync failed leaves a marker that no boot matches.
	if err := stateStoreClosed(dir, false); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(state, []byte("state"), 0o600)
	if _, err := prepareStateStore(dir, bootB, log); err != nil {
		t.Fatal(err)
	}
	if aside, _ := filepath.Glob(state + ".unsynced-*"); len(aside) != 2 {
		t.Fatalf("after a failed sync the store was not set aside: %v", aside)
	}

	// A clean shutdown removes the marker; the next boot keeps the store.
	if err := stateStoreClosed(dir, true); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(state, []byte("state"), 0o600)
	if _, err := prepareStateStore(dir, bootC, log); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("the store was moved after a clean shutdown: %v", err)
	}
}

// TestCluster_RebuildsStateAfterMachineCrash runs nodes whose state stores
// defer their fsyncs, crashes a follower, destroys its state store as a
// power loss could, and restarts it under another boot ID: it must rebuild
// the state from its snapshot and log and converge with the others.
func TestCluster_RebuildsStateAfterMachineCrash(t *testing.T) {
	boot1, boot2 := bootFile(t, "boot-1"), bootFile(t, "boot-2")
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.NoSync = false
		cfg.BootIDFile = boot1
		cfg.SnapshotThreshold = 16
		cfg.TrailingLogs = 4
		cfg.SnapshotInterval = 50 * time.Millisecond
	})
	for _, n := range c.nodes {
		if !n.deferSync {
			t.Fatalf("%s syncs every commit; want deferred fsyncs", n.ID())
		}
	}
	l := c.leader()
	for i := range 40 {
		c.propose(fmt.Sprintf("tok-%d", i))
	}
	fi := 0
	for i, n := range c.nodes {
		if n != l {
			fi = i
		}
	}
	f := c.nodes[fi]
	eventually(t, 10*time.Second, "a snapshot on the follower", func() error {
		if s, err := f.st.snaps.List(); err != nil || len(s) == 0 {
			return fmt.Errorf("no snapshot yet (%v)", err)
		}
		return nil
	})
	f.crash()
	c.nodes[fi] = nil
	dir := c.cfgs[fi].Dir
	if _, err := os.Stat(filepath.Join(dir, stateOpenMarker)); err != nil {
		t.Fatalf("a crashed node left no marker: %v", err)
	}
	torn := []byte(strings.Repeat("torn page ", 1000))
	if err := os.WriteFile(filepath.Join(dir, "state.db"), torn, 0o600); err != nil {
		t.Fatal(err)
	}
	last := c.propose("tok-while-down")

	c.cfgs[fi].BootIDFile = boot2 // the machine restarted
	n := c.start(fi)
	s := c.converged(last.Index)
	if s.applied != last.Index {
		t.Fatalf("converged at %d, want %d", s.applied, last.Index)
	}
	ids := journalIDs(t, n)
	if ids["tok-0"] != 1 || ids["tok-39"] != 1 || ids["tok-while-down"] != 1 {
		t.Fatalf("rebuilt journal: %v", ids)
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, "state.db.unsynced-*")); len(aside) != 1 {
		t.Fatalf("the torn store was not set aside: %v", aside)
	}
	// A clean shutdown syncs and removes the marker.
	c.stop(fi)
	if _, err := os.Stat(filepath.Join(dir, stateOpenMarker)); !os.IsNotExist(err) {
		t.Fatalf("marker after a clean shutdown: %v", err)
	}
}
