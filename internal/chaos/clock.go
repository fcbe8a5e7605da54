package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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

// ClockHonestCheck returns a post-scenario check for attested ledger
// time: no proposal was rejected for an issued_at outside the charter's
// window, and every accepted write's ledger time lies between maxBehind
// before its call and a second after its return, however far ahead or
// behind some nodes' clocks were, so that nothing expires early and time
// keeps moving.
func ClockHonestCheck(maxBehind time.Duration) func(ctx context.Context, c *Cluster, ops []Op, journal []ledger.Entry) error {
	return func(_ context.Context, _ *Cluster, ops []Op, journal []ledger.Entry) error {
		byID := map[string]ledger.Entry{}
		times := 0
		for _, e := range journal {
			if e.Outcome.ID != "" {
				byID[e.Outcome.ID] = e
			}
			if e.Outcome.Type == ledger.TimeEntryType {
				times++
			}
		}
		var errs []error
		for _, op := range ops {
			if op.Outcome == Failed && strings.Contains(op.Err, "issued_at") {
				errs = append(errs, fmt.Errorf("chaos: %s %s was rejected for its issued_at: %s", op.Kind, op.ID, op.Err))
			}
			e, ok := byID[op.ID]
			if !ok || op.Outcome != OK {
				continue
			}
			if e.LedgerTime.After(op.Return.Add(time.Second)) {
				errs = append(errs, fmt.Errorf("chaos: %s %s has ledger time %s, %v after its client got the answer",
					op.Kind, op.ID, e.LedgerTime.Format(time.RFC3339Nano), e.LedgerTime.Sub(op.Return)))
			}
			if e.LedgerTime.Before(op.Call.Add(-maxBehind)) {
				errs = append(errs, fmt.Errorf("chaos: %s %s has ledger time %s, %v before it was sent",
					op.Kind, op.ID, e.LedgerTime.Format(time.RFC3339Nano), op.Call.Sub(e.LedgerTime)))
			}
		}
		if times == 0 {
			errs = append(errs, errors.New("chaos: the journal has no time entry"))
		}
		if len(errs) > 10 {
			errs = append(errs[:10], fmt.Errorf("chaos: and %d more", len(errs)-10))
		}
		return errors.Join(errs...)
	}
}

// SkewedLeaders hands leadership to each node in skewed in turn, rounds
// times, and checks that each gives it up again within giveUp and raises
// the "clock" alarm, as a node whose clock disagrees with the others' must.
func SkewedLeaders(skewed []string, rounds int, giveUp time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, _ *rand.Rand) error {
		for range rounds {
			for _, id := range skewed {
				target := slices.IndexFunc(c.Nodes, func(n *Node) bool { return n.ID == id })
				if err := handTo(ctx, c, target); err != nil {
					return fmt.Errorf("chaos: could not make %s, whose clock is off, leader: %w", id, err)
				}
				if err := awaitGiveUp(ctx, c, target, giveUp); err != nil {
					return err
				}
			}
		}
		return ctx.Err()
	}
}

// handTo makes node target leader, retrying for a few seconds.
func handTo(ctx context.Context, c *Cluster, target int) error {
	err := errors.New("no leader")
	for range 5 {
		l := c.Leader(ctx)
		if l == target {
			return nil
		}
		if l >= 0 {
			if err = c.TransferTo(ctx, l, target); err == nil {
				return nil
			}
		}
		sleep(ctx, 500*time.Millisecond)
	}
	return err
}

// awaitGiveUp waits for node target to raise the clock alarm and stop
// being leader.
func awaitGiveUp(ctx context.Context, c *Cluster, target int, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if s, err := c.Status(ctx, target); err == nil {
			last = fmt.Sprintf("role %s, alarms %v, offset %d ms", s.Role, s.Alarms, s.Time.ClockOffsetMS)
			if s.Role != "leader" && slices.Contains(s.Alarms, "clock") {
				c.log.Info("a skewed node gave up leadership", "node", c.Nodes[target].ID, "status", last)
				return nil
			}
		}
		sleep(ctx, 200*time.Millisecond)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("chaos: %s, whose clock is off, is still %s after %v", c.Nodes[target].ID, last, within)
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
