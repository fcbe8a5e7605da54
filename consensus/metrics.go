package consensus

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
)

// raftMetrics is the one go-metrics sink of the process. hashicorp/raft
// reports through go-metrics' process-wide default registry, which cannot
// be set per node; so the sink is created once, installed as that default,
// and registered as a collector in every Registerer a node is given.
// Several nodes in one process (tests) therefore share Raft's metrics; a
// production process runs one node.
var raftMetrics struct {
	once sync.Once
	sink *raftSink
	err  error
}

// registerRaftMetrics exports Raft's metrics to reg.
func registerRaftMetrics(reg prometheus.Registerer) error {
	raftMetrics.once.Do(func() {
		sink := newRaftSink()
		conf := gometrics.DefaultConfig("")
		conf.EnableHostname = false
		conf.EnableHostnameLabel = false
		conf.EnableServiceLabel = false
		conf.EnableRuntimeMetrics = false // the Go collector of client_golang covers these
		if _, err := gometrics.NewGlobal(conf, sink); err != nil {
			raftMetrics.err = err
			return
		}
		raftMetrics.sink = sink
	})
	if raftMetrics.err != nil {
		return fmt.Errorf("consensus: raft metrics: %w", raftMetrics.err)
	}
	if err := reg.Register(raftMetrics.sink); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return fmt.Errorf("consensus: register raft metrics: %w", err)
		}
	}
	return nil
}

// secondsBuckets are the buckets of Raft's duration histograms: from half
// a millisecond (a heartbeat on a LAN) to ten seconds (a snapshot).
var secondsBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// raftFamily is one Prometheus metric that some of Raft's go-metrics keys
// are mapped to. Its label values come from the key (fixed) and, for a
// family whose last label is "peer", from go-metrics' peer_id label.
type raftFamily struct {
	name    string
	help    string
	kind    raftKind
	labels  []string
	buckets []float64
}

type raftKind int

const (
	raftCounter   raftKind = iota // go-metrics IncrCounter
	raftGauge                     // go-metrics SetGauge, or the last AddSample
	raftHistogram                 // go-metrics AddSample and MeasureSince
)

// raftKey routes one go-metrics key (joined with ".") to a family.
type raftKey struct {
	key    string
	family string
	fixed  []string // values of the family's labels before "peer"
	scale  float64  // multiplies each value: 0.001 turns go-metrics' milliseconds into seconds
}

// raftFamilies and raftKeys are the whole mapping from Raft's go-metrics
// keys (hashicorp/raft v1.7.3, raft-boltdb v2.3.1) to Prometheus metrics;
// docs/operations.md lists it. Keys not listed are dropped: the copies
// of per-peer metrics with the peer's ID in the key (the labelled ones
// are kept), the transport's internal stages, boltdb's transaction
// statistics, and timings that charta_apply_duration_seconds covers.
var raftFamilies = []raftFamily{
	{"charta_raft_apply_total", "Commands this node accepted for replication as leader.", raftCounter, nil, nil},
	{"charta_raft_verify_leader_total", "Leadership checks for linearizable reads.", raftCounter, nil, nil},
	{"charta_raft_state_changes_total", "Times this node entered each Raft state.", raftCounter, []string{"state"}, nil},
	{"charta_raft_timeouts_total", "Raft timeouts: a follower's heartbeat timeout (it starts an election), a leader's lease timeout (it steps down).", raftCounter, []string{"kind"}, nil},
	{"charta_raft_replicated_entries_total", "Leader: log entries sent to each follower.", raftCounter, []string{"peer"}, nil},
	{"charta_raft_peers", "Servers in the latest Raft configuration.", raftGauge, nil, nil},
	{"charta_raft_thread_saturation_ratio", "Share of time Raft's main and FSM goroutines were busy, over the last second sampled.", raftGauge, []string{"thread"}, nil},
	{"charta_raft_leader_oldest_log_age_seconds", "Leader: age of the oldest entry in Raft's log.", raftGauge, nil, nil},
	{"charta_raft_commit_duration_seconds", "Leader: time from dispatching an entry to its commit by a quorum.", raftHistogram, nil, secondsBuckets},
	{"charta_raft_leader_dispatch_duration_seconds", "Leader: time to write a batch of new entries to its own log.", raftHistogram, nil, secondsBuckets},
	{"charta_raft_leader_last_contact_seconds", "Leader: time since each follower last answered, sampled at every lease check.", raftHistogram, nil, secondsBuckets},
	{"charta_raft_rpc_duration_seconds", "Time to handle a Raft RPC from a peer, by RPC.", raftHistogram, []string{"rpc"}, secondsBuckets},
	{"charta_raft_replication_duration_seconds", "Leader: time of a Raft RPC to a follower, by RPC and peer.", raftHistogram, []string{"rpc", "peer"}, secondsBuckets},
	{"charta_raft_snapshot_duration_seconds", "Time to take a Raft snapshot, by phase (create: the FSM's read view; persist: writing it).", raftHistogram, []string{"phase"}, secondsBuckets},
	{"charta_raft_fsm_restore_duration_seconds", "Time to restore the ledger from a Raft snapshot.", raftHistogram, nil, secondsBuckets},
	{"charta_raft_compact_duration_seconds", "Time to remove log entries that a snapshot covers.", raftHistogram, nil, secondsBuckets},
	{"charta_raft_log_store_duration_seconds", "Time to write a batch of entries to Raft's log store (raft.db).", raftHistogram, nil, secondsBuckets},
	{"charta_raft_log_store_batch_entries", "Entries per batch written to Raft's log store.", raftHistogram, nil, prometheus.ExponentialBuckets(1, 2, 10)},
	{"charta_raft_log_store_batch_bytes", "Bytes per batch written to Raft's log store.", raftHistogram, nil, prometheus.ExponentialBuckets(256, 4, 9)},
}

var raftKeys = []raftKey{
	{"raft.apply", "charta_raft_apply_total", nil, 1},
	{"raft.verify_leader", "charta_raft_verify_leader_total", nil, 1},
	{"raft.state.follower", "charta_raft_state_changes_total", []string{"follower"}, 1},
	{"raft.state.candidate", "charta_raft_state_changes_total", []string{"candidate"}, 1},
	{"raft.state.leader", "charta_raft_state_changes_total", []string{"leader"}, 1},
	{"raft.transition.heartbeat_timeout", "charta_raft_timeouts_total", []string{"heartbeat"}, 1},
	{"raft.transition.leader_lease_timeout", "charta_raft_timeouts_total", []string{"leader_lease"}, 1},
	{"raft.replication.appendEntries.logs", "charta_raft_replicated_entries_total", nil, 1},
	{"raft.peers", "charta_raft_peers", nil, 1},
	{"raft.thread.main.saturation", "charta_raft_thread_saturation_ratio", []string{"main"}, 1},
	{"raft.thread.fsm.saturation", "charta_raft_thread_saturation_ratio", []string{"fsm"}, 1},
	{"raft.leader.oldestLogAge", "charta_raft_leader_oldest_log_age_seconds", nil, 0.001},
	{"raft.commitTime", "charta_raft_commit_duration_seconds", nil, 0.001},
	{"raft.leader.dispatchLog", "charta_raft_leader_dispatch_duration_seconds", nil, 0.001},
	{"raft.leader.lastContact", "charta_raft_leader_last_contact_seconds", nil, 0.001},
	{"raft.rpc.appendEntries", "charta_raft_rpc_duration_seconds", []string{"append_entries"}, 0.001},
	{"raft.rpc.processHeartbeat", "charta_raft_rpc_duration_seconds", []string{"heartbeat"}, 0.001},
	{"raft.rpc.requestVote", "charta_raft_rpc_duration_seconds", []string{"request_vote"}, 0.001},
	{"raft.rpc.installSnapshot", "charta_raft_rpc_duration_seconds", []string{"install_snapshot"}, 0.001},
	{"raft.replication.appendEntries.rpc", "charta_raft_replication_duration_seconds", []string{"append_entries"}, 0.001},
	{"raft.replication.heartbeat", "charta_raft_replication_duration_seconds", []string{"heartbeat"}, 0.001},
	{"raft.replication.installSnapshot", "charta_raft_replication_duration_seconds", []string{"install_snapshot"}, 0.001},
	{"raft.snapshot.create", "charta_raft_snapshot_duration_seconds", []string{"create"}, 0.001},
	{"raft.snapshot.persist", "charta_raft_snapshot_duration_seconds", []string{"persist"}, 0.001},
	{"raft.fsm.restore", "charta_raft_fsm_restore_duration_seconds", nil, 0.001},
	{"raft.compactLogs", "charta_raft_compact_duration_seconds", nil, 0.001},
	{"raft.boltdb.storeLogs", "charta_raft_log_store_duration_seconds", nil, 0.001},
	{"raft.boltdb.logsPerBatch", "charta_raft_log_store_batch_entries", nil, 1},
	{"raft.boltdb.logBatchSize", "charta_raft_log_store_batch_bytes", nil, 1},
}

// raftSink is a go-metrics sink that feeds Raft's metrics into the
// Prometheus metrics of raftFamilies, as counters, gauges and histograms
// (never summaries, whose quantiles are NaN while no sample is recent).
// It is a prometheus.Collector of those metrics.
type raftSink struct {
	keys       map[string]raftRoute
	collectors []prometheus.Collector
}

// raftRoute is where a key's values go.
type raftRoute struct {
	kind    raftKind
	fixed   []string
	scale   float64
	perPeer bool
	counter *prometheus.CounterVec
	gauge   *prometheus.GaugeVec
	hist    *prometheus.HistogramVec
}

var _ gometrics.MetricSink = (*raftSink)(nil)

func newRaftSink() *raftSink {
	s := &raftSink{keys: map[string]raftRoute{}}
	fams := map[string]raftRoute{}
	for _, f := range raftFamilies {
		r := raftRoute{kind: f.kind, perPeer: len(f.labels) > 0 && f.labels[len(f.labels)-1] == "peer"}
		var c prometheus.Collector
		switch f.kind {
		case raftCounter:
			r.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: f.name, Help: f.help}, f.labels)
			c = r.counter
		case raftGauge:
			r.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: f.name, Help: f.help}, f.labels)
			c = r.gauge
		case raftHistogram:
			r.hist = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: f.name, Help: f.help, Buckets: f.buckets}, f.labels)
			c = r.hist
		}
		fams[f.name] = r
		s.collectors = append(s.collectors, c)
	}
	for _, k := range raftKeys {
		r, ok := fams[k.family]
		if !ok {
			panic(fmt.Sprintf("consensus: raft metric key %s maps to unknown family %s", k.key, k.family))
		}
		r.fixed, r.scale = k.fixed, k.scale
		s.keys[k.key] = r
	}
	return s
}

// route finds where key's values go and their label values, or reports
// that the key is dropped.
func (s *raftSink) route(key []string, labels []gometrics.Label) (raftRoute, []string, bool) {
	r, ok := s.keys[strings.Join(key, ".")]
	if !ok {
		return r, nil, false
	}
	values := r.fixed
	if r.perPeer {
		peer := ""
		for _, l := range labels {
			if l.Name == "peer_id" {
				peer = l.Value
			}
		}
		if peer == "" {
			return r, nil, false
		}
		values = append(append([]string(nil), r.fixed...), peer)
	}
	return r, values, true
}

func (s *raftSink) SetGauge(key []string, val float32) { s.SetGaugeWithLabels(key, val, nil) }

func (s *raftSink) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	if r, values, ok := s.route(key, labels); ok && r.kind == raftGauge {
		r.gauge.WithLabelValues(values...).Set(float64(val) * r.scale)
	}
}

// EmitKey is not used by Raft; its values are dropped.
func (s *raftSink) EmitKey([]string, float32) {}

func (s *raftSink) IncrCounter(key []string, val float32) { s.IncrCounterWithLabels(key, val, nil) }

func (s *raftSink) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	if r, values, ok := s.route(key, labels); ok && r.kind == raftCounter && val >= 0 {
		r.counter.WithLabelValues(values...).Add(float64(val) * r.scale)
	}
}

func (s *raftSink) AddSample(key []string, val float32) { s.AddSampleWithLabels(key, val, nil) }

func (s *raftSink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	r, values, ok := s.route(key, labels)
	switch {
	case !ok:
	case r.kind == raftHistogram:
		r.hist.WithLabelValues(values...).Observe(float64(val) * r.scale)
	case r.kind == raftGauge:
		r.gauge.WithLabelValues(values...).Set(float64(val) * r.scale)
	}
}

// Describe sends the descriptions of every mapped metric.
func (s *raftSink) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s.collectors {
		c.Describe(ch)
	}
}

// Collect sends the current values of every mapped metric.
func (s *raftSink) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s.collectors {
		c.Collect(ch)
	}
}
