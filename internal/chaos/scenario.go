package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
)

// Fault injects faults into a running cluster while the workload runs, and
// returns once every fault it injected has healed.
type Fault func(ctx context.Context, c *Cluster, rng *rand.Rand) error

// Scenario is one chaos run: a cluster, the workload and a fault.
type Scenario struct {
	Name     string         // used in the directory name
	Nodes    int            // 3 or 5
	Seed     uint64         // seed of the workload mix, the proxies and the fault's choices
	Workload WorkloadConfig // MaxOps bounds the run
	Fault    Fault          // nil runs the workload without faults
	Bin      string         // the charta binary
	Dir      string         // where the run's directory is created
	Logger   *slog.Logger   // harness log
	NodeArgs []string       // extra flags for every node
	// PerNodeArgs are extra flags for one node, by member ID.
	PerNodeArgs map[string][]string
	// After, if set, is one more check after the standard ones, given the
	// history and the first node's journal.
	After func(ctx context.Context, c *Cluster, ops []Op, journal []ledger.Entry) error
}

// Report is what a scenario did and found.
type Report struct {
	Dir      string          // the run's directory (kept on failure)
	Ops      int             // operations run
	Outcomes map[Outcome]int // operations by outcome
	Duration time.Duration   // wall time of the whole scenario
}

// Run runs the scenario and checks every invariant. The returned error
// joins every violation; the run's directory is removed only on success.
func (s Scenario) Run(ctx context.Context) (rep *Report, err error) {
	if s.Workload.Ballots > 0 {
		// W3's ballot model compares deadlines with the harness's clock,
		// which the nodes must share.
		for id, args := range s.PerNodeArgs {
			if slices.Contains(args, "--clock-offset") {
				return nil, fmt.Errorf("chaos: scenario %s: W3 (ballots) cannot run with a clock offset on %s", s.Name, id)
			}
		}
	}
	start := time.Now()
	dir, err := os.MkdirTemp(s.Dir, "chaos-"+s.Name+"-")
	if err != nil {
		return nil, err
	}
	rep = &Report{Dir: dir}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ccfg := DefaultConfig()
	ccfg.Nodes, ccfg.Dir, ccfg.Bin, ccfg.Seed, ccfg.Logger = s.Nodes, dir, s.Bin, s.Seed, log
	ccfg.NodeArgs, ccfg.PerNodeArgs = s.NodeArgs, s.PerNodeArgs
	c, err := Start(ctx, ccfg)
	if err != nil {
		return rep, err
	}
	defer func() {
		c.Close()
		rep.Duration = time.Since(start)
		if err == nil {
			os.RemoveAll(dir)
		}
	}()
	wcfg := s.Workload
	wcfg.Seed = s.Seed
	w, err := NewWorkload(ctx, c, wcfg)
	if err != nil {
		return rep, err
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer wcancel()
	werr := make(chan error, 1)
	go func() { werr <- w.Run(wctx) }()

	var errs []error
	if s.Fault != nil {
		rng := rand.New(rand.NewPCG(s.Seed, 0xfa017))
		if err := s.Fault(ctx, c, rng); err != nil {
			errs = append(errs, fmt.Errorf("fault: %w", err))
		}
		c.Links.Heal()
		for i, n := range c.Nodes {
			if !n.Running() {
				if err := c.StartNode(i); err != nil {
					errs = append(errs, err)
				}
			} else {
				c.Resume(i)
			}
		}
		log.Info("faults healed", "scenario", s.Name)
		if err := c.Liveness(ctx, 15*time.Second, "live-"+s.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := <-werr; err != nil {
		errs = append(errs, fmt.Errorf("workload: %w", err))
	}
	ops := w.History.Ops()
	rep.Ops, rep.Outcomes = len(ops), w.History.Count()
	if err := w.History.Save(filepath.Join(dir, "history.json")); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, s.check(ctx, c, w, ops, dir)...)
	return rep, errors.Join(errs...)
}

func (s Scenario) check(ctx context.Context, c *Cluster, w *Workload, ops []Op, dir string) []error {
	var errs []error
	st, err := c.WaitConverged(ctx, 30*time.Second)
	if err != nil {
		errs = append(errs, err)
	}
	var grantOps, poolOps, ballotOps, keyOps []Op
	for _, op := range ops {
		switch {
		case op.Kind == "consume" || op.Kind == "usage":
			poolOps = append(poolOps, op)
		case strings.HasPrefix(op.Kind, "ballot."):
			ballotOps = append(ballotOps, op)
		case strings.HasPrefix(op.Kind, "key."):
			keyOps = append(keyOps, op)
		case strings.HasPrefix(op.Kind, "adv."): // checked against the journals below
		case strings.HasPrefix(op.Kind, "conf."): // CheckConfidential, below
		default:
			grantOps = append(grantOps, op)
		}
	}
	if err := CheckLinearizable(grantModel(), grantOps, 60*time.Second, filepath.Join(dir, "grants.html")); err != nil {
		errs = append(errs, err)
	}
	if err := CheckLinearizable(poolModel(w.cfg.Quota), poolOps, 60*time.Second, filepath.Join(dir, "pools.html")); err != nil {
		errs = append(errs, err)
	}
	if err := CheckLinearizable(ballotModel(c.IDs(), c.Genesis.Charter.Threshold), ballotOps, 60*time.Second, filepath.Join(dir, "ballots.html")); err != nil {
		errs = append(errs, err)
	}
	if err := CheckLinearizable(keyModel(), keyOps, 60*time.Second, filepath.Join(dir, "keys.html")); err != nil {
		errs = append(errs, err)
	}
	if err := w.CheckPools(ctx); err != nil {
		errs = append(errs, err)
	}
	var first []ledger.Entry
	for i, n := range c.Nodes {
		entries, err := c.Journal(ctx, i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if first == nil {
			first = entries
		}
		if err := CheckDurable(ops, entries, n.ID); err != nil {
			errs = append(errs, err)
		}
		if err := CheckAdversary(ops, entries, n.ID); err != nil {
			errs = append(errs, err)
		}
		if err := CheckLedgerTime(entries, n.ID); err != nil {
			errs = append(errs, err)
		}
		if st == nil {
			continue // the nodes did not converge: reported above
		}
		// The leader may have written a time entry since the nodes
		// converged: the journal up to the converged head must replay to it.
		if uint64(len(entries)) > st.JournalHead.Size {
			entries = entries[:st.JournalHead.Size]
		}
		if err := VerifyJournal(c.Genesis, entries, st, filepath.Join(dir, "replay")); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.ID, err))
		}
	}
	if st != nil && first != nil {
		if err := w.CheckConfidential(ctx, ops, first); err != nil {
			errs = append(errs, err)
		}
	}
	if s.After != nil {
		if err := s.After(ctx, c, ops, first); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
