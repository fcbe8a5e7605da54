package node

import (
	"net/http"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

func (s *Server) registerBallotRoutes(r *mux.Router) {
	s.handle(r, http.MethodGet, "/v1/ballots", "handleBallotList", read, s.handleBallotList)
	s.handle(r, http.MethodGet, "/v1/ballots/{id}", "handleBallotGet", read, s.handleBallotGet)
}

// handleBallotList lists governance ballots; every member may see them.
func (s *Server) handleBallotList(w http.ResponseWriter, r *http.Request) {
	cursor, limit, err := page(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var out api.List[*ledger.Ballot]
	s.view(w, func(v *ledger.View) error {
		bs, next := v.Ballots(cursor, limit)
		out = newList(bs, next)
		return nil
	})
	s.writeJSON(w, r, http.StatusOK, out)
}

// handleBallotGet returns one ballot with its votes.
func (s *Server) handleBallotGet(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	var b *ledger.Ballot
	err := s.view(w, func(v *ledger.View) error {
		var ok bool
		if b, ok = v.Ballot(id); !ok {
			return notFound("ballot", id)
		}
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, b)
}
