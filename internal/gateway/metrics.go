package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// The outcomes of a request, the decision label of
// charta_gateway_requests_total.
const (
	outcomeAllowed       = "allowed"        // checked, allowed and proxied
	outcomeDenied        = "denied"         // the ledger denies it (403)
	outcomeUnauthorized  = "unauthorized"   // no member could be named (401)
	outcomeInvalid       = "invalid"        // a bad scope header (400)
	outcomeOverLimit     = "over_limit"     // a hard cap or pool quota would be passed (429)
	outcomeUnavailable   = "unavailable"    // no node answered and nothing cached (503)
	outcomeFailOpen      = "fail_open"      // no node answered; let through by --fail-open
	outcomeUpstreamError = "upstream_error" // the upstream did not answer (502)
)

// The reasons a usage meter counts nothing, the reason label of
// charta_gateway_unmetered_total.
const (
	unmeteredNoDecision   = "no_decision"    // let through unchecked by --fail-open
	unmeteredNoUsageTerms = "no_usage_terms" // the grant has no usage terms
	unmeteredNotReporter  = "not_reporter"   // the gateway's member may not report the grant's usage
)

var outcomes = []string{outcomeAllowed, outcomeDenied, outcomeUnauthorized, outcomeInvalid, outcomeOverLimit,
	outcomeUnavailable, outcomeFailOpen, outcomeUpstreamError}

// metrics are the gateway's own Prometheus metrics, on its own registry.
// docs/gateway.md lists them.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec   // by route and outcome
	upstream    *prometheus.HistogramVec // upstream latency by route
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	metered     *prometheus.CounterVec // quantity counted, by member and metric
	malformed   *prometheus.CounterVec // malformed metering headers, by route
	unmetered   *prometheus.CounterVec // usage meters that counted nothing, by route and reason
	pending     prometheus.GaugeFunc   // batches signed and not yet committed, plus counts not yet in one
	sent        *prometheus.CounterVec // reports committed, by type
	failures    *prometheus.CounterVec // proposal failures, by type and reason
	observed    prometheus.Counter     // infraction.observe proposals made
	events      prometheus.Gauge       // 1 while the event stream is connected
}

func newMetrics(pending func() float64) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "charta_gateway_requests_total",
			Help: "Requests to the gateway, by route and decision (allowed, denied, unauthorized, invalid, over_limit, unavailable, fail_open, upstream_error).",
		}, []string{"route", "decision"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "charta_gateway_upstream_duration_seconds",
			Help:    "Time from sending a request upstream to its response headers, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "charta_gateway_decision_cache_hits_total",
			Help: "Checks answered from the decision cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "charta_gateway_decision_cache_misses_total",
			Help: "Checks the gateway asked a node.",
		}),
		metered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "charta_gateway_metered_total",
			Help: "Quantity counted into the journal, by member and metric.",
		}, []string{"member", "metric"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "charta_gateway_malformed_meter_headers_total",
			Help: "Upstream responses whose metering header was missing or malformed and counted as zero, by route.",
		}, []string{"route"}),
		unmetered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "charta_gateway_unmetered_total",
			Help: "Requests a usage meter counted against no grant, by route and reason (no_decision, no_usage_terms, not_reporter).",
		}, []string{"route", "reason"}),
		pending: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "charta_gateway_reports_pending",
			Help: "Reports signed and not yet committed, plus count keys not yet in a report.",
		}, pending),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "charta_gateway_reports_sent_total",
			Help: "Reports the ledger committed, by proposal type (usage.report, pool.consume).",
		}, []string{"type"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "charta_gateway_proposal_failures_total",
			Help: "Proposals not committed on an attempt, by type and reason (unreachable, refused, refused_final, rejected, resealed).",
		}, []string{"type", "reason"}),
		observed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "charta_gateway_infractions_observed_total",
			Help: "infraction.observe proposals the gateway signed.",
		}),
		events: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "charta_gateway_event_stream_up",
			Help: "1 while the gateway follows a node's event stream, which invalidates its caches.",
		}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.upstream, m.cacheHits, m.cacheMisses, m.metered, m.malformed, m.unmetered, m.pending, m.sent, m.failures, m.observed, m.events)
	return m
}
