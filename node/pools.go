package node

import (
	"context"
	"net/http"
	"strings"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

// Pools are visible to every member. Statements and infractions belong to
// a grant and are visible to its parties, auditors and the operator.
func (s *Server) registerPoolRoutes(r *mux.Router) {
	s.handle(r, http.MethodGet, "/v1/pools", "handlePoolList", read, s.handlePoolList)
	s.handle(r, http.MethodGet, "/v1/pools/{id}", "handlePoolGet", read, s.handlePoolGet)
	s.handle(r, http.MethodGet, "/v1/pools/{id}/usage", "handlePoolUsage", read, s.handlePoolUsage)
	s.handle(r, http.MethodGet, "/v1/statements", "handleStatementList", read, s.handleStatementList)
	s.handle(r, http.MethodGet, "/v1/infractions", "handleInfractionList", read, s.handleInfractionList)
}

func (s *Server) handlePoolList(w http.ResponseWriter, r *http.Request) {
	cursor, limit, err := page(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var out any
	err = s.view(w, func(v *ledger.View) error {
		items, next := v.Pools(cursor, limit)
		out = newList(items, next)
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

func (s *Server) handlePoolGet(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	var p *ledger.Pool
	err := s.view(w, func(v *ledger.View) error {
		var ok bool
		if p, ok = v.Pool(id); !ok {
			return notFound("pool", id)
		}
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, p)
}

// handlePoolUsage shows each member's use and remaining quota in a period
// (?period=, default the one holding ledger time).
func (s *Server) handlePoolUsage(w http.ResponseWriter, r *http.Request) {
	id, period := mux.Vars(r)["id"], r.URL.Query().Get("period")
	var out api.PoolUsage
	err := s.view(w, func(v *ledger.View) error {
		if _, ok := v.Pool(id); !ok {
			return notFound("pool", id)
		}
		ms, err := v.PoolUsage(id, period)
		out = api.PoolUsage{Pool: id, Period: period, Members: ms}
		return err
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// handleStatementList computes a grant's statements (?grant=, required;
// ?period= for one period), provisional while a period is open.
func (s *Server) handleStatementList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("grant")
	if id == "" {
		s.writeProblem(w, r, errorf(ledger.CodeInvalid, "grant: required; statements are listed per grant"))
		return
	}
	var out []*ledger.Statement
	err := s.view(w, func(v *ledger.View) error {
		var err error
		out, err = s.statements(r.Context(), v, principalOf(r.Context()), id, q.Get("period"))
		return err
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, newList(out, ""))
}

// statements computes the statements of a grant the caller may see. A
// confidential grant's are computed on its parties' nodes, for the
// parties' tokens and the operator, from the opened terms and the sealed
// reports the node admitted (ledger.PrivateStatement); any other node or
// caller is told where to ask.
func (s *Server) statements(ctx context.Context, v *ledger.View, p *principal, id, period string) ([]*ledger.Statement, error) {
	g, err := grant(v, p, id)
	if err != nil {
		return nil, err
	}
	periods := v.Statements(id)
	var pu *ledger.PrivateUsage
	if g.Confidential != nil {
		ct, ok := s.opened(p, g)
		if !ok {
			return nil, errorf(ledger.CodeForbidden, "grant %s is confidential: its statements are computed by its parties' nodes (%s), for the parties", g.ID, strings.Join(g.Parties(), ", "))
		}
		// The account must hold every report the view holds.
		if err := s.private.caughtUp(ctx, v.AppliedIndex()); err != nil {
			return nil, err
		}
		g = g.Opened(ct)
		if pu, ok = s.private.usage(id); !ok {
			pu = &ledger.PrivateUsage{Grant: id}
		}
		periods = pu.Periods()
	}
	if period != "" {
		periods = []string{period}
	}
	out := []*ledger.Statement{}
	for _, per := range periods {
		var st *ledger.Statement
		if pu != nil {
			st, err = v.PrivateStatement(g, pu, per)
		} else {
			st, err = v.Statement(id, per)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// visibleInfraction reports whether p may see in: a party to its grant
// may, and, for an observed infraction that names no grant, the members
// observed, its observer and the asset's owners.
func visibleInfraction(v *ledger.View, p *principal, in *ledger.Infraction) bool {
	if in.Grant == "" {
		parties := append([]string{in.Observer}, in.Members...)
		if a, ok := v.Asset(in.Asset); ok {
			for _, o := range a.Owners {
				parties = append(parties, o.Member)
			}
		}
		return p.party(parties)
	}
	g, ok := v.Grant(in.Grant)
	return ok && visibleGrant(p, g)
}

// handleInfractionList lists infractions, filtered by member, grant and
// kind, keeping those of grants the caller is a party to.
func (s *Server) handleInfractionList(w http.ResponseWriter, r *http.Request) {
	cursor, limit, err := page(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	q := r.URL.Query()
	f := ledger.InfractionFilter{Member: q.Get("member"), Grant: q.Get("grant"), Kind: q.Get("kind")}
	p := principalOf(r.Context())
	var out any
	err = s.view(w, func(v *ledger.View) error {
		items, next := v.Infractions(f, cursor, limit)
		kept := items[:0]
		for _, in := range items {
			if visibleInfraction(v, p, in) {
				kept = append(kept, in)
			}
		}
		out = newList(kept, next)
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
