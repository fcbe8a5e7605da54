package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
)

// The workloads a suite can run (SuiteConfig.Workload).
const (
	WorkloadWrite      = "write"       // signed writes through the leader, the raw-Raft and bbolt baselines, the other schemes
	WorkloadCheck      = "check"       // one check per request, the no-op HTTP baseline, checks under writes (T5)
	WorkloadCheckBatch = "check-batch" // SuiteConfig.Batch checks per request
	WorkloadScale      = "scale"       // a node on a preloaded state: heap, restart, catch-up (T6-T8)
	WorkloadGateway    = "gateway"     // requests through charta gateway against its upstream called directly (T9)
	WorkloadAll        = "all"         // every workload
)

// SuiteConfig is the settings of one run of the benchmark suite, which
// `charta bench` measures.
type SuiteConfig struct {
	Dir          string          // working directory for keys, node data and baselines; it must exist
	Bin          string          // charta binary that runs the nodes and the baseline servers
	Members      []string        // the members of each cluster, one node each; the checks ask as "beta"
	Scheme       ledger.Scheme   // signature scheme of the main cluster
	Compare      []ledger.Scheme // further schemes whose signed-write throughput is measured
	Workload     string          // WorkloadWrite, WorkloadCheck, WorkloadCheckBatch, WorkloadScale or WorkloadAll
	Clients      int             // concurrent writers for the throughput runs
	CheckConns   int             // concurrent connections for the check runs
	Duration     time.Duration   // measured time of each run
	Warmup       time.Duration   // unmeasured time before each run
	Batch        int             // questions per batched check request
	NodeProcs    int             // GOMAXPROCS of each server process; 0 for Go's default
	ScaleEntries int             // size of the preloaded state of the scale workload; 0 skips it
	ProfileDir   string          // where CPU profiles and goroutine dumps of the nodes go (it must exist); "" for none
	LedgerCheck  float64         // in-process ledger.Check rate (BenchmarkCheck) to state T4 against; 0 for none
	// SkipWriteBaselines leaves out the raw-Raft and bbolt baselines of
	// the write workload, and the targets stated against them: for runs
	// that only measure the signed writes, such as the etcd yardstick's
	// (scripts/bench.sh).
	SkipWriteBaselines bool
}

// DefaultSuiteConfig returns the settings of `charta bench` without flags,
// less the directory, the binary and the members.
func DefaultSuiteConfig() SuiteConfig {
	return SuiteConfig{
		Scheme:       ledger.SchemeComposite,
		Compare:      []ledger.Scheme{ledger.SchemeMLDSA44, ledger.SchemeEd25519, ledger.SchemeMLDSA65},
		Workload:     WorkloadAll,
		Clients:      256,
		CheckConns:   64,
		Duration:     10 * time.Second,
		Warmup:       time.Second,
		Batch:        100,
		ScaleEntries: 1000000,
	}
}

// Validate reports the first problem with c.
func (c *SuiteConfig) Validate() error {
	switch {
	case c.Dir == "" || c.Bin == "":
		return errors.New("bench: the suite needs a working directory and a charta binary")
	case len(c.Members) == 0:
		return errors.New("bench: the suite needs members")
	case c.Clients < 1 || c.CheckConns < 1 || c.Batch < 1:
		return fmt.Errorf("bench: clients %d, check connections %d and batch %d must be at least 1", c.Clients, c.CheckConns, c.Batch)
	case c.Duration <= 0 || c.Warmup < 0:
		return fmt.Errorf("bench: duration %s must be positive and warm-up %s not negative", c.Duration, c.Warmup)
	case c.NodeProcs < 0 || c.ScaleEntries < 0:
		return fmt.Errorf("bench: node GOMAXPROCS %d and scale entries %d must not be negative", c.NodeProcs, c.ScaleEntries)
	}
	switch c.Workload {
	case WorkloadWrite, WorkloadCheck, WorkloadCheckBatch, WorkloadScale, WorkloadGateway, WorkloadAll:
	default:
		return fmt.Errorf("bench: unknown workload %q", c.Workload)
	}
	for _, s := range append([]ledger.Scheme{c.Scheme}, c.Compare...) {
		if !s.Valid() {
			return fmt.Errorf("bench: %q is not a scheme", s)
		}
	}
	return nil
}

// Cluster is a local consortium of node processes, one per member, as
// `charta dev` runs it: the suite starts, measures and stops it. cmd/charta
// provides it with its dev cluster.
type Cluster interface {
	// Start starts member i's node from bin with extra flags, and reports
	// its exit on exited.
	Start(bin string, i int, exited chan<- error, extra ...string) error
	// WaitReady waits until every node answers /readyz, or one exits.
	WaitReady(ctx context.Context, exited <-chan error) error
	// RegisterTokens registers each member's API token with every scope.
	RegisterTokens(ctx context.Context) error
	// Seed proposes the demo consortium's assets and grants, which the
	// check questions ask about.
	Seed(ctx context.Context, out io.Writer) error
	// Stop stops the nodes started since the last Stop.
	Stop()
	// PIDs are the process IDs of the nodes started, in start order.
	PIDs() []int
	// APIURL is member i's API base URL.
	APIURL(i int) string
	// RaftAddr is member i's Raft address.
	RaftAddr(i int) string
	// DataDir is member's node data directory.
	DataDir(member string) string
	// Token is member's API token.
	Token(member string) (string, error)
	// Genesis is the consortium's genesis document.
	Genesis() (*ledger.Genesis, error)
	// Signer signs with member's key.
	Signer(member string) (ledger.Signer, error)
	// TLSFiles are member's node certificate, its key and the CA.
	TLSFiles(member string) consensus.TLSFiles
}

// Deps are the suite's collaborators.
type Deps struct {
	// NewCluster prepares a cluster in dir (keys, certificates, signed
	// genesis, API tokens) whose members sign with scheme and whose ports
	// start at base (APIs base+1.., Raft base+101..); env is added to its
	// nodes' environment.
	NewCluster func(dir string, base int, scheme ledger.Scheme, env []string) (Cluster, error)
	// Progress receives the suite's progress lines; nil discards them.
	Progress io.Writer
}

// RunSuite runs cfg's workloads against clusters of real node processes
// and the baselines in the same run: the main cluster first, then the
// baselines, then the other schemes' clusters, then the scale workload. It
// adds the results and the targets to rep.
func RunSuite(ctx context.Context, cfg SuiteConfig, deps Deps, rep *Report) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	progress := deps.Progress
	if progress == nil {
		progress = io.Discard
	}
	// The raw-Raft baseline's processes write their progress lines to the
	// same output, from exec's copying goroutines.
	s := &suite{ctx: ctx, cfg: cfg, deps: deps, out: &lockedWriter{w: progress}, rep: rep, recordSize: map[ledger.Scheme]int{}}
	err := s.all()
	for scheme, n := range s.recordSize {
		if rep.RecordBytes == nil {
			rep.RecordBytes = map[string]int{}
		}
		rep.RecordBytes[string(scheme)] = n
	}
	if err != nil {
		return err
	}
	s.targets()
	return nil
}

// suite is the state of one RunSuite.
type suite struct {
	ctx  context.Context
	cfg  SuiteConfig
	deps Deps
	out  io.Writer
	rep  *Report
	// recordSize is the size of a signed write's log entry per scheme,
	// which the raw-Raft baseline's entries match.
	recordSize map[ledger.Scheme]int
	// scale holds the scale workload's measurements, for the targets.
	scale []*scalePoint
}

func (s *suite) wants(w string) bool { return s.cfg.Workload == WorkloadAll || s.cfg.Workload == w }

// all runs the selected workloads: the main cluster first, then the
// baselines, then the other schemes' clusters.
func (s *suite) all() error {
	if s.cfg.Workload == WorkloadScale {
		return s.scaleRuns()
	}
	c, err := s.startCluster(s.cfg.Scheme)
	if err != nil {
		return err
	}
	err = s.mainWorkloads(c)
	c.Stop()
	if err != nil {
		return err
	}
	if s.wants(WorkloadWrite) && !s.cfg.SkipWriteBaselines {
		if err := s.writeBaselines(c); err != nil {
			return err
		}
	}
	if s.wants(WorkloadCheck) {
		if err := s.noopBaseline(); err != nil {
			return err
		}
	}
	if s.wants(WorkloadWrite) {
		for _, scheme := range s.cfg.Compare {
			if scheme == s.cfg.Scheme {
				continue
			}
			c, err := s.startCluster(scheme)
			if err != nil {
				return err
			}
			_, err = s.writeRun(c, s.cfg.Clients, fmt.Sprintf("write %s", scheme))
			c.Stop()
			if err != nil {
				return err
			}
		}
	}
	if s.wants(WorkloadScale) && s.cfg.ScaleEntries > 0 {
		return s.scaleRuns()
	}
	return nil
}

func (s *suite) mainWorkloads(c *cluster) error {
	var maxWrites float64
	if s.wants(WorkloadWrite) {
		if _, err := s.writeRun(c, 1, fmt.Sprintf("write %s", s.cfg.Scheme)); err != nil {
			return err
		}
		res, err := s.writeRun(c, s.cfg.Clients, fmt.Sprintf("write %s", s.cfg.Scheme))
		if err != nil {
			return err
		}
		maxWrites = res.Throughput
	}
	if s.wants(WorkloadCheck) || s.wants(WorkloadCheckBatch) || s.wants(WorkloadGateway) {
		fmt.Fprintln(s.out, "seeding assets and grants for the checks...")
		if err := c.Seed(s.ctx, io.Discard); err != nil {
			return fmt.Errorf("seeding: %w", err)
		}
	}
	if s.wants(WorkloadCheck) {
		if _, err := s.checkRun(c, "check", 1, 0, c.pprof(0)); err != nil {
			return err
		}
	}
	if s.wants(WorkloadCheckBatch) {
		if _, err := s.checkRun(c, "check-batch", s.cfg.Batch, 0, c.pprof(0)); err != nil {
			return err
		}
	}
	if s.wants(WorkloadCheck) && maxWrites > 0 {
		if err := s.checkUnderWrites(c, maxWrites/2); err != nil {
			return err
		}
	}
	if s.wants(WorkloadGateway) {
		if err := s.gatewayRuns(c); err != nil {
			return err
		}
	}
	return nil
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
