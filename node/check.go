package node

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

func (s *Server) registerCheckRoutes(r *mux.Router) {
	s.handle(r, http.MethodGet, "/v1/check", "handleCheck", read, s.handleCheck)
	s.handle(r, http.MethodPost, "/v1/check", "handleCheckBatch", read, s.handleCheckBatch)
}

// toCheckRequest is the one place that maps the API's question onto
// ledger.CheckRequest. The time defaults to now: the consortium's time
// (see Server.checkTime), or ledger time for a question about the past.
func toCheckRequest(q api.CheckQuery, now time.Time) (ledger.CheckRequest, error) {
	at := q.At
	if at.IsZero() {
		at = now
	}
	if q.Quantity > 1<<53 {
		return ledger.CheckRequest{}, errorf(ledger.CodeInvalid, "quantity: %d is too large", q.Quantity)
	}
	return ledger.CheckRequest{
		Member:    q.Member,
		Asset:     q.Asset,
		Action:    ledger.Right(q.Action),
		At:        at.UTC(),
		Territory: q.Territory,
		Purpose:   q.Purpose,
		Industry:  q.Industry,
		Quantity:  int64(q.Quantity),
	}, nil
}

// checkQueryFrom reads a question from query parameters.
func checkQueryFrom(v url.Values) (api.CheckQuery, error) {
	q := api.CheckQuery{
		Member: v.Get("member"), Asset: v.Get("asset"), Action: v.Get("action"),
		Territory: v.Get("territory"), Purpose: v.Get("purpose"), Industry: v.Get("industry"),
	}
	if at := v.Get("at"); at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return q, errorf(ledger.CodeInvalid, "at: %q is not an RFC 3339 time", at)
		}
		q.At = t
	}
	if n := v.Get("quantity"); n != "" {
		x, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return q, errorf(ledger.CodeInvalid, "quantity: %q is not a non-negative integer", n)
		}
		q.Quantity = x
	}
	return q, nil
}

// authorizeCheck fills in the member and checks that the caller may ask:
// a member about itself or about assets it owns; auditors and the
// operator about anyone. A decision names grants, so it is not for anyone
// else to see.
func authorizeCheck(v interface {
	Asset(string) (*ledger.Asset, bool)
}, p *principal, q *api.CheckQuery, field string) error {
	if q.Member == "" {
		if p.operator {
			return errorf(ledger.CodeInvalid, "%smember: required", field)
		}
		q.Member = p.member
	}
	switch {
	case q.Asset == "":
		return errorf(ledger.CodeInvalid, "%sasset: required", field)
	case q.Action == "":
		return errorf(ledger.CodeInvalid, "%saction: required", field)
	case !ledger.Right(q.Action).Valid():
		return errorf(ledger.CodeInvalid, "%saction: %q is not a right (%v)", field, q.Action, ledger.Rights)
	}
	if p.seesAll() || q.Member == p.member {
		return nil
	}
	a, ok := v.Asset(q.Asset)
	if !ok {
		// Assets are public (every member sees the registry), so saying
		// that one does not exist reveals nothing.
		return errorf(ledger.CodeNotFound, "%sasset: no asset %q", field, q.Asset)
	}
	if a.OwnedBy(p.member) {
		return nil
	}
	return errorf(ledger.CodeForbidden, "%smember: %s may ask only about itself or about assets it owns", field, p.member)
}

// handleCheck answers one entitlement question with the ledger's decision.
// With proof=true the answer is a proof-carrying check (ledger/verify's
// CheckProof): the decision, the journal entries it rests on with their
// inclusion proofs, and the cosigned checkpoint they are proven against.
// On a party's node, the decision about a confidential grant that the
// caller may see opened applies its sealed terms and hard caps, and the
// entries include the sealed usage reports the caps rest on (proofView):
// a party's key re-derives it offline.
// With as_of_index=N the question is answered as the ledger stood at Raft
// index N, by replaying the journal up to N into a temporary ledger.
func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) {
	vals := r.URL.Query()
	q, err := checkQueryFrom(vals)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	withProof, err := boolValue(vals, "proof")
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	asOf, err := uintValue(vals, "as_of_index", 0)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if withProof && asOf > 0 {
		s.writeProblem(w, r, errorf(ledger.CodeInvalid, "proof and as_of_index: a proof is made against the newest checkpoint only; ask one or the other"))
		return
	}
	if withProof || asOf > 0 {
		if !s.heavyStart(w, r) {
			return
		}
		defer s.heavyDone()
	}
	if !withProof && asOf == 0 {
		// The in-memory index alone: no read transaction, no decoding, no
		// lock. It is published before the applied index moves, so it is
		// never behind what the consistency level waited for.
		ix, _, applied := s.l.Entitlements()
		s.setIndex(w, applied)
		p := principalOf(r.Context())
		cv, err := s.checkView(r.Context(), ix, p, applied)
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		d, err := checkIndexed(cv, s.checkTime(), p, &q)
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		d.Index = applied
		s.writeJSON(w, r, http.StatusOK, (*decisionJSON)(&d))
		return
	}
	var (
		d    ledger.Decision
		req  ledger.CheckRequest
		size uint64
	)
	err = s.view(w, func(v *ledger.View) error {
		if err := authorizeCheck(v, principalOf(r.Context()), &q, ""); err != nil {
			return err
		}
		if asOf > 0 {
			if asOf > v.AppliedIndex() {
				return errorf(ledger.CodeInvalid, "as_of_index: %d is beyond this node's applied index %d", asOf, v.AppliedIndex())
			}
			return nil
		}
		var err error
		if req, err = toCheckRequest(q, s.checkTime()); err != nil {
			return err
		}
		d, err = ledger.Check(s.proofView(v, principalOf(r.Context())), req)
		d.Index = v.AppliedIndex()
		size = v.Head().Size
		return err
	})
	if err == nil && asOf > 0 {
		err = s.asOf(asOf, func(v *ledger.View) error {
			var err error
			if req, err = toCheckRequest(q, v.LedgerTime()); err != nil {
				return err
			}
			// A past state: the sealed reports are read from it (proofView),
			// not from the private store, which is at the present.
			d, err = ledger.Check(s.proofView(v, principalOf(r.Context())), req)
			d.Index = asOf
			return err
		})
	}
	var cp verify.CheckProof
	if err == nil && withProof {
		cp = verify.CheckProof{Format: verify.CheckProofFormat, Request: req, Decision: d}
		cp.Evidence, err = s.evidence(r.Context(), size, func(v *ledger.View) error {
			_, err := ledger.Check(s.proofView(v, principalOf(r.Context())), req)
			return err
		})
	}
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if withProof {
		s.writeJSON(w, r, http.StatusOK, cp)
		return
	}
	s.writeJSON(w, r, http.StatusOK, (*decisionJSON)(&d))
}

// heavyStart takes one of the node's few slots for work that replays the
// journal (proofs, evidence, past states), or answers rate_limited and
// returns false. heavyDone gives the slot back.
func (s *Server) heavyStart(w http.ResponseWriter, r *http.Request) bool {
	select {
	case s.heavy <- struct{}{}:
		return true
	default:
		s.writeProblem(w, r, errorf(api.CodeRateLimited, "this node is already building proofs or past states; retry shortly").retry(1))
		return false
	}
}

func (s *Server) heavyDone() { <-s.heavy }

// checkIndexed answers one question from the check index ix, for
// principal p, at time now unless the question names one.
func checkIndexed(ix ledger.CheckView, now time.Time, p *principal, q *api.CheckQuery) (ledger.Decision, error) {
	if err := authorizeCheck(ix, p, q, ""); err != nil {
		return ledger.Decision{}, err
	}
	req, err := toCheckRequest(*q, now)
	if err != nil {
		return ledger.Decision{}, err
	}
	return ledger.Check(ix, req)
}

// boolValue reads an optional true/false query parameter.
func boolValue(q url.Values, name string) (bool, error) {
	switch v := q.Get(name); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, errorf(ledger.CodeInvalid, "%s: %q is not true or false", name, v)
	}
}

// handleCheckBatch answers up to the charter's MaxBatch questions against
// one view of the state.
func (s *Server) handleCheckBatch(w http.ResponseWriter, r *http.Request) {
	var req api.CheckBatch
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var out api.CheckBatchResponse
	err := s.view(w, func(v *ledger.View) error {
		if n, max := len(req.Requests), v.Charter().MaxBatch; n > max {
			return errorf(ledger.CodeTooLarge, "requests: %d questions is over the charter's batch limit of %d", n, max)
		}
		if len(req.Requests) == 0 {
			return errorf(ledger.CodeInvalid, "requests: at least one question is required")
		}
		p := principalOf(r.Context())
		ix, _, applied := s.l.Entitlements()
		ix, err := s.checkView(r.Context(), ix, p, applied)
		if err != nil {
			return err
		}
		now := s.checkTime()
		out.Decisions = make([]ledger.Decision, len(req.Requests))
		for i := range req.Requests {
			q := &req.Requests[i]
			if err := authorizeCheck(ix, p, q, "requests["+strconv.Itoa(i)+"]."); err != nil {
				return err
			}
			req, err := toCheckRequest(*q, now)
			if err != nil {
				return err
			}
			d, err := ledger.Check(ix, req)
			if err != nil {
				return err
			}
			d.Index = applied
			out.Decisions[i] = d
		}
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, batchJSON(out))
}
