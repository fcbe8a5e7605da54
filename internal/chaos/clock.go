package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
)

// ClockOffsets returns PerNodeArgs that give the nodes of an n-node
// cluster the clock offsets in order (cycling): each node stamps the
// records it proposes as leader with its own shifted clock.
func ClockOffsets(n int, offsets ...time.Duration) map[string][]string {
	out := map[string][]string{}
	for i := 0; i < n && len(offsets) > 0; i++ {
		out[memberIDs[i]] = []string{"--clock-offset", offsets[i%len(offsets)].String()}
	}
	return out
}

// CheckLedgerTime checks that the ledger time of a journal never moves
// backwards, whichever leader stamped each record.
func CheckLedgerTime(entries []ledger.Entry, who string) error {
	for i := 1; i < len(entries); i++ {
		if entries[i].LedgerTime.Before(entries[i-1].LedgerTime) {
			return fmt.Errorf("chaos: %s: ledger time moves backwards at entry %d: %s after %s",
				who, entries[i].Seq, entries[i].LedgerTime.Format(time.RFC3339Nano), entries[i-1].LedgerTime.Format(time.RFC3339Nano))
		}
	}
	return nil
}

// TransferRound hands leadership on every interval until every node has
// been leader at least once and at least minD has passed, and fails if
// that takes longer than maxD. Meanwhile it samples every node's ledger
// time from /v1/status and fails if a node's ever goes backwards.
func TransferRound(minD, maxD, interval time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, _ *rand.Rand) error {
		start := time.Now()
		led := map[string]bool{}
		leaderBefore, sizeBefore := "", uint64(0)
		last := map[string]time.Time{}
		transfers := 0
		for ctx.Err() == nil {
			cur, size := "", uint64(0)
			for i, n := range c.Nodes {
				s, err := c.Status(ctx, i)
				if err != nil {
					continue
				}
				if s.LedgerTime.Before(last[n.ID]) {
					return fmt.Errorf("chaos: %s's ledger time went back from %s to %s", n.ID, last[n.ID], s.LedgerTime)
				}
				last[n.ID] = s.LedgerTime
				if s.Role == "leader" {
					cur, size = n.ID, s.JournalHead.Size
				}
			}
			// A leader counts once it is seen on two polls in a row with
			// journal entries appended in between: it stamped records.
			if cur != "" && cur == leaderBefore && size >= sizeBefore+5 {
				led[cur] = true
			}
			if cur != leaderBefore {
				leaderBefore, sizeBefore = cur, size
			}
			if len(led) == len(c.Nodes) && time.Since(start) >= minD {
				c.log.Info("leadership round", "transfers", transfers, "took", time.Since(start))
				return nil
			}
			if time.Since(start) > maxD {
				return fmt.Errorf("chaos: after %d transfers in %v only %v have led", transfers, maxD, led)
			}
			if cur != "" && !led[cur] {
				sleep(ctx, interval) // let the new leader serve
				continue
			}
			target := -1
			for i, n := range c.Nodes {
				if !led[n.ID] {
					target = i
					break
				}
			}
			if l := c.Leader(ctx); l >= 0 {
				var err error
				if target >= 0 && target != l {
					err = c.TransferTo(ctx, l, target)
				} else {
					err = c.TransferLeadership(ctx, l)
				}
				if err == nil {
					transfers++
				}
			}
			sleep(ctx, interval)
		}
		return ctx.Err()
	}
}

// ClockAheadCheck returns a post-scenario check that the offsets took
// effect (some accepted write carries a ledger time at least ahead past
// the moment its client got the answer) and that no proposal was rejected
// for an issued_at outside the charter's window.
func ClockAheadCheck(ahead time.Duration) func(ctx context.Context, c *Cluster, ops []Op, journal []ledger.Entry) error {
	return func(_ context.Context, _ *Cluster, ops []Op, journal []ledger.Entry) error {
		byID := map[string]ledger.Entry{}
		for _, e := range journal {
			if e.Outcome.ID != "" {
				byID[e.Outcome.ID] = e
			}
		}
		var errs []error
		maxAhead := time.Duration(0)
		for _, op := range ops {
			if op.Outcome == Failed && strings.Contains(op.Err, "issued_at") {
				errs = append(errs, fmt.Errorf("chaos: %s %s was rejected for its issued_at: %s", op.Kind, op.ID, op.Err))
			}
			if e, ok := byID[op.ID]; ok && op.Outcome == OK {
				maxAhead = max(maxAhead, e.LedgerTime.Sub(op.Return))
			}
		}
		if maxAhead < ahead {
			errs = append(errs, fmt.Errorf("chaos: no write's ledger time ran %v ahead of the wall clock (at most %v): the clock offsets did not take effect", ahead, maxAhead))
		}
		return errors.Join(errs...)
	}
}

// TransferTo moves leadership from leader to target. The API hands it to
// the most up-to-date follower (the first in the configuration on a tie),
// so the other followers are cut off for a moment first: target gets ahead
// of them on the leader's next writes and is the one chosen, and the old
// leader's vote makes it win.
func (c *Cluster) TransferTo(ctx context.Context, leader, target int) error {
	var others []string
	for i, n := range c.Nodes {
		if i != leader && i != target {
			others = append(others, n.ID)
		}
	}
	for _, id := range others {
		c.Links.Isolate(id, c.IDs())
	}
	// Briefly, well inside an election timeout: a follower cut off for
	// longer would campaign on its return and depose the new leader.
	sleep(ctx, 150*time.Millisecond)
	err := c.TransferLeadership(ctx, leader)
	c.Links.Heal()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if s, err := c.Status(ctx, target); err == nil && s.Role == "leader" {
			return nil
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return fmt.Errorf("chaos: %s did not take over leadership", c.Nodes[target].ID)
}
