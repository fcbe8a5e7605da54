package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/charta/charta/internal/faultproxy"
)

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (c *Cluster) leader(ctx context.Context) (int, error) {
	return c.WaitLeader(ctx, 20*time.Second)
}

// KillFollower kills a follower with SIGKILL and restarts it after down.
func KillFollower(down time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, rng *rand.Rand) error {
		l, err := c.leader(ctx)
		if err != nil {
			return err
		}
		f := (l + 1 + rng.IntN(len(c.Nodes)-1)) % len(c.Nodes)
		c.Kill(f)
		sleep(ctx, down)
		return c.StartNode(f)
	}
}

// KillLeader kills the leader with SIGKILL and restarts it after down.
func KillLeader(down time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, _ *rand.Rand) error {
		l, err := c.leader(ctx)
		if err != nil {
			return err
		}
		c.Kill(l)
		sleep(ctx, down)
		return c.StartNode(l)
	}
}

// KillAll kills every node with SIGKILL and restarts them all after down.
func KillAll(down time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, _ *rand.Rand) error {
		for i := range c.Nodes {
			c.Kill(i)
		}
		sleep(ctx, down)
		for i := range c.Nodes {
			if err := c.StartNode(i); err != nil {
				return err
			}
		}
		return nil
	}
}

// PauseLeader stops the leader with SIGSTOP for d (longer than the
// election timeout) and continues it.
func PauseLeader(d time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, _ *rand.Rand) error {
		l, err := c.leader(ctx)
		if err != nil {
			return err
		}
		c.Pause(l)
		sleep(ctx, d)
		c.Resume(l)
		return nil
	}
}

// IsolateLeader cuts the leader off from every peer, both ways, for d.
func IsolateLeader(d time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, _ *rand.Rand) error {
		l, err := c.leader(ctx)
		if err != nil {
			return err
		}
		c.Links.Isolate(c.Nodes[l].ID, c.IDs())
		sleep(ctx, d)
		c.Links.Heal()
		return nil
	}
}

// IsolateFollower cuts one follower off from every peer for d while the
// others go on; with a low snapshot threshold the log it missed is
// compacted meanwhile, so it must catch up by InstallSnapshot.
func IsolateFollower(d time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, rng *rand.Rand) error {
		l, err := c.leader(ctx)
		if err != nil {
			return err
		}
		f := (l + 1 + rng.IntN(len(c.Nodes)-1)) % len(c.Nodes)
		c.Links.Isolate(c.Nodes[f].ID, c.IDs())
		sleep(ctx, d)
		c.Links.Heal()
		return nil
	}
}

// OneWayLeader drops what the leader sends to its peers, but not what they
// send it, for d: the followers elect a new leader whose messages still
// reach the old one.
func OneWayLeader(d time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, _ *rand.Rand) error {
		l, err := c.leader(ctx)
		if err != nil {
			return err
		}
		for _, id := range c.IDs() {
			if id != c.Nodes[l].ID {
				c.Links.Set(c.Nodes[l].ID, id, faultproxy.Rule{Cut: true})
			}
		}
		sleep(ctx, d)
		c.Links.Heal()
		return nil
	}
}

// MinorityMajority splits the cluster into a minority holding the leader
// and a majority, for d.
func MinorityMajority(d time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, rng *rand.Rand) error {
		l, err := c.leader(ctx)
		if err != nil {
			return err
		}
		ids := c.IDs()
		minority := []string{ids[l]}
		var majority []string
		for i, id := range ids {
			if i == l {
				continue
			}
			if len(minority) < (len(ids)-1)/2 && rng.IntN(2) == 0 {
				minority = append(minority, id)
			} else {
				majority = append(majority, id)
			}
		}
		c.Links.Partition(minority, majority)
		sleep(ctx, d)
		c.Links.Heal()
		return nil
	}
}

// Bridge partitions the cluster into two halves joined only through one
// node, which sees both sides, for d.
func Bridge(d time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, rng *rand.Rand) error {
		ids := c.IDs()
		rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		rest := ids[1:] // ids[0] is the bridge: it keeps its links to both halves
		c.Links.Partition(rest[:len(rest)/2], rest[len(rest)/2:])
		sleep(ctx, d)
		c.Links.Heal()
		return nil
	}
}

// DelayDrop delays every link by delay plus jitter and drops chunks with
// probability drop, for d.
func DelayDrop(d, delay time.Duration, drop float64) Fault {
	return func(ctx context.Context, c *Cluster, _ *rand.Rand) error {
		ids := c.IDs()
		for _, a := range ids {
			for _, b := range ids {
				if a != b {
					c.Links.Set(a, b, faultproxy.Rule{Delay: delay, Jitter: delay / 2, Drop: drop})
				}
			}
		}
		sleep(ctx, d)
		c.Links.Heal()
		return nil
	}
}

// TransferStorm asks the leader to hand over leadership every interval,
// for d.
func TransferStorm(d, interval time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, _ *rand.Rand) error {
		end := time.Now().Add(d)
		transfers := 0
		for time.Now().Before(end) && ctx.Err() == nil {
			if l := c.Leader(ctx); l >= 0 {
				if err := c.TransferLeadership(ctx, l); err == nil {
					transfers++
				}
			}
			sleep(ctx, interval)
		}
		if transfers == 0 {
			return fmt.Errorf("no leadership transfer succeeded in %v", d)
		}
		c.log.Info("leadership transfers", "n", transfers)
		return nil
	}
}

// Sequence runs faults one after another with gap between them.
func Sequence(gap time.Duration, faults ...Fault) Fault {
	return func(ctx context.Context, c *Cluster, rng *rand.Rand) error {
		for _, f := range faults {
			sleep(ctx, gap)
			if err := f(ctx, c, rng); err != nil {
				return err
			}
		}
		return nil
	}
}

// RandomFaults returns a sequence of n faults drawn with rng from every
// fault class.
func RandomFaults(rng *rand.Rand, n int) (Fault, []string) {
	type named struct {
		name string
		f    Fault
	}
	dur := func() time.Duration { return time.Duration(1500+rng.IntN(3000)) * time.Millisecond }
	var fs []Fault
	var names []string
	for range n {
		all := []named{
			{"kill-follower", KillFollower(dur())}, {"kill-leader", KillLeader(dur())}, {"kill-all", KillAll(time.Second)},
			{"pause-leader", PauseLeader(dur())}, {"isolate-leader", IsolateLeader(dur())}, {"one-way-leader", OneWayLeader(dur())},
			{"minority-majority", MinorityMajority(dur())}, {"bridge", Bridge(dur())},
			{"delay-drop", DelayDrop(dur(), time.Duration(5+rng.IntN(40))*time.Millisecond, float64(rng.IntN(3))/100)},
			{"transfer-storm", TransferStorm(dur(), 400*time.Millisecond)},
		}
		x := all[rng.IntN(len(all))]
		fs, names = append(fs, x.f), append(names, x.name)
	}
	return Sequence(time.Second, fs...), names
}
