package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

func (s *Server) registerProposalRoutes(r *mux.Router) {
	s.handle(r, http.MethodPost, "/v1/proposals", "handleProposalCreate", routeOpts{access: accessSigned}, s.handleProposalCreate)
}

// handleProposalCreate takes a signed envelope: it checks it against the
// current state, then commits it through the leader (forwarding if this
// node is not the leader) and answers with the journaled outcome.
func (s *Server) handleProposalCreate(w http.ResponseWriter, r *http.Request) {
	if free, low := s.disk.state(); low {
		s.writeProblem(w, r, errorf(api.CodeNoSpace, "this node's disk has %d MiB free, under the %d MiB it keeps in reserve; it takes no proposals until space is freed, and still serves reads",
			free>>20, s.cfg.MinFreeBytes>>20).retry(30))
		return
	}
	var limit int
	s.l.View(func(v *ledger.View) error { limit = v.Charter().MaxProposalBytes; return nil })
	body, err := readBody(w, r, int64(limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeProblem(w, r, errorf(ledger.CodeTooLarge, "the envelope is over the charter's limit of %d bytes", limit))
			return
		}
		s.writeProblem(w, r, errorf(ledger.CodeInvalid, "reading the envelope: %v", err))
		return
	}
	// Proposals are rate-limited per signer once their signatures verify,
	// so that junk from an address shared with honest clients cannot hold
	// up their writes. What fails the precheck, and resubmissions (which
	// anyone holding a copy of an envelope can send), are charged to the
	// sender's address. Once an address is out of tokens, an envelope from
	// it is verified only if it names a known key of its signer, and then
	// on a budget of that address and that signer, so that forgeries cost
	// a bounded amount of verification and hold up only the member they
	// claim to be.
	addr := "a:" + clientAddr(r)
	if s.limits.exhausted(addr) {
		claimed := s.claimedSigner(body)
		if claimed == "" {
			wait, _ := s.limits.allow(addr)
			s.refuseRate(w, r, wait)
			return
		}
		if wait, ok := s.limits.allow(addr + "/" + claimed); !ok {
			s.refuseRate(w, r, wait)
			return
		}
	}
	pc, err := s.precheck(body)
	if err != nil && pc.behind {
		pc, err = s.precheckCaughtUp(r, body)
	}
	if err != nil {
		s.limits.allow(addr)
		s.writeProblem(w, r, err)
		return
	}
	charge := "s:" + pc.signer
	if pc.resubmission != nil {
		charge = addr
	}
	if wait, ok := s.limits.allow(charge); !ok {
		s.refuseRate(w, r, wait)
		return
	}
	if pc.resubmission != nil {
		// Already committed: the original result, without a new entry.
		s.respondProposal(w, r, pc.resubmission)
		return
	}
	// The slot is taken only for the commit itself, so that slow uploads
	// cannot hold every slot.
	select {
	case s.inFlight <- struct{}{}:
		s.metrics.inFlight.Inc()
		defer func() { <-s.inFlight; s.metrics.inFlight.Dec() }()
	default:
		s.writeProblem(w, r, errorf(api.CodeRateLimited, "this node is committing %d proposals already; retry shortly", cap(s.inFlight)).retry(1))
		return
	}
	if !s.c.IsLeader() {
		s.forward(w, r, body)
		return
	}
	s.noteWrite(r.Context())
	res, err := s.c.Propose(r.Context(), body, pc.decoded)
	if errors.Is(err, ErrNotLeader) {
		s.forward(w, r, body)
		return
	}
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.respondProposal(w, r, res)
}

// respondProposal answers with a proposal's journaled result.
func (s *Server) respondProposal(w http.ResponseWriter, r *http.Request, res *ledger.Result) {
	s.setIndex(w, max(res.Index, s.l.AppliedIndex()))
	if res.Outcome.Status != ledger.StatusAccepted {
		s.writeProblem(w, r, &rejection{result: res})
		return
	}
	out := api.ProposalResponse{
		Index: res.Index, Seq: res.Seq, EntryHash: res.EntryHash, Outcome: res.Outcome, Duplicate: res.Duplicate,
	}
	if r.URL.Query().Get("receipt") == "true" {
		var err error
		if out.Receipt, err = s.receipt(r.Context(), res.Seq); err != nil {
			s.writeProblem(w, r, err)
			return
		}
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// prechecked is what precheck learned about an envelope it let through
// or refused.
type prechecked struct {
	// resubmission is the recorded result of an exact resubmission of a
	// committed proposal, which the ledger would answer with anyway.
	resubmission *ledger.Result
	// signer is the proposal's signer, once its signatures verified.
	signer string
	// decoded is the envelope as admission decoded it, for the leader's
	// state machine (Consensus.Propose).
	decoded *ledger.Decoded
	// behind is set on a refusal that rests on keys or members this node
	// does not know as valid, which a node behind the leader may not know
	// yet: a signature by a key it does not hold, or a signer that is not
	// an active member here.
	behind bool
}

// precheck fails fast on an envelope the ledger would certainly refuse:
// it runs the ledger's own admission against the current state and
// changes nothing. The ledger still decides when it applies the entry.
// The issued_at window is left to it: it is judged at the entry's own
// ledger time, which this node's view cannot know yet.
func (s *Server) precheck(raw []byte) (prechecked, error) {
	var pc prechecked
	err := s.l.View(func(v *ledger.View) error {
		adm, err := v.Admit(raw, v.LedgerTime())
		var ke *ledger.KeyError
		var se *ledger.SignerError
		var skew *ledger.SkewError
		switch {
		case errors.As(err, &skew):
			pc.signer = adm.Proposal.Signer
			return nil
		case errors.As(err, &ke), errors.As(err, &se):
			pc.behind = true
		case err == nil && adm.Earlier != nil:
			pc.resubmission = adm.Earlier
		}
		if err == nil {
			pc.signer, pc.decoded = adm.Proposal.Signer, adm.Decoded
			if adm.Earlier == nil {
				err = refuseInTheClear(v, adm.Proposal)
			}
		}
		return err
	})
	return pc, err
}

// refuseInTheClear refuses, before it is proposed, a usage or SLA report
// in the clear of a confidential grant. Apply would reject it ("has no
// usage terms"), but the rejected entry would still carry its quantities
// to every node, export and backup; refused here, it is never journaled.
// It is a node's courtesy to honest clients: Apply's outcome is the rule.
func refuseInTheClear(v *ledger.View, p *ledger.Proposal) error {
	if p.Type != "usage.report" && p.Type != "sla.report" {
		return nil
	}
	var b struct {
		Grant        string          `json:"grant"`
		Confidential json.RawMessage `json:"confidential"`
	}
	if json.Unmarshal(p.Body, &b) != nil || len(b.Confidential) > 0 {
		return nil
	}
	if g, ok := v.Grant(b.Grant); ok && g.Confidential != nil {
		return errorf(ledger.CodeInvalid, "body: grant %s is confidential: its reports seal their quantities to %s (body.confidential); this report was not proposed, so nothing of it was journaled",
			g.ID, strings.Join(v.ReportRecipients(g), ", "))
	}
	return nil
}

// claimedSigner returns, cheaply and without verifying anything, the
// signer that raw claims, if it is an envelope whose every signature names
// a key this node holds as valid, one of them the signer's: what an
// honest client's envelope does, and junk does not. Otherwise "".
func (s *Server) claimedSigner(raw []byte) string {
	env, err := ledger.DecodeEnvelope(raw)
	if err != nil || len(env.Signatures) == 0 {
		return ""
	}
	p, err := ledger.DecodePayload(env.Payload)
	if err != nil {
		return ""
	}
	known, signs := true, false
	s.l.View(func(v *ledger.View) error {
		for _, sg := range env.Signatures {
			if _, ok := v.KeyValidNow(sg.KeyID); !ok {
				known = false
			}
			if m, _, _ := ledger.SplitKeyID(sg.KeyID); m == p.Signer {
				signs = true
			}
		}
		return nil
	})
	if !known || !signs {
		return ""
	}
	return p.Signer
}

// precheckCaughtUp runs precheck again once this node has applied the
// leader's commit index, as a linearizable read does. A node's state can
// lag: a follower may not know yet a key whose rotation was acknowledged
// through another node, and refusing on that state would contradict a
// write that completed before this request. If the node cannot catch up,
// the answer is unavailable, and the client resubmits.
func (s *Server) precheckCaughtUp(r *http.Request, body []byte) (prechecked, error) {
	deadline := time.Now().Add(s.cfg.MaxWait)
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	idx, err := s.readIndex(ctx, r)
	if err != nil {
		return prechecked{}, err
	}
	if err := s.waitApplied(r.Context(), deadline, idx); err != nil {
		return prechecked{}, err
	}
	return s.precheck(body)
}
