package node

import (
	"net/http"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
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
	var out api.List[api.Member]
	s.view(w, func(v *ledger.View) error {
		ms, next := v.Members(cursor, limit)
		items := make([]api.Member, len(ms))
		for i, m := range ms {
			items[i] = memberJSON(v, m, principalOf(r.Context()))
		}
		out = newList(items, next)
		return nil
	})
	s.writeJSON(w, r, http.StatusOK, out)
}

// handleMemberGet returns one member.
func (s *Server) handleMemberGet(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	var m api.Member
	err := s.view(w, func(v *ledger.View) error {
		mem, ok := v.Member(id)
		if !ok {
			return notFound("member", id)
		}
		m = memberJSON(v, mem, principalOf(r.Context()))
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, m)
}

// memberJSON is a member with its key records and its node's checkpoint
// verifier keys, as p may see them: the grants a delegated key's scope
// names are shown only to the member itself and to those who see every
// grant, since grants are visible to their parties only.
func memberJSON(v *ledger.View, m *ledger.Member, p *principal) api.Member {
	keys := make([]*ledger.KeyRecord, 0, len(m.Keys))
	for _, id := range m.Keys {
		if k, ok := v.Key(id); ok {
			if k.Scope != nil && !p.party([]string{m.ID}) {
				k.Scope.Grants = nil
			}
			keys = append(keys, k)
		}
	}
	next := v.AppliedIndex() + 1
	return api.NewMember(verify.Origin(v.Consortium()), m, keys, func(k *ledger.KeyRecord) bool { return k.ValidAt(next) })
}
