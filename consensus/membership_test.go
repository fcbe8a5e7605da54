package consensus

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// suffrages returns "id:suffrage" of every server, in configuration order.
func suffrages(t *testing.T, n *Node) string {
	t.Helper()
	servers, err := n.Servers()
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, s := range servers {
		parts = append(parts, s.ID+":"+s.Suffrage)
	}
	return strings.Join(parts, " ")
}

func TestMembership_PromotesNonvoterWhenVoterLost(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) {
		cfg.MaxVoters = 3
		cfg.VoterDeadAfter = time.Second
	})
	l := c.leader()
	if got := suffrages(t, l); got != "alpha:voter beta:voter gamma:voter kappa:nonvoter" {
		t.Fatalf("bootstrap configuration: %s", got)
	}
	// Lose a voter that is not the leader.
	var lost int
	for i, n := range c.nodes[:3] {
		if n != l {
			lost = i
		}
	}
	c.nodes[lost].crash()
	c.nodes[lost] = nil
	eventually(t, 15*time.Second, "promotion", func() error {
		l := c.leader()
		servers, err := l.Servers()
		if err != nil {
			return err
		}
		voters := 0
		for _, s := range servers {
			switch {
			case s.ID == c.ids[lost] && s.Suffrage != "nonvoter":
				return fmt.Errorf("lost voter %s is still a voter: %s", s.ID, suffrages(t, l))
			case s.ID == "kappa" && s.Suffrage != "voter":
				return fmt.Errorf("kappa not promoted: %s", suffrages(t, l))
			case s.Suffrage == "voter":
				voters++
			}
		}
		if voters != 3 {
			return fmt.Errorf("%d voters: %s", voters, suffrages(t, l))
		}
		return nil
	})
	// The cluster still commits.
	r := c.propose("tok-after-promotion")
	c.converged(r.Index)
}

func TestMembership_ConfigurationFollowsLedger(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.leader()
	r := l.r()
	// A server that is no member is removed.
	if err := r.AddNonvoter("mallory", "127.0.0.1:1", 0, time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	// A founder whose server was removed by hand is added back.
	var victim string
	for _, id := range c.ids {
		if id != l.ID() {
			victim = id
		}
	}
	if err := r.RemoveServer(raft.ServerID(victim), 0, time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	want := "alpha:voter beta:voter gamma:voter"
	eventually(t, 15*time.Second, "reconciled configuration", func() error {
		servers, err := c.leader().Servers()
		if err != nil {
			return err
		}
		var parts []string
		for _, s := range servers {
			parts = append(parts, s.ID+":"+s.Suffrage)
		}
		// The order of the configuration changes with re-adds.
		slices.Sort(parts)
		got := strings.Join(parts, " ")
		if got != want {
			return fmt.Errorf("configuration %s", got)
		}
		return nil
	})
	res := c.propose("tok-after-reconcile")
	c.converged(res.Index)
}

func TestMetrics_SeveralNodesInOneProcess(t *testing.T) {
	regs := map[string]*prometheus.Registry{}
	c := newCluster(t, 3, func(cfg *Config) {
		reg := prometheus.NewRegistry()
		regs[cfg.ID] = reg
		cfg.Registerer = reg
	})
	c.propose("tok-metrics")
	for id, reg := range regs {
		eventually(t, 5*time.Second, "raft metrics in "+id+"'s registry", func() error {
			mfs, err := reg.Gather()
			if err != nil {
				return err
			}
			for _, mf := range mfs {
				if strings.HasPrefix(mf.GetName(), "charta_raft_") {
					return nil
				}
			}
			return fmt.Errorf("no charta_raft_ metric among %d families", len(mfs))
		})
	}
	// Registering again with the same registry is harmless.
	if err := registerRaftMetrics(regs["alpha"]); err != nil {
		t.Fatal(err)
	}
	// What a scrape shows passes promtool's linter, and peers are labels.
	eventually(t, 5*time.Second, "replication metrics with peer labels", func() error {
		mfs, err := regs["alpha"].Gather()
		if err != nil {
			return err
		}
		for _, mf := range mfs {
			if mf.GetName() == "charta_raft_replication_duration_seconds" && len(mf.Metric) > 0 {
				return nil
			}
		}
		return fmt.Errorf("no charta_raft_replication_duration_seconds")
	})
	mfs, err := regs["alpha"].Gather()
	if err != nil {
		t.Fatal(err)
	}
	lintFamilies(t, mfs)
	for _, mf := range mfs {
		for _, id := range c.ids {
			if strings.Contains(mf.GetName(), id) {
				t.Errorf("%s has peer %s in its name", mf.GetName(), id)
			}
		}
		if mf.GetName() != "charta_raft_replication_duration_seconds" {
			continue
		}
		for _, m := range mf.Metric {
			peer := ""
			for _, l := range m.Label {
				if l.GetName() == "peer" {
					peer = l.GetValue()
				}
			}
			if !slices.Contains(c.ids, peer) {
				t.Errorf("replication series with peer %q, want one of %v", peer, c.ids)
			}
		}
	}
}
