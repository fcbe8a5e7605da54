package chaos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// W4: an adversarial client beside the honest ones. Through the API it
// sends forged signatures of other members, replays of accepted
// proposals, same-ID-different-body conflicts, proposals with an issued_at
// far outside the window, oversized envelopes, proposals for another
// consortium and malformed JSON. Each is recorded (kind adv.*, key "adv",
// outside every model) with the code its refusal must carry; the honest
// models then show that none of them had an effect, and CheckAdversary
// that each was refused with that code and journaled as it should be.

// accepted is an honest proposal that was accepted, kept for replays.
type accepted struct {
	envelope []byte
	index    uint64
	p        *ledger.Proposal
}

// adversary is W4's state: the accepted proposals it may replay.
type adversary struct {
	mu   sync.Mutex
	seen []accepted // a ring of the latest
	next int
}

const adversaryRing = 256

// remember keeps an accepted envelope for replays.
func (a *adversary) remember(e *ledger.Envelope, index uint64) {
	if a == nil {
		return
	}
	p, err := ledger.DecodePayload(e.Payload)
	if err != nil {
		return
	}
	x := accepted{envelope: e.Encode(), index: index, p: p}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) < adversaryRing {
		a.seen = append(a.seen, x)
	} else {
		a.seen[a.next] = x
		a.next = (a.next + 1) % adversaryRing
	}
}

// pick returns a remembered proposal, preferring genesis members' when
// genesisOnly is set.
func (a *adversary) pick(rng *rand.Rand, genesisOnly func(string) bool) (accepted, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range 8 {
		if len(a.seen) == 0 {
			return accepted{}, false
		}
		x := a.seen[rng.IntN(len(a.seen))]
		if genesisOnly == nil || genesisOnly(x.p.Signer) {
			return x, true
		}
	}
	return accepted{}, false
}

// adversaryLoop runs the adversarial client until ctx ends or MaxOps
// operations ran, round the nodes.
func (w *Workload) adversaryLoop(ctx context.Context, k int) error {
	rng := rand.New(rand.NewPCG(w.cfg.Seed, 0xad7e55a7+uint64(k)))
	// One attempt per attack, no retries: a retry after an ambiguous
	// answer (the leader killed mid-forward) is a second attack that may
	// be journaled a second time (a conflicting body cannot be remembered
	// under the ID it conflicts with), and the history would not show it.
	// An attack without an answer is recorded as ambiguous.
	noRetry := client.RetryPolicy{}
	var nodes []*client.Client
	for i := range w.c.Nodes {
		tok, err := w.c.OperatorToken(i)
		if err != nil {
			return err
		}
		cl, err := w.c.Client(i, w.c.IDs()[0], tok, client.WithRetry(noRetry))
		if err != nil {
			return err
		}
		nodes = append(nodes, cl)
	}
	for n := k; ctx.Err() == nil; n++ {
		if w.cfg.MaxOps > 0 && w.ops.Load() >= int64(w.cfg.MaxOps) {
			return nil
		}
		node := n % len(nodes)
		if w.attack(ctx, rng, nodes[node], k, node) == Ambiguous {
			// Without retries, an attack during an election or over the
			// rate limit is unanswered at once; pause as a retrying
			// client would, so that such attacks do not use up the
			// scenario's operations.
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

// attack sends one adversarial request, records it and returns its outcome.
func (w *Workload) attack(ctx context.Context, rng *rand.Rand, cl *client.Client, k, node int) Outcome {
	ids := w.c.IDs()
	victim, attacker := ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]
	op := Op{Client: k, Key: "adv", Node: node}
	n := w.seq.Add(1)
	p := ledgerProposal(w.c.Genesis.ID(), victim, "pool.consume", fmt.Sprintf("adv-%d-%d", k, n),
		ledger.PoolConsume{Pool: poolID(rng.IntN(w.cfg.Pools)), Amount: 1})
	var env []byte
	switch r := rng.IntN(100); {
	case r < 20: // a forged signature: the attacker's key under the victim's key ID, or the victim named as signer
		op.Kind, op.Expect = "adv.forge", string(ledger.CodeUnauthorized)
		if attacker == victim {
			attacker = ids[(slicesIndex(ids, victim)+1)%len(ids)]
		}
		e := mustSign(p, w.c.Signer(attacker))
		if rng.IntN(2) == 0 {
			e.Signatures[0].KeyID = w.c.Signer(victim).KeyID
		}
		env = e.Encode()
	case r < 45: // a replay of an accepted proposal: the original result, no second effect
		x, ok := w.adv.pick(rng, nil)
		if !ok {
			return NoAnswer
		}
		op.Kind, op.ID, op.Orig, env = "adv.replay", x.p.ID, x.index, x.envelope
	case r < 60: // the same signer and ID with another body, unique to this attack
		x, ok := w.adv.pick(rng, func(m string) bool { return slicesIndex(ids, m) >= 0 })
		if !ok {
			return NoAnswer
		}
		op.Kind, op.Expect = "adv.conflict", string(ledger.CodeConflict)
		q := *x.p
		q.Body = fmt.Appendf(nil, `{"adv":%d`, n)
		if rest := bytes.TrimPrefix(x.p.Body, []byte("{")); !bytes.HasPrefix(rest, []byte("}")) {
			q.Body = append(q.Body, ',')
		}
		q.Body = append(q.Body, bytes.TrimPrefix(x.p.Body, []byte("{"))...)
		env = mustSign(&q, w.c.Signer(q.Signer)).Encode()
	case r < 75: // issued_at an hour before or after ledger time
		op.Kind, op.Expect = "adv.stale", string(ledger.CodeRejected)
		p.IssuedAt = p.IssuedAt.Add(time.Duration(1-2*rng.IntN(2)) * time.Hour)
		env = mustSign(p, w.c.Signer(victim)).Encode()
	case r < 85: // another consortium's proposal
		op.Kind, op.Expect = "adv.consortium", string(ledger.CodeInvalid)
		p.Consortium = strings.Repeat("ab", 32)
		env = mustSign(p, w.c.Signer(victim)).Encode()
	case r < 95:
		op.Kind, op.Expect = "adv.malformed", string(ledger.CodeInvalid)
		env = malformed(rng, mustSign(p, w.c.Signer(victim)).Encode())
	default: // an envelope over the charter's 1 MiB limit
		op.Kind, op.Expect = "adv.oversize", string(ledger.CodeTooLarge)
		env = append([]byte(`{"payloadType":"`+ledger.PayloadType+`","payload":"`), bytes.Repeat([]byte("QUFB"), 300_000)...)
		env = append(env, `","signatures":[]}`...)
	}
	h := sha256.Sum256(env)
	op.Envelope = hex.EncodeToString(h[:])
	op.Call = time.Now()
	octx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	res, err := cl.Submit(octx, env)
	cancel()
	op.Return = time.Now()
	op.Outcome, op.Rejected, op.Err = classify(err)
	if res != nil {
		op.Index, op.Duplicate = res.Index, res.Duplicate
	}
	w.record(op)
	return op.Outcome
}

// malformed returns one of several malformed envelopes derived from a
// well-formed one.
func malformed(rng *rand.Rand, good []byte) []byte {
	switch rng.IntN(6) {
	case 0:
		return good[:len(good)/2] // truncated
	case 1:
		return []byte(`[]`)
	case 2:
		return bytes.Replace(good, []byte(`"payloadType":"`), []byte(`"payloadType":7,"x":"`), 1) // a wrong type
	case 3:
		return bytes.Replace(good, []byte(`{"payloadType"`), []byte(`{"extra":true,"payloadType"`), 1) // an unknown field
	case 4:
		return bytes.Replace(good, []byte(`"payload":"`), []byte(`"payload":"!!`), 1) // bad base64
	}
	return append(good, good...) // trailing data
}

func ledgerProposal(consortium, signer, typ, id string, body any) *ledger.Proposal {
	raw, _ := jsonMarshal(body)
	return &ledger.Proposal{V: 1, Consortium: consortium, ID: id, Type: typ, Signer: signer, IssuedAt: time.Now().UTC(), Body: raw}
}

func mustSign(p *ledger.Proposal, s ledger.Signer) *ledger.Envelope {
	e, err := ledger.Sign(p, s)
	if err != nil {
		panic("chaos: sign: " + err.Error()) // the harness built a bad proposal
	}
	return e
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// CheckAdversary checks W4's operations against a node's journal: every
// adversarial request but a replay was refused with the code it must
// carry (by the API, or as a journaled rejection) and never accepted; a
// replay answered the original's index, marked as a duplicate, and added
// no entry.
func CheckAdversary(ops []Op, entries []ledger.Entry, who string) error {
	type count struct{ accepted, rejected int }
	byHash := map[string]*count{}
	codes := map[string]ledger.Code{}
	for _, e := range entries {
		h := sha256.Sum256(e.Envelope)
		k := hex.EncodeToString(h[:])
		if byHash[k] == nil {
			byHash[k] = &count{}
		}
		if e.Outcome.Status == ledger.StatusAccepted {
			byHash[k].accepted++
		} else {
			byHash[k].rejected++
			codes[k] = e.Outcome.Code
		}
	}
	var errs []error
	for _, op := range ops {
		if !strings.HasPrefix(op.Kind, "adv.") || len(errs) > 10 {
			continue
		}
		c := byHash[op.Envelope]
		if c == nil {
			c = &count{}
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("chaos: %s: %s at %s: %s", who, op.Kind, op.Call.Format("15:04:05.000"), fmt.Sprintf(format, args...)))
		}
		if op.Kind == "adv.replay" {
			if c.accepted != 1 || c.rejected != 0 {
				bad("the replayed envelope of %s is in the journal %d times accepted, %d rejected", op.ID, c.accepted, c.rejected)
			}
			if op.Outcome == OK && (!op.Duplicate || op.Index != op.Orig) {
				bad("answered index %d duplicate %v, want the original's index %d", op.Index, op.Duplicate, op.Orig)
			}
			if op.Outcome == Failed || op.Outcome == Refused {
				bad("refused (%s: %s), want the original result", op.Rejected, op.Err)
			}
			continue
		}
		if c.accepted > 0 {
			bad("accepted into the journal")
		}
		switch op.Outcome {
		case OK:
			bad("accepted")
		case Failed:
			if op.Rejected != op.Expect || c.rejected != 1 || codes[op.Envelope] != ledger.Code(op.Expect) {
				bad("journaled rejection %s (%d entries), want exactly one with %s", op.Rejected, c.rejected, op.Expect)
			}
		case Refused:
			if op.Rejected != op.Expect || c.rejected != 0 {
				bad("refused with %s (%d journal entries), want %s and none", op.Rejected, c.rejected, op.Expect)
			}
		case Ambiguous:
			if c.rejected > 1 {
				bad("in the journal %d times", c.rejected)
			}
		}
	}
	return errors.Join(errs...)
}

// adversarialEnvelopes returns the envelope hashes of the adversarial
// requests that are not replays, whose journal entries (a conflict reuses
// an honest signer and ID) CheckDurable must not count for honest ones.
func adversarialEnvelopes(ops []Op) map[string]bool {
	out := map[string]bool{}
	for _, op := range ops {
		if strings.HasPrefix(op.Kind, "adv.") && op.Kind != "adv.replay" {
			out[op.Envelope] = true
		}
	}
	return out
}
