package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EtcdReport is what `peerbench etcd` writes with --json.
type EtcdReport struct {
	Started     time.Time `json:"started"`
	EtcdVersion string    `json:"etcd_version"`
	// Scheme is the signature scheme whose signed writes the values are
	// sized like, as --scheme gave it ("" if none).
	Scheme     string   `json:"scheme,omitempty"`
	ValueBytes int      `json:"value_bytes"`
	Results    []Result `json:"results"`
}

// etcdOpts are the settings of `peerbench etcd`.
type etcdOpts struct {
	etcd, charta string
	size         int
	sizeFrom     string
	scheme       string
	clients      []int
	conns        int
	duration     time.Duration
	warmup       time.Duration
	jsonOut      string
	dir          string
}

func parseEtcdOpts(args []string, stdout io.Writer) (etcdOpts, error) {
	o := etcdOpts{}
	fs := flag.NewFlagSet("peerbench etcd", flag.ContinueOnError)
	fs.StringVar(&o.etcd, "etcd", "etcd", "etcd server binary (Debian: etcd-server)")
	fs.StringVar(&o.charta, "charta", "bin/charta", "charta binary that makes the CA and the certificates (charta cert)")
	fs.IntVar(&o.size, "size", 0, "value size in bytes")
	fs.StringVar(&o.sizeFrom, "size-from", "", "take the value size from this charta bench JSON report: its record size for --scheme")
	fs.StringVar(&o.scheme, "scheme", "", "signature scheme the values stand for (with --size-from: whose record size to use)")
	clients := fs.String("clients", "1,256", "concurrent clients of each run, comma-separated, one run each")
	fs.IntVar(&o.conns, "conns", 1, "gRPC connections the clients share (round-robin), at most one per client")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured time before each run")
	fs.StringVar(&o.jsonOut, "json", "", "write the report as JSON to this file")
	fs.StringVar(&o.dir, "dir", "", "working directory for certificates and data (default a new temporary directory; removed afterwards either way)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, usagef("etcd takes no arguments, got %q", fs.Args())
	}
	for _, s := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, usagef("--clients: %q is not a positive number", s)
		}
		o.clients = append(o.clients, n)
	}
	switch {
	case o.size != 0 && o.sizeFrom != "":
		return o, usagef("give --size or --size-from, not both")
	case o.sizeFrom != "" && o.scheme == "":
		return o, usagef("--size-from needs --scheme")
	case o.sizeFrom == "" && (o.size < 1 || o.size > 1<<20):
		return o, usagef("--size must be between 1 and 1048576 bytes, or use --size-from")
	case o.conns < 1:
		return o, usagef("--conns must be at least 1")
	case o.duration <= 0 || o.warmup < 0:
		return o, usagef("--duration must be positive and --warmup not negative")
	}
	if o.sizeFrom != "" {
		n, err := recordSizeFrom(o.sizeFrom, o.scheme)
		if err != nil {
			return o, err
		}
		o.size = n
	}
	return o, nil
}

// recordSizeFrom reads the size of scheme's signed-write record from a
// `charta bench` JSON report.
func recordSizeFrom(path, scheme string) (int, error) {
	var rep chartaReport
	if err := readJSON(path, &rep); err != nil {
		return 0, err
	}
	n, ok := rep.RecordBytes[scheme]
	if !ok || n < 1 {
		return 0, fmt.Errorf("%s gives no record size for scheme %q", path, scheme)
	}
	return n, nil
}

func runEtcd(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseEtcdOpts(args, stdout)
	if err != nil {
		return err
	}
	etcd, err := exec.LookPath(o.etcd)
	if err != nil {
		return fmt.Errorf("etcd server not found (%v); on Debian: apt-get install etcd-server", err)
	}
	version, err := exec.CommandContext(ctx, etcd, "--version").Output()
	if err != nil {
		return fmt.Errorf("%s --version: %w", etcd, err)
	}
	rep := &EtcdReport{Started: time.Now().UTC().Truncate(time.Second), EtcdVersion: etcdVersion(string(version)),
		Scheme: o.scheme, ValueBytes: o.size}

	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "peerbench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	work, err := os.MkdirTemp(dir, "etcd-")
	if err != nil {
		return err
	}
	defer func() {
		os.RemoveAll(work)
		if o.dir == "" {
			os.RemoveAll(dir)
		}
	}()
	certs := filepath.Join(work, "certs")
	if err := makeCerts(ctx, o.charta, certs); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "peerbench: etcd %s, 3 members on 127.0.0.1, client and peer mTLS (charta cert), fsync on; %d-byte values\n", rep.EtcdVersion, o.size)
	c, err := startCluster(ctx, etcd, work, certs)
	if err != nil {
		return err
	}
	defer c.stop()
	for _, n := range o.clients {
		res, err := measure(ctx, c, o, n)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %-28s %9.0f puts/s  p50 %6.2f ms  p99 %7.2f ms  %6.0f µs CPU/put  errors %d\n",
			res.Name, res.Throughput, res.Latency.P50, res.Latency.P99, res.CPUMicrosPerOp, res.Errors)
		rep.Results = append(rep.Results, res)
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// etcdVersion picks the version out of `etcd --version`.
func etcdVersion(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "etcd Version: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// measure runs n clients putting o.size-byte values against the leader,
// unmeasured for o.warmup and then measured for o.duration. The clients
// talk to the leader, as Charta's load goes to its leader's API.
func measure(ctx context.Context, c *cluster, o etcdOpts, n int) (Result, error) {
	res := Result{Name: fmt.Sprintf("etcd put %dB %dc", o.size, n), Clients: n, Conns: min(o.conns, n), ValueBytes: o.size, Unit: "puts/s"}
	probe, err := c.newClient(c.clientURL...)
	if err != nil {
		return res, err
	}
	lead, err := c.leader(ctx, probe)
	probe.Close()
	if err != nil {
		return res, err
	}
	var clients []*clientv3.Client
	defer func() {
		for _, cli := range clients {
			cli.Close()
		}
	}()
	for range res.Conns {
		cli, err := c.newClient(c.clientURL[lead])
		if err != nil {
			return res, err
		}
		clients = append(clients, cli)
	}
	value := make([]byte, o.size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	op := putter(clients, fmt.Sprintf("peerbench/%dc", n), value)
	if o.warmup > 0 {
		closedLoop(ctx, n, o.warmup, op)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	cpu0, err := cpuTotal(c.pids())
	if err != nil {
		return res, err
	}
	lr := closedLoop(ctx, n, o.duration, op)
	cpu1, err := cpuTotal(c.pids())
	if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Ops, res.Errors, res.Seconds = lr.ops, lr.errs, lr.elapsed.Seconds()
	if lr.firstErr != nil {
		res.FirstError = lr.firstErr.Error()
	}
	if res.Ops == 0 {
		return res, fmt.Errorf("%s: no put succeeded (%d errors, first: %v)", res.Name, res.Errors, lr.firstErr)
	}
	res.Throughput = float64(res.Ops) / res.Seconds
	res.Latency = latencyOf(lr.latencies)
	res.CPUSeconds = (cpu1 - cpu0).Seconds()
	res.CPUMicrosPerOp = res.CPUSeconds * 1e6 / float64(res.Ops)
	return res, nil
}
