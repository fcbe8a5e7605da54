package bench

import (
	"fmt"
	"time"

	"github.com/charta/charta/ledger"
)

// targets computes the targets from the results that exist.
func (s *suite) targets() {
	rep := s.rep
	get := func(name string) (Result, bool) { return rep.Find(name) }
	n := s.cfg.Clients
	def := s.cfg.Scheme
	raftN, okRaftN := get(fmt.Sprintf("raft baseline %dc", n))
	raft1, okRaft1 := get("raft baseline 1c")
	w1, okW1 := get(fmt.Sprintf("write %s 1c", def))
	wN, okWN := get(fmt.Sprintf("write %s %dc", def, n))
	bolt, okBolt := get("bbolt 1-record tx")
	ratio := func(id, what string, m, b Result, want float64, wantText string) Target {
		t := Target{ID: id, What: what, Measured: m.Throughput, Baseline: b.Throughput, Unit: m.Unit, Want: wantText}
		if b.Throughput > 0 {
			t.Ratio = m.Throughput / b.Throughput
		}
		t.Met = want == 0 || t.Ratio >= want
		return t
	}
	if okRaftN {
		for _, scheme := range append([]ledger.Scheme{def}, s.cfg.Compare...) {
			w, ok := get(fmt.Sprintf("write %s %dc", scheme, n))
			if !ok {
				continue
			}
			want, text := 0.0, "reported"
			switch scheme {
			case ledger.SchemeComposite:
				want, text = 0.40, ">= 0.40 of raw raft"
			case ledger.SchemeMLDSA44:
				want, text = 0.70, ">= 0.70 of raw raft"
			}
			rep.Targets = append(rep.Targets, ratio("T1", fmt.Sprintf("signed writes, %s, %d clients", scheme, n), w, raftN, want, text))
		}
	}
	if okW1 && okRaft1 {
		rep.Targets = append(rep.Targets, Target{ID: "T2", What: "1-client write p50", Measured: w1.Latency.P50, Baseline: raft1.Latency.P50,
			Unit: "ms", Ratio: w1.Latency.P50 / raft1.Latency.P50, Want: "<= raw raft p50 + 1 ms", Met: w1.Latency.P50 <= raft1.Latency.P50+1})
	}
	if okW1 {
		rep.Targets = append(rep.Targets, Target{ID: "T2", What: "1-client write p99 against its p50", Measured: w1.Latency.P99, Baseline: w1.Latency.P50,
			Unit: "ms", Ratio: w1.Latency.P99 / w1.Latency.P50, Want: "<= 3 x p50", Met: w1.Latency.P99 <= 3*w1.Latency.P50})
	}
	if okW1 && okWN {
		rep.Targets = append(rep.Targets, ratio("T3", fmt.Sprintf("%d-client against 1-client writes", n), wN, w1, 20, ">= 20"))
	}
	if okWN && okBolt {
		rep.Targets = append(rep.Targets, ratio("T3", fmt.Sprintf("%d-client writes against bbolt tx/s", n), wN, bolt, 4, ">= 4"))
	}
	chk, okChk := get(fmt.Sprintf("check %dc", s.cfg.CheckConns))
	noop, okNoop := get(fmt.Sprintf("noop http baseline %dc", s.cfg.CheckConns))
	if okChk && okNoop {
		rep.Targets = append(rep.Targets, ratio("T4", fmt.Sprintf("HTTP checks, %d connections", s.cfg.CheckConns), chk, noop, 0.70, ">= 0.70 of no-op"))
	}
	if b, ok := get(fmt.Sprintf("check-batch %dc", s.cfg.CheckConns)); ok {
		rep.Targets = append(rep.Targets, Target{ID: "T4", What: fmt.Sprintf("batched checks (%d per request)", s.cfg.Batch),
			Measured: b.Throughput, Unit: b.Unit, Want: "> 500,000 checks/s", Met: b.Throughput > 500000})
	}
	idle, okIdle := get(fmt.Sprintf("check paced idle %dc", s.cfg.CheckConns))
	if loaded, ok := get(fmt.Sprintf("check paced under writes %dc", s.cfg.CheckConns)); ok && okIdle {
		rep.Targets = append(rep.Targets, Target{ID: "T5",
			What:     fmt.Sprintf("check p99 at %.0f checks/s offered, under writes at half the maximum, against idle", loaded.Offered),
			Measured: loaded.Latency.P99, Baseline: idle.Latency.P99, Unit: "ms", Ratio: loaded.Latency.P99 / idle.Latency.P99,
			Want: "<= 2 x idle p99", Met: loaded.Latency.P99 <= 2*idle.Latency.P99})
	}
	noopIdle, okNoopIdle := get(fmt.Sprintf("noop paced idle %dc", s.cfg.CheckConns))
	if loaded, ok := get(fmt.Sprintf("noop paced under writes %dc", s.cfg.CheckConns)); ok && okNoopIdle {
		rep.Targets = append(rep.Targets, Target{ID: "T5",
			What:     fmt.Sprintf("reference: no-op handler p99 at %.0f requests/s offered, under the same writes, against idle", loaded.Offered),
			Measured: loaded.Latency.P99, Baseline: noopIdle.Latency.P99, Unit: "ms", Ratio: loaded.Latency.P99 / noopIdle.Latency.P99,
			Want: "reported"})
	}
	direct, okDirect := get(fmt.Sprintf("gateway direct upstream %dc", s.cfg.CheckConns))
	if via, ok := get(fmt.Sprintf("gateway proxied %dc", s.cfg.CheckConns)); ok && okDirect {
		rep.Targets = append(rep.Targets, ratio("T9", fmt.Sprintf("requests through charta gateway, %d connections", s.cfg.CheckConns), via, direct, 0.70, ">= 0.70 of the upstream direct"))
	}
	pacedDirect, okPaced := get(fmt.Sprintf("gateway direct upstream paced %dc", s.cfg.CheckConns))
	if via, ok := get(fmt.Sprintf("gateway proxied paced %dc", s.cfg.CheckConns)); ok && okPaced {
		over := via.Latency.P50 - pacedDirect.Latency.P50
		rep.Targets = append(rep.Targets, Target{ID: "T9", What: fmt.Sprintf("gateway p50 overhead at %.0f requests/s offered (proxied p50 minus direct p50)", via.Offered),
			Measured: over, Baseline: pacedDirect.Latency.P50, Unit: "ms", Want: "<= 1 ms", Met: over <= 1})
	}
	s.scaleTargets(s.scale)
	if s.cfg.LedgerCheck > 0 {
		rep.Targets = append(rep.Targets, Target{ID: "T4", What: "in-process ledger.Check (BenchmarkCheck)",
			Measured: s.cfg.LedgerCheck, Unit: "checks/s", Want: "> 1,000,000 checks/s", Met: s.cfg.LedgerCheck > 1000000})
	}
}

// scaleTargets adds T6, T7 and T8 from points: 10,000, n and 2n entries.
func (s *suite) scaleTargets(points []*scalePoint) {
	if len(points) != 3 {
		return
	}
	small, one, two := points[0], points[1], points[2]
	for _, p := range points {
		s.rep.Add(Result{Name: fmt.Sprintf("scale %d entries", p.entries), Clients: 1, Ops: int64(p.entries), Units: int64(p.entries),
			Seconds: p.preload.Seconds(), Throughput: float64(p.entries) / p.preload.Seconds(), Unit: "entries/s preloaded"})
	}
	const mib = 1 << 20
	sec := func(d time.Duration) float64 { return d.Seconds() }
	rep := s.rep
	rep.Targets = append(rep.Targets,
		Target{ID: "T6", What: fmt.Sprintf("heap in use after %d applied entries", one.entries), Measured: one.heapInUse / mib,
			Unit: "MiB", Want: "<= 256 MiB", Met: one.heapInUse <= 256*mib, Note: "token.register entries"},
		Target{ID: "T6", What: fmt.Sprintf("heap growth from %d to %d entries", one.entries, two.entries), Measured: two.heapInUse / mib,
			Baseline: one.heapInUse / mib, Unit: "MiB", Ratio: two.heapInUse / one.heapInUse, Want: "< 1.10", Met: two.heapInUse < 1.10*one.heapInUse},
		Target{ID: "T7", What: fmt.Sprintf("restart to ready (/readyz, state loaded), %d entries", one.entries), Measured: sec(one.restart),
			Unit: "s", Want: "<= 5 s", Met: one.restart <= 5*time.Second},
		Target{ID: "T7", What: fmt.Sprintf("restart with %d against %d entries", one.entries, small.entries), Measured: sec(one.restart),
			Baseline: sec(small.restart), Unit: "s", Ratio: sec(one.restart) / sec(small.restart), Want: "<= 2", Met: one.restart <= 2*small.restart},
		Target{ID: "T8", What: fmt.Sprintf("wiped follower catches up to %d entries by snapshot", one.entries), Measured: sec(one.catchUp),
			Unit: "s", Want: "<= 60 s", Met: one.catchUp > 0 && one.catchUp <= time.Minute},
	)
}
