package node

import (
	"net/http"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

// read is the options of an ordinary read route: any member, at the
// requested consistency.
var read = routeOpts{access: accessMember, consistent: true}

func (s *Server) registerMemberRoutes(r *mux.Router) {
	s.handle(r, http.MethodGet, "/v1/members", "handleMemberList", read, s.handleMemberList)
	s.handle(r, http.MethodGet, "/v1/members/{id}", "handleMemberGet", read, s.handleMemberGet)
}

// handleMemberList lists members; every member may see them.
func (s *Server) handleMemberList(w http.ResponseWriter, r *http.Request) {
	cursor, limit, err := page(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var out api.List[*ledger.Member]
	s.view(w, func(v *ledger.View) error {
		ms, next := v.Members(cursor, limit)
		out = newList(ms, next)
		return nil
	})
	s.writeJSON(w, r, http.StatusOK, out)
}

// handleMemberGet returns one member.
func (s *Server) handleMemberGet(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	var m *ledger.Member
	err := s.view(w, func(v *ledger.View) error {
		var ok bool
		if m, ok = v.Member(id); !ok {
			return notFound("member", id)
		}
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, m)
}
