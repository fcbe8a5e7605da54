package node

import (
	_ "embed"
	"net/http"
	"sync"
	"time"

	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed openapi.json
var openAPI []byte

func (s *Server) registerMetaRoutes(r *mux.Router) {
	public := routeOpts{access: accessPublic}
	s.handle(r, http.MethodGet, "/healthz", "handleHealthz", public, s.handleHealthz)
	s.handle(r, http.MethodGet, "/readyz", "handleReadyz", public, s.handleReadyz)
	r.Handle("/metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{})).Methods(http.MethodGet).Name("handleMetrics")
	s.handle(r, http.MethodGet, "/v1/openapi.json", "handleOpenAPI", public, s.handleOpenAPI)
	s.registerDashboardRoutes(r)
}

// handleHealthz answers 200 while the process serves.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, api.Health{Status: "ok", Role: s.c.Status().State, AppliedIndex: s.l.AppliedIndex(), Alarms: s.alarms()})
}

// handleReadyz answers 200 while this node is caught up (see checkReady),
// and 503 with the reason otherwise.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.checkReady(); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ready"})
}

// checkReady says whether reads here reflect the consortium's state: a
// leader is known, a follower heard from it within the leader lease, and
// the node keeps up with what is committed: it is within ReadyMaxLag
// entries of the last committed proposal it knows of (a new leader's no-op
// and configuration changes raise the commit index without reaching the
// ledger, so they do not count), or, further behind, it applies each
// proposal it saw committed within readyGrace. A node under a heavy write
// load is a batch or two behind at any moment yet current; one that
// cannot keep up, or has stalled, stops being ready until it catches up.
func (s *Server) checkReady() error {
	st := s.c.Status()
	leader := s.c.IsLeader()
	if st.Leader == "" && !leader {
		return errorf(api.CodeUnavailable, "no leader is known yet").retry(1)
	}
	if !leader && st.LastContact > s.cfg.LeaderLease {
		return errorf(api.CodeUnavailable, "no contact with the leader for %s", st.LastContact.Round(time.Millisecond)).retry(1)
	}
	applied := max(st.AppliedIndex, s.l.AppliedIndex())
	if st.CommandIndex <= applied+s.cfg.ReadyMaxLag {
		s.readiness.reset()
		return nil
	}
	if target, late := s.readiness.behind(applied, st.CommandIndex, s.clock()); late > readyGrace {
		return errorf(api.CodeUnavailable, "catching up: applied %d; proposal %d was committed %s ago and is not applied yet",
			applied, target, late.Round(time.Millisecond)).retry(1)
	}
	return nil
}

// readyGrace is how long a proposal seen committed may stay unapplied
// before a node that is more than ReadyMaxLag behind is not ready.
const readyGrace = time.Second

// readiness remembers a committed proposal that a node behind by more than
// ReadyMaxLag has still to apply, and since when.
type readiness struct {
	mu     sync.Mutex
	target uint64
	since  time.Time
}

func (r *readiness) reset() {
	r.mu.Lock()
	r.target = 0
	r.mu.Unlock()
}

// behind returns the proposal the node waits for and how long it has,
// taking committed as the next one once applied has passed the last.
func (r *readiness) behind(applied, committed uint64, now time.Time) (uint64, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.target == 0 || applied >= r.target {
		r.target, r.since = committed, now
	}
	return r.target, now.Sub(r.since)
}

// handleOpenAPI serves the API's OpenAPI 3.1 description.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}
