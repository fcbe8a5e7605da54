package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const composite = "ml-dsa-65+ed25519"

// writeRound writes a round directory: a charta bench report with composite
// writes at 1 and 256 clients and ed25519 writes at 256, and the etcd runs
// of the same sizes.
func writeRound(t *testing.T, dir string, comp1P50, comp256, ed256, etcd1P50, etcdComp256, etcdEd256 float64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	charta := map[string]any{
		"record_bytes": map[string]int{composite: 5412, "ed25519": 1104},
		"results": []map[string]any{
			{"name": "write " + composite + " 1c", "clients": 1, "ops": 1000, "seconds": 10, "throughput": 100, "latency": map[string]float64{"p50_ms": comp1P50, "p99_ms": 9},
				"procs": []map[string]float64{{"cpu_percent": 40}, {"cpu_percent": 30}, {"cpu_percent": 30}}},
			{"name": "write " + composite + " 256c", "clients": 256, "ops": int(comp256 * 10), "seconds": 10, "throughput": comp256, "latency": map[string]float64{"p50_ms": 100}},
			{"name": "write ed25519 256c", "clients": 256, "ops": int(ed256 * 10), "seconds": 10, "throughput": ed256, "latency": map[string]float64{"p50_ms": 80}},
		},
	}
	etcdComp := EtcdReport{EtcdVersion: "3.4.23", Scheme: composite, ValueBytes: 5412, Results: []Result{
		{Name: "etcd put 5412B 1c", Clients: 1, ValueBytes: 5412, Ops: 500, Seconds: 10, Throughput: 50, Latency: Latency{P50: etcd1P50, P99: 4}, CPUMicrosPerOp: 900},
		{Name: "etcd put 5412B 256c", Clients: 256, ValueBytes: 5412, Throughput: etcdComp256, Latency: Latency{P50: 90}},
	}}
	etcdEd := EtcdReport{EtcdVersion: "3.4.23", Scheme: "ed25519", ValueBytes: 1104, Results: []Result{
		{Name: "etcd put 1104B 256c", Clients: 256, ValueBytes: 1104, Throughput: etcdEd256},
	}}
	for name, v := range map[string]any{"charta.json": charta, "etcd-" + composite + ".json": etcdComp, "etcd-ed25519.json": etcdEd} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestCompare_MediansRatiosAndTargets checks each row's medians, the
// rounds' ratios and differences, and whether the targets are met, on three
// rounds whose medians are known.
func TestCompare_MediansRatiosAndTargets(t *testing.T) {
	dir := t.TempDir()
	// comp1P50, comp256, ed256, etcd1P50, etcdComp256, etcdEd256
	writeRound(t, filepath.Join(dir, "round-1"), 2.4, 1800, 2800, 1.5, 3000, 3000)   // 0.60, 0.933, +0.9 ms
	writeRound(t, filepath.Join(dir, "round-2"), 2.0, 1500, 2000, 1.4, 3000, 4000)   // 0.50, 0.50, +0.6 ms
	writeRound(t, filepath.Join(dir, "round-3"), 2.1, 2100, 3000, 1.3, 3000, 3000.0) // 0.70, 1.00, +0.8 ms
	var rounds []round
	for _, n := range []string{"round-1", "round-2", "round-3"} {
		r, err := readRound(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		rounds = append(rounds, r)
	}
	rows := compare(rounds)
	type want struct {
		what          string
		charta, etcd  float64
		ratio, diff   float64
		rounds        []float64
		wantText      string
		met, hasTgt   bool
		latency       bool
		unitC, unitsE string
	}
	wants := []want{
		{what: composite + "-signed writes, 256 clients, against 5,412-byte puts", charta: 1800, etcd: 3000, ratio: 0.6,
			rounds: []float64{0.6, 0.5, 0.7}, wantText: ">= 0.6 of etcd", met: true, hasTgt: true, unitC: "writes/s", unitsE: "puts/s"},
		{what: "ed25519-signed writes, 256 clients, against 1,104-byte puts", charta: 2800, etcd: 3000, ratio: 2800.0 / 3000,
			rounds: []float64{2800.0 / 3000, 0.5, 1}, wantText: ">= 0.8 of etcd", met: true, hasTgt: true, unitC: "writes/s", unitsE: "puts/s"},
		{what: composite + " 1-client write p50 against 5,412-byte puts", charta: 2.1, etcd: 1.4, ratio: 2.4 / 1.5, diff: 0.8,
			rounds: []float64{0.9, 0.6, 0.8}, wantText: "<= etcd p50 + 0.7 ms", met: false, hasTgt: true, latency: true, unitC: "ms", unitsE: "ms"},
	}
	if len(rows) != len(wants) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(wants), rows)
	}
	for i, w := range wants {
		r := rows[i]
		if r.what != w.what || !near(r.charta, w.charta) || !near(r.etcd, w.etcd) || !near(r.ratio, w.ratio) || !near(r.diff, w.diff) ||
			r.want != w.wantText || r.met != w.met || r.hasTarget != w.hasTgt || r.latency != w.latency || r.unitC != w.unitC || r.unitE != w.unitsE {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, r, w)
		}
		if len(r.rounds) != len(w.rounds) {
			t.Errorf("row %d: rounds %v, want %v", i, r.rounds, w.rounds)
			continue
		}
		for j := range w.rounds {
			if !near(r.rounds[j], w.rounds[j]) {
				t.Errorf("row %d: rounds %v, want %v", i, r.rounds, w.rounds)
			}
		}
	}

	var b bytes.Buffer
	markdown(&b, rounds, rows)
	md := b.String()
	for _, line := range []string{
		"| " + composite + "-signed writes, 256 clients, against 5,412-byte puts | 1,800 writes/s | 3,000 puts/s | 0.60 | >= 0.6 of etcd | yes | 0.60, 0.50, 0.70 |",
		"| " + composite + " 1-client write p50 against 5,412-byte puts | 2.10 ms | 1.40 ms | +0.80 ms (1.60×) | <= etcd p50 + 0.7 ms | **no** | +0.90 ms, +0.60 ms, +0.80 ms |",
		// The nodes' CPU per write: (40+30+30)% of 10 s over 1,000 writes.
		"| round-1 | charta write " + composite + " 1c | 1 | 5,412 | 100 writes/s | 2.40 | 9.00 | 10,000 | 0 |",
		"| round-1 | etcd put 5412B 1c | 1 | 5,412 | 50 puts/s | 1.50 | 4.00 | 900 | 0 |",
		"etcd 3.4.23, three members",
	} {
		if !strings.Contains(md, line) {
			t.Errorf("markdown lacks %q:\n%s", line, md)
		}
	}
}

// TestCompare_TargetOnlyAtTheMostClients: a throughput target is stated
// for the most clients measured; fewer clients are reported only.
func TestCompare_TargetOnlyAtTheMostClients(t *testing.T) {
	r := round{
		charta: chartaReport{Results: []chartaResult{
			{Name: "write ed25519 16c", Clients: 16, Throughput: 100},
			{Name: "write ed25519 64c", Clients: 64, Throughput: 200},
		}},
		etcd: []EtcdReport{{Scheme: "ed25519", Results: []Result{
			{Clients: 16, ValueBytes: 1000, Throughput: 400},
			{Clients: 64, ValueBytes: 1000, Throughput: 250},
		}}},
	}
	rows := compare([]round{r})
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	if rows[0].hasTarget || rows[0].want != "reported" || !near(rows[0].ratio, 0.25) {
		t.Errorf("16 clients: %+v, want reported at 0.25", rows[0])
	}
	if !rows[1].hasTarget || !rows[1].met || !near(rows[1].ratio, 0.8) {
		t.Errorf("64 clients: %+v, want the ed25519 target met at 0.80", rows[1])
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := append([]float64(nil), c.in...)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Errorf("median reordered its input: %v", c.in)
			}
		}
	}
}

func TestReport_Refusals(t *testing.T) {
	dir := t.TempDir()
	noEtcd := filepath.Join(dir, "no-etcd")
	os.MkdirAll(noEtcd, 0o755)
	os.WriteFile(filepath.Join(noEtcd, "charta.json"), []byte(`{"results":[]}`), 0o644)
	badJSON := filepath.Join(dir, "bad")
	os.MkdirAll(badJSON, 0o755)
	os.WriteFile(filepath.Join(badJSON, "charta.json"), []byte(`{"results":`), 0o644)
	unmatched := filepath.Join(dir, "unmatched")
	writeRound(t, unmatched, 2, 1, 1, 1, 1, 1)
	os.WriteFile(filepath.Join(unmatched, "charta.json"), []byte(`{"results":[{"name":"write ml-dsa-44 256c","clients":256}]}`), 0o644)
	for name, c := range map[string]struct {
		args  []string
		usage bool
		msg   string
	}{
		"no directories":   {args: []string{"report"}, usage: true, msg: "round directories"},
		"missing":          {args: []string{"report", filepath.Join(dir, "nothing")}, msg: "no such file"},
		"no etcd reports":  {args: []string{"report", noEtcd}, msg: "no etcd-*.json"},
		"bad JSON":         {args: []string{"report", badJSON}, msg: "charta.json"},
		"nothing to match": {args: []string{"report", unmatched}, msg: "no etcd run has a charta run"},
		"unknown flag":     {args: []string{"report", "--rounds", "3"}, usage: true, msg: "flag provided but not defined"},
		"unknown command":  {args: []string{"compare"}, usage: true, msg: `unknown command "compare"`},
	} {
		err := run(context.Background(), c.args, &bytes.Buffer{})
		if err == nil || errors.Is(err, errUsage) != c.usage || !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line with %q (usage %v)", name, err, c.msg, c.usage)
		}
	}
}
