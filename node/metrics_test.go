package node

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads a server's /metrics, fails the test on every problem that
// promlint (the linter of promtool check metrics) finds, and returns the
// families by name.
func scrape(t *testing.T, ts *testServer) map[string]*dto.MetricFamily {
	t.Helper()
	r := ts.get("/metrics", "")
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	var list []*dto.MetricFamily
	for _, mf := range fams {
		list = append(list, mf)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].GetName() < list[j].GetName() })
	problems, err := promlint.NewWithMetricFamilies(list).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	return fams
}

// value is the value of the series of family name whose labels include
// labels (name=value pairs); NaN if there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf, ok := fams[name]
	if !ok {
		return math.NaN()
	}
series:
	for _, m := range mf.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
			}
			if !found {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return math.NaN()
}

func TestMetrics_ProposalsByTypeAndOutcome(t *testing.T) {
	w := newWorld(t, nil)
	w.seed()
	var now atomic.Pointer[time.Time]
	at := func(d time.Duration) { tm := w.now.Add(d); now.Store(&tm) }
	at(90 * time.Second)
	s, err := NewServer(testConfig(t), w.leaderFake("alpha"), Deps{Clock: func() time.Time { return *now.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	hts := httptest.NewServer(s.Handler())
	t.Cleanup(hts.Close)
	ts := &testServer{t: t, s: s, ts: hts, w: w}

	reg := w.envelope("alpha", "asset.register", "reg-new", ledger.AssetRegister{ID: "model-new", Kind: ledger.AssetModel, Digest: digestA,
		Owners: []ledger.Owner{{Member: "alpha", ShareBP: 10000}}})
	for _, env := range [][]byte{reg, w.envelope("beta", "grant.accept", "accept-none", ledger.GrantRef{Grant: "g-none"})} {
		ts.do(http.MethodPost, "/v1/proposals", "", env)
	}
	// The API answers a resubmission itself; one that reaches the log
	// (sent twice at once) is applied as a duplicate.
	w.apply(reg)
	fams := scrape(t, ts)
	var head ledger.Head
	w.l.View(func(v *ledger.View) error { head = v.Head(); return nil })
	for _, c := range []struct {
		what string
		got  float64
		want float64
	}{
		{"accepted asset.register", value(fams, "charta_proposals_total", "type", "asset.register", "outcome", "accepted"), 1},
		{"rejected grant.accept", value(fams, "charta_proposals_total", "type", "grant.accept", "outcome", "rejected"), 1},
		{"duplicate asset.register", value(fams, "charta_proposals_total", "type", "asset.register", "outcome", "duplicate"), 1},
		{"applied batches", value(fams, "charta_apply_duration_seconds"), 3},
		{"infractions", value(fams, "charta_infractions_total", "kind", ledger.InfractionHardCap), 0},
		{"journal entries", value(fams, "charta_journal_entries"), float64(head.Size)},
		{"ledger time lag", value(fams, "charta_ledger_time_lag_seconds"), 90},
		{"checkpoint age at start", value(fams, "charta_checkpoint_age_seconds"), 0},
		{"leader", value(fams, "charta_raft_state", "state", "leader"), 1},
		{"not follower", value(fams, "charta_raft_state", "state", "follower"), 0},
		{"has leader", value(fams, "charta_raft_has_leader"), 1},
		{"term", value(fams, "charta_raft_term"), 2},
		{"applied index", value(fams, "charta_ledger_applied_index"), float64(w.l.AppliedIndex())},
		{"apply lag", value(fams, "charta_apply_lag_entries"), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if b := value(fams, "charta_state_store_bytes"); !(b > 0) {
		t.Errorf("state store bytes %v", b)
	}
	// Seeded before the server existed: not counted.
	if v := value(fams, "charta_proposals_total", "type", "grant.offer"); !math.IsNaN(v) {
		t.Errorf("grant.offer counted %v times", v)
	}
	at(150 * time.Second)
	if got := value(scrape(t, ts), "charta_checkpoint_age_seconds"); got != 60 {
		t.Errorf("checkpoint age a minute after start: %v", got)
	}
}

func TestMetrics_ObserveApplyCountsInfractionsAndUnknownTypes(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	rejected := &ledger.Result{Outcome: ledger.Outcome{Status: ledger.StatusRejected, Type: "usage.report",
		Events: []ledger.Event{{Kind: "infraction.recorded", Subject: "g/1/hard_cap_exceeded/r3"}}}}
	accepted := &ledger.Result{Outcome: ledger.Outcome{Status: ledger.StatusAccepted, Type: "usage.report",
		Events: []ledger.Event{{Kind: "infraction.recorded", Subject: "g-1/soft_cap_exceeded/2026-01:gpu"}, {Kind: "grant.activated", Subject: "g-1"}}}}
	again := *accepted
	again.Duplicate = true
	m.observeApply([]*ledger.Result{nil, rejected, accepted, &again}, time.Millisecond)
	m.observeApply([]*ledger.Result{{Outcome: ledger.Outcome{Status: ledger.StatusRejected, Type: "made.up"}}}, time.Millisecond)
	m.observeApply([]*ledger.Result{nil}, time.Hour) // replayed before a restart: nothing
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"hard cap", testutil.ToFloat64(m.infractions.WithLabelValues("hard_cap_exceeded")), 1},
		{"soft cap", testutil.ToFloat64(m.infractions.WithLabelValues("soft_cap_exceeded")), 1},
		{"sla breach", testutil.ToFloat64(m.infractions.WithLabelValues("sla_breach")), 0},
		{"rejected usage.report", testutil.ToFloat64(m.proposals.WithLabelValues("usage.report", "rejected")), 1},
		{"accepted usage.report", testutil.ToFloat64(m.proposals.WithLabelValues("usage.report", "accepted")), 1},
		{"duplicate usage.report", testutil.ToFloat64(m.proposals.WithLabelValues("usage.report", "duplicate")), 1},
		{"unknown type", testutil.ToFloat64(m.proposals.WithLabelValues("unknown", "rejected")), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	var h dto.Metric
	if err := m.apply.Write(&h); err != nil {
		t.Fatal(err)
	}
	if h.Histogram.GetSampleCount() != 2 || math.Abs(h.Histogram.GetSampleSum()-0.002) > 1e-9 {
		t.Errorf("apply duration: %d batches, %v s", h.Histogram.GetSampleCount(), h.Histogram.GetSampleSum())
	}
}

func TestMetrics_FollowerState(t *testing.T) {
	_, follower, _ := leaderAndFollower(t)
	fams := scrape(t, follower)
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"follower", value(fams, "charta_raft_state", "state", "follower"), 1},
		{"not leader", value(fams, "charta_raft_state", "state", "leader"), 0},
		{"has leader", value(fams, "charta_raft_has_leader"), 1},
		{"last contact", value(fams, "charta_raft_last_contact_seconds"), 0.05},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestMetrics_CheckpointAgeResetsWhenCosigned(t *testing.T) {
	c := newCluster(t)
	a := c.nodes["alpha"]
	ck := a.s.ckpt
	ck.mu.Lock()
	ck.cosigned = time.Now().Add(-time.Hour)
	ck.mu.Unlock()
	// Alpha's signature alone is not the threshold.
	a.get("/v1/checkpoint?gather=false", "beta")
	if got := value(scrape(t, a), "charta_checkpoint_age_seconds"); got < 3600 {
		t.Fatalf("age after an uncosigned checkpoint: %v", got)
	}
	a.get("/v1/checkpoint", "beta")
	if got := value(scrape(t, a), "charta_checkpoint_age_seconds"); got > 60 {
		t.Fatalf("age after a cosigned checkpoint: %v", got)
	}
}

// TestMetrics_NoSummaries: summaries have NaN quantiles while no sample
// is recent; every distribution is a histogram.
func TestMetrics_NoSummaries(t *testing.T) {
	ts := newTestServer(t)
	for name, mf := range scrape(t, ts) {
		if mf.GetType() == dto.MetricType_SUMMARY && !strings.HasPrefix(name, "go_gc_") {
			t.Errorf("%s is a summary", name)
		}
	}
}
