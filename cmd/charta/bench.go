package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/internal/bench"
	"github.com/charta/charta/internal/devnet"
	"github.com/charta/charta/ledger"
)

// benchOpts are the settings of one `charta bench` run.
type benchOpts struct {
	// cfg holds the flags that the suite takes as they are.
	cfg     bench.SuiteConfig
	nodes   int
	scheme  string
	compare string
	jsonOut string
	mdOut   string
	dir     string
	keep    bool
	// serveNoop and serveRaft make this process one of the baseline
	// servers that the suite starts.
	serveNoop string
	serveRaft string
}

func benchCmd() *command {
	o := benchOpts{cfg: bench.DefaultSuiteConfig()}
	def := o.cfg
	var compare []string
	writeBaselines := true
	for _, s := range def.Compare {
		compare = append(compare, string(s))
	}
	return &command{
		name: "bench", summary: "Measure a local cluster of real node processes against same-run baselines",
		example: `  charta bench --duration 10s --json bench.json
  charta bench --workload write --scheme ml-dsa-44 --clients 64 --profile prof/`,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&o.nodes, "nodes", len(devMembers), "cluster size (3: the dev members alpha, beta, gamma)")
			fs.IntVar(&o.cfg.Clients, "clients", def.Clients, "concurrent writers for the throughput runs")
			fs.IntVar(&o.cfg.CheckConns, "check-conns", def.CheckConns, "concurrent connections for the check runs")
			fs.DurationVar(&o.cfg.Duration, "duration", def.Duration, "measured time of each run")
			fs.DurationVar(&o.cfg.Warmup, "warmup", def.Warmup, "unmeasured time before each run")
			fs.StringVar(&o.scheme, "scheme", string(def.Scheme), "signature scheme of the main cluster")
			fs.StringVar(&o.compare, "compare-schemes", strings.Join(compare, ","), "further schemes whose signed-write throughput is measured (workload write or all; \"\" for none)")
			fs.StringVar(&o.cfg.Workload, "workload", def.Workload, "write, check, check-batch, scale, gateway or all")
			fs.IntVar(&o.cfg.ScaleEntries, "scale-entries", def.ScaleEntries, "entries of the preloaded state for the scale workload (T6-T8; workload scale or all; 0 to skip)")
			fs.StringVar(&o.jsonOut, "json", "", "write the report as JSON to this file")
			fs.StringVar(&o.mdOut, "markdown", "", "write the targets and results as Markdown tables to this file")
			fs.StringVar(&o.cfg.ProfileDir, "profile", "", "save CPU profiles of the nodes (from their pprof listeners) into this directory")
			fs.StringVar(&o.dir, "dir", "", "working directory for keys, node data and baselines (default a new temporary directory, removed afterwards)")
			fs.StringVar(&o.cfg.Bin, "bin", os.Getenv("CHARTA_BIN"), "charta binary to run the nodes with (env CHARTA_BIN; default this one)")
			fs.IntVar(&o.cfg.Batch, "batch", def.Batch, "questions per batched check request")
			fs.IntVar(&o.cfg.NodeProcs, "node-procs", def.NodeProcs, "GOMAXPROCS of each node, raw-raft server and no-op server (0: Go's default, every core)")
			fs.BoolVar(&writeBaselines, "write-baselines", true, "run the raw-raft and bbolt baselines with the write workload (false: the signed writes only)")
			fs.BoolVar(&o.keep, "keep", false, "keep the working directory")
			fs.Float64Var(&o.cfg.LedgerCheck, "ledger-check-rate", 0, "in-process ledger.Check rate from BenchmarkCheck, to include in the report (checks/s)")
			fs.StringVar(&o.serveNoop, "serve-noop", "", "internal: serve the no-op HTTP baseline on this address and do nothing else")
			fs.StringVar(&o.serveRaft, "serve-raft", "", "internal: run the raw-Raft baseline server this JSON spec file names and do nothing else")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if o.serveRaft != "" {
				return bench.ServeRaftBaselineFile(e.ctx, o.serveRaft, e.stdout)
			}
			if o.serveNoop != "" {
				ln, err := net.Listen("tcp", o.serveNoop)
				if err != nil {
					return err
				}
				return bench.ServeNoop(e.ctx, ln)
			}
			if err := o.validate(); err != nil {
				return err
			}
			o.cfg.SkipWriteBaselines = !writeBaselines
			return runBench(e, o)
		},
	}
}

func (o *benchOpts) validate() error {
	switch {
	case o.nodes != len(devMembers):
		return usagef("--nodes: only %d is supported (the dev members %s)", len(devMembers), strings.Join(devMembers, ", "))
	case o.cfg.Clients < 1 || o.cfg.CheckConns < 1:
		return usagef("--clients and --check-conns must be at least 1")
	case o.cfg.Duration <= 0 || o.cfg.Warmup < 0:
		return usagef("--duration must be positive and --warmup not negative")
	case o.cfg.Batch < 1:
		return usagef("--batch must be at least 1")
	case o.cfg.NodeProcs < 0:
		return usagef("--node-procs must not be negative")
	}
	switch o.cfg.Workload {
	case bench.WorkloadWrite, bench.WorkloadCheck, bench.WorkloadCheckBatch, bench.WorkloadScale, bench.WorkloadGateway, bench.WorkloadAll:
	default:
		return usagef("--workload must be write, check, check-batch, scale, gateway or all, not %q", o.cfg.Workload)
	}
	if o.cfg.ScaleEntries < 0 || o.cfg.Workload == bench.WorkloadScale && o.cfg.ScaleEntries == 0 {
		return usagef("--scale-entries must be positive for the scale workload")
	}
	for _, s := range append(split(o.compare), o.scheme) {
		if !ledger.Scheme(s).Valid() {
			return usagef("%q is not a scheme (ed25519, ml-dsa-44, ml-dsa-65, ml-dsa-65+ed25519)", s)
		}
	}
	return nil
}

// runBench runs the suite in the working directory and prints and writes
// its report.
func runBench(e *env, o benchOpts) error {
	cfg := o.cfg
	cfg.Members, cfg.Scheme, cfg.Compare = devMembers, ledger.Scheme(o.scheme), nil
	for _, s := range split(o.compare) {
		cfg.Compare = append(cfg.Compare, ledger.Scheme(s))
	}
	if cfg.Bin == "" {
		bin, err := os.Executable()
		if err != nil {
			return err
		}
		cfg.Bin = bin
	}
	cfg.Dir = o.dir
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "charta-bench-")
		if err != nil {
			return err
		}
		cfg.Dir = d
		if !o.keep {
			defer os.RemoveAll(d)
		}
	} else if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	rep := &bench.Report{
		Started: time.Now().UTC().Truncate(time.Second),
		Command: "charta bench " + strings.Join(os.Args[min(2, len(os.Args)):], " "),
		Machine: bench.ThisMachine(),
		Settings: map[string]string{
			"nodes": strconv.Itoa(o.nodes), "clients": strconv.Itoa(cfg.Clients), "check_conns": strconv.Itoa(cfg.CheckConns),
			"duration": cfg.Duration.String(), "warmup": cfg.Warmup.String(), "scheme": o.scheme, "compare_schemes": o.compare,
			"workload": cfg.Workload, "batch": strconv.Itoa(cfg.Batch), "node_procs": strconv.Itoa(cfg.NodeProcs), "dir": cfg.Dir,
			"write_baselines": strconv.FormatBool(!cfg.SkipWriteBaselines),
		},
	}
	fmt.Fprintf(e.stdout, "charta bench: %d CPUs (%s), %s; working directory %s\n", rep.Machine.CPUs, rep.Machine.CPUModel, rep.Machine.GoVersion, cfg.Dir)
	if err := bench.RunSuite(e.ctx, cfg, bench.Deps{NewCluster: newBenchCluster, Progress: e.stdout}, rep); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout)
	rep.PrintTable(e.stdout)
	if o.jsonOut != "" {
		if err := rep.WriteJSON(o.jsonOut); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\nreport written to %s\n", o.jsonOut)
	}
	if o.mdOut != "" {
		var b bytes.Buffer
		rep.Markdown(&b)
		if err := os.WriteFile(o.mdOut, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// newBenchCluster prepares a local consortium for the suite (bench.Deps).
func newBenchCluster(dir string, base int, scheme ledger.Scheme, env []string) (bench.Cluster, error) {
	c := &devnet.Cluster{Dir: dir, Base: base, Scheme: scheme, Env: env}
	if _, err := c.Prepare(); err != nil {
		return nil, err
	}
	return c, nil
}
