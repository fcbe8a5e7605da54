package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/charta/charta/node/client"
)

// WorkloadConfig configures the workloads. W1 and W2 always run; W3 runs
// when Ballots or Rotators is set, and takes a third of each client's
// operations; W4 runs when Adversaries is set; W5 (confidential grants)
// runs when Confidential is set, and takes one in confEvery operations.
type WorkloadConfig struct {
	Clients      int           // concurrent clients, spread over the nodes
	Grants       int           // W1: grants (one asset each)
	Pools        int           // W2: pools, each with a quota per member
	Quota        int64         // W2: each member's quota per pool
	Ballots      int           // W3: charter-amendment ballots (0: none)
	Rotators     int           // W3: auditors that rotate their keys (0: none)
	Adversaries  int           // W4: clients beside the honest ones that send forged, replayed and malformed proposals
	Confidential int           // W5: confidential grants with sealed usage reports (0: none; at most Clients, as client i offers grant i)
	MaxOps       int           // stop after this many operations (0: run until the context ends)
	Seed         uint64        // seed of the operation mix
	OpTimeout    time.Duration // longest one operation may take, retries included
}

// DefaultWorkloadConfig returns 8 clients over 6 grants, 3 pools and 2
// confidential grants.
func DefaultWorkloadConfig() WorkloadConfig {
	return WorkloadConfig{Clients: 8, Grants: 6, Pools: 3, Quota: 120, Confidential: 2, Seed: 1, OpTimeout: 8 * time.Second}
}

// WithW3 returns c with W3 added: 24 ballots and 2 rotating members.
func (c WorkloadConfig) WithW3() WorkloadConfig {
	c.Ballots, c.Rotators = 24, 2
	return c
}

// WithW4 returns c with W4's two adversarial clients added.
func (c WorkloadConfig) WithW4() WorkloadConfig {
	c.Adversaries = 2
	return c
}

// Validate checks the configuration.
func (c *WorkloadConfig) Validate() error {
	if c.Clients < 1 || c.Grants < 1 || c.Pools < 1 || c.Quota < 1 || c.OpTimeout <= 0 {
		return fmt.Errorf("chaos: workload: Clients, Grants, Pools, Quota and OpTimeout must be positive: %+v", *c)
	}
	if c.Ballots < 0 || c.Rotators < 0 || c.Adversaries < 0 || c.Ballots > 1000 || c.Rotators > 10 {
		return fmt.Errorf("chaos: workload: Ballots must be 0 to 1000, Rotators 0 to 10, Adversaries not negative: %+v", *c)
	}
	if c.Confidential < 0 || c.Confidential > c.Clients {
		return fmt.Errorf("chaos: workload: Confidential must be 0 to Clients (%d): %+v", c.Clients, *c)
	}
	return nil
}

// Workload runs W1 and W2 against a cluster and records their history.
type Workload struct {
	cfg     WorkloadConfig
	c       *Cluster
	History History
	ops     atomic.Int64
	seq     atomic.Int64
	lastOK  atomic.Int64  // unix nanos of the last accepted write
	gov     *governance   // W3, or nil
	adv     *adversary    // W4, or nil
	conf    *confidential // W5, or nil
}

func grantID(i int) string { return "g-" + strconv.Itoa(i) }
func assetID(i int) string { return "a-" + strconv.Itoa(i) }
func poolID(i int) string  { return "p-" + strconv.Itoa(i) }

// NewWorkload creates the workload's assets, grant offers and pools.
func NewWorkload(ctx context.Context, c *Cluster, cfg WorkloadConfig) (*Workload, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Workload{cfg: cfg, c: c}
	alpha, err := c.Client(0, "alpha", "")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	licensee := c.IDs()[len(c.Nodes)-1]
	if licensee == "alpha" {
		return nil, errors.New("chaos: the workload needs at least 2 members")
	}
	for i := 0; i < cfg.Grants; i++ {
		if _, err := alpha.Propose(ctx, "asset.register", "setup-asset-"+strconv.Itoa(i), map[string]any{
			"id": assetID(i), "kind": "model", "digest": "sha256:" + fmt.Sprintf("%064x", i+1),
			"owners": []map[string]any{{"member": "alpha", "share_bp": 10000}},
		}); err != nil {
			return nil, fmt.Errorf("chaos: setup asset %d: %w", i, err)
		}
		offer := ledger.GrantOffer{ID: grantID(i), Licensors: []string{"alpha"}, Licensees: []string{licensee},
			Terms: ledger.Terms{Assets: []string{assetID(i)}, Rights: []ledger.Right{"use"}}}
		if _, err := alpha.Propose(ctx, "grant.offer", "setup-offer-"+strconv.Itoa(i), offer); err != nil {
			return nil, fmt.Errorf("chaos: setup grant %d: %w", i, err)
		}
	}
	for i := 0; i < cfg.Pools; i++ {
		var quotas []ledger.QuotaSpec
		for _, m := range c.IDs() {
			quotas = append(quotas, ledger.QuotaSpec{Member: m, Amount: cfg.Quota})
		}
		p := ledger.PoolCreate{ID: poolID(i), Resource: "gpu-hours", Unit: "hour", Period: ledger.PeriodYear,
			Capacity: cfg.Quota * int64(len(quotas)), Mode: ledger.QuotaFixed, Quotas: quotas, Owners: []string{"alpha"}}
		if _, err := alpha.Propose(ctx, "pool.create", "setup-pool-"+strconv.Itoa(i), p); err != nil {
			return nil, fmt.Errorf("chaos: setup pool %d: %w", i, err)
		}
	}
	if cfg.Ballots > 0 || cfg.Rotators > 0 {
		if w.gov, err = setupGovernance(ctx, c, cfg); err != nil {
			return nil, err
		}
	}
	if cfg.Adversaries > 0 {
		w.adv = &adversary{}
	}
	if cfg.Confidential > 0 {
		if w.conf, err = setupConfidential(ctx, c, cfg, alpha, licensee); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Ops is the number of operations run so far.
func (w *Workload) Ops() int64 { return w.ops.Load() }

// LastAccepted is when the last write was accepted.
func (w *Workload) LastAccepted() time.Time { return time.Unix(0, w.lastOK.Load()) }

// Run runs the clients until ctx ends or MaxOps operations ran.
func (w *Workload) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, w.cfg.Clients+w.cfg.Adversaries)
	for k := 0; k < w.cfg.Clients; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.client(ctx, k); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	for k := w.cfg.Clients; k < w.cfg.Clients+w.cfg.Adversaries; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.adversaryLoop(ctx, k); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// client is one workload client: it talks to node k mod N.
func (w *Workload) client(ctx context.Context, k int) error {
	node := k % len(w.c.Nodes)
	tok, err := w.c.OperatorToken(node)
	if err != nil {
		return err
	}
	retry := client.RetryPolicy{MaxElapsed: w.cfg.OpTimeout - time.Second, InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}
	clients := map[string]*client.Client{}
	for _, m := range w.c.IDs() {
		if clients[m], err = w.c.Client(node, m, tok, client.WithRetry(retry)); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(w.cfg.Seed, uint64(k)))
	// W5 draws from a stream of its own, so that the other workloads'
	// mix for a seed is what it was without it.
	crng := rand.New(rand.NewPCG(w.cfg.Seed, 0xc0f1de+uint64(k)))
	licensee := w.c.IDs()[len(w.c.Nodes)-1]
	for ctx.Err() == nil {
		if w.cfg.MaxOps > 0 && w.ops.Load() >= int64(w.cfg.MaxOps) {
			return nil
		}
		if w.conf != nil && crng.IntN(confEvery) == 0 {
			w.confidentialOp(ctx, crng, clients, k, node)
			continue
		}
		if w.gov != nil && rng.IntN(3) == 0 {
			w.governanceOp(ctx, rng, clients, k, node)
			continue
		}
		if rng.IntN(2) == 0 {
			g := rng.IntN(w.cfg.Grants)
			switch r := rng.IntN(10); {
			case r < 5:
				w.check(ctx, clients["alpha"], k, node, g, licensee)
			case r < 6:
				w.write(ctx, clients[licensee], k, node, grantID(g), "accept", "grant.accept", ledger.GrantRef{Grant: grantID(g)}, 0)
			case r < 8:
				w.write(ctx, clients["alpha"], k, node, grantID(g), "suspend", "grant.suspend", ledger.GrantRef{Grant: grantID(g)}, 0)
			default:
				w.write(ctx, clients["alpha"], k, node, grantID(g), "resume", "grant.resume", ledger.GrantRef{Grant: grantID(g)}, 0)
			}
			continue
		}
		p, m := rng.IntN(w.cfg.Pools), w.c.IDs()[rng.IntN(len(w.c.Nodes))]
		key := poolID(p) + "/" + m
		if rng.IntN(3) == 0 {
			w.usage(ctx, clients[m], k, node, p, m)
			continue
		}
		amount := int64(1 + rng.IntN(4))
		w.write(ctx, clients[m], k, node, key, "consume", "pool.consume", ledger.PoolConsume{Pool: poolID(p), Amount: amount}, amount)
	}
	return nil
}

func (w *Workload) write(ctx context.Context, cl *client.Client, k, node int, key, kind, typ string, body any, amount int64) {
	id := fmt.Sprintf("c%d-%d", k, w.seq.Add(1))
	op := Op{Client: k, Key: key, Kind: kind, ID: id, Amount: amount, Node: node, Call: time.Now()}
	octx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	e, err := cl.Sign(octx, typ, id, body) // then Submit: Propose, keeping the envelope for W4's replays
	var res *ledger.Result
	if err == nil {
		res, err = cl.Submit(octx, e.Encode())
	}
	cancel()
	op.Return = time.Now()
	var ce *client.Error
	switch {
	case err == nil:
		op.Outcome, op.Index = OK, res.Index
		w.lastOK.Store(op.Return.UnixNano())
		w.adv.remember(e, res.Index)
	case errors.As(err, &ce) && ce.Outcome != nil && ce.Outcome.Status == ledger.StatusRejected:
		op.Outcome, op.Index, op.Rejected, op.Err = Failed, ce.Index, string(ce.Outcome.Code), ce.Outcome.Message
	case errors.Is(err, client.ErrNoSpace):
		// The disk guard answers before anything is proposed.
		op.Outcome, op.Rejected, op.Err = Refused, string(api.CodeNoSpace), err.Error()
	default:
		op.Outcome, op.Err = Ambiguous, err.Error()
	}
	w.ops.Add(1)
	w.History.Add(op)
}

func (w *Workload) check(ctx context.Context, cl *client.Client, k, node, g int, member string) {
	op := Op{Client: k, Key: grantID(g), Kind: "check", Node: node, Call: time.Now()}
	octx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	d, err := cl.Check(octx, ledger.CheckRequest{Member: member, Asset: assetID(g), Action: "use"}, client.Consistency("linearizable"))
	cancel()
	op.Return = time.Now()
	if err != nil {
		op.Outcome, op.Err = NoAnswer, err.Error()
	} else {
		op.Outcome, op.Allowed = OK, d.Allowed
	}
	w.ops.Add(1)
	w.History.Add(op)
}

// poolUsage is the answer of GET /v1/pools/{id}/usage.
func (w *Workload) usage(ctx context.Context, cl *client.Client, k, node, p int, member string) {
	op := Op{Client: k, Key: poolID(p) + "/" + member, Kind: "usage", Node: node, Call: time.Now()}
	octx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	u, err := cl.PoolUsage(octx, poolID(p), client.Consistency("linearizable"))
	cancel()
	op.Return = time.Now()
	op.Outcome = NoAnswer
	if err != nil {
		op.Err = err.Error()
	} else {
		op.Err = "member missing from the usage"
		for _, mu := range u.Members {
			if mu.Member == member {
				op.Outcome, op.Used, op.Quota, op.Err = OK, mu.Used, mu.Quota, ""
			}
		}
	}
	w.ops.Add(1)
	w.History.Add(op)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
