package node

import (
	"context"
	"net/http"
	"slices"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
	"github.com/charta/charta/ledger/verify"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

func (s *Server) registerGrantRoutes(r *mux.Router) {
	s.handle(r, http.MethodGet, "/v1/grants", "handleGrantList", read, s.handleGrantList)
	s.handle(r, http.MethodGet, "/v1/grants/{id}", "handleGrantGet", read, s.handleGrantGet)
	s.handle(r, http.MethodGet, "/v1/grants/{id}/sealed", "handleGrantSealed", read, s.handleGrantSealed)
	s.handle(r, http.MethodGet, "/v1/grants/{id}/history", "handleGrantHistory", read, s.handleGrantHistory)
	s.handle(r, http.MethodGet, "/v1/grants/{id}/statements", "handleGrantStatements", read, s.handleGrantStatements)
	s.handle(r, http.MethodGet, "/v1/grants/{id}/evidence", "handleGrantEvidence", read, s.handleGrantEvidence)
	s.handle(r, http.MethodGet, "/v1/grants/{id}/attestations", "handleGrantAttestations", read, s.handleGrantAttestations)
}

// handleGrantEvidence returns the evidence of a licence certificate for a
// grant and one of its licensees (verify.Evidence): the journal entries
// that rebuild the grant and the licensee's keys, with their inclusion
// proofs, and the cosigned checkpoint. The licensee signs the certificate
// itself (client.GrantCertificate).
func (s *Server) handleGrantEvidence(w http.ResponseWriter, r *http.Request) {
	id, licensee := mux.Vars(r)["id"], r.URL.Query().Get("licensee")
	if licensee == "" {
		s.writeProblem(w, r, errorf(ledger.CodeInvalid, "licensee: required"))
		return
	}
	if !s.heavyStart(w, r) {
		return
	}
	defer s.heavyDone()
	var size uint64
	err := s.view(w, func(v *ledger.View) error {
		g, err := grant(v, principalOf(r.Context()), id)
		if err != nil {
			return err
		}
		if !slices.Contains(g.Licensees, licensee) {
			return errorf(ledger.CodeInvalid, "licensee: %s is not a licensee of grant %s", licensee, id)
		}
		size = v.Head().Size
		return nil
	})
	var ev verify.Evidence
	if err == nil {
		ev, err = s.evidence(r.Context(), size, verify.CertificateQuestion(id, licensee))
	}
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, ev)
}

// grantFilter is the query of a grant list.
type grantFilter struct {
	licensee, licensor, asset, status string
}

// matches reports whether g, whose status at ledger time is status, passes
// the filter. It is the one place that knows which grant fields the
// filters read.
func (f grantFilter) matches(g *ledger.Grant, status ledger.Status) bool {
	return (f.licensee == "" || slices.Contains(g.Licensees, f.licensee)) &&
		(f.licensor == "" || slices.Contains(g.Licensors, f.licensor)) &&
		(f.asset == "" || slices.Contains(g.Terms.Assets, f.asset)) &&
		(f.status == "" || string(status) == f.status)
}

// visibleGrant reports whether p may see g: parties, auditors, operator.
func visibleGrant(p *principal, g *ledger.Grant) bool {
	return p.party(g.Licensors, g.Licensees)
}

// handleGrantList lists the grants the caller may see, filtered by
// licensee, licensor, asset and status (as of ledger time).
func (s *Server) handleGrantList(w http.ResponseWriter, r *http.Request) {
	cursor, limit, err := page(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	q := r.URL.Query()
	f := grantFilter{licensee: q.Get("licensee"), licensor: q.Get("licensor"), asset: q.Get("asset"), status: q.Get("status")}
	p := principalOf(r.Context())
	var out api.List[*api.Grant]
	s.view(w, func(v *ledger.View) error {
		now := v.LedgerTime()
		gs, next := v.Grants(cursor, limit, func(g *ledger.Grant) bool {
			return visibleGrant(p, g) && f.matches(g, g.StatusAt(now))
		})
		shown := make([]*api.Grant, len(gs))
		for i, g := range gs {
			g.Status = g.StatusAt(now)
			shown[i] = s.apiGrant(p, g)
		}
		out = newList(shown, next)
		return nil
	})
	s.writeJSON(w, r, http.StatusOK, out)
}

// grant loads a grant the caller may see, with its status as of ledger
// time, or returns not_found.
func grant(v *ledger.View, p *principal, id string) (*ledger.Grant, error) {
	g, ok := v.Grant(id)
	if !ok || !visibleGrant(p, g) {
		return nil, notFound("grant", id)
	}
	g.Status = g.StatusAt(v.LedgerTime())
	return g, nil
}

// apiGrant is g as the API shows it to p on this node: a confidential
// grant's sealed part becomes its commitment and, on a party's node that
// opened them, the confidential terms and their private digest
// (private.go) — for the node's operator and the parties' own tokens only.
// An auditor is not a recipient: it sees the sealed view, and a party
// discloses terms to it with an opening.
func (s *Server) apiGrant(p *principal, g *ledger.Grant) *api.Grant {
	out := &api.Grant{Grant: *g}
	c := g.Confidential
	if c == nil {
		return out
	}
	out.Grant.Confidential = nil
	out.Confidential = &api.GrantConfidential{Classification: api.ClassificationConfidential, Commitment: c.Commitment, Sealed: true, Recipients: g.Parties()}
	if c.Sealed != nil {
		out.Confidential.Recipients = c.Sealed.Recipients()
	}
	if !s.mayOpen(p, g) {
		return out
	}
	rec, ok := s.private.get(g.ID)
	switch {
	case !ok || rec.Commitment != c.Commitment:
		out.Confidential.Refused = "not opened yet"
	case rec.Status == privateOpened:
		out.Confidential.Sealed, out.Confidential.Terms, out.Confidential.PrivateDigest = false, rec.Terms, rec.Digest
		// A grant without sealed reports has an empty account, whether or
		// not this node has stored one yet (a full scan stores it, a
		// node that saw the offer arrive does not): its digest is served
		// either way, so that both parties' nodes serve the same.
		pu, ok := s.private.usage(g.ID)
		if !ok {
			pu = &ledger.PrivateUsage{Grant: g.ID}
		}
		d := pu.Digest()
		out.Confidential.UsageDigest, out.Confidential.Infractions = &d, pu.Infractions
	default:
		out.Confidential.Refused = rec.Reason
	}
	return out
}

// mayOpen reports whether this node may show p what it opened of
// confidential grant g: the node's member is a recipient (a party, or an
// auditor the charter named), and p is the node's operator or the token
// of a recipient, which could open the terms itself.
func (s *Server) mayOpen(p *principal, g *ledger.Grant) bool {
	return s.private != nil && g.SealedTo(s.cfg.Member) && p != nil && (p.operator || g.SealedTo(p.member))
}

// opened returns the opened terms of confidential grant g that p may see
// on this node (mayOpen), if the node opened them for g's commitment.
func (s *Server) opened(p *principal, g *ledger.Grant) (*ledger.ConfidentialTerms, bool) {
	if g.Confidential == nil || !s.mayOpen(p, g) {
		return nil, false
	}
	rec, ok := s.private.get(g.ID)
	if !ok || rec.Status != privateOpened || rec.Commitment != g.Confidential.Commitment {
		return nil, false
	}
	return rec.Terms, true
}

// opener is what Check sees of this node's private store when p asks
// (ledger.WithOpened): the confidential grants p may see opened, with
// their admitted usage.
type opener struct {
	s *Server
	p *principal
}

func (o opener) OpenedTerms(g *ledger.Grant) (*ledger.ConfidentialTerms, bool) {
	return o.s.opened(o.p, g)
}

// SealedTotal is asked only of a grant OpenedTerms opened.
func (o opener) SealedTotal(grant, period string) (*ledger.UsageTotals, bool) {
	pu, ok := o.s.private.usage(grant)
	if !ok {
		return nil, false
	}
	return pu.Total(period)
}

// checkView is v, at applied index i, as Check should see it for p: on a
// party's node, with the confidential grants p may see opened and their
// sealed usage admitted up to i (it waits for the private store to catch
// up, briefly, and answers unavailable if it does not).
func (s *Server) checkView(ctx context.Context, v ledger.CheckView, p *principal, i uint64) (ledger.CheckView, error) {
	if s.private == nil || p == nil {
		return v, nil
	}
	// Only a caller that may see opened terms on this node waits: any
	// other gets the same answer from v alone.
	if !s.private.now.Load().waits(p) {
		return v, nil
	}
	if err := s.private.caughtUp(ctx, i); err != nil {
		return nil, err
	}
	return ledger.WithOpened(v, opener{s, p}), nil
}

// proofView is v as Check should see it for p in an answer that carries
// a proof (GET /v1/check?proof=true). It opens what checkView opens, but
// from v itself with this node's keys (seal.Party) rather than from the
// private store: the sealed usage reports the totals rest on are read
// through v, so the evidence, traced on a replay of the journal, carries
// them, and the decision is the one that a party's key re-derives from
// the evidence (ledger/verify), even while the private store catches up.
func (s *Server) proofView(v *ledger.View, p *principal) ledger.CheckView {
	if s.private == nil {
		return v
	}
	return ledger.WithOpened(v, proofOpener{s: s, p: p, party: seal.NewParty(v, s.cfg.Member, s.cfg.EncryptionKeys...)})
}

// proofOpener opens, for p, what p may see opened on this node (mayOpen),
// from the view the party reads.
type proofOpener struct {
	s     *Server
	p     *principal
	party *seal.Party
}

func (o proofOpener) OpenedTerms(g *ledger.Grant) (*ledger.ConfidentialTerms, bool) {
	if !o.s.mayOpen(o.p, g) {
		return nil, false
	}
	return o.party.OpenedTerms(g)
}

// SealedTotal is asked only of a grant OpenedTerms opened, or of a grant
// in the clear, which has no sealed total.
func (o proofOpener) SealedTotal(grant, period string) (*ledger.UsageTotals, bool) {
	return o.party.SealedTotal(grant, period)
}

// handleGrantGet returns one grant to its parties, auditors and the operator.
func (s *Server) handleGrantGet(w http.ResponseWriter, r *http.Request) {
	var g *ledger.Grant
	err := s.view(w, func(v *ledger.View) (err error) {
		g, err = grant(v, principalOf(r.Context()), mux.Vars(r)["id"])
		return err
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, s.apiGrant(principalOf(r.Context()), g))
}

// handleGrantSealed returns a confidential grant's sealed object, as the
// ledger holds it: the ciphertext every node has, which a party opens
// with its own key (charta grant accept, charta grant disclose).
func (s *Server) handleGrantSealed(w http.ResponseWriter, r *http.Request) {
	var sealed *ledger.Sealed
	err := s.view(w, func(v *ledger.View) error {
		g, err := grant(v, principalOf(r.Context()), mux.Vars(r)["id"])
		if err != nil {
			return err
		}
		if g.Confidential == nil {
			return errorf(ledger.CodeNotFound, "grant %s is not confidential; it has no sealed terms", g.ID)
		}
		sealed = g.Confidential.Sealed
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, sealed)
}

// handleGrantHistory returns a grant's history: offer, acceptance,
// amendments and status changes.
func (s *Server) handleGrantHistory(w http.ResponseWriter, r *http.Request) {
	var out api.List[any]
	err := s.view(w, func(v *ledger.View) error {
		g, err := grant(v, principalOf(r.Context()), mux.Vars(r)["id"])
		if err != nil {
			return err
		}
		out = newList(grantHistory(v, g), "")
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// grantHistory returns a grant's recorded lifecycle events, oldest first.
func grantHistory(v *ledger.View, g *ledger.Grant) []any {
	return toAny(v.GrantHistory(g.ID))
}

func toAny[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// handleGrantAttestations lists where the parties' attestations of a
// confidential grant's statements stand, period by period
// (statement.attest): public to whoever may see the grant, since they
// carry hashes and never amounts.
func (s *Server) handleGrantAttestations(w http.ResponseWriter, r *http.Request) {
	var out []ledger.StatementAttestation
	err := s.view(w, func(v *ledger.View) error {
		g, err := grant(v, principalOf(r.Context()), mux.Vars(r)["id"])
		if err != nil {
			return err
		}
		out = v.StatementAttestations(g.ID)
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, newList(out, ""))
}

// handleGrantStatements computes a grant's statement for every period
// with usage, provisional while the period is open and final after grace.
func (s *Server) handleGrantStatements(w http.ResponseWriter, r *http.Request) {
	var out []*ledger.Statement
	err := s.view(w, func(v *ledger.View) error {
		var err error
		out, err = s.statements(r.Context(), v, principalOf(r.Context()), mux.Vars(r)["id"], r.URL.Query().Get("period"))
		return err
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, newList(out, ""))
}
