package consensus

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// lintFamilies fails the test for every problem promlint (the linter of
// promtool check metrics) finds, and for every summary.
func lintFamilies(t *testing.T, mfs []*dto.MetricFamily) {
	t.Helper()
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, mf := range mfs {
		if mf.GetType() == dto.MetricType_SUMMARY {
			t.Errorf("%s is a summary; its quantiles are NaN while no sample is recent", mf.GetName())
		}
	}
}

// TestRaftSink_MapsKeysToSnakeCaseWithPeerLabels feeds the sink what Raft
// reports and checks the Prometheus metrics it becomes.
func TestRaftSink_MapsKeysToSnakeCaseWithPeerLabels(t *testing.T) {
	s := newRaftSink()
	peer := []gometrics.Label{{Name: "peer_id", Value: "beta"}}
	s.IncrCounter([]string{"raft", "state", "leader"}, 1)
	s.IncrCounter([]string{"raft", "state", "follower"}, 1)
	s.IncrCounter([]string{"raft", "state", "follower"}, 1)
	s.IncrCounterWithLabels([]string{"raft", "replication", "appendEntries", "logs"}, 3, peer)
	s.AddSampleWithLabels([]string{"raft", "replication", "heartbeat"}, 2, peer) // milliseconds
	s.AddSample([]string{"raft", "commitTime"}, 1500)
	s.AddSample([]string{"raft", "thread", "fsm", "saturation"}, 0.25)
	s.SetGauge([]string{"raft", "peers"}, 3)
	s.AddSample([]string{"raft", "boltdb", "logsPerBatch"}, 4)
	// What is dropped: copies with the peer in the key, the transport's
	// stages with a camelCase label, and unknown keys.
	s.IncrCounter([]string{"raft", "replication", "appendEntries", "logs", "beta"}, 3)
	s.AddSample([]string{"raft", "replication", "heartbeat", "beta"}, 2)
	s.AddSampleWithLabels([]string{"raft", "net", "rpcDecode"}, 1, []gometrics.Label{{Name: "rpcType", Value: "AppendEntries"}})
	s.IncrCounter([]string{"raft", "barrier"}, 1)
	// A per-peer key without its peer label has no series to go to.
	s.IncrCounter([]string{"raft", "replication", "appendEntries", "logs"}, 5)

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	lintFamilies(t, mfs)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
		if strings.Contains(mf.GetName(), "beta") {
			t.Errorf("%s has a peer in its name", mf.GetName())
		}
	}
	want := "charta_raft_commit_duration_seconds charta_raft_log_store_batch_entries charta_raft_peers " +
		"charta_raft_replicated_entries_total charta_raft_replication_duration_seconds " +
		"charta_raft_state_changes_total charta_raft_thread_saturation_ratio"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("families:\n%s\nwant\n%s", got, want)
	}

	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"state leader", testutil.ToFloat64(s.keys["raft.state.leader"].counter.WithLabelValues("leader")), 1},
		{"state follower", testutil.ToFloat64(s.keys["raft.state.follower"].counter.WithLabelValues("follower")), 2},
		{"replicated to beta", testutil.ToFloat64(s.keys["raft.replication.appendEntries.logs"].counter.WithLabelValues("beta")), 3},
		{"peers", testutil.ToFloat64(s.keys["raft.peers"].gauge.WithLabelValues()), 3},
		{"fsm saturation", testutil.ToFloat64(s.keys["raft.thread.fsm.saturation"].gauge.WithLabelValues("fsm")), 0.25},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	hist := func(name string, labels map[string]string) *dto.Histogram {
		t.Helper()
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		metrics:
			for _, m := range mf.Metric {
				if len(m.Label) != len(labels) {
					continue
				}
				for _, l := range m.Label {
					if labels[l.GetName()] != l.GetValue() {
						continue metrics
					}
				}
				return m.GetHistogram()
			}
		}
		t.Fatalf("no %s%v", name, labels)
		return nil
	}
	if h := hist("charta_raft_replication_duration_seconds", map[string]string{"rpc": "heartbeat", "peer": "beta"}); h.GetSampleCount() != 1 || math.Abs(h.GetSampleSum()-0.002) > 1e-9 {
		t.Errorf("heartbeat to beta: count %d sum %v, want 1 and 0.002 s", h.GetSampleCount(), h.GetSampleSum())
	}
	if h := hist("charta_raft_commit_duration_seconds", nil); h.GetSampleCount() != 1 || math.Abs(h.GetSampleSum()-1.5) > 1e-6 {
		t.Errorf("commit: count %d sum %v, want 1 and 1.5 s", h.GetSampleCount(), h.GetSampleSum())
	}
}

// TestRaftSink_EveryKeyHasItsFamily checks the mapping table: every key
// routes to a family of a matching kind, and every family has a key.
func TestRaftSink_EveryKeyHasItsFamily(t *testing.T) {
	s := newRaftSink()
	used := map[string]bool{}
	for _, k := range raftKeys {
		r, ok := s.keys[k.key]
		if !ok {
			t.Errorf("%s is not routed", k.key)
			continue
		}
		used[k.family] = true
		for _, f := range raftFamilies {
			if f.name != k.family {
				continue
			}
			n := len(k.fixed)
			if r.perPeer {
				n++
			}
			if n != len(f.labels) {
				t.Errorf("%s: %d label values for %s's labels %v", k.key, n, f.name, f.labels)
			}
			if f.kind == raftHistogram && strings.HasSuffix(f.name, "_seconds") != (k.scale == 0.001) {
				t.Errorf("%s: scale %v for %s", k.key, k.scale, f.name)
			}
		}
	}
	for _, f := range raftFamilies {
		if !used[f.name] {
			t.Errorf("family %s has no key", f.name)
		}
	}
}

// TestObserveApply_SeesAppliedBatches checks that an observer set with
// ObserveApply sees the results of committed proposals and a duration.
func TestObserveApply_SeesAppliedBatches(t *testing.T) {
	c := newCluster(t, 3, nil)
	type batch struct {
		n    int
		took time.Duration
	}
	seen := make(chan batch, 64)
	for _, n := range c.nodes {
		n.ObserveApply(func(rs []*ledger.Result, took time.Duration) {
			count := 0
			for _, r := range rs {
				if r != nil && r.Outcome.Type == "token.register" {
					count++
				}
			}
			seen <- batch{count, took}
		})
	}
	c.propose("tok-observed")
	got := 0
	deadline := time.After(10 * time.Second)
	for got < len(c.nodes) {
		select {
		case b := <-seen:
			if b.n == 1 {
				got++
				if b.took <= 0 {
					t.Errorf("batch took %v", b.took)
				}
			}
		case <-deadline:
			t.Fatalf("%d of %d nodes observed the proposal", got, len(c.nodes))
		}
	}
}
