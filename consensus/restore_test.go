package consensus

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestRestoreBackup_StartsNewCluster backs up a running cluster, restores
// the backup into an empty directory, starts a new cluster from it, and
// lets the other founders join with empty data directories: every node
// ends with the backed-up state and keeps taking writes.
func TestRestoreBackup_StartsNewCluster(t *testing.T) {
	old := newCluster(t, 3, nil)
	for i := range 5 {
		old.propose("before-" + string(rune('a'+i)))
	}
	want := old.converged(0)
	var backup bytes.Buffer
	if _, err := old.leader().Backup(&backup); err != nil {
		t.Fatal(err)
	}
	for i := range old.nodes {
		old.stop(i)
	}

	// The new cluster reuses the founders' addresses (they are in the
	// genesis) but not their data.
	fresh := &cluster{t: t, g: old.g, ca: old.ca, ids: old.ids, nodes: make([]*Node, 3)}
	for i := range old.cfgs {
		cfg := old.cfgs[i]
		cfg.Dir, cfg.Bootstrap = t.TempDir(), false
		fresh.cfgs = append(fresh.cfgs, cfg)
	}
	t.Cleanup(func() {
		for i := range fresh.nodes {
			fresh.stop(i)
		}
	})
	applied, err := RestoreBackup(fresh.cfgs[0], bytes.NewReader(backup.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if applied != want.applied {
		t.Fatalf("restored applied index %d, backup was at %d", applied, want.applied)
	}
	if _, err := RestoreBackup(fresh.cfgs[0], bytes.NewReader(backup.Bytes())); err == nil {
		t.Fatal("a second restore into the same directory was accepted")
	}
	tampered := bytes.Clone(backup.Bytes())
	tampered[len(tampered)/2] ^= 1
	bad := fresh.cfgs[1]
	bad.Dir = t.TempDir()
	if _, err := RestoreBackup(bad, bytes.NewReader(tampered)); err == nil {
		t.Fatal("a tampered backup was restored")
	}

	fresh.start(0)
	if got := stateOf(t, fresh.nodes[0]); got != want {
		t.Fatalf("restored node state %+v, want %+v", got, want)
	}
	fresh.start(1)
	fresh.start(2)
	res := fresh.propose("after")
	if res.Index <= want.applied {
		t.Fatalf("new entry at index %d, not after the backup's %d", res.Index, want.applied)
	}
	got := fresh.converged(res.Index)
	if got.head.Size != want.head.Size+1 {
		t.Fatalf("journal size %d after one more entry, want %d", got.head.Size, want.head.Size+1)
	}
	eventually(t, 15*time.Second, "every founder a voter again", func() error {
		servers, err := fresh.leader().Servers()
		if err != nil {
			return err
		}
		voters := 0
		for _, s := range servers {
			if s.Suffrage == "voter" {
				voters++
			}
		}
		if voters != 3 {
			return errors.New("not yet")
		}
		return nil
	})
}
