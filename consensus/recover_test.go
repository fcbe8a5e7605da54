package consensus

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRecover_PeersJSONAfterQuorumLoss loses two of three voters for good,
// then recovers the survivor with a peers.json that lists only itself: it
// keeps every committed entry, leads alone and takes writes again.
func TestRecover_PeersJSONAfterQuorumLoss(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i := range 4 {
		c.propose(fmt.Sprintf("before-%d", i))
	}
	want := c.converged(0)
	survivor := 0
	for i := range c.nodes {
		c.stop(i)
	}
	addr := c.cfgs[survivor].BindAddr
	peers := fmt.Sprintf(`[{"id": %q, "address": %q, "non_voter": false}]`, c.ids[survivor], addr)

	// A list that leaves this node out is refused.
	bad := filepath.Join(c.cfgs[survivor].Dir, "raft", PeersFile)
	if err := os.WriteFile(bad, []byte(`[{"id": "beta", "address": "127.0.0.1:1", "non_voter": false}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(c.cfgs[survivor]); err == nil || !strings.Contains(err.Error(), "does not list this node") {
		t.Fatalf("a peers.json without this node: %v", err)
	}
	if err := os.WriteFile(bad, []byte(peers), 0o600); err != nil {
		t.Fatal(err)
	}
	n := c.start(survivor)
	if got := stateOf(t, n); got != want {
		t.Fatalf("after recovery: %+v, want %+v", got, want)
	}
	if _, err := os.Stat(bad + ".applied"); err != nil {
		t.Fatalf("peers.json was not retired: %v", err)
	}
	eventually(t, 10*time.Second, "the survivor leads", func() error {
		if !n.IsLeader() {
			return fmt.Errorf("not leader yet")
		}
		return nil
	})
	res := c.propose("after")
	if res.Index <= want.applied {
		t.Fatalf("write at %d after recovery, not after %d", res.Index, want.applied)
	}
}
