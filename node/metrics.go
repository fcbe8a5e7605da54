package node

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's own Prometheus metrics (Raft's come from
// consensus). docs/operations.md lists them all.
type metrics struct {
	duration    *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	forwarded   prometheus.Counter
	rateLimited prometheus.Counter
	streamsCut  prometheus.Counter
	proposals   *prometheus.CounterVec // applied proposals by type and outcome
	infractions *prometheus.CounterVec // infractions recorded, by kind
	apply       prometheus.Histogram   // time to apply a batch
	sealRefused prometheus.Counter     // confidential grants this party's node could not open
	types       map[string]bool        // the proposal types the ledger knows
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "charta_http_request_duration_seconds",
			Help:    "Time to serve an API request, by route template, method and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "charta_proposals_in_flight",
			Help: "Proposals being checked, forwarded or committed by this node.",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "charta_proposals_forwarded_total",
			Help: "Proposals this node forwarded to the leader.",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "charta_http_rate_limited_total",
			Help: "Requests refused by the per-token rate limit.",
		}),
		streamsCut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "charta_event_streams_cut_total",
			Help: "Event streams closed because their client read too slowly or stopped reading.",
		}),
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "charta_proposals_total",
			Help: "Proposals this node applied, by type and outcome (accepted, rejected, or duplicate: a resubmission answered with its first outcome).",
		}, []string{"type", "outcome"}),
		sealRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "charta_confidential_refused_total",
			Help: "Confidential grants this party's node could not open: a wrap it cannot decrypt, or terms that do not match the commitment.",
		}),
		infractions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "charta_infractions_total",
			Help: "Infractions the ledger recorded in the entries this node applied, by kind.",
		}, []string{"kind"}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "charta_apply_duration_seconds",
			Help:    "Time to apply one batch of committed entries to the ledger (one state-store transaction, signature checks included).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		types: map[string]bool{ledger.TimeEntryType: true},
	}
	for _, t := range ledger.ProposalTypes() {
		m.types[t] = true
	}
	for _, k := range infractionKinds {
		m.infractions.WithLabelValues(k) // every kind from 0, so that rate() sees the first
	}
	for _, c := range []prometheus.Collector{m.duration, m.inFlight, m.forwarded, m.rateLimited, m.streamsCut, m.proposals, m.infractions, m.apply, m.sealRefused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// registerDisk exports the disk guard's view: free bytes, and the nospace
// alarm as 0 or 1.
func (m *metrics) registerDisk(reg prometheus.Registerer, g *diskGuard) error {
	free := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "charta_disk_free_bytes",
		Help: "Free bytes of the file system holding the node's data (0 when the guard is off).",
	}, func() float64 { f, _ := g.state(); return float64(f) })
	alarm := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "charta_alarm_nospace",
		Help: "1 while the node's disk is below its reserve and it refuses proposals, else 0.",
	}, func() float64 {
		if _, low := g.state(); low {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{free, alarm} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// infractionKinds label charta_infractions_total.
var infractionKinds = []string{ledger.InfractionAfterExpiry, ledger.InfractionOutOfScope, ledger.InfractionHardCap,
	ledger.InfractionSoftCap, ledger.InfractionMissingReport, ledger.InfractionSLABreach, ledger.InfractionDutyOverdue,
	ledger.InfractionDeletion, ledger.InfractionObserved}

// observeApply counts an applied batch's proposals and infractions and
// observes how long it took. It runs on Raft's FSM goroutine.
func (m *metrics) observeApply(results []*ledger.Result, took time.Duration) {
	applied := false
	for _, r := range results {
		if r == nil {
			continue // applied before a restart
		}
		applied = true
		typ := r.Outcome.Type
		if !m.types[typ] {
			typ = "unknown" // keeps the label's values few whatever a proposal claims
		}
		outcome := r.Outcome.Status
		if r.Duplicate {
			m.proposals.WithLabelValues(typ, "duplicate").Inc()
			continue // its infractions were counted the first time
		}
		m.proposals.WithLabelValues(typ, outcome).Inc()
		for _, e := range r.Outcome.Events {
			if e.Kind == "infraction.recorded" {
				m.infractions.WithLabelValues(infractionKind(e.Subject)).Inc()
			}
		}
	}
	if applied {
		m.apply.Observe(took.Seconds())
	}
}

// infractionKind reads the kind out of an infraction ID,
// "<grant>/<kind>/<cause>" (a grant ID may itself contain slashes).
func infractionKind(id string) string {
	for _, k := range infractionKinds {
		if strings.Contains(id, "/"+k+"/") {
			return k
		}
	}
	return "other"
}

// stateCollector exports gauges of the node's state that are read when
// scraped: its Raft role and indices, the journal's size, and how far
// behind the wall clock the ledger time and the newest cosigned checkpoint
// are.
type stateCollector struct {
	s     *Server
	descs map[string]*prometheus.Desc
}

// stateGauges names and describes the gauges of stateCollector.
var stateGauges = []struct{ name, help string }{
	{"charta_raft_state", "1 for this node's Raft state (leader, follower, candidate or shutdown), 0 for the others."},
	{"charta_raft_has_leader", "1 while this node knows a leader (or is it), else 0."},
	{"charta_raft_term", "This node's current Raft term."},
	{"charta_raft_commit_index", "The last Raft log index this node knows to be committed."},
	{"charta_raft_last_contact_seconds", "Follower: time since it last heard from the leader (0 on the leader)."},
	{"charta_ledger_applied_index", "The last Raft log index the ledger applied."},
	{"charta_apply_lag_entries", "Committed proposals this node has not applied yet."},
	{"charta_journal_entries", "Entries in the journal."},
	{"charta_state_store_bytes", "Size of the ledger's state store (state.db): the journal, its Merkle tree and the state."},
	{"charta_ledger_time_lag_seconds", "Wall clock minus the ledger time (the leader's stamp on the last applied entry); it grows while nobody writes."},
	{"charta_checkpoint_age_seconds", "Time since this node last gathered a checkpoint cosigned by the charter's threshold of members (since the node started, before the first)."},
}

func newStateCollector(s *Server) *stateCollector {
	c := &stateCollector{s: s, descs: map[string]*prometheus.Desc{}}
	for _, g := range stateGauges {
		var labels []string
		if g.name == "charta_raft_state" {
			labels = []string{"state"}
		}
		c.descs[g.name] = prometheus.NewDesc(g.name, g.help, labels, nil)
	}
	return c
}

// Describe sends the gauges' descriptions.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range stateGauges {
		ch <- c.descs[g.name]
	}
}

// Collect reads the node's state once and sends every gauge.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	bool01 := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	s := c.s
	now := s.clock()
	st := s.c.Status()
	for _, state := range []string{"leader", "follower", "candidate", "shutdown"} {
		gauge("charta_raft_state", bool01(st.State == state), state)
	}
	gauge("charta_raft_has_leader", bool01(st.Leader != "" || st.State == "leader"))
	gauge("charta_raft_term", float64(st.Term))
	gauge("charta_raft_commit_index", float64(st.CommitIndex))
	gauge("charta_raft_last_contact_seconds", st.LastContact.Seconds())
	gauge("charta_ledger_applied_index", float64(st.AppliedIndex))
	lag := uint64(0)
	if st.CommandIndex > st.AppliedIndex {
		lag = st.CommandIndex - st.AppliedIndex
	}
	gauge("charta_apply_lag_entries", float64(lag))
	s.l.View(func(v *ledger.View) error {
		gauge("charta_journal_entries", float64(v.Head().Size))
		gauge("charta_state_store_bytes", float64(v.StoreBytes()))
		gauge("charta_ledger_time_lag_seconds", now.Sub(v.LedgerTime()).Seconds())
		return nil
	})
	gauge("charta_checkpoint_age_seconds", now.Sub(s.ckpt.cosignedSince()).Seconds())
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and write deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush forwards to the underlying writer, for server-sent events.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// instrument observes each request's latency under its route template.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := "unmatched"
		if cr := mux.CurrentRoute(r); cr != nil {
			if t, err := cr.GetPathTemplate(); err == nil {
				route = t
			}
		}
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		s.metrics.duration.WithLabelValues(route, r.Method, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	})
}
