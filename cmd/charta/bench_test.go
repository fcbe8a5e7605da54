package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/internal/bench"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// TestBenchSmoke runs every workload of `charta bench` for a second on a
// real 3-node cluster with few clients and checks that the JSON report
// holds non-zero figures for each run and the targets. The figures
// themselves are not asserted.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	bin := chartaBin(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "bench.json")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"bench", "--bin", bin, "--dir", filepath.Join(dir, "work"), "--duration", "1s", "--warmup", "0s",
		"--clients", "4", "--check-conns", "2", "--batch", "10", "--scheme", "ed25519", "--compare-schemes", "ml-dsa-44",
		"--json", out, "--ledger-check-rate", "1234", "--scale-entries", "1000", "--node-procs", "1"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	want := []string{"write ed25519 1c", "write ed25519 4c", "check 2c", "check-batch 2c", "bbolt 1-record tx",
		"raft baseline 1c", "raft baseline 4c", "noop http baseline 2c", "write ml-dsa-44 4c", "check under writes 2c",
		"writes during check under writes", "check paced under writes 2c", "check paced idle 2c", "noop paced under writes 2c",
		"noop paced idle 2c"}
	for _, name := range want {
		r, ok := rep.Find(name)
		if !ok {
			t.Errorf("report has no result %q", name)
			continue
		}
		if r.Ops == 0 || r.Throughput <= 0 || r.Seconds <= 0 || r.Latency.P50 <= 0 && !strings.HasPrefix(name, "writes during") {
			t.Errorf("%s: empty figures: %+v", name, r)
		}
		// The raw-Raft baseline runs in three processes, as the nodes do.
		if (strings.HasPrefix(name, "write ") || strings.HasPrefix(name, "raft baseline")) && (len(r.Procs) != 3 || r.Procs[0].RSSMiB <= 0) {
			t.Errorf("%s: process usage %+v, want 3 processes with memory", name, r.Procs)
		}
	}
	if r, _ := rep.Find("check-batch 2c"); r.Units != r.Ops*10 {
		t.Errorf("check-batch counts %d checks for %d requests of 10", r.Units, r.Ops)
	}
	ids := map[string]int{}
	for _, tg := range rep.Targets {
		ids[tg.ID]++
		// An overhead is a difference of two latencies, which a short
		// noisy run can make negative; anything else must be positive.
		if tg.Measured <= 0 && !strings.Contains(tg.What, "overhead") {
			t.Errorf("target %s %s: measured %v", tg.ID, tg.What, tg.Measured)
		}
	}
	for _, name := range []string{"scale 100 entries", "scale 1000 entries", "scale 2000 entries"} {
		if r, ok := rep.Find(name); !ok || r.Units == 0 || r.Throughput <= 0 {
			t.Errorf("scale result %q: %+v", name, r)
		}
	}
	for id, n := range map[string]int{"T1": 2, "T2": 2, "T3": 2, "T4": 3, "T5": 2, "T6": 2, "T7": 2, "T8": 1} {
		if ids[id] != n {
			t.Errorf("%d %s targets, want %d (%v)", ids[id], id, n, rep.Targets)
		}
	}
	if rep.Settings["node_procs"] != "1" {
		t.Errorf("settings %v, want node_procs 1", rep.Settings)
	}
	if rep.Machine.CPUs == 0 || rep.Machine.GoVersion == "" {
		t.Errorf("machine not described: %+v", rep.Machine)
	}
	if !strings.Contains(stdout.String(), "target") {
		t.Errorf("no table printed:\n%s", stdout.String())
	}
}

// TestBenchWriteOnly runs the write workload without its baselines, as the
// etcd yardstick of scripts/bench.sh does, and checks that only the signed
// writes were measured and that the report gives each scheme's record size.
func TestBenchWriteOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	bin := chartaBin(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "bench.json")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"bench", "--bin", bin, "--dir", filepath.Join(dir, "work"), "--duration", "1s", "--warmup", "0s",
		"--workload", "write", "--write-baselines=false", "--clients", "4", "--scheme", "ed25519", "--compare-schemes", "ml-dsa-65+ed25519",
		"--json", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Name)
		if r.Ops == 0 || r.Latency.P50 <= 0 {
			t.Errorf("%s: empty figures: %+v", r.Name, r)
		}
	}
	if want := "write ed25519 1c,write ed25519 4c,write ml-dsa-65+ed25519 4c"; strings.Join(names, ",") != want {
		t.Errorf("results %v, want %s", names, want)
	}
	// Only the targets that compare the signed writes with each other.
	var targets []string
	for _, tg := range rep.Targets {
		targets = append(targets, tg.ID+" "+tg.What)
	}
	if want := "T2 1-client write p99 against its p50,T3 4-client against 1-client writes"; strings.Join(targets, ",") != want {
		t.Errorf("targets %v, want %s", targets, want)
	}
	if rep.Settings["write_baselines"] != "false" {
		t.Errorf("settings %v, want write_baselines false", rep.Settings)
	}
	// The bench signs token registrations with IDs of a fixed length; only
	// the issue time's fraction of a second varies in length.
	for _, scheme := range []ledger.Scheme{ledger.SchemeEd25519, ledger.SchemeComposite} {
		want := benchRecordSize(t, scheme)
		if got := rep.RecordBytes[string(scheme)]; got < want-16 || got > want+16 {
			t.Errorf("record size of %s: %d bytes, want %d ± 16", scheme, got, want)
		}
	}
}

// benchRecordSize is the size of the log record of a token registration
// like the ones charta bench signs, as member alpha with scheme.
func benchRecordSize(t *testing.T, scheme ledger.Scheme) int {
	t.Helper()
	now := time.Date(2026, 12, 7, 14, 5, 31, 123456000, time.UTC)
	id := "bench-run-0123456789ab-0"
	body := ledger.TokenRegister{Hash: ledger.HashToken(id), Scopes: []string{"read"}, ExpiresAt: now.Add(24 * time.Hour).Truncate(time.Second)}
	env := ledgertest.Propose(strings.Repeat("c", 64), "alpha", "token.register", id, now, body, ledgertest.Signer("alpha", scheme))
	return len(ledger.EncodeRecord(now, env.Encode()))
}
