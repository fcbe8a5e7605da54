package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestEtcdOpts_Refusals(t *testing.T) {
	dir := t.TempDir()
	rep := filepath.Join(dir, "charta.json")
	os.WriteFile(rep, []byte(`{"record_bytes":{"ed25519":1104}}`), 0o644)
	o, err := parseEtcdOpts([]string{"--size-from", rep, "--scheme", "ed25519", "--clients", "1, 8"}, &bytes.Buffer{})
	if err != nil || o.size != 1104 || len(o.clients) != 2 || o.clients[0] != 1 || o.clients[1] != 8 {
		t.Fatalf("--size-from: %+v, %v; want 1104 bytes at 1 and 8 clients", o, err)
	}
	for name, c := range map[string]struct {
		args  []string
		usage bool
		msg   string
	}{
		"no size":         {args: nil, usage: true, msg: "--size"},
		"size too large":  {args: []string{"--size", "2000000"}, usage: true, msg: "--size"},
		"both sizes":      {args: []string{"--size", "10", "--size-from", rep, "--scheme", "ed25519"}, usage: true, msg: "not both"},
		"no scheme":       {args: []string{"--size-from", rep}, usage: true, msg: "--scheme"},
		"unknown scheme":  {args: []string{"--size-from", rep, "--scheme", "ml-dsa-44"}, msg: `no record size for scheme "ml-dsa-44"`},
		"bad clients":     {args: []string{"--size", "10", "--clients", "1,x"}, usage: true, msg: `"x" is not a positive number`},
		"zero clients":    {args: []string{"--size", "10", "--clients", "0"}, usage: true, msg: `"0"`},
		"no conns":        {args: []string{"--size", "10", "--conns", "0"}, usage: true, msg: "--conns"},
		"no duration":     {args: []string{"--size", "10", "--duration", "0s"}, usage: true, msg: "--duration"},
		"stray argument":  {args: []string{"--size", "10", "extra"}, usage: true, msg: "no arguments"},
		"bad flag value":  {args: []string{"--size", "ten"}, usage: true, msg: "invalid value"},
		"missing report":  {args: []string{"--size-from", filepath.Join(dir, "none.json"), "--scheme", "ed25519"}, msg: "no such file"},
		"negative warmup": {args: []string{"--size", "10", "--warmup", "-1s"}, usage: true, msg: "--warmup"},
	} {
		_, err := parseEtcdOpts(c.args, &bytes.Buffer{})
		if err == nil || errors.Is(err, errUsage) != c.usage || !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line with %q (usage %v)", name, err, c.msg, c.usage)
		}
	}
}

// chartaBin is the charta binary that makes the certificates: $CHARTA_BIN,
// or one built from this repository.
func chartaBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("CHARTA_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "charta")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/charta")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build charta: %v\n%s", err, out)
	}
	return bin
}

// etcdBin is the etcd server, or the test is skipped: it comes from the
// system (Debian's etcd-server), which scripts/bench.sh installs.
func etcdBin(t *testing.T) string {
	t.Helper()
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("no etcd server on PATH (Debian: apt-get install etcd-server)")
	}
	return etcd
}

// TestMeasure_RealCluster starts three etcd members with certificates
// from charta cert, measures puts at 1 and 4 clients, and checks the
// figures against the keys the cluster holds afterwards.
func TestMeasure_RealCluster(t *testing.T) {
	etcd, charta := etcdBin(t), chartaBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := makeCerts(ctx, charta, certs); err != nil {
		t.Fatal(err)
	}
	c, err := startCluster(ctx, etcd, dir, certs)
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	o := etcdOpts{size: 1000, conns: 2, duration: time.Second}
	for _, n := range []int{1, 4} {
		res, err := measure(ctx, c, o, n)
		if err != nil {
			t.Fatal(err)
		}
		if res.Name != fmt.Sprintf("etcd put 1000B %dc", n) || res.Clients != n || res.Conns != min(2, n) || res.ValueBytes != 1000 {
			t.Errorf("%d clients: described as %+v", n, res)
		}
		if res.Ops == 0 || res.Errors != 0 || res.Seconds < 1 || math.Abs(res.Throughput-float64(res.Ops)/res.Seconds) > 1e-6 {
			t.Errorf("%d clients: counts %+v", n, res)
		}
		if res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 || res.Latency.Max < res.Latency.P99 {
			t.Errorf("%d clients: latency %+v", n, res.Latency)
		}
		if res.CPUSeconds <= 0 || math.Abs(res.CPUMicrosPerOp-res.CPUSeconds*1e6/float64(res.Ops)) > 1e-6 {
			t.Errorf("%d clients: CPU %v s, %v µs per put", n, res.CPUSeconds, res.CPUMicrosPerOp)
		}
		// Every counted put is in the cluster, with its value; puts cut
		// off by the end of the run may be there too, one per client at
		// most.
		cli, err := c.newClient(c.clientURL...)
		if err != nil {
			t.Fatal(err)
		}
		prefix := fmt.Sprintf("peerbench/%dc/", n)
		got, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithLimit(1))
		cli.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got.Count < res.Ops || got.Count > res.Ops+int64(n) {
			t.Errorf("%d clients: %d keys under %s for %d puts counted", n, got.Count, prefix, res.Ops)
		}
		if len(got.Kvs) != 1 || len(got.Kvs[0].Value) != 1000 {
			t.Errorf("%d clients: a stored value is not 1000 bytes: %v", n, got.Kvs)
		}
	}
}

// TestRunEtcd_ReportsAndCleansUp runs the command as bench.sh does and
// checks its JSON report, and that it leaves neither data nor processes.
func TestRunEtcd_ReportsAndCleansUp(t *testing.T) {
	etcd, charta := etcdBin(t), chartaBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	report := filepath.Join(dir, "charta.json")
	os.WriteFile(report, []byte(`{"record_bytes":{"ed25519":1104}}`), 0o644)
	out := filepath.Join(dir, "etcd.json")
	work := filepath.Join(dir, "work")
	var stdout bytes.Buffer
	err := run(ctx, []string{"etcd", "--etcd", etcd, "--charta", charta, "--size-from", report, "--scheme", "ed25519",
		"--clients", "2", "--duration", "500ms", "--warmup", "100ms", "--dir", work, "--json", out}, &stdout)
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	var rep EtcdReport
	if err := readJSON(out, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Scheme != "ed25519" || rep.ValueBytes != 1104 || !strings.HasPrefix(rep.EtcdVersion, "3.") || len(rep.Results) != 1 ||
		rep.Results[0].Clients != 2 || rep.Results[0].ValueBytes != 1104 || rep.Results[0].Ops == 0 {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(stdout.String(), "etcd put 1104B 2c") {
		t.Errorf("no progress line:\n%s", stdout.String())
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("left behind in %s: %v", work, left)
	}
	if pids := etcdMembersRunning(t, work); len(pids) != 0 {
		t.Errorf("etcd members still running: %v", pids)
	}
}

// etcdMembersRunning lists the processes whose command line names a data
// directory under dir.
func etcdMembersRunning(t *testing.T, dir string) []string {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(dir+"/")) {
			out = append(out, p)
		}
	}
	return out
}
