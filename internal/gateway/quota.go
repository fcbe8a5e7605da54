package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/charta/charta/node/client"
)

// quotas answers what metering needs from the ledger besides the check:
// the usage period of a grant, and what is left of a member's pool quota.
// Answers are cached in the decision cache's generation, so the same
// committed entries retire them, and for at most the decision TTL.
type quotas struct {
	nodes *nodes
	cache *decisionCache

	mu     sync.Mutex
	grants map[string]grantTerms
	pools  map[string]poolLeft
}

type grantTerms struct {
	period  ledger.Period // "" if the grant has no usage terms
	gen     uint64
	expires time.Time
}

type poolLeft struct {
	remaining map[string]int64 // by member
	period    string
	gen       uint64
	expires   time.Time
}

func newQuotas(n *nodes, c *decisionCache) *quotas {
	return &quotas{nodes: n, cache: c, grants: map[string]grantTerms{}, pools: map[string]poolLeft{}}
}

// errNoUsageTerms is a grant with no usage terms to report to.
var errNoUsageTerms = errors.New("gateway: the grant has no usage terms")

// grantPeriod returns the usage period of grant g.
func (q *quotas) grantPeriod(ctx context.Context, g string) (ledger.Period, error) {
	now := time.Now()
	gen := q.cache.generation()
	q.mu.Lock()
	e, ok := q.grants[g]
	q.mu.Unlock()
	if !ok || e.gen != gen || now.After(e.expires) {
		var gr *api.Grant
		err := q.nodes.do(ctx, func(ctx context.Context, _ int, c *client.Client) error {
			var err error
			gr, err = c.Grant(ctx, g, q.nodes.readOpts()...)
			return err
		})
		if err != nil {
			return "", err
		}
		e = grantTerms{gen: gen, expires: now.Add(q.cache.ttl)}
		if gr.Terms.Usage != nil {
			e.period = gr.Terms.Usage.Period
		}
		q.mu.Lock()
		q.grants[g] = e
		q.mu.Unlock()
	}
	if e.period == "" {
		return "", fmt.Errorf("%w: %s", errNoUsageTerms, g)
	}
	return e.period, nil
}

// poolRemaining returns what is left of member's quota in pool in the
// current period, by the ledger, and whether member has a quota there.
func (q *quotas) poolRemaining(ctx context.Context, pool, member string) (int64, bool, error) {
	now := time.Now()
	gen := q.cache.generation()
	q.mu.Lock()
	e, ok := q.pools[pool]
	q.mu.Unlock()
	if !ok || e.gen != gen || now.After(e.expires) {
		var u *client.PoolUsage
		err := q.nodes.do(ctx, func(ctx context.Context, _ int, c *client.Client) error {
			var err error
			u, err = c.PoolUsage(ctx, pool, q.nodes.readOpts()...)
			return err
		})
		if err != nil {
			return 0, false, err
		}
		e = poolLeft{remaining: map[string]int64{}, period: u.Period, gen: gen, expires: now.Add(q.cache.ttl)}
		for _, m := range u.Members {
			e.remaining[m.Member] = m.Remaining
		}
		q.mu.Lock()
		if gen == q.cache.generation() {
			q.pools[pool] = e
		}
		q.mu.Unlock()
	}
	left, ok := e.remaining[member]
	return left, ok, nil
}
