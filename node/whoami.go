package node

import (
	"net/http"
	"slices"

	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

func (s *Server) registerWhoamiRoutes(r *mux.Router) {
	s.handle(r, http.MethodGet, "/v1/whoami", "handleWhoami", routeOpts{access: accessToken}, s.handleWhoami)
}

// handleWhoami answers who the request's bearer token authenticates as:
// its member, role, scopes and expiry. Any valid token may ask, whatever
// its scopes, so that a gateway can identify callers whose tokens do not
// carry read; an invalid one gets the 401 every route gives it. With
// min_index (or consistency), the token is authenticated again once the
// node has applied that index, so that a caller that saw a revocation
// commit is never told that the revoked token is still good.
func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	if q := r.URL.Query(); q.Has("min_index") || q.Has("consistency") {
		if err := s.awaitConsistency(r); err != nil {
			s.writeProblem(w, r, err)
			return
		}
		s.setIndex(w, s.l.AppliedIndex())
		var err error
		if p, err = s.authenticate(bearer(r)); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="charta", error="invalid_token"`)
			s.writeProblem(w, r, err)
			return
		}
	}
	out := api.Whoami{Member: p.member, Role: p.role, Operator: p.operator, Scopes: slices.Clone(p.scopes)}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if !p.operator {
		exp := p.expires.UTC()
		out.ExpiresAt = &exp
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
