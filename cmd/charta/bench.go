package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/internal/bench"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// benchOpts are the settings of one `charta bench` run.
type benchOpts struct {
	nodes       int
	clients     int
	checkConns  int
	duration    time.Duration
	warmup      time.Duration
	scheme      string
	compare     string
	workload    string
	jsonOut     string
	mdOut       string
	profileDir  string
	dir         string
	bin         string
	batch       int
	keep        bool
	ledgerCheck float64
	serveNoop   string
	serveRaft   string
	// nodeProcs is the GOMAXPROCS the bench gives each server process.
	nodeProcs int
	// scaleEntries is the size of the preloaded state of the scale
	// workload (T6–T8); 0 skips it.
	scaleEntries int
}

func benchCmd() *command {
	var o benchOpts
	return &command{
		name: "bench", summary: "Measure a local cluster of real node processes against same-run baselines",
		example: `  charta bench --duration 10s --json bench.json
  charta bench --workload write --scheme ml-dsa-44 --clients 64 --profile prof/`,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&o.nodes, "nodes", 3, "cluster size (3: the dev members alpha, beta, gamma)")
			fs.IntVar(&o.clients, "clients", 256, "concurrent writers for the throughput runs")
			fs.IntVar(&o.checkConns, "check-conns", 64, "concurrent connections for the check runs")
			fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each run")
			fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured time before each run")
			fs.StringVar(&o.scheme, "scheme", string(ledger.SchemeComposite), "signature scheme of the main cluster")
			fs.StringVar(&o.compare, "compare-schemes", "ml-dsa-44,ed25519,ml-dsa-65", "further schemes whose signed-write throughput is measured (workload write or all; \"\" for none)")
			fs.StringVar(&o.workload, "workload", "all", "write, check, check-batch, scale or all")
			fs.IntVar(&o.scaleEntries, "scale-entries", 1000000, "entries of the preloaded state for the scale workload (T6-T8; workload scale or all; 0 to skip)")
			fs.StringVar(&o.jsonOut, "json", "", "write the report as JSON to this file")
			fs.StringVar(&o.mdOut, "markdown", "", "write the targets and results as Markdown tables to this file")
			fs.StringVar(&o.profileDir, "profile", "", "save CPU profiles of the nodes (from their pprof listeners) into this directory")
			fs.StringVar(&o.dir, "dir", "", "working directory for keys, node data and baselines (default a new temporary directory, removed afterwards)")
			fs.StringVar(&o.bin, "bin", os.Getenv("CHARTA_BIN"), "charta binary to run the nodes with (env CHARTA_BIN; default this one)")
			fs.IntVar(&o.batch, "batch", 100, "questions per batched check request")
			fs.IntVar(&o.nodeProcs, "node-procs", 0, "GOMAXPROCS of each node, raw-raft server and no-op server (0: Go's default, every core)")
			fs.BoolVar(&o.keep, "keep", false, "keep the working directory")
			fs.Float64Var(&o.ledgerCheck, "ledger-check-rate", 0, "in-process ledger.Check rate from BenchmarkCheck, to include in the report (checks/s)")
			fs.StringVar(&o.serveNoop, "serve-noop", "", "internal: serve the no-op HTTP baseline on this address and do nothing else")
			fs.StringVar(&o.serveRaft, "serve-raft", "", "internal: run the raw-Raft baseline server this JSON spec file names and do nothing else")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if o.serveRaft != "" {
				return serveRaftBaseline(e, o.serveRaft)
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
			return runBench(e, o)
		},
	}
}

func (o *benchOpts) validate() error {
	switch {
	case o.nodes != len(devMembers):
		return usagef("--nodes: only %d is supported (the dev members %s)", len(devMembers), strings.Join(devMembers, ", "))
	case o.clients < 1 || o.checkConns < 1:
		return usagef("--clients and --check-conns must be at least 1")
	case o.duration <= 0 || o.warmup < 0:
		return usagef("--duration must be positive and --warmup not negative")
	case o.batch < 1:
		return usagef("--batch must be at least 1")
	case o.nodeProcs < 0:
		return usagef("--node-procs must not be negative")
	}
	switch o.workload {
	case "write", "check", "check-batch", "scale", "all":
	default:
		return usagef("--workload must be write, check, check-batch, scale or all, not %q", o.workload)
	}
	if o.scaleEntries < 0 || o.workload == "scale" && o.scaleEntries == 0 {
		return usagef("--scale-entries must be positive for the scale workload")
	}
	for _, s := range append(split(o.compare), o.scheme) {
		if !ledger.Scheme(s).Valid() {
			return usagef("%q is not a scheme (ed25519, ml-dsa-44, ml-dsa-65, ml-dsa-65+ed25519)", s)
		}
	}
	return nil
}

// benchRun is the state of one `charta bench` run.
type benchRun struct {
	ctx  context.Context
	o    benchOpts
	out  io.Writer
	root string
	bin  string
	rep  *bench.Report
	// recordSize is the size of a signed write's log entry per scheme,
	// which the raw-Raft baseline's entries match.
	recordSize map[string]int
	// scale holds the scale workload's measurements, for the targets.
	scale []*scalePoint
}

func runBench(e *env, o benchOpts) error {
	// The raw-Raft baseline's processes write their progress lines to the
	// same output, from exec's copying goroutines.
	r := &benchRun{ctx: e.ctx, o: o, out: &lockedWriter{w: e.stdout}, bin: o.bin, recordSize: map[string]int{}}
	if r.bin == "" {
		r.bin = selfPath()
	}
	r.root = o.dir
	if r.root == "" {
		d, err := os.MkdirTemp("", "charta-bench-")
		if err != nil {
			return err
		}
		r.root = d
		if !o.keep {
			defer os.RemoveAll(d)
		}
	} else if err := os.MkdirAll(r.root, 0o755); err != nil {
		return err
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	r.rep = &bench.Report{
		Started: time.Now().UTC().Truncate(time.Second),
		Command: "charta bench " + strings.Join(os.Args[min(2, len(os.Args)):], " "),
		Machine: bench.ThisMachine(),
		Settings: map[string]string{
			"nodes": strconv.Itoa(o.nodes), "clients": strconv.Itoa(o.clients), "check_conns": strconv.Itoa(o.checkConns),
			"duration": o.duration.String(), "warmup": o.warmup.String(), "scheme": o.scheme, "compare_schemes": o.compare,
			"workload": o.workload, "batch": strconv.Itoa(o.batch), "node_procs": strconv.Itoa(o.nodeProcs), "dir": r.root,
		},
	}
	fmt.Fprintf(r.out, "charta bench: %d CPUs (%s), %s; working directory %s\n", r.rep.Machine.CPUs, r.rep.Machine.CPUModel, r.rep.Machine.GoVersion, r.root)
	if err := r.all(); err != nil {
		return err
	}
	r.targets()
	fmt.Fprintln(r.out)
	r.rep.PrintTable(r.out)
	if o.jsonOut != "" {
		if err := r.rep.WriteJSON(o.jsonOut); err != nil {
			return err
		}
		fmt.Fprintf(r.out, "\nreport written to %s\n", o.jsonOut)
	}
	if o.mdOut != "" {
		var b bytes.Buffer
		r.rep.Markdown(&b)
		if err := os.WriteFile(o.mdOut, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (r *benchRun) wants(w string) bool { return r.o.workload == "all" || r.o.workload == w }

// all runs the selected workloads: the main cluster first, then the
// baselines, then the other schemes' clusters.
func (r *benchRun) all() error {
	if r.o.workload == "scale" {
		return r.scaleRuns()
	}
	c, err := r.startCluster(r.o.scheme)
	if err != nil {
		return err
	}
	err = r.mainWorkloads(c)
	c.stop()
	if err != nil {
		return err
	}
	if r.wants("write") {
		if err := r.writeBaselines(c); err != nil {
			return err
		}
	}
	if r.wants("check") {
		if err := r.noopBaseline(); err != nil {
			return err
		}
	}
	if r.wants("write") {
		for _, s := range split(r.o.compare) {
			if s == r.o.scheme {
				continue
			}
			c, err := r.startCluster(s)
			if err != nil {
				return err
			}
			_, err = r.writeRun(c, r.o.clients, "write "+s)
			c.stop()
			if err != nil {
				return err
			}
		}
	}
	if r.wants("scale") && r.o.scaleEntries > 0 {
		return r.scaleRuns()
	}
	return nil
}

func (r *benchRun) mainWorkloads(c *benchCluster) error {
	var maxWrites float64
	if r.wants("write") {
		if _, err := r.writeRun(c, 1, "write "+r.o.scheme); err != nil {
			return err
		}
		res, err := r.writeRun(c, r.o.clients, "write "+r.o.scheme)
		if err != nil {
			return err
		}
		maxWrites = res.Throughput
	}
	if r.wants("check") || r.wants("check-batch") {
		fmt.Fprintln(r.out, "seeding assets and grants for the checks...")
		if err := seedDemo(r.ctx, c.d, io.Discard); err != nil {
			return fmt.Errorf("seeding: %w", err)
		}
	}
	if r.wants("check") {
		if _, err := r.checkRun(c.d.apiURL(0), c.procs(), "check", 1, 0, c.pprof(0)); err != nil {
			return err
		}
	}
	if r.wants("check-batch") {
		if _, err := r.checkRun(c.d.apiURL(0), c.procs(), "check-batch", r.o.batch, 0, c.pprof(0)); err != nil {
			return err
		}
	}
	if r.wants("check") && maxWrites > 0 {
		if err := r.checkUnderWrites(c, maxWrites/2); err != nil {
			return err
		}
	}
	return nil
}

// t5CheckShare is the share of the check throughput under writes at which
// T5 offers checks: a load the node sustains while it writes.
const t5CheckShare = 0.5

// checkUnderWrites measures T5. While writers submit signed proposals to
// the leader at rate per second (half the measured maximum), paced
// open-loop from a pre-signed pool, it runs the closed-loop check (its
// latency at saturation is set by its throughput, by Little's law, not by
// the service time), then offers checks at a fixed rate of t5CheckShare
// of that throughput (open loop). The same fixed rate is then offered to
// the idle cluster. T5 compares the two open-loop p99s.
func (r *benchRun) checkUnderWrites(c *benchCluster, rate float64) error {
	// The no-op handler takes the same fixed-rate load beside the same
	// writes: what the machine's shared cores alone do to a p99.
	noop, err := r.startNoop()
	if err != nil {
		return err
	}
	defer noop.stop()
	// Three runs under writes; each paced one may drain for up to 5 s
	// after its warm-up and after its measured time.
	total := 3*(r.o.warmup+r.o.duration) + 4*5*time.Second
	n := int(rate*total.Seconds()*1.2) + 100
	fmt.Fprintf(r.out, "checks under a write load of %.0f writes/s: signing %d proposals...\n", rate, n)
	pool, err := r.presign(c, n, "t5")
	if err != nil {
		return err
	}
	const writers = 64
	hc := httpClient(writers)
	u := c.d.apiURL(c.leader) + "/v1/proposals"
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	var done, failed atomic.Int64
	jobs := make(chan []byte, writers)
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				if err := postOrGet(ctx, hc, http.MethodPost, u, "", b); err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				done.Add(1)
			}
		}()
	}
	start := time.Now()
	go func() {
		defer close(jobs)
		for i := 0; i < len(pool); {
			for due := int(time.Since(start).Seconds() * rate); i < due && i < len(pool); i++ {
				select {
				case jobs <- pool[i]:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	pprofAddr := ""
	if r.o.profileDir != "" {
		pprofAddr = c.pprof(0)
	}
	saturated, err := r.checkRun(c.d.apiURL(0), c.procs(), "check under writes", 1, 0, pprofAddr)
	checkRate := saturated.Throughput * t5CheckShare
	if err == nil && checkRate <= 0 {
		err = fmt.Errorf("bench: the check run under writes answered nothing (%d errors, first: %s)", saturated.Errors, saturated.FirstError)
	}
	if err == nil {
		_, err = r.checkRun(c.d.apiURL(0), c.procs(), "check paced under writes", 1, checkRate, "")
	}
	if err == nil {
		_, err = r.noopRun(noop, fmt.Sprintf("noop paced under writes %dc", r.o.checkConns), checkRate)
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	w := bench.Result{Name: "writes during check under writes", Clients: writers, Ops: done.Load(), Units: done.Load(), Errors: failed.Load(),
		Seconds: elapsed.Seconds(), Throughput: float64(done.Load()) / elapsed.Seconds(), Unit: "writes/s"}
	r.rep.Add(w)
	fmt.Fprintf(r.out, "  writes during the check run: %.0f writes/s (wanted %.0f), %d errors\n", w.Throughput, rate, w.Errors)
	if _, err = r.checkRun(c.d.apiURL(0), c.procs(), "check paced idle", 1, checkRate, ""); err != nil {
		return err
	}
	_, err = r.noopRun(noop, fmt.Sprintf("noop paced idle %dc", r.o.checkConns), checkRate)
	return err
}

// benchCluster is a dev cluster started for benchmarking.
type benchCluster struct {
	d      *devCluster
	scheme string
	exited chan error
	leader int // index of the leader's node at the start
}

func (c *benchCluster) stop() { c.d.stop() }

func (c *benchCluster) procs() bench.ProcSet {
	var p bench.ProcSet
	for i, cmd := range c.d.procs {
		p.Names = append(p.Names, devMembers[i])
		p.PIDs = append(p.PIDs, cmd.Process.Pid)
	}
	return p
}

func (c *benchCluster) pprof(i int) string { return fmt.Sprintf("127.0.0.1:%d", c.d.base+201+i) }

// startCluster prepares and starts a 3-node cluster whose members sign
// with scheme, registers their API tokens and finds the leader.
func (r *benchRun) startCluster(scheme string) (*benchCluster, error) {
	base, err := freePortBase()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(r.root, "cluster-"+strings.ReplaceAll(scheme, "+", "-"))
	os.RemoveAll(dir)
	c := &benchCluster{d: &devCluster{dir: dir, base: base, scheme: ledger.Scheme(scheme), out: io.Discard, env: r.o.procsEnv()},
		scheme: scheme, exited: make(chan error, len(devMembers))}
	fmt.Fprintf(r.out, "starting a %d-node cluster (%s keys) on ports %d..., data in %s\n", len(devMembers), scheme, base+1, dir)
	if _, err := c.d.prepare(); err != nil {
		return nil, err
	}
	for i, m := range devMembers {
		if err := r.startNode(c, i, m); err != nil {
			c.stop()
			return nil, err
		}
	}
	if err := c.d.waitReady(r.ctx, c.exited); err != nil {
		c.stop()
		return nil, err
	}
	if err := c.d.registerTokens(r.ctx); err != nil {
		c.stop()
		return nil, fmt.Errorf("registering API tokens: %w", err)
	}
	if c.leader, err = r.findLeader(c); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// startNode starts node i as devCluster.start does, with the API's rate
// limit lifted (the load comes from one address and one token), quiet
// logs, and a pprof listener.
func (r *benchRun) startNode(c *benchCluster, i int, m string) error {
	return c.d.spawn(r.bin, i, c.exited, "--bootstrap",
		"--rate-limit", "1e9", "--rate-burst", "1000000000", "--log-level", "warn", "--pprof", c.pprof(i))
}

func (r *benchRun) findLeader(c *benchCluster) (int, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, m := range devMembers {
			tok, _ := os.ReadFile(c.d.path(m, "operator.token"))
			cl, err := client.New(c.d.apiURL(i), client.WithToken(strings.TrimSpace(string(tok))))
			if err != nil {
				return 0, err
			}
			st, err := cl.Status(r.ctx)
			if err == nil && st.Role == "leader" {
				return i, nil
			}
		}
		select {
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, errors.New("bench: no leader within 30 s")
}

// freePortBase finds a base port whose API, Raft and pprof ports (base+1..3,
// +101..103, +201..203) are free.
func freePortBase() (int, error) {
	for try := 0; try < 100; try++ {
		var b [2]byte
		rand.Read(b[:])
		base := 20000 + int(b[0])<<8%20000 + int(b[1])
		// API, Raft, the raw-Raft baseline's control API, pprof.
		if portsFree(base, 1, 2, 3, 101, 102, 103, 151, 152, 153, 201, 202, 203) {
			return base, nil
		}
	}
	return 0, errors.New("bench: no free ports")
}

func portsFree(base int, offs ...int) bool {
	for _, o := range offs {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+o))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

// httpClient returns a client keeping up to conns connections to a host.
func httpClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
			DisableCompression: true, ForceAttemptHTTP2: false,
		},
	}
}

// postOrGet sends one request and fails unless the answer is 200.
func postOrGet(ctx context.Context, hc *http.Client, method, u, token string, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, oneLine(string(b)))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// presign signs n token.register proposals, spread over the members'
// keys, on every core; signing is not part of any measurement.
func (r *benchRun) presign(c *benchCluster, n int, tag string) ([][]byte, error) {
	g, err := readGenesis(c.d.path("genesis.json"), false)
	if err != nil {
		return nil, err
	}
	var signers []ledger.Signer
	for _, m := range devMembers {
		s, err := loadSigner(c.d.path(m + ".key"))
		if err != nil {
			return nil, err
		}
		signers = append(signers, s)
	}
	var salt [6]byte
	rand.Read(salt[:])
	prefix := "bench-" + tag + "-" + hex.EncodeToString(salt[:]) + "-"
	now := time.Now().UTC()
	out := make([][]byte, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				s := signers[i%len(signers)]
				member, _, _ := ledger.SplitKeyID(s.KeyID)
				body, _ := json.Marshal(ledger.TokenRegister{
					Hash: ledger.HashToken(prefix + strconv.Itoa(i)), Scopes: []string{"read"},
					ExpiresAt: now.Add(24 * time.Hour).Truncate(time.Second),
				})
				p := &ledger.Proposal{V: 1, Consortium: g.ID(), ID: prefix + strconv.Itoa(i), Type: "token.register",
					Signer: member, IssuedAt: now, Body: body}
				env, err := ledger.Sign(p, s)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				out[i] = env.Encode()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if n > 0 {
		r.recordSize[c.scheme] = len(ledger.EncodeRecord(now, out[0]))
	}
	return out, nil
}

// writeRun measures signed proposals committed through the leader's API
// by clients concurrent writers. The workload is signed beforehand: a
// short unmeasured run sizes it.
func (r *benchRun) writeRun(c *benchCluster, clients int, label string) (bench.Result, error) {
	name := fmt.Sprintf("%s %dc", label, clients)
	hc := httpClient(clients)
	u := c.d.apiURL(c.leader) + "/v1/proposals"
	fire := func(pool [][]byte) bench.Op {
		var next atomic.Int64
		return func(ctx context.Context, _ int) error {
			i := next.Add(1) - 1
			if i >= int64(len(pool)) {
				return bench.ErrExhausted
			}
			return postOrGet(ctx, hc, http.MethodPost, u, "", pool[i])
		}
	}
	// Sizing run: as long as the warm-up, at least a second.
	warm := max(r.o.warmup, time.Second)
	pool, err := r.presign(c, max(64, clients*8), "warm")
	if err != nil {
		return bench.Result{}, err
	}
	probe, err := bench.Run(r.ctx, bench.RunConfig{Name: name + " (sizing)", Clients: clients, Duration: warm, Unit: "writes/s"}, fire(pool))
	if err != nil {
		return bench.Result{}, err
	}
	rate := float64(probe.Ops) / probe.Seconds
	n := int(rate*r.o.duration.Seconds()*1.5) + clients*4
	fmt.Fprintf(r.out, "  %s: signing %d proposals (sizing run: %.0f writes/s)...\n", name, n, rate)
	if pool, err = r.presign(c, n, "run"); err != nil {
		return bench.Result{}, err
	}
	// Every node is profiled: the leader serves the HTTP path and
	// replicates, the followers apply what it sends.
	var profs []func() error
	if r.o.profileDir != "" && clients > 1 {
		for i := range c.d.procs {
			role := "follower"
			if i == c.leader {
				role = "leader"
			}
			profs = append(profs, r.profile(c.pprof(i), fmt.Sprintf("%s-%s-%s", strings.ReplaceAll(label, " ", "-"), devMembers[i], role)))
		}
	}
	procs := c.procs()
	before := procs.Sample()
	res, err := bench.Run(r.ctx, bench.RunConfig{Name: name, Clients: clients, Duration: r.o.duration, Unit: "writes/s", Progress: r.out}, fire(pool))
	res.Procs = procs.Usage(before, procs.Sample())
	for _, prof := range profs {
		if perr := prof(); perr != nil {
			fmt.Fprintf(r.out, "  profile: %v\n", perr)
		}
	}
	if err != nil {
		return res, err
	}
	r.rep.Add(res)
	return res, nil
}

// profile starts fetching a CPU profile of the measured duration from a
// node's pprof listener; the returned function waits for it and saves it.
func (r *benchRun) profile(addr, name string) func() error {
	done := make(chan error, 1)
	secs := max(1, int(r.o.duration.Seconds()))
	// Halfway through, a goroutine dump shows where requests wait, which a
	// CPU profile does not.
	go func() {
		time.Sleep(r.o.duration / 2)
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/goroutine?debug=1", addr))
		if err != nil {
			return
		}
		defer resp.Body.Close()
		if f, err := os.Create(filepath.Join(r.o.profileDir, name+".goroutines.txt")); err == nil {
			io.Copy(f, resp.Body)
			f.Close()
		}
	}()
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("pprof %s: %s", addr, resp.Status)
			return
		}
		f, err := os.Create(filepath.Join(r.o.profileDir, name+".pprof"))
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		done <- errors.Join(err, f.Close())
	}()
	return func() error { return <-done }
}

// checkQuestions are the questions the check runs ask, as beta, of the
// demo consortium: allowed and denied ones.
var checkQuestions = []map[string]string{
	{"member": "beta", "asset": "atlas-7b", "action": "train", "territory": "DE", "purpose": "healthcare"},
	{"member": "beta", "asset": "atlas-7b", "action": "train", "territory": "US", "purpose": "research"},
	{"member": "beta", "asset": "atlas-7b", "action": "train", "territory": "DE", "purpose": "military"},
	{"member": "beta", "asset": "alpha-corpus", "action": "evaluate", "territory": "FR"},
}

// checkRun measures entitlement checks against base: one question per GET
// (batch 1), or batch questions per POST /v1/check.
func (r *benchRun) checkRun(base string, procs bench.ProcSet, label string, batch int, rate float64, pprofAddr string) (bench.Result, error) {
	tokB, err := os.ReadFile(filepath.Join(r.root, "cluster-"+strings.ReplaceAll(r.o.scheme, "+", "-"), "beta.token"))
	if err != nil {
		return bench.Result{}, err
	}
	token := strings.TrimSpace(string(tokB))
	op, unit := r.checkOp(base, token, batch)
	name := fmt.Sprintf("%s %dc", label, r.o.checkConns)
	var prof func() error
	if r.o.profileDir != "" && pprofAddr != "" {
		prof = r.profile(pprofAddr, label)
	}
	before := procs.Sample()
	res, err := bench.Run(r.ctx, bench.RunConfig{Name: name, Clients: r.o.checkConns, Rate: rate, Duration: r.o.duration, Warmup: r.o.warmup,
		PerOp: batch, Unit: unit, Progress: r.out}, op)
	res.Procs = procs.Usage(before, procs.Sample())
	if prof != nil {
		if perr := prof(); perr != nil {
			fmt.Fprintf(r.out, "  profile: %v\n", perr)
		}
	}
	if err != nil {
		return res, err
	}
	r.rep.Add(res)
	return res, nil
}

func (r *benchRun) checkOp(base, token string, batch int) (bench.Op, string) {
	hc := httpClient(r.o.checkConns)
	if batch == 1 {
		urls := make([]string, len(checkQuestions))
		for i, q := range checkQuestions {
			v := url.Values{}
			for k, x := range q {
				v.Set(k, x)
			}
			urls[i] = base + "/v1/check?" + v.Encode()
		}
		var n atomic.Int64
		return func(ctx context.Context, _ int) error {
			return postOrGet(ctx, hc, http.MethodGet, urls[n.Add(1)%int64(len(urls))], token, nil)
		}, "checks/s"
	}
	qs := make([]map[string]string, batch)
	for i := range qs {
		qs[i] = checkQuestions[i%len(checkQuestions)]
	}
	body, _ := json.Marshal(map[string]any{"requests": qs})
	return func(ctx context.Context, _ int) error {
		return postOrGet(ctx, hc, http.MethodPost, base+"/v1/check", token, body)
	}, "checks/s"
}

// writeBaselines runs the raw-Raft baseline with 1 and with --clients
// writers, and the bbolt transaction baseline, on the same disk.
func (r *benchRun) writeBaselines(c *benchCluster) error {
	size := r.recordSize[r.o.scheme]
	if size == 0 {
		size = 4096
	}
	fmt.Fprintf(r.out, "baseline: single-record bbolt transactions (%d-byte records, fsync)\n", size)
	bolt, err := bench.BoltTxRate(r.ctx, filepath.Join(r.root, "bolt-baseline.db"), size, r.o.duration)
	if err != nil {
		return err
	}
	os.Remove(filepath.Join(r.root, "bolt-baseline.db"))
	r.rep.Add(bolt)

	rc, err := r.startRaftBaseline(c)
	if err != nil {
		return err
	}
	defer rc.stop()
	fmt.Fprintf(r.out, "baseline: raw raft, %d server processes, mTLS, raft-boltdb, %d-byte unsigned entries, no-op FSM, load generated in the leader's process\n", len(rc.cmds), size)
	for _, n := range []int{1, r.o.clients} {
		before := rc.procs.Sample()
		res, err := rc.run(r.ctx, bench.RaftRunRequest{Name: fmt.Sprintf("raft baseline %dc", n), Clients: n, Size: size,
			Duration: r.o.duration, Warmup: r.o.warmup})
		res.Procs = rc.procs.Usage(before, rc.procs.Sample())
		if err != nil {
			return err
		}
		r.rep.Add(res)
	}
	return nil
}

// raftBaseline is the raw-Raft baseline: one hashicorp/raft server per
// process (charta bench --serve-raft), like the nodes.
type raftBaseline struct {
	cmds     []*exec.Cmd
	exited   []chan struct{} // closed when the process has exited
	controls []string        // control API base URLs
	procs    bench.ProcSet
	dir      string
}

// control asks a baseline server's control API, within 10 s.
var control = &http.Client{Timeout: 10 * time.Second}

// startRaftBaseline starts the baseline's servers with the main cluster's
// certificates and waits up to 30 s for a leader.
func (r *benchRun) startRaftBaseline(c *benchCluster) (*raftBaseline, error) {
	base, err := freePortBase()
	if err != nil {
		return nil, err
	}
	rb := &raftBaseline{dir: filepath.Join(r.root, "raft-baseline")}
	os.RemoveAll(rb.dir)
	if err := os.MkdirAll(rb.dir, 0o700); err != nil {
		return nil, err
	}
	var nodes []bench.RaftNode
	for i, m := range devMembers {
		nodes = append(nodes, bench.RaftNode{ID: m, Addr: fmt.Sprintf("127.0.0.1:%d", base+101+i), TLS: tlsFilesOf(c.d, m)})
	}
	for i, n := range nodes {
		spec := bench.RaftSpec{Dir: rb.dir, Self: n.ID, Nodes: nodes, Control: fmt.Sprintf("127.0.0.1:%d", base+151+i)}
		b, _ := json.Marshal(spec)
		file := filepath.Join(rb.dir, n.ID+".json")
		if err := os.WriteFile(file, b, 0o600); err != nil {
			rb.stop()
			return nil, err
		}
		cmd := r.serverCommand("--serve-raft", file)
		cmd.Stdout, cmd.Stderr = r.out, r.out // its progress lines
		if err := cmd.Start(); err != nil {
			rb.stop()
			return nil, err
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		rb.cmds, rb.exited = append(rb.cmds, cmd), append(rb.exited, exited)
		rb.controls = append(rb.controls, "http://"+spec.Control)
		rb.procs.Names = append(rb.procs.Names, n.ID)
		rb.procs.PIDs = append(rb.procs.PIDs, cmd.Process.Pid)
	}
	for deadline := time.Now().Add(30 * time.Second); rb.leader() == ""; time.Sleep(20 * time.Millisecond) {
		for i, x := range rb.exited {
			select {
			case <-x:
				rb.stop()
				return nil, fmt.Errorf("bench: raft baseline: server %s exited (%v)", nodes[i].ID, rb.cmds[i].ProcessState)
			default:
			}
		}
		if time.Now().After(deadline) {
			rb.stop()
			return nil, errors.New("bench: raft baseline: no leader within 30 s")
		}
	}
	return rb, nil
}

// leader returns the leader's control URL, or "".
func (rb *raftBaseline) leader() string {
	for _, u := range rb.controls {
		resp, err := control.Get(u + "/leader")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return u
		}
	}
	return ""
}

// run has the leader's process run req and returns its result. A leader
// that lost its leadership before the run started (409) is looked up again,
// once.
func (rb *raftBaseline) run(ctx context.Context, req bench.RaftRunRequest) (bench.Result, error) {
	var res bench.Result
	body, _ := json.Marshal(req)
	for try := 0; ; try++ {
		u := rb.leader()
		if u == "" {
			return res, errors.New("bench: raft baseline: no leader")
		}
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u+"/run", bytes.NewReader(body))
		if err != nil {
			return res, err
		}
		resp, err := http.DefaultClient.Do(hreq) // as long as the run: no timeout but ctx
		if err != nil {
			return res, fmt.Errorf("bench: raft baseline: %w", err)
		}
		if resp.StatusCode == http.StatusConflict && try == 0 {
			resp.Body.Close()
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			return res, fmt.Errorf("bench: raft baseline: %s: %s", resp.Status, bytes.TrimSpace(msg))
		}
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			return res, fmt.Errorf("bench: raft baseline: %w", err)
		}
		return res, nil
	}
}

// stop ends the servers, killing any still running after 15 s, and
// removes their stores.
func (rb *raftBaseline) stop() {
	for _, cmd := range rb.cmds {
		cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	late := false
	for i, x := range rb.exited {
		if !late {
			select {
			case <-x:
				continue
			case <-deadline.C:
				late = true
			}
		}
		rb.cmds[i].Process.Kill()
		<-x
	}
	os.RemoveAll(rb.dir)
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

func tlsFilesOf(d *devCluster, m string) consensus.TLSFiles {
	return consensus.TLSFiles{CAFile: d.path("certs", "ca.crt"), CertFile: d.path("certs", m+".crt"), KeyFile: d.path("certs", m+".key")}
}

// noopServer is the no-op gorilla/mux server in its own process.
type noopServer struct {
	cmd   *exec.Cmd
	url   string
	procs bench.ProcSet
}

// startNoop starts the no-op server and waits until it answers.
func (r *benchRun) startNoop() (*noopServer, error) {
	base, err := freePortBase()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", base+1)
	cmd := r.serverCommand("--serve-noop", addr)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	n := &noopServer{cmd: cmd, url: "http://" + addr, procs: bench.ProcSet{Names: []string{"noop"}, PIDs: []int{cmd.Process.Pid}}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(n.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			return n, nil
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, fmt.Errorf("bench: the no-op server did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *noopServer) stop() { n.cmd.Process.Signal(syscall.SIGTERM); n.cmd.Wait() }

// noopRun measures GET /v1/check against the no-op server like the check run,
// closed-loop or at rate per second.
func (r *benchRun) noopRun(n *noopServer, name string, rate float64) (bench.Result, error) {
	op, unit := r.checkOp(n.url, "unused", 1)
	before := n.procs.Sample()
	res, err := bench.Run(r.ctx, bench.RunConfig{Name: name, Clients: r.o.checkConns, Rate: rate,
		Duration: r.o.duration, Warmup: r.o.warmup, Unit: unit, Progress: r.out}, op)
	res.Procs = n.procs.Usage(before, n.procs.Sample())
	if err != nil {
		return res, err
	}
	r.rep.Add(res)
	return res, nil
}

// noopBaseline measures the no-op server closed-loop, as the check run.
func (r *benchRun) noopBaseline() error {
	n, err := r.startNoop()
	if err != nil {
		return err
	}
	defer n.stop()
	fmt.Fprintln(r.out, "baseline: no-op gorilla/mux handler in its own process, the API's server settings")
	_, err = r.noopRun(n, fmt.Sprintf("noop http baseline %dc", r.o.checkConns), 0)
	return err
}

// targets computes the targets from the results that exist.
func (r *benchRun) targets() {
	rep := r.rep
	get := func(name string) (bench.Result, bool) { return rep.Find(name) }
	n := r.o.clients
	def := r.o.scheme
	raftN, okRaftN := get(fmt.Sprintf("raft baseline %dc", n))
	raft1, okRaft1 := get("raft baseline 1c")
	w1, okW1 := get(fmt.Sprintf("write %s 1c", def))
	wN, okWN := get(fmt.Sprintf("write %s %dc", def, n))
	bolt, okBolt := get("bbolt 1-record tx")
	ratio := func(id, what string, m, b bench.Result, want float64, wantText string) bench.Target {
		t := bench.Target{ID: id, What: what, Measured: m.Throughput, Baseline: b.Throughput, Unit: m.Unit, Want: wantText}
		if b.Throughput > 0 {
			t.Ratio = m.Throughput / b.Throughput
		}
		t.Met = want == 0 || t.Ratio >= want
		return t
	}
	if okRaftN {
		for _, s := range append([]string{def}, split(r.o.compare)...) {
			w, ok := get(fmt.Sprintf("write %s %dc", s, n))
			if !ok {
				continue
			}
			want, text := 0.0, "reported"
			switch s {
			case string(ledger.SchemeComposite):
				want, text = 0.40, ">= 0.40 of raw raft"
			case string(ledger.SchemeMLDSA44):
				want, text = 0.70, ">= 0.70 of raw raft"
			}
			rep.Targets = append(rep.Targets, ratio("T1", fmt.Sprintf("signed writes, %s, %d clients", s, n), w, raftN, want, text))
		}
	}
	if okW1 && okRaft1 {
		rep.Targets = append(rep.Targets, bench.Target{ID: "T2", What: "1-client write p50", Measured: w1.Latency.P50, Baseline: raft1.Latency.P50,
			Unit: "ms", Ratio: w1.Latency.P50 / raft1.Latency.P50, Want: "<= raw raft p50 + 1 ms", Met: w1.Latency.P50 <= raft1.Latency.P50+1})
	}
	if okW1 {
		rep.Targets = append(rep.Targets, bench.Target{ID: "T2", What: "1-client write p99 against its p50", Measured: w1.Latency.P99, Baseline: w1.Latency.P50,
			Unit: "ms", Ratio: w1.Latency.P99 / w1.Latency.P50, Want: "<= 3 x p50", Met: w1.Latency.P99 <= 3*w1.Latency.P50})
	}
	if okW1 && okWN {
		rep.Targets = append(rep.Targets, ratio("T3", fmt.Sprintf("%d-client against 1-client writes", n), wN, w1, 20, ">= 20"))
	}
	if okWN && okBolt {
		rep.Targets = append(rep.Targets, ratio("T3", fmt.Sprintf("%d-client writes against bbolt tx/s", n), wN, bolt, 4, ">= 4"))
	}
	chk, okChk := get(fmt.Sprintf("check %dc", r.o.checkConns))
	noop, okNoop := get(fmt.Sprintf("noop http baseline %dc", r.o.checkConns))
	if okChk && okNoop {
		rep.Targets = append(rep.Targets, ratio("T4", fmt.Sprintf("HTTP checks, %d connections", r.o.checkConns), chk, noop, 0.70, ">= 0.70 of no-op"))
	}
	if b, ok := get(fmt.Sprintf("check-batch %dc", r.o.checkConns)); ok {
		rep.Targets = append(rep.Targets, bench.Target{ID: "T4", What: fmt.Sprintf("batched checks (%d per request)", r.o.batch),
			Measured: b.Throughput, Unit: b.Unit, Want: "> 500,000 checks/s", Met: b.Throughput > 500000})
	}
	idle, okIdle := get(fmt.Sprintf("check paced idle %dc", r.o.checkConns))
	if loaded, ok := get(fmt.Sprintf("check paced under writes %dc", r.o.checkConns)); ok && okIdle {
		rep.Targets = append(rep.Targets, bench.Target{ID: "T5",
			What:     fmt.Sprintf("check p99 at %.0f checks/s offered, under writes at half the maximum, against idle", loaded.Offered),
			Measured: loaded.Latency.P99, Baseline: idle.Latency.P99, Unit: "ms", Ratio: loaded.Latency.P99 / idle.Latency.P99,
			Want: "<= 2 x idle p99", Met: loaded.Latency.P99 <= 2*idle.Latency.P99})
	}
	noopIdle, okNoopIdle := get(fmt.Sprintf("noop paced idle %dc", r.o.checkConns))
	if loaded, ok := get(fmt.Sprintf("noop paced under writes %dc", r.o.checkConns)); ok && okNoopIdle {
		rep.Targets = append(rep.Targets, bench.Target{ID: "T5",
			What:     fmt.Sprintf("reference: no-op handler p99 at %.0f requests/s offered, under the same writes, against idle", loaded.Offered),
			Measured: loaded.Latency.P99, Baseline: noopIdle.Latency.P99, Unit: "ms", Ratio: loaded.Latency.P99 / noopIdle.Latency.P99,
			Want: "reported"})
	}
	r.scaleTargets(r.scale)
	if r.o.ledgerCheck > 0 {
		rep.Targets = append(rep.Targets, bench.Target{ID: "T4", What: "in-process ledger.Check (BenchmarkCheck)",
			Measured: r.o.ledgerCheck, Unit: "checks/s", Want: "> 1,000,000 checks/s", Met: r.o.ledgerCheck > 1000000})
	}
}

// serveRaftBaseline runs one server of the raw-Raft baseline.
func serveRaftBaseline(e *env, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var spec bench.RaftSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("bench: %s: %w", file, err)
	}
	return bench.ServeRaftBaseline(e.ctx, spec, e.stdout)
}

// serverCommand is `charta bench` with args, for one of the baseline
// servers: in its own process group, with procsEnv.
func (r *benchRun) serverCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(r.bin, append([]string{"bench"}, args...)...)
	if env := r.o.procsEnv(); env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// procsEnv is what the bench adds to its server processes' environment:
// GOMAXPROCS if --node-procs is set. The three nodes share the machine's
// cores; with one core each, the writes wait less for a core and the reads
// more (docs/benchmarks.md, "One core per node").
func (o *benchOpts) procsEnv() []string {
	if o.nodeProcs == 0 {
		return nil
	}
	return []string{"GOMAXPROCS=" + strconv.Itoa(o.nodeProcs)}
}
