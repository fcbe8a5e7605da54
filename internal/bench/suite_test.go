package bench

import (
	"math"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

func validSuiteConfig() SuiteConfig {
	c := DefaultSuiteConfig()
	c.Dir, c.Bin, c.Members = "/tmp/bench", "/bin/charta", []string{"alpha", "beta", "gamma"}
	return c
}

func TestSuiteConfig_Validate(t *testing.T) {
	if c := validSuiteConfig(); c.Validate() != nil {
		t.Fatalf("the default settings with a directory, a binary and members: %v", c.Validate())
	}
	for name, mod := range map[string]func(*SuiteConfig){
		"no directory":          func(c *SuiteConfig) { c.Dir = "" },
		"no binary":             func(c *SuiteConfig) { c.Bin = "" },
		"no members":            func(c *SuiteConfig) { c.Members = nil },
		"no clients":            func(c *SuiteConfig) { c.Clients = 0 },
		"no check connections":  func(c *SuiteConfig) { c.CheckConns = 0 },
		"empty batch":           func(c *SuiteConfig) { c.Batch = 0 },
		"no duration":           func(c *SuiteConfig) { c.Duration = 0 },
		"negative warm-up":      func(c *SuiteConfig) { c.Warmup = -time.Second },
		"negative node procs":   func(c *SuiteConfig) { c.NodeProcs = -1 },
		"negative scale":        func(c *SuiteConfig) { c.ScaleEntries = -1 },
		"unknown workload":      func(c *SuiteConfig) { c.Workload = "read" },
		"unknown scheme":        func(c *SuiteConfig) { c.Scheme = "rsa" },
		"unknown compared one":  func(c *SuiteConfig) { c.Compare = []ledger.Scheme{ledger.SchemeEd25519, "rsa"} },
		"empty compared scheme": func(c *SuiteConfig) { c.Compare = []ledger.Scheme{""} },
	} {
		c := validSuiteConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestTargets_FromResults states every target from a report that holds
// each result they are computed from, and checks the figures, the ratios
// and whether each is met.
func TestTargets_FromResults(t *testing.T) {
	cfg := validSuiteConfig()
	cfg.Clients, cfg.CheckConns, cfg.Batch = 4, 2, 10
	cfg.Scheme, cfg.Compare = ledger.SchemeEd25519, []ledger.Scheme{ledger.SchemeMLDSA44}
	cfg.LedgerCheck = 1234
	rep := &Report{}
	for _, r := range []Result{
		{Name: "raft baseline 1c", Throughput: 400, Latency: Latency{P50: 2}},
		{Name: "raft baseline 4c", Throughput: 1000},
		{Name: "write ed25519 1c", Throughput: 100, Unit: "writes/s", Latency: Latency{P50: 2.5, P99: 10}},
		{Name: "write ed25519 4c", Throughput: 600, Unit: "writes/s"},
		{Name: "write ml-dsa-44 4c", Throughput: 800, Unit: "writes/s"},
		{Name: "bbolt 1-record tx", Throughput: 100},
		{Name: "check 2c", Throughput: 700, Unit: "checks/s"},
		{Name: "noop http baseline 2c", Throughput: 1000},
		{Name: "check-batch 2c", Throughput: 600000, Unit: "checks/s"},
		{Name: "check paced under writes 2c", Offered: 350, Latency: Latency{P99: 3}},
		{Name: "check paced idle 2c", Latency: Latency{P99: 1}},
		{Name: "noop paced under writes 2c", Offered: 350, Latency: Latency{P99: 2}},
		{Name: "noop paced idle 2c", Latency: Latency{P99: 1}},
	} {
		rep.Add(r)
	}
	s := &suite{cfg: cfg, rep: rep, scale: []*scalePoint{
		{entries: 100, preload: time.Second, restart: time.Second, heapInUse: 10 << 20},
		{entries: 1000, preload: 2 * time.Second, restart: 1500 * time.Millisecond, heapInUse: 100 << 20, catchUp: 3 * time.Second},
		{entries: 2000, preload: 4 * time.Second, restart: 3 * time.Second, heapInUse: 120 << 20},
	}}
	s.targets()

	type want struct {
		id            string
		measured      float64
		ratio         float64
		met           bool
		baselineIsSet bool
	}
	wants := []want{
		{"T1", 600, 0.6, true, true}, // ed25519 has no target: reported
		{"T1", 800, 0.8, true, true}, // ml-dsa-44: >= 0.70
		{"T2", 2.5, 1.25, true, true},
		{"T2", 10, 4, false, true},
		{"T3", 600, 6, false, true},
		{"T3", 600, 6, true, true},
		{"T4", 700, 0.7, true, true},
		{"T4", 600000, 0, true, false},
		{"T5", 3, 3, false, true},
		{"T5", 2, 2, false, true}, // the no-op reference is reported, never met
		{"T6", 100, 0, true, false},
		{"T6", 120, 1.2, false, true},
		{"T7", 1.5, 0, true, false},
		{"T7", 1.5, 1.5, true, true},
		{"T8", 3, 0, true, false},
		{"T4", 1234, 0, false, false},
	}
	if len(rep.Targets) != len(wants) {
		t.Fatalf("%d targets, want %d: %+v", len(rep.Targets), len(wants), rep.Targets)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	for i, w := range wants {
		g := rep.Targets[i]
		if g.ID != w.id || !near(g.Measured, w.measured) || !near(g.Ratio, w.ratio) || g.Met != w.met || (g.Baseline != 0) != w.baselineIsSet {
			t.Errorf("target %d: %+v, want %+v", i, g, w)
		}
	}
	for _, name := range []string{"scale 100 entries", "scale 1000 entries", "scale 2000 entries"} {
		if r, ok := rep.Find(name); !ok || r.Units == 0 || r.Throughput != float64(r.Units)/r.Seconds {
			t.Errorf("scale result %q: %+v", name, r)
		}
	}
}

// TestTargets_OnlyFromResultsThatExist states no target whose results
// are missing, as when one workload runs alone.
func TestTargets_OnlyFromResultsThatExist(t *testing.T) {
	cfg := validSuiteConfig()
	cfg.Scheme, cfg.Clients, cfg.CheckConns = ledger.SchemeEd25519, 4, 2
	rep := &Report{}
	rep.Add(Result{Name: "check-batch 2c", Throughput: 100, Unit: "checks/s"})
	(&suite{cfg: cfg, rep: rep}).targets()
	if len(rep.Targets) != 1 || rep.Targets[0].ID != "T4" || rep.Targets[0].Met {
		t.Errorf("targets %+v, want only an unmet batched T4", rep.Targets)
	}
}
