package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/charta/charta/node/client"
)

// W3: governance ballots and key rotation.
//
// Ballots b-0, b-1, ... amend the charter's max_batch (harmless: the
// workloads never batch) and are opened, voted on and read by the genesis
// members. Every third ballot expires: only the first member opens it, the
// second always votes no, and the others vote only once its deadline has
// passed, so it stays open until then and those votes must be refused.
//
// Key rotation runs on auditors admitted for it at setup (rot-0, ...):
// auditors do not vote, so they leave the threshold alone, and no other
// client signs with their keys. Their key generations are derived from the
// seed; they rotate from generation k to k+1 (signed by both), write
// (token.register) signed with some generation, and are read back.

// rotator returns the ID of the i-th rotating member.
func rotator(i int) string { return "rot-" + strconv.Itoa(i) }

func ballotID(i int) string { return "b-" + strconv.Itoa(i) }

// expiring reports whether ballot i is one that is left to expire.
func expiring(i int) bool { return i%3 == 2 }

// rotSigner returns member's signer of key generation gen, derived from
// the seed, so that a run can be repeated.
func rotSigner(seed uint64, member string, gen int) ledger.Signer {
	h := sha256.New()
	h.Write([]byte("charta chaos rotation key v1\x00"))
	h.Write(binary.BigEndian.AppendUint64(nil, seed))
	h.Write([]byte(member + "\x00"))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(gen)))
	k, err := ledger.NewKeyFromSeed(ledger.SchemeEd25519, h.Sum(nil))
	if err != nil {
		panic("chaos: rotation key: " + err.Error()) // a fixed-size seed never fails
	}
	return ledger.NewSigner(member, k)
}

// governance is W3's shared state.
type governance struct {
	voters    []string    // the genesis members, sorted
	deadlines []time.Time // per ballot
	charter   ledger.Charter
	// gens is, per rotator, the newest generation seen current, which the
	// clients aim their rotations and writes at.
	gens []atomic.Int64
}

// storeMax raises a to v if v is greater.
func storeMax(a *atomic.Int64, v int64) {
	for old := a.Load(); v > old && !a.CompareAndSwap(old, v); old = a.Load() {
	}
}

// setupGovernance admits the rotating auditors and fixes the ballots'
// deadlines, the expiring ones a few seconds into the run.
func setupGovernance(ctx context.Context, c *Cluster, cfg WorkloadConfig) (*governance, error) {
	g := &governance{voters: c.IDs(), charter: c.Genesis.Charter, gens: make([]atomic.Int64, cfg.Rotators)}
	for i := range cfg.Rotators {
		m := rotator(i)
		params := ledger.AdmitParams{Member: m, Role: ledger.RoleAuditor, Keys: []ledger.PublicKey{rotSigner(cfg.Seed, m, 0).Key.Public()}}
		if err := c.ballot(ctx, "admit-"+m, "member.admit", params); err != nil {
			return nil, fmt.Errorf("chaos: admitting rotator %s: %w", m, err)
		}
	}
	start := time.Now()
	for i := range cfg.Ballots {
		d := start.Add(time.Hour)
		if expiring(i) {
			d = start.Add(3*time.Second + time.Duration(i)*250*time.Millisecond)
		}
		g.deadlines = append(g.deadlines, d.UTC().Truncate(time.Millisecond))
	}
	return g, nil
}

// governanceOp runs one W3 operation chosen with rng.
func (w *Workload) governanceOp(ctx context.Context, rng *rand.Rand, clients map[string]*client.Client, k, node int) {
	if w.cfg.Rotators > 0 && (w.cfg.Ballots == 0 || rng.IntN(2) == 0) {
		w.keyOp(ctx, rng, clients[w.gov.voters[0]], k, node, rng.IntN(w.cfg.Rotators))
		return
	}
	b := rng.IntN(w.cfg.Ballots)
	m := w.gov.voters[rng.IntN(len(w.gov.voters))]
	op := Op{Client: k, Key: "ballot/" + ballotID(b), Node: node, Member: m, Deadline: w.gov.deadlines[b]}
	r := rng.IntN(10)
	if expiring(b) {
		// Only the first voter opens it, the second votes no, the others
		// vote after the deadline; otherwise read it.
		switch {
		case r < 2 && m == w.gov.voters[0]:
		case r >= 2 && r < 6 && m != w.gov.voters[0] && (m == w.gov.voters[1] || time.Now().After(op.Deadline)):
		default:
			r = 9
		}
	}
	switch {
	case r < 2:
		op.Kind = "ballot.open"
		cp := w.gov.charter
		cp.MaxBatch = 500 + b
		params, _ := json.Marshal(ledger.CharterParams{Charter: cp})
		w.propose(ctx, clients[m], op, "ballot.open", ledger.BallotOpenBody{ID: ballotID(b), Action: "charter.amend",
			Params: params, Deadline: op.Deadline, Reason: "chaos W3"})
	case r < 6:
		op.Kind = "ballot.vote"
		op.Approve = rng.IntN(3) > 0 && !(expiring(b) && m == w.gov.voters[1])
		w.propose(ctx, clients[m], op, "ballot.vote", ledger.BallotVoteBody{Ballot: ballotID(b), Approve: op.Approve})
	default:
		op.Kind, op.Member = "ballot.read", ""
		w.readBallot(ctx, clients[m], op, ballotID(b))
	}
}

// keyOp runs one key operation on rotator r: a rotation or a write signed
// with a generation near the newest known one, or a read.
func (w *Workload) keyOp(ctx context.Context, rng *rand.Rand, cl *client.Client, k, node, r int) {
	m := rotator(r)
	op := Op{Client: k, Key: "key/" + m, Node: node}
	gen := int(w.gov.gens[r].Load())
	switch d := rng.IntN(20); {
	case d < 3 && gen > 0:
		gen--
	case d >= 17:
		gen++
	}
	op.Gen = gen
	old, next := rotSigner(w.cfg.Seed, m, gen), rotSigner(w.cfg.Seed, m, gen+1)
	switch x := rng.IntN(10); {
	case x < 3:
		op.Kind = "key.rotate"
		if w.propose(ctx, cl, op, "key.rotate", ledger.KeyRotate{Old: old.KeyID, New: next.Key.Public()}, old, next) == OK {
			storeMax(&w.gov.gens[r], int64(gen+1))
		}
	case x < 7:
		op.Kind = "key.write"
		tok := ledger.HashToken(client.NewToken())
		w.propose(ctx, cl, op, "token.register", ledger.TokenRegister{Hash: tok, Scopes: []string{"read"},
			ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}, old)
	default:
		op.Kind, op.Gen, op.Call = "key.read", 0, time.Now()
		octx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
		mem, err := cl.Member(octx, m, client.Consistency("linearizable"))
		cancel()
		op.Return = time.Now()
		op.Outcome = NoAnswer
		if err != nil {
			op.Err = err.Error()
		} else if g := len(mem.Keys) - 1; g < 0 || mem.Keys[g] != rotSigner(w.cfg.Seed, m, g).KeyID {
			op.Err = fmt.Sprintf("the keys %v do not end with generation %d's", mem.Keys, g)
		} else {
			op.Outcome, op.Gen = OK, g
			storeMax(&w.gov.gens[r], int64(g))
		}
		w.record(op)
	}
}

// readBallot reads a ballot at consistency=linearizable into op.
func (w *Workload) readBallot(ctx context.Context, cl *client.Client, op Op, id string) {
	op.Call = time.Now()
	octx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	b, err := cl.Ballot(octx, id, client.Consistency("linearizable"))
	cancel()
	op.Return = time.Now()
	switch {
	case errors.Is(err, client.ErrNotFound):
		op.Outcome, op.Status = OK, "none"
	case err != nil:
		op.Outcome, op.Err = NoAnswer, err.Error()
	default:
		op.Outcome, op.Status = OK, b.Status
		for i, v := range b.Votes {
			if i > 0 {
				op.Votes += ","
			}
			op.Votes += v.Member + map[bool]string{true: ":y", false: ":n"}[v.Approve]
		}
	}
	w.record(op)
}

// propose signs body with signers (the client's own if none), submits it,
// records op with its outcome, and returns the outcome. A 4xx problem
// without a journal entry is Refused; a journaled rejection is Failed.
func (w *Workload) propose(ctx context.Context, cl *client.Client, op Op, typ string, body any, signers ...ledger.Signer) Outcome {
	op.ID = fmt.Sprintf("c%d-%d", op.Client, w.seq.Add(1))
	op.Call = time.Now()
	octx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	e, err := cl.Sign(octx, typ, op.ID, body, signers...)
	var res *ledger.Result
	if err == nil {
		res, err = cl.Submit(octx, e.Encode())
	}
	cancel()
	op.Return = time.Now()
	op.Outcome, op.Rejected, op.Err = classify(err)
	if op.Outcome == OK || op.Outcome == Failed {
		op.Index = res.Index
	}
	if op.Outcome == OK {
		w.lastOK.Store(op.Return.UnixNano())
		w.adv.remember(e, res.Index)
	}
	w.record(op)
	return op.Outcome
}

// classify turns a proposal's error into an outcome, the rejection code,
// and the message.
func classify(err error) (Outcome, string, string) {
	var ce *client.Error
	switch {
	case err == nil:
		return OK, "", ""
	case errors.As(err, &ce) && ce.Outcome != nil && ce.Outcome.Status == ledger.StatusRejected:
		return Failed, string(ce.Outcome.Code), ce.Outcome.Message
	case errors.As(err, &ce) && ce.Index == 0 && ce.Status >= 400 && ce.Status < 500 && ce.Status != 429 && !ce.Resubmit,
		errors.As(err, &ce) && ce.Code == api.CodeNoSpace: // the disk guard answers before anything is proposed
		return Refused, string(ce.Code), ce.Detail
	}
	return Ambiguous, "", err.Error()
}

// record counts and records an operation.
func (w *Workload) record(op Op) {
	w.ops.Add(1)
	w.History.Add(op)
}
