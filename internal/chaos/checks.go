package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
	"github.com/charta/charta/node/client"
)

// Journal reads node i's whole journal with its operator token.
func (c *Cluster) Journal(ctx context.Context, i int) ([]ledger.Entry, error) {
	tok, err := c.OperatorToken(i)
	if err != nil {
		return nil, err
	}
	cl, err := client.New(c.Nodes[i].API, client.WithToken(tok))
	if err != nil {
		return nil, err
	}
	var out []ledger.Entry
	from := uint64(0)
	for {
		items, next, err := cl.Journal(ctx, from, 1000)
		if err != nil {
			return nil, fmt.Errorf("chaos: journal of %s from %d: %w", c.Nodes[i].ID, from, err)
		}
		for _, e := range items {
			if e.Seq == uint64(len(out)) {
				out = append(out, e)
			}
		}
		if next == "" || len(items) == 0 {
			return out, nil
		}
		from = uint64(len(out))
	}
}

// WaitConverged waits until every running node reports the same applied
// index, journal head and state digest, and returns that status.
func (c *Cluster) WaitConverged(ctx context.Context, d time.Duration) (*client.Status, error) {
	deadline := time.Now().Add(d)
	var last []string
	for {
		var first *client.Status
		same := true
		last = last[:0]
		for i, n := range c.Nodes {
			s, err := c.Status(ctx, i)
			if err != nil {
				same = false
				last = append(last, fmt.Sprintf("%s: %v", n.ID, err))
				continue
			}
			last = append(last, fmt.Sprintf("%s: %s applied %d head %d/%s digest %s", n.ID, s.Role, s.AppliedIndex, s.JournalHead.Size, s.JournalHead.Root, s.StateDigest))
			if first == nil {
				first = s
			} else if s.AppliedIndex != first.AppliedIndex || s.JournalHead != first.JournalHead || s.StateDigest != first.StateDigest {
				same = false
			}
		}
		if same && first != nil {
			return first, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("chaos: the nodes did not converge within %v: %v", d, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// VerifyJournal checks a journal: each entry's hash, the chain of
// previous hashes, and a replay from genesis into a fresh ledger that must
// reproduce every entry hash, the Merkle root and the state digest want.
func VerifyJournal(g *ledger.Genesis, entries []ledger.Entry, want *client.Status, tmp string) error {
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	l, done, err := verify.Scratch(tmp, g)
	if err != nil {
		return err
	}
	defer done()
	var next uint64
	var prev ledger.Hash
	err = verify.Replay(l, verify.Entries(entries), verify.Hooks{
		Before: func(e *ledger.Entry) error {
			i := next
			next++
			if e.Seq != i {
				return fmt.Errorf("chaos: journal entry %d has seq %d", i, e.Seq)
			}
			if err := e.VerifyHash(); err != nil {
				return fmt.Errorf("chaos: journal entry %d: %w", i, err)
			}
			if i > 0 && e.PrevHash != prev {
				return fmt.Errorf("chaos: journal entry %d: prev_hash %s, the entry before has %s", i, e.PrevHash, prev)
			}
			prev = e.Hash
			return nil
		},
		After: func(e *ledger.Entry, r *ledger.Result) error {
			if e.Seq > 0 && (r == nil || r.EntryHash != e.Hash) {
				return fmt.Errorf("chaos: journal entry %d (index %d) does not replay to its hash", e.Seq, e.Index)
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	var head ledger.Head
	var digest ledger.Hash
	l.View(func(v *ledger.View) error { head, digest = v.Head(), v.Digest(); return nil })
	if want != nil && (head != want.JournalHead || digest != want.StateDigest) {
		return fmt.Errorf("chaos: the replay gives head %d/%s digest %s; the node reports %d/%s digest %s",
			head.Size, head.Root, digest, want.JournalHead.Size, want.JournalHead.Root, want.StateDigest)
	}
	return nil
}

// CheckDurable checks, for proposal IDs unique in the history, that every write with a known outcome appears exactly
// once in the journal, with that outcome, a refused one never, and an ambiguous one at most once. The adversarial
// requests of W4 are left to CheckAdversary, and their entries are not counted for the honest proposals they imitate.
func CheckDurable(ops []Op, entries []ledger.Entry, who string) error {
	adv := adversarialEnvelopes(ops)
	seen := map[string][]ledger.Outcome{}
	for _, e := range entries {
		if h := sha256.Sum256(e.Envelope); len(adv) > 0 && adv[hex.EncodeToString(h[:])] {
			continue
		}
		if e.Outcome.ID != "" {
			seen[e.Outcome.ID] = append(seen[e.Outcome.ID], e.Outcome)
		}
	}
	var errs []error
	for _, op := range ops {
		if op.ID == "" || strings.HasPrefix(op.Kind, "adv.") {
			continue
		}
		found := seen[op.ID]
		switch op.Outcome {
		case Refused:
			// The client retries an identical envelope after a lost
			// answer; an earlier attempt that a leader committed before
			// it failed can be in the journal, rejected for the same
			// reason the retry was refused (a rejection that verified no
			// signature is not remembered, so the retry is prechecked
			// again). It had no effect either way; an accepted one would.
			if len(found) > 1 || len(found) == 1 && (found[0].Status != ledger.StatusRejected || string(found[0].Code) != op.Rejected) {
				errs = append(errs, fmt.Errorf("chaos: %s: %s %s was refused (%s) but is in the journal %d times (%v)", who, op.Kind, op.ID, op.Rejected, len(found), found))
			}
		case OK, Failed:
			want := ledger.StatusAccepted
			if op.Outcome == Failed {
				want = ledger.StatusRejected
			}
			if len(found) != 1 || found[0].Status != want {
				errs = append(errs, fmt.Errorf("chaos: %s: %s %s (%s) is in the journal %d times (%v)", who, op.Kind, op.ID, op.Outcome, len(found), found))
			}
		case Ambiguous:
			if len(found) > 1 {
				errs = append(errs, fmt.Errorf("chaos: %s: ambiguous %s %s is in the journal %d times", who, op.Kind, op.ID, len(found)))
			}
		}
		if len(errs) > 10 {
			break
		}
	}
	return errors.Join(errs...)
}

// CheckPools checks that no member's use of a pool exceeds its quota, and
// that the use lies between the accepted consumes and those plus the
// ambiguous ones.
func (w *Workload) CheckPools(ctx context.Context) error {
	cl, err := w.c.Client(0, "alpha", "")
	if err != nil {
		return err
	}
	ops := w.History.Ops()
	var errs []error
	for p := 0; p < w.cfg.Pools; p++ {
		u, err := cl.PoolUsage(ctx, poolID(p), client.Consistency("linearizable"))
		if err != nil {
			return err
		}
		for _, mu := range u.Members {
			key := poolID(p) + "/" + mu.Member
			var lo, hi int64
			for _, op := range ops {
				if op.Key == key && op.Kind == "consume" {
					switch op.Outcome {
					case OK:
						lo += op.Amount
						hi += op.Amount
					case Ambiguous:
						hi += op.Amount
					}
				}
			}
			if mu.Used > mu.Quota || mu.Remaining < 0 {
				errs = append(errs, fmt.Errorf("chaos: pool %s is overdrawn by %s: used %d of quota %d", poolID(p), mu.Member, mu.Used, mu.Quota))
			}
			if mu.Used < lo || mu.Used > hi {
				errs = append(errs, fmt.Errorf("chaos: pool %s member %s used %d; accepted consumes sum to %d, with the ambiguous ones %d", poolID(p), mu.Member, mu.Used, lo, hi))
			}
		}
	}
	return errors.Join(errs...)
}

// Liveness proposes a write and waits for it to be accepted within d.
func (c *Cluster) Liveness(ctx context.Context, d time.Duration, id string) error {
	start := time.Now()
	var last error
	for try := 0; time.Since(start) < d; try++ {
		for i, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			cl, err := c.Client(i, "alpha", "", client.WithRetry(client.RetryPolicy{}))
			if err != nil {
				return err
			}
			octx, cancel := context.WithTimeout(ctx, 3*time.Second)
			pid := fmt.Sprintf("%s-%d-%d", id, try, i)
			_, err = cl.Propose(octx, "asset.register", pid, map[string]any{
				"id": pid, "kind": "model", "digest": "sha256:" + fmt.Sprintf("%064x", 7),
				"owners": []map[string]any{{"member": "alpha", "share_bp": 10000}},
			})
			cancel()
			if err == nil {
				return nil
			}
			last = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("chaos: no write succeeded within %v of healing: %w", d, last)
}
