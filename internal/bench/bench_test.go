package bench

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsOpsUnitsAndErrors(t *testing.T) {
	var n atomic.Int64
	cfg := RunConfig{Name: "t", Clients: 3, Duration: 300 * time.Millisecond, PerOp: 10, Unit: "x/s"}
	r, err := Run(context.Background(), cfg, func(context.Context, int) error {
		time.Sleep(time.Millisecond)
		if n.Add(1)%5 == 0 {
			return errors.New("boom")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops == 0 || r.Errors == 0 || r.Units != r.Ops*10 || r.FirstError != "boom" {
		t.Fatalf("result %+v", r)
	}
	if r.Latency.P50 < 1 || r.Latency.P99 < r.Latency.P50 || r.Latency.Max < r.Latency.P99 {
		t.Fatalf("latency %+v, want p50 >= 1 ms and ordered percentiles", r.Latency)
	}
	if got := float64(r.Units) / r.Seconds; got != r.Throughput {
		t.Fatalf("throughput %v, want %v", r.Throughput, got)
	}
}

func TestRunStopsWhenExhausted(t *testing.T) {
	var n atomic.Int64
	start := time.Now()
	r, err := Run(context.Background(), RunConfig{Name: "t", Clients: 4, Duration: time.Minute}, func(context.Context, int) error {
		if n.Add(1) > 100 {
			return ErrExhausted
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops != 100 || time.Since(start) > 10*time.Second {
		t.Fatalf("ops %d after %s, want 100 and an early end", r.Ops, time.Since(start))
	}
}

func TestRunConfigValidate(t *testing.T) {
	c := DefaultRunConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Clients = 0
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "bench: ") {
		t.Fatalf("err %v", err)
	}
}

func TestReadProcSelf(t *testing.T) {
	// Some CPU time first: /proc counts it in 10 ms ticks.
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	}
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.PeakRSS < s.RSS {
		t.Fatalf("sample %+v", s)
	}
	u := Usage("self", ProcSample{At: s.At.Add(-time.Second)}, s)
	if u.CPUPercent <= 0 || u.RSSMiB <= 0 {
		t.Fatalf("usage %+v", u)
	}
}

// TestReadProcRunWait oversubscribes the cores with busy threads and
// expects their wait for a core in the sample.
func TestReadProcRunWait(t *testing.T) {
	if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(os.Getpid()) + "/schedstat"); err != nil {
		t.Skip("no scheduler statistics:", err)
	}
	threads := 3 * runtime.NumCPU()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	before, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	after, err := ReadProc(os.Getpid())
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	// Three busy threads per core: two of them wait at any time, so the
	// waits sum to about 200 % of the wall time per core.
	want := 100 * float64(threads-runtime.NumCPU()) / 2
	if u := Usage("self", before, after); u.RunWaitPercent < want {
		t.Fatalf("run-queue wait %.0f %% of the wall time with %d busy threads on %d cores, want at least %.0f %%", u.RunWaitPercent, threads, runtime.NumCPU(), want)
	}
}

func TestBoltTxRate(t *testing.T) {
	r, err := BoltTxRate(context.Background(), filepath.Join(t.TempDir(), "b.db"), 512, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops == 0 || r.Unit != "tx/s" {
		t.Fatalf("result %+v", r)
	}
}

func TestNoopHandler(t *testing.T) {
	srv := httptest.NewServer(NoopHandler())
	defer srv.Close()
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		req, _ := http.NewRequest(m, srv.URL+"/v1/check?member=a", strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", m, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func TestCommas(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -4500: "-4,500"} {
		if got := commas(v); got != want {
			t.Errorf("commas(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestRunPacedOffersTheRate(t *testing.T) {
	cfg := RunConfig{Name: "paced", Clients: 4, Rate: 200, Duration: 500 * time.Millisecond, Unit: "x/s"}
	r, err := Run(context.Background(), cfg, func(context.Context, int) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops < 80 || r.Ops > 110 {
		t.Fatalf("%d operations in 500 ms at 200/s, want about 100", r.Ops)
	}
	if r.Latency.P50 < 1 {
		t.Fatalf("latency %+v, want p50 >= 1 ms", r.Latency)
	}
}

// A paced run counts the wait behind slow answers: one worker offered 100
// operations a second that each take 20 ms falls further behind with each
// one, and its latencies must show it.
func TestRunPacedCountsTheBacklog(t *testing.T) {
	cfg := RunConfig{Name: "backlog", Clients: 1, Rate: 100, Duration: 300 * time.Millisecond, Unit: "x/s"}
	r, err := Run(context.Background(), cfg, func(context.Context, int) error {
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops < 25 {
		t.Fatalf("%d operations, want the whole backlog of about 30 run", r.Ops)
	}
	if r.Latency.Max < 200 {
		t.Fatalf("latency %+v, want the last of the backlog to wait over 200 ms", r.Latency)
	}
}

// A paced run's backlog at the end is run for the drain time and what is
// left counts as errors, never silently dropped; a cancelled run stops at
// once.
func TestRunPacedBacklogAndCancel(t *testing.T) {
	block := func(ctx context.Context, _ int) error { <-ctx.Done(); return ctx.Err() }
	cfg := RunConfig{Name: "stuck", Clients: 2, Rate: 100, Duration: 200 * time.Millisecond, Drain: 100 * time.Millisecond}
	start := time.Now()
	r, err := Run(context.Background(), cfg, block)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v, want the duration plus the drain", d)
	}
	if r.Ops != 0 || r.Errors < 15 || !strings.Contains(r.FirstError, "not answered") {
		t.Errorf("result %+v, want about 20 operations counted as not answered", r)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	cfg.Duration, cfg.Drain = time.Minute, time.Minute
	if _, err := Run(ctx, cfg, block); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelled run took %v", d)
	}
}

func TestRunConfigValidateRate(t *testing.T) {
	for _, rate := range []float64{-1, math.NaN(), math.Inf(1), 2e9} {
		cfg := RunConfig{Name: "r", Clients: 1, Duration: time.Second, Rate: rate}
		if cfg.Validate() == nil {
			t.Errorf("rate %v accepted", rate)
		}
	}
}
