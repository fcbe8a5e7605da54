package node

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's own Prometheus metrics.
type metrics struct {
	duration    *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	forwarded   prometheus.Counter
	rateLimited prometheus.Counter
	streamsCut  prometheus.Counter
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
	}
	for _, c := range []prometheus.Collector{m.duration, m.inFlight, m.forwarded, m.rateLimited, m.streamsCut} {
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
