package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// writeProfile writes a CPU profile whose samples have the given stacks
// (innermost first) and CPU nanoseconds.
func writeProfile(t *testing.T, path string, samples map[string]int64) {
	t.Helper()
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 10_000_000,
	}
	id := uint64(0)
	for stack, ns := range samples {
		var locs []*profile.Location
		for _, name := range strings.Split(stack, ";") {
			id++
			fn := &profile.Function{ID: id, Name: name}
			loc := &profile.Location{ID: id, Line: []profile.Line{{Function: fn}}}
			p.Function, p.Location = append(p.Function, fn), append(p.Location, loc)
			locs = append(locs, loc)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{1, ns}})
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCostRows_CPUAndApplyFromProfiles checks the CPU-per-write row against
// etcd's and the ledger-apply row from the nodes' profiles: verification
// inside Apply is not apply, and the split adds up.
func TestCostRows_CPUAndApplyFromProfiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "round-1")
	writeRound(t, dir, 2, 1000, 1000, 1, 2000, 2000)
	// 1,000 writes at 256 clients over 10 s, with the nodes at 20 %, 15 %
	// and 15 %: 5,000 µs of CPU per write.
	var charta map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "charta.json"))
	json.Unmarshal(b, &charta)
	res := charta["results"].([]any)[1].(map[string]any)
	res["ops"], res["procs"] = 1000, []map[string]float64{{"cpu_percent": 20}, {"cpu_percent": 15}, {"cpu_percent": 15}}
	b, _ = json.Marshal(charta)
	os.WriteFile(filepath.Join(dir, "charta.json"), b, 0o644)
	var etcd EtcdReport
	b, _ = os.ReadFile(filepath.Join(dir, "etcd-"+composite+".json"))
	json.Unmarshal(b, &etcd)
	etcd.Results[1].CPUMicrosPerOp = 1000
	b, _ = json.Marshal(etcd)
	os.WriteFile(filepath.Join(dir, "etcd-"+composite+".json"), b, 0o644)

	const apply = "github.com/charta/charta/ledger.(*Ledger).Apply"
	// Per node, over 1,000 writes: 50 ms of commit (50 µs per write), 20 ms
	// of verification inside Apply (not apply), 30 ms of rules, 40 ms of
	// Raft.
	for _, node := range []string{"alpha-leader", "beta-follower"} {
		writeProfile(t, filepath.Join(dir, "profiles", "write-"+composite+"-"+node+".pprof"), map[string]int64{
			"go.etcd.io/bbolt.(*Tx).Commit;" + apply:                                            50_000_000,
			"github.com/cloudflare/circl/sign/mldsa/mldsa65.Verify;" + apply:                    20_000_000,
			"github.com/charta/charta/ledger.dispatch;" + apply:                                 30_000_000,
			"github.com/hashicorp/raft.(*Raft).runLeader;github.com/hashicorp/raft.(*Raft).run": 40_000_000,
		})
	}
	r, err := readRound(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := r.splits[composite]
	if !near(s.apply(), 160) || !near(s.micros["signature verification"], 40) || !near(s.micros["Raft"], 80) || !near(s.total, 280) {
		t.Fatalf("split %+v: apply %v", s.micros, s.apply())
	}
	rows := costRows([]round{r})
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	if c := rows[0]; !near(c.charta, 5000) || !near(c.etcd, 1000) || !near(c.ratio, 5) || c.want != "<= 450 µs" || c.met {
		t.Errorf("CPU row %+v", c)
	}
	if a := rows[1]; !near(a.charta, 160) || !a.absolute || a.want != "<= 100 µs" || a.met {
		t.Errorf("apply row %+v", a)
	}
	var md bytes.Buffer
	markdown(&md, []round{r}, compare([]round{r}))
	for _, line := range []string{
		"| " + composite + "-signed writes, 256 clients: ledger apply per write, three nodes (profiles) | 160 µs | — | — | <= 100 µs | **no** | 160 |",
		"| ledger apply: state-store commit | 100 |",
		"| **ledger apply** | **160** |",
	} {
		if !strings.Contains(md.String(), line) {
			t.Errorf("markdown lacks %q:\n%s", line, md.String())
		}
	}
}
