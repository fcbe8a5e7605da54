package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	nodes  *nodes
	cache  *decisionCache
	member string // the gateway's member, which signs the reports

	mu     sync.Mutex
	grants map[string]grantTerms
	pools  map[string]poolLeft
}

type grantTerms struct {
	period  ledger.Period // "" if the grant has no usage terms
	reports bool          // the gateway's member may report its usage
	hidden  bool          // the node answered not_found: not a grant the member is party to
	sealed  bool          // confidential, and its terms are not open to the gateway's token on the node
	gen     uint64
	expires time.Time
}

type poolLeft struct {
	remaining map[string]int64 // by member
	period    string
	gen       uint64
	expires   time.Time
}

func newQuotas(n *nodes, c *decisionCache, member string) *quotas {
	return &quotas{nodes: n, cache: c, member: member, grants: map[string]grantTerms{}, pools: map[string]poolLeft{}}
}

var (
	// errNoUsageTerms is a grant with no usage terms to report to.
	errNoUsageTerms = errors.New("gateway: the grant has no usage terms")
	// errNotReporter is a grant whose usage the gateway's member may not
	// report: it is neither a licensee nor one of the usage terms'
	// meters, or the grant is not visible to it at all.
	errNotReporter = errors.New("gateway: the gateway's member may not report the grant's usage")
	// errSealedTerms is a confidential grant whose terms the node did
	// not open for the gateway's token: the node is not a party's, the
	// token is not a party's or the operator's, or the node has not
	// opened them yet.
	errSealedTerms = errors.New("gateway: the usage terms of the confidential grant are not open to the gateway's token on its node")
)

// grantPeriod returns the usage period of grant g, if the gateway's member
// may report g's usage (the ledger takes a usage.report only from a
// licensee or a meter of the usage terms, and one of a confidential grant
// only from a party); errNoUsageTerms or errNotReporter otherwise, and
// errSealedTerms for a confidential grant whose terms the node does not
// show the gateway's token. A confidential grant's usage terms are those
// its party's node opened.
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
		e = grantTerms{gen: gen, expires: now.Add(q.cache.ttl)}
		switch {
		case errors.Is(err, client.ErrNotFound):
			// Not a grant this member can see: not one it reports to.
			e.hidden = true
		case err != nil:
			return "", err
		case gr.Confidential != nil && gr.Confidential.Terms == nil:
			e.sealed = true
		case gr.Confidential != nil && gr.Confidential.Terms.Usage != nil:
			// Opened on a party's node for a party's token. Only a
			// party may report a confidential grant's usage.
			u := gr.Confidential.Terms.Usage
			e.period = u.Period
			e.reports = gr.IsParty(q.member) && (slices.Contains(gr.Licensees, q.member) || slices.Contains(u.Meters, q.member))
		case gr.Confidential == nil && gr.Terms.Usage != nil:
			u := gr.Terms.Usage
			e.period = u.Period
			e.reports = slices.Contains(gr.Licensees, q.member) || slices.Contains(u.Meters, q.member)
		}
		q.mu.Lock()
		q.grants[g] = e
		q.mu.Unlock()
	}
	switch {
	case e.hidden:
		return "", fmt.Errorf("%w: %s", errNotReporter, g)
	case e.sealed:
		return "", fmt.Errorf("%w: %s", errSealedTerms, g)
	case e.period == "":
		return "", fmt.Errorf("%w: %s", errNoUsageTerms, g)
	case !e.reports:
		return "", fmt.Errorf("%w: %s", errNotReporter, g)
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
