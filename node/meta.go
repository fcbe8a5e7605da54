package node

import (
	_ "embed"
	"net/http"

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
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 once a leader is known and this node has
// applied everything committed when it first learned of one; 503 before.
// Once ready, a node stays ready while a leader is known.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.checkReady(); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) checkReady() error {
	st := s.c.Status()
	if st.Leader == "" && !s.c.IsLeader() {
		return errorf(api.CodeUnavailable, "no leader is known yet").retry(1)
	}
	if s.ready.Load() {
		return nil
	}
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	// The target is the last proposal committed when a leader was first
	// known: the ledger applies only proposals, and a new leader's no-op
	// or a configuration change raises the commit index without ever
	// reaching it.
	if !s.readySet {
		s.readyTarget, s.readySet = st.CommandIndex, true
	}
	if applied := max(st.AppliedIndex, s.l.AppliedIndex()); applied < s.readyTarget {
		return errorf(api.CodeUnavailable, "catching up: applied %d of %d", applied, s.readyTarget).retry(1)
	}
	s.ready.Store(true)
	return nil
}

// handleOpenAPI serves the API's OpenAPI 3.1 description.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}
