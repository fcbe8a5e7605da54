package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// ErrExhausted is returned by an operation when its pre-built workload has
// run out; the run then ends early and reports the time it actually took.
var ErrExhausted = errors.New("bench: workload exhausted")

// RunConfig configures one measurement: closed-loop (each worker sends its
// next request when the last is answered) or, with Rate, open-loop.
type RunConfig struct {
	Name     string        // label for progress lines and the result, e.g. "write ml-dsa-44 256c"
	Clients  int           // concurrent workers, each waiting for its answer before the next request (with Rate: most in flight)
	Rate     float64       // operations offered per second (open loop); 0 for closed loop
	Drain    time.Duration // with Rate: how long the backlog may run after Duration; 0 = 5 s
	Duration time.Duration // measured time
	Warmup   time.Duration // unmeasured time before it (connections, caches); 0 for none
	PerOp    int           // units one operation counts for (e.g. 100 checks per batch request); 0 = 1
	Unit     string        // unit of the throughput, e.g. "writes/s"
	Progress io.Writer     // where a progress line is written every second; nil for none
}

// DefaultRunConfig returns a 10-second run of 1 client without warm-up.
func DefaultRunConfig() RunConfig {
	return RunConfig{Name: "run", Clients: 1, Duration: 10 * time.Second, PerOp: 1, Unit: "ops/s"}
}

// Validate reports the first problem with c.
func (c *RunConfig) Validate() error {
	switch {
	case c.Clients < 1:
		return fmt.Errorf("bench: %s: clients %d must be at least 1", c.Name, c.Clients)
	case c.Duration <= 0:
		return fmt.Errorf("bench: %s: duration %s must be positive", c.Name, c.Duration)
	case c.Warmup < 0 || c.PerOp < 0:
		return fmt.Errorf("bench: %s: warm-up and per-op must not be negative", c.Name)
	case c.Rate != 0 && !(c.Rate > 0 && c.Rate <= 1e9):
		return fmt.Errorf("bench: %s: rate %v must be 0 (closed loop) or a positive number up to 1e9 per second", c.Name, c.Rate)
	}
	return nil
}

// Latency holds latency percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Result is the outcome of one measurement.
type Result struct {
	Name       string      `json:"name"`
	Clients    int         `json:"clients"`
	Ops        int64       `json:"ops"`    // successful operations (requests)
	Units      int64       `json:"units"`  // Ops × PerOp
	Errors     int64       `json:"errors"` // failed operations, not counted in Ops
	FirstError string      `json:"first_error,omitempty"`
	Seconds    float64     `json:"seconds"`
	Throughput float64     `json:"throughput"`        // units per second
	Offered    float64     `json:"offered,omitempty"` // operations offered per second (open loop), 0 for closed loop
	Unit       string      `json:"unit"`
	Latency    Latency     `json:"latency"` // of one operation
	Procs      []ProcUsage `json:"procs,omitempty"`
}

// Op is one operation of worker w. It returns nil on success.
type Op func(ctx context.Context, w int) error

const (
	histMin = 1            // 1 µs
	histMax = 60 * 1000000 // 60 s in µs
	histSig = 3            // significant figures
)

// Run runs op from cfg.Clients workers for cfg.Warmup and then for
// cfg.Duration, and returns the throughput and latency of the measured
// part. It ends early when ctx ends or an operation returns ErrExhausted.
func Run(ctx context.Context, cfg RunConfig, op Op) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if cfg.PerOp == 0 {
		cfg.PerOp = 1
	}
	if cfg.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, cfg.Warmup)
		cfg.loop(wctx, op, nil)
		cancel()
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
	}
	mctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	st := &loopStats{hists: make([]*hdrhistogram.Histogram, cfg.Clients)}
	for i := range st.hists {
		st.hists[i] = hdrhistogram.New(histMin, histMax, histSig)
	}
	start := time.Now()
	progressDone := make(chan struct{})
	if cfg.Progress != nil {
		go progress(mctx, cfg, st, start, progressDone)
	} else {
		close(progressDone)
	}
	cfg.loop(mctx, op, st)
	elapsed := time.Since(start)
	cancel()
	<-progressDone
	h := hdrhistogram.New(histMin, histMax, histSig)
	for _, x := range st.hists {
		h.Merge(x)
	}
	ops := st.ops.Load()
	r := Result{
		Name: cfg.Name, Clients: cfg.Clients, Ops: ops, Units: ops * int64(cfg.PerOp), Errors: st.errs.Load(),
		Seconds: elapsed.Seconds(), Unit: cfg.Unit, Latency: latencyOf(h), Offered: cfg.Rate,
	}
	if e := st.firstErr.Load(); e != nil {
		r.FirstError = (*e).Error()
	}
	r.Throughput = float64(r.Units) / r.Seconds
	return r, ctx.Err()
}

// latencyOf converts a histogram in microseconds to milliseconds.
func latencyOf(h *hdrhistogram.Histogram) Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Mean: h.Mean() / 1000,
	}
}

type loopStats struct {
	hists    []*hdrhistogram.Histogram // one per worker: no lock on the hot path
	ops      atomic.Int64
	errs     atomic.Int64
	firstErr atomic.Pointer[error]
}

func (c *RunConfig) loop(ctx context.Context, op Op, st *loopStats) {
	if c.Rate > 0 {
		drain := c.Drain
		if drain <= 0 {
			drain = defaultDrain
		}
		pacedLoop(ctx, c.Clients, c.Rate, drain, op, st)
		return
	}
	runLoop(ctx, c.Clients, op, st)
}

// runLoop runs the workers until ctx ends or one is exhausted. st is nil
// during warm-up.
func runLoop(ctx context.Context, clients int, op Op, st *loopStats) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t := time.Now()
				err := op(ctx, w)
				d := time.Since(t)
				if errors.Is(err, ErrExhausted) {
					cancel()
					return
				}
				if st == nil {
					continue
				}
				if err != nil {
					if ctx.Err() != nil {
						return // cut off by the end of the run: neither success nor failure
					}
					st.errs.Add(1)
					st.firstErr.CompareAndSwap(nil, &err)
					continue
				}
				st.hists[w].RecordValue(max(d.Microseconds(), histMin))
				st.ops.Add(1)
			}
		}()
	}
	wg.Wait()
}

// errNotAnswered marks a paced operation that fell due but was not
// answered before the run gave up on its backlog.
var errNotAnswered = errors.New("bench: due but not answered within the drain time after the run")

// defaultDrain is how long a paced run waits, after its measured time,
// for the operations that fell due before the end.
const defaultDrain = 5 * time.Second

// pacedLoop offers operations at rate per second until ctx ends, to the
// clients workers (at most that many are in flight; the rest queue). An
// operation's latency runs from the moment it was due, not from when a
// worker took it up: when the workers fall behind, the wait counts, as it
// would for a caller (no coordinated omission). When the measured time
// ends, operations that fell due before it still run, under a context of
// their own, for at most drain; any left then count as errors, so
// that a backlog is never dropped from the figures. A cancelled run (as
// opposed to one whose time ran out) stops them at once.
func pacedLoop(ctx context.Context, clients int, rate float64, drain time.Duration, op Op, st *loopStats) {
	due := make(chan time.Time, 4096)
	opCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopOnCancel := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			cancel()
		}
	})
	defer stopOnCancel()
	var exhausted atomic.Bool
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for at := range due {
				var err error
				if opCtx.Err() == nil {
					err = op(opCtx, w)
				} else {
					err = errNotAnswered
				}
				d := time.Since(at)
				if errors.Is(err, ErrExhausted) {
					exhausted.Store(true)
					cancel()
				}
				if st == nil || exhausted.Load() {
					continue
				}
				if err != nil {
					if opCtx.Err() != nil {
						err = errNotAnswered
					}
					st.errs.Add(1)
					st.firstErr.CompareAndSwap(nil, &err)
					continue
				}
				st.hists[w].RecordValue(max(d.Microseconds(), histMin))
				st.ops.Add(1)
			}
		}()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	dueAt := func(i int64) time.Time { return start.Add(time.Duration(i) * interval) }
offer:
	for i := int64(0); ; {
		for ; !dueAt(i).After(time.Now()); i++ {
			select {
			case due <- dueAt(i):
			case <-ctx.Done():
				break offer
			case <-opCtx.Done():
				break offer
			}
		}
		select {
		case <-ctx.Done():
			break offer
		case <-opCtx.Done():
			break offer
		case <-time.After(time.Until(dueAt(i))):
		}
	}
	close(due)
	giveUp := time.AfterFunc(drain, cancel)
	defer giveUp.Stop()
	wg.Wait()
}

// progress writes one line per second: elapsed time, operations so far and
// the rate over the last second.
func progress(ctx context.Context, cfg RunConfig, st *loopStats, start time.Time, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n := st.ops.Load()
			fmt.Fprintf(cfg.Progress, "  %-28s %5.1fs  %9d ops  %10.0f %s  errors %d\n",
				cfg.Name, time.Since(start).Seconds(), n, float64((n-last)*int64(cfg.PerOp)), cfg.Unit, st.errs.Load())
			last = n
		}
	}
}
