package node

import (
	"net/http"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

func (s *Server) registerBundleRoutes(r *mux.Router) {
	s.handle(r, http.MethodGet, "/v1/bundles", "handleBundleList", read, s.handleBundleList)
	s.handle(r, http.MethodGet, "/v1/bundles/{id}", "handleBundleGet", read, s.handleBundleGet)
}

// handleBundleList lists the bundles the caller is party to (every bundle
// for auditors and the operator), with statuses as of ledger time.
func (s *Server) handleBundleList(w http.ResponseWriter, r *http.Request) {
	cursor, limit, err := page(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	p := principalOf(r.Context())
	status := r.URL.Query().Get("status")
	var out api.List[*ledger.Bundle]
	s.view(w, func(v *ledger.View) error {
		now := v.LedgerTime()
		bs, next := v.Bundles(cursor, limit, func(b *ledger.Bundle) bool {
			return p.party(b.Parties) && (status == "" || b.StatusAt(now) == status)
		})
		for _, b := range bs {
			b.Status = b.StatusAt(now)
		}
		out = newList(bs, next)
		return nil
	})
	s.writeJSON(w, r, http.StatusOK, out)
}

// handleBundleGet returns one bundle to its parties, auditors and the operator.
func (s *Server) handleBundleGet(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	p := principalOf(r.Context())
	var b *ledger.Bundle
	err := s.view(w, func(v *ledger.View) error {
		var ok bool
		b, ok = v.Bundle(id)
		if !ok || !p.party(b.Parties) {
			return notFound("bundle", id)
		}
		b.Status = b.StatusAt(v.LedgerTime())
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, b)
}
