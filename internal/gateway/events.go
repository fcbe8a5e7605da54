package gateway

import (
	"context"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// changesNothing are the entry types that cannot change a check's answer,
// an identity or a quota, so that they leave the caches alone. Everything
// else (grants, bundles, pools, members, tokens, keys, assets, ballots,
// duties, usage, time) retires them: being conservative costs one check
// per question after each such entry.
var changesNothing = map[string]bool{
	"sla.report": true,
}

// invalidates reports whether a committed entry may change what the
// caches hold. A rejected entry changes no state.
func invalidates(e *ledger.Entry) bool {
	return e != nil && e.Outcome.Status == ledger.StatusAccepted && !changesNothing[e.Outcome.Type]
}

// watch follows the event stream of one node after another and retires
// the caches on every entry that may change them, until ctx ends. While
// it switches nodes it cannot see entries, so it retires the caches each
// time a stream starts.
func (g *Gateway) watch(ctx context.Context) {
	var next uint64 // the first seq not yet seen; 0 until a node said where the journal stands
	k := 0
	for ctx.Err() == nil {
		k = g.follow(ctx, k, &next)
		g.ids.streaming.Store(false)
		g.m.events.Set(0)
		if ctx.Err() != nil {
			return
		}
		k = (k + 1) % len(g.events)
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// follow streams node k's events from *next on until the stream fails.
func (g *Gateway) follow(ctx context.Context, k int, next *uint64) int {
	c := g.events[k]
	if *next == 0 {
		cctx, cancel := context.WithTimeout(ctx, g.cfg.NodeTimeout)
		st, err := c.Status(cctx)
		cancel()
		if err != nil {
			g.log.Debug("event stream: node status", "node", g.nodes.addrs[k], "err", err)
			return k
		}
		*next = st.JournalHead.Size
	}
	g.invalidate()
	g.ids.streaming.Store(true)
	g.m.events.Set(1)
	g.log.Debug("following the event stream", "node", g.nodes.addrs[k], "from", *next)
	for ev, err := range c.Events(ctx, *next) {
		if err != nil {
			if ctx.Err() == nil {
				g.log.Warn("event stream ended; the caches expire by their TTL until another stream starts", "node", g.nodes.addrs[k], "err", err)
			}
			return k
		}
		if ev.Entry == nil {
			continue
		}
		*next = ev.Entry.Seq + 1
		if invalidates(ev.Entry) {
			// Questions asked from now on wait for a node that has
			// applied the entry; answers to those asked before are
			// retired, and not cached when they come.
			g.nodes.raiseFloor(ev.Entry.Index)
			g.invalidate()
		}
	}
	return k
}

// eventClient returns a client for node addr's event stream: reconnects
// resume after the last event, and give up after a few seconds without
// one so that the watcher moves on to another node.
func eventClient(n *nodes, k int, token string) (*client.Client, error) {
	return client.New(n.addrs[k], client.WithToken(token), client.WithHTTPClient(n.hc),
		client.WithRetry(client.RetryPolicy{MaxElapsed: 3 * time.Second, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}),
		client.WithUserAgent("charta-gateway/1"))
}
