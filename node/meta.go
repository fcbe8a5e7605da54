package node

import (
	_ "embed"
	"net/http"
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
	s.writeJSON(w, r, http.StatusOK, api.Health{Status: "ok", Alarms: s.alarms()})
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
// the node's applied index is within ReadyMaxLag entries of the last
// committed proposal it knows of (a new leader's no-op and configuration
// changes raise the commit index without reaching the ledger, so they do
// not count). It is checked on every call: a node that falls behind stops
// being ready until it catches up.
func (s *Server) checkReady() error {
	st := s.c.Status()
	leader := s.c.IsLeader()
	if st.Leader == "" && !leader {
		return errorf(api.CodeUnavailable, "no leader is known yet").retry(1)
	}
	if !leader && st.LastContact > s.cfg.LeaderLease {
		return errorf(api.CodeUnavailable, "no contact with the leader for %s", st.LastContact.Round(time.Millisecond)).retry(1)
	}
	if applied := max(st.AppliedIndex, s.l.AppliedIndex()); st.CommandIndex > applied+s.cfg.ReadyMaxLag {
		return errorf(api.CodeUnavailable, "catching up: applied %d, the last committed proposal is %d (ready within %d)",
			applied, st.CommandIndex, s.cfg.ReadyMaxLag).retry(1)
	}
	return nil
}

// handleOpenAPI serves the API's OpenAPI 3.1 description.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}
