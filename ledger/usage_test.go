package ledger_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// tiers3 are graduated EUR tiers: the first 100 units at 1.00, up to 1000
// at 0.80, and every unit above at 0.50.
func tiers3(model string) ledger.Pricing {
	return ledger.Pricing{Model: model, Currency: "EUR", Tiers: []ledger.Tier{
		{UpTo: 100, UnitMicros: 1_000_000}, {UpTo: 1000, UnitMicros: 800_000}, {UnitMicros: 500_000},
	}}
}

func gpuTerms(model string) *ledger.UsageTerms {
	return &ledger.UsageTerms{Period: ledger.PeriodMonth, GraceDays: 7,
		Metrics: []ledger.UsageMetric{{Name: "gpu_hours", Unit: "hour", Pricing: tiers3(model)}}}
}

func i64(v int64) *int64 { return &v }

// metered sets up grant g-1 from alpha to beta over model-x with the given
// usage terms, active from t0+1m; the clock is then at t0+1h.
func metered(t testing.TB, u *ledger.UsageTerms, mod func(*ledger.Terms)) *fixture {
	t.Helper()
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"use"}, func(tm *ledger.Terms) {
		tm.Usage = u
		if mod != nil {
			mod(tm)
		}
	}))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-1"})
	f.now = t0.Add(time.Hour)
	return f
}

// usageReport is a report of January 2026 for g-1, for the window
// [t0+2m, t0+50m).
func usageReport(id string, ms ...ledger.MetricQuantity) ledger.UsageReportBody {
	return ledger.UsageReportBody{Grant: "g-1", ReportID: id, Period: "2026-01",
		Window: ledger.Window{Start: t0.Add(2 * time.Minute), End: t0.Add(50 * time.Minute)}, Metrics: ms}
}

func mq(metric string, q int64) ledger.MetricQuantity {
	return ledger.MetricQuantity{Metric: metric, Quantity: q}
}

func (f *fixture) statement(grant, period string) *ledger.Statement {
	f.t.Helper()
	var s *ledger.Statement
	f.view(func(v *ledger.View) {
		var err error
		if s, err = v.Statement(grant, period); err != nil {
			f.t.Fatal(err)
		}
	})
	return s
}

// tick applies a harmless entry so that ledger time reaches the clock.
func (f *fixture) tick() {
	f.t.Helper()
	f.seq++
	f.register("alpha", "tick-"+strconv.Itoa(f.seq))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "statements", name+".json")
	if u := flag.Lookup("update"); u != nil && u.Value.String() == "true" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(bytes.Clone(got), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(bytes.TrimSuffix(want, []byte("\n")), got) {
		t.Fatalf("statement %s changed:\n got %s\nwant %s", name, got, want)
	}
}

// lineage sets up two levels of derivation with revenue share: gamma's
// corpus → (d-0, 5%) → alpha's base → (d-1, 10%) → beta's model-x, which
// beta licenses to gamma as metered grant g-1.
func lineage(t testing.TB, u *ledger.UsageTerms) *fixture {
	t.Helper()
	f := newFixture(t)
	share := func(bp int64) func(*ledger.Terms) {
		return func(tm *ledger.Terms) {
			tm.Usage = &ledger.UsageTerms{Period: ledger.PeriodMonth, RevenueShareBP: bp}
		}
	}
	derive := []ledger.Right{"derive", "use"}
	f.register("gamma", "corpus")
	f.accept("gamma", "grant.offer", offer("d-0", "gamma", "alpha", "corpus", derive, share(500)))
	f.accept("alpha", "grant.accept", ledger.GrantRef{Grant: "d-0"})
	f.accept("alpha", "asset.register", map[string]any{"id": "base", "kind": "model", "digest": digestA,
		"owners": []map[string]any{{"member": "alpha", "share_bp": 10000}}, "parents": []map[string]any{{"asset": "corpus", "grant": "d-0"}}})
	f.accept("alpha", "grant.offer", offer("d-1", "alpha", "beta", "base", derive, share(1000)))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "d-1"})
	f.accept("beta", "asset.register", map[string]any{"id": "model-x", "kind": "model", "digest": digestA,
		"owners": []map[string]any{{"member": "beta", "share_bp": 10000}}, "parents": []map[string]any{{"asset": "base", "grant": "d-1"}}})
	f.accept("beta", "grant.offer", offer("g-1", "beta", "gamma", "model-x", []ledger.Right{"use"}, func(tm *ledger.Terms) { tm.Usage = u }))
	f.accept("gamma", "grant.accept", ledger.GrantRef{Grant: "g-1"})
	f.now = t0.Add(time.Hour)
	return f
}

// TestStatement_Arithmetic prices table cases end to end (terms, signed
// reports, SLA reports) and pins each statement's bytes in
// testdata/statements. The expected amounts are worked out by hand in the
// comments and in docs/pricing.md.
func TestStatement_Arithmetic(t *testing.T) {
	halfEven := &ledger.UsageTerms{Period: ledger.PeriodMonth, GraceDays: 7}
	for _, n := range []string{"m1", "m3", "m5", "m7"} {
		halfEven.Metrics = append(halfEven.Metrics, ledger.UsageMetric{Name: n, Unit: "unit",
			Pricing: ledger.Pricing{Model: ledger.PricingGraduated, Currency: "EUR", Per: 2, Tiers: []ledger.Tier{{UnitMicros: 1}}}})
	}
	withMin := gpuTerms(ledger.PricingGraduated)
	withMin.MinCommitment = &ledger.Money{Micros: 50_000_000, Currency: "EUR"}
	dynamic := gpuTerms(ledger.PricingGraduated)
	dynamic.SLAReporter = "alpha"
	dynamic.Multipliers = []ledger.Multiplier{{Metric: "accuracy_bp", AtLeast: i64(9500), MultiplierBP: 11000}}
	dynamic.SLACredits = []ledger.SLACredit{{Metric: "availability_bp", Below: 9990, DiscountBP: 1000}}

	cases := []struct {
		name      string
		terms     *ledger.UsageTerms
		reports   [][]ledger.MetricQuantity
		sla       []ledger.SLAMeasurement
		lineage   bool
		base      int64
		total     int64
		adjusts   []int64
		shares    []int64
		lineCount int
	}{
		// 100 × 1.00 + 900 × 0.80 + 500 × 0.50 = 1070.00
		{name: "graduated_1500", terms: gpuTerms(ledger.PricingGraduated), reports: [][]ledger.MetricQuantity{{mq("gpu_hours", 1000)}, {mq("gpu_hours", 500)}},
			base: 1_070_000_000, total: 1_070_000_000, lineCount: 3},
		// every unit at the third tier: 1500 × 0.50 = 750.00
		{name: "volume_1500", terms: gpuTerms(ledger.PricingVolume), reports: [][]ledger.MetricQuantity{{mq("gpu_hours", 1500)}},
			base: 750_000_000, total: 750_000_000, lineCount: 1},
		{name: "graduated_boundary_100", terms: gpuTerms(ledger.PricingGraduated), reports: [][]ledger.MetricQuantity{{mq("gpu_hours", 100)}},
			base: 100_000_000, total: 100_000_000, lineCount: 1},
		{name: "graduated_boundary_101", terms: gpuTerms(ledger.PricingGraduated), reports: [][]ledger.MetricQuantity{{mq("gpu_hours", 101)}},
			base: 100_800_000, total: 100_800_000, lineCount: 2},
		{name: "volume_boundary_100", terms: gpuTerms(ledger.PricingVolume), reports: [][]ledger.MetricQuantity{{mq("gpu_hours", 100)}},
			base: 100_000_000, total: 100_000_000, lineCount: 1},
		// crossing into the second tier reprices every unit: 101 × 0.80
		{name: "volume_boundary_101", terms: gpuTerms(ledger.PricingVolume), reports: [][]ledger.MetricQuantity{{mq("gpu_hours", 101)}},
			base: 80_800_000, total: 80_800_000, lineCount: 1},
		// 10.00 of use, topped up to the 50.00 minimum
		{name: "min_commitment", terms: withMin, reports: [][]ledger.MetricQuantity{{mq("gpu_hours", 10)}},
			base: 10_000_000, total: 50_000_000, adjusts: []int64{40_000_000}, lineCount: 1},
		// 1070.00 × 1.10 = 1177.00; then a 10% credit: − 117.70 = 1059.30
		{name: "sla_credit_and_multiplier", terms: dynamic, reports: [][]ledger.MetricQuantity{{mq("gpu_hours", 1500)}},
			sla:  []ledger.SLAMeasurement{{Metric: "accuracy_bp", Value: 9700}, {Metric: "availability_bp", Value: 9950}},
			base: 1_070_000_000, total: 1_059_300_000, adjusts: []int64{107_000_000, -117_700_000}, lineCount: 3},
		// 1/2 → 0, 3/2 → 2, 5/2 → 2, 7/2 → 4: half to even, once per line
		{name: "half_even", terms: halfEven, reports: [][]ledger.MetricQuantity{{mq("m1", 1), mq("m3", 3), mq("m5", 5), mq("m7", 7)}},
			base: 8, total: 8, lineCount: 4},
		// 100 × 1.00 + 900 × 0.80 = 820.00; 10% of it (82.00) to alpha, and 5% of that (4.10) on to gamma
		{name: "revenue_share_two_levels", terms: gpuTerms(ledger.PricingGraduated), reports: [][]ledger.MetricQuantity{{mq("gpu_hours", 1000)}},
			lineage: true, base: 820_000_000, total: 820_000_000, shares: []int64{82_000_000, 4_100_000}, lineCount: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var f *fixture
			licensee := "beta"
			if c.lineage {
				f, licensee = lineage(t, c.terms), "gamma"
			} else {
				f = metered(t, c.terms, nil)
			}
			for i, ms := range c.reports {
				f.accept(licensee, "usage.report", usageReport("r"+strconv.Itoa(i), ms...))
			}
			if c.sla != nil {
				f.accept("alpha", "sla.report", ledger.SLAReportBody{Grant: "g-1", ReportID: "s1", Period: "2026-01", Measurements: c.sla})
			}
			s := f.statement("g-1", "2026-01")
			if s.Status != ledger.StatementProvisional {
				t.Fatalf("open period: status %s", s.Status)
			}
			f.now = time.Date(2026, 2, 8, 0, 0, 0, 0, time.UTC) // the grace ends
			f.tick()
			s = f.statement("g-1", "2026-01")
			if s.Status != ledger.StatementFinal {
				t.Fatalf("after grace: status %s", s.Status)
			}
			lines := 0
			for _, m := range s.Metrics {
				lines += len(m.Tiers)
			}
			if s.BaseMicros != c.base || s.TotalMicros != c.total || lines != c.lineCount {
				t.Fatalf("base %d total %d lines %d; want %d %d %d\n%s", s.BaseMicros, s.TotalMicros, lines, c.base, c.total, c.lineCount, s.Encode())
			}
			if len(s.Adjustments) != len(c.adjusts) {
				t.Fatalf("adjustments %+v, want %v", s.Adjustments, c.adjusts)
			}
			for i, a := range s.Adjustments {
				if a.AmountMicros != c.adjusts[i] {
					t.Fatalf("adjustment %d: %+v, want %d", i, a, c.adjusts[i])
				}
			}
			if len(s.RevenueShare) != len(c.shares) {
				t.Fatalf("revenue share %+v, want %v", s.RevenueShare, c.shares)
			}
			for i, r := range s.RevenueShare {
				if r.AmountMicros != c.shares[i] || r.Level != i+1 {
					t.Fatalf("share %d: %+v, want %d", i, r, c.shares[i])
				}
			}
			if c.lineage && (s.RevenueShare[0].To[0] != "alpha" || s.RevenueShare[1].To[0] != "gamma" || s.RevenueShare[1].Asset != "corpus") {
				t.Fatalf("shares go to the wrong parties: %+v", s.RevenueShare)
			}
			golden(t, c.name, s.Encode())
			f.view(func(v *ledger.View) {
				if ps := v.Statements("g-1"); len(ps) != 1 || ps[0] != "2026-01" {
					t.Fatalf("statement periods %v", ps)
				}
			})
		})
	}
}

func TestUsageReport_IdempotentAndBadInput(t *testing.T) {
	u := gpuTerms(ledger.PricingGraduated)
	u.Metrics = append(u.Metrics, ledger.UsageMetric{Name: "tokens", Unit: "token", Pricing: ledger.Pricing{Model: ledger.PricingVolume, Currency: "EUR", Per: 1000, Tiers: []ledger.Tier{{UnitMicros: 1500}}}})
	f := metered(t, u, func(tm *ledger.Terms) {
		tm.Constraints.Territory = ledger.Territory{Allow: []string{"DE", "FR"}}
	})
	r := f.accept("beta", "usage.report", usageReport("r1", mq("gpu_hours", 10), mq("tokens", 2500)))
	if !hasEvent(r, "usage.reported", "g-1") {
		t.Fatalf("events %+v", r.Outcome.Events)
	}
	// Same report in a new proposal: accepted, counted once.
	f.accept("beta", "usage.report", usageReport("r1", mq("gpu_hours", 10), mq("tokens", 2500)))
	if s := f.statement("g-1", "2026-01"); s.Metrics[0].Quantity != 10 || s.Metrics[1].Quantity != 2500 || s.Reports != 1 {
		t.Fatalf("a repeated report was counted twice: %s", s.Encode())
	}
	future := usageReport("r9", mq("gpu_hours", 1))
	future.Period = "2026-02"
	badWindow := usageReport("r10", mq("gpu_hours", 1))
	badWindow.Window.End = time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)
	lateStart := usageReport("r11", mq("gpu_hours", 1))
	// Past the charter's allowance of 120 s after ledger time.
	lateStart.Window = ledger.Window{Start: f.now.Add(121 * time.Second), End: f.now.Add(3 * time.Minute)}
	badPeriod := usageReport("r12", mq("gpu_hours", 1))
	badPeriod.Period = "2026-1"
	badTerritory := usageReport("r13", mq("gpu_hours", 1))
	badTerritory.Territory = "XX"
	cases := []struct {
		name  string
		by    string
		body  ledger.UsageReportBody
		code  ledger.Code
		field string
	}{
		{"different content, same ID", "beta", usageReport("r1", mq("gpu_hours", 11)), ledger.CodeConflict, "body.report_id"},
		{"unknown metric", "beta", usageReport("r2", mq("cpu_hours", 1)), ledger.CodeInvalid, "body.metrics[0].metric"},
		{"negative quantity", "beta", usageReport("r3", mq("gpu_hours", -1)), ledger.CodeInvalid, "body.metrics[0].quantity"},
		{"overflow quantity", "beta", usageReport("r4", mq("gpu_hours", ledger.MaxQuantity+1)), ledger.CodeInvalid, "body.metrics[0].quantity"},
		{"unsorted metrics", "beta", usageReport("r5", mq("tokens", 1), mq("gpu_hours", 1)), ledger.CodeInvalid, "body.metrics[1].metric"},
		{"no metrics", "beta", usageReport("r6"), ledger.CodeInvalid, "body.metrics"},
		{"not the licensee", "gamma", usageReport("r7", mq("gpu_hours", 1)), ledger.CodeForbidden, "signer"},
		{"licensor reports", "alpha", usageReport("r8", mq("gpu_hours", 1)), ledger.CodeForbidden, "signer"},
		{"period in the future", "beta", future, ledger.CodeInvalid, "body.period"},
		{"malformed period", "beta", badPeriod, ledger.CodeInvalid, "body.period"},
		{"window outside period", "beta", badWindow, ledger.CodeInvalid, "body.window"},
		{"window in the future", "beta", lateStart, ledger.CodeInvalid, "body.window"},
		{"bad territory", "beta", badTerritory, ledger.CodeInvalid, "territory"},
		{"bad report ID", "beta", usageReport("r 1", mq("gpu_hours", 1)), ledger.CodeInvalid, "body.report_id"},
	}
	for _, c := range cases {
		r := f.submit(c.by, "usage.report", c.body)
		if r.Outcome.Status != ledger.StatusRejected || r.Outcome.Code != c.code || !strings.Contains(r.Outcome.Message, c.field) {
			t.Errorf("%s: want rejected %s naming %q, got %s %s: %s", c.name, c.code, c.field, r.Outcome.Status, r.Outcome.Code, r.Outcome.Message)
		}
		if len(r.Outcome.Events) != 0 {
			t.Errorf("%s: bad input recorded something: %+v", c.name, r.Outcome.Events)
		}
	}
	if s := f.statement("g-1", "2026-01"); s.Metrics[0].Quantity != 10 || s.Reports != 1 {
		t.Fatalf("bad input changed the usage: %s", s.Encode())
	}
	f.view(func(v *ledger.View) {
		if ins, _ := v.Infractions(ledger.InfractionFilter{}, "", 10); len(ins) != 0 {
			t.Fatalf("bad input recorded infractions: %+v", ins)
		}
		rs, next := v.UsageReports("g-1", "", 10)
		if len(rs) != 1 || rs[0].ReportID != "r1" || rs[0].Signer != "beta" || next != "" {
			t.Fatalf("reports %+v %q", rs, next)
		}
	})
	// After the grace the period is closed.
	f.now = time.Date(2026, 2, 8, 0, 0, 0, 0, time.UTC)
	f.reject(ledger.CodeRejected, "beta", "usage.report", usageReport("late", mq("gpu_hours", 1)))
}

func TestUsageTerms_BadInput(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	mod := func(fn func(u *ledger.UsageTerms)) *ledger.UsageTerms {
		u := gpuTerms(ledger.PricingGraduated)
		fn(u)
		return u
	}
	cases := []struct {
		name  string
		u     *ledger.UsageTerms
		field string
	}{
		{"unsorted tiers", mod(func(u *ledger.UsageTerms) { u.Metrics[0].Pricing.Tiers[1].UpTo = 50 }), "tiers[1].up_to"},
		{"overlapping tiers", mod(func(u *ledger.UsageTerms) { u.Metrics[0].Pricing.Tiers[1].UpTo = 100 }), "tiers must be sorted and must not overlap"},
		{"bounded last tier", mod(func(u *ledger.UsageTerms) { u.Metrics[0].Pricing.Tiers[2].UpTo = 5000 }), "tiers[2].up_to"},
		{"no tiers", mod(func(u *ledger.UsageTerms) { u.Metrics[0].Pricing.Tiers = nil }), "pricing.tiers"},
		{"bad model", mod(func(u *ledger.UsageTerms) { u.Metrics[0].Pricing.Model = "flat" }), "pricing.model"},
		{"huge unit price", mod(func(u *ledger.UsageTerms) { u.Metrics[0].Pricing.Tiers[0].UnitMicros = ledger.MaxQuantity + 1 }), "unit_micros"},
		{"negative unit price", mod(func(u *ledger.UsageTerms) { u.Metrics[0].Pricing.Tiers[0].UnitMicros = -1 }), "unit_micros"},
		{"currencies differ", mod(func(u *ledger.UsageTerms) {
			u.Metrics = append(u.Metrics, ledger.UsageMetric{Name: "tokens", Unit: "token", Pricing: ledger.Pricing{Model: "volume", Currency: "USD", Tiers: []ledger.Tier{{UnitMicros: 1}}}})
		}), "does not match"},
		{"commitment currency", mod(func(u *ledger.UsageTerms) { u.MinCommitment = &ledger.Money{Micros: 1, Currency: "USD"} }), "min_commitment.currency"},
		{"huge commitment", mod(func(u *ledger.UsageTerms) {
			u.MinCommitment = &ledger.Money{Micros: ledger.MaxMicros + 1, Currency: "EUR"}
		}), "min_commitment.micros"},
		{"soft cap over hard", mod(func(u *ledger.UsageTerms) { u.Metrics[0].HardCap, u.Metrics[0].SoftCap = 10, 10 }), "soft_cap"},
		{"both conditions", mod(func(u *ledger.UsageTerms) {
			u.SLAReporter = "alpha"
			u.Multipliers = []ledger.Multiplier{{Metric: "x", AtLeast: i64(1), Below: i64(2), MultiplierBP: 10000}}
		}), "exactly one of at_least and below"},
		{"multiplier too big", mod(func(u *ledger.UsageTerms) {
			u.SLAReporter = "alpha"
			u.Multipliers = []ledger.Multiplier{{Metric: "x", AtLeast: i64(1), MultiplierBP: 30000}}
		}), "multiplier_bp"},
		{"credits without reporter", mod(func(u *ledger.UsageTerms) { u.SLACredits = []ledger.SLACredit{{Metric: "x", Below: 1, DiscountBP: 1}} }), "sla_reporter"},
		{"unsorted metrics", mod(func(u *ledger.UsageTerms) {
			u.Metrics = append(u.Metrics, ledger.UsageMetric{Name: "a", Unit: "x", Pricing: tiers3("volume")})
		}), "metrics[1].name"},
		{"bad period", mod(func(u *ledger.UsageTerms) { u.Period = "hour" }), "usage.period"},
		{"share over 100%", mod(func(u *ledger.UsageTerms) { u.RevenueShareBP = 10001 }), "revenue_share_bp"},
	}
	for i, c := range cases {
		r := f.submit("alpha", "grant.offer", offer("g-"+strconv.Itoa(i), "alpha", "beta", "model-x", []ledger.Right{"use"}, func(tm *ledger.Terms) { tm.Usage = c.u }))
		if r.Outcome.Code != ledger.CodeInvalid || !strings.Contains(r.Outcome.Message, c.field) {
			t.Errorf("%s: want invalid naming %q, got %s %s: %s", c.name, c.field, r.Outcome.Status, r.Outcome.Code, r.Outcome.Message)
		}
	}
	// A reporting duty must name a metric of the terms, in their period.
	r := f.submit("alpha", "grant.offer", offer("g-d", "alpha", "beta", "model-x", []ledger.Right{"use"}, func(tm *ledger.Terms) {
		tm.Usage = gpuTerms("graduated")
		tm.Duties = []ledger.Duty{{Kind: ledger.DutyReportUsage, Metric: "tokens", Period: ledger.PeriodMonth}}
	}))
	if r.Outcome.Code != ledger.CodeInvalid || !strings.Contains(r.Outcome.Message, "duties[0].metric") {
		t.Errorf("duty with unknown metric: %+v", r.Outcome)
	}
}

// TestUsage_Overflow: the largest allowed values price without overflow;
// anything larger is refused where it enters.
func TestUsage_Overflow(t *testing.T) {
	u := &ledger.UsageTerms{Period: ledger.PeriodMonth, SLAReporter: "alpha", Metrics: []ledger.UsageMetric{
		{Name: "big", Unit: "unit", Pricing: ledger.Pricing{Model: ledger.PricingGraduated, Currency: "EUR", Per: ledger.MaxQuantity,
			Tiers: []ledger.Tier{{UpTo: ledger.MaxQuantity - 1, UnitMicros: ledger.MaxQuantity}, {UnitMicros: ledger.MaxQuantity}}}},
		{Name: "dear", Unit: "unit", Pricing: ledger.Pricing{Model: ledger.PricingVolume, Currency: "EUR", Tiers: []ledger.Tier{{UnitMicros: ledger.MaxQuantity}}}},
	},
		MinCommitment: &ledger.Money{Micros: ledger.MaxMicros, Currency: "EUR"},
		Multipliers: []ledger.Multiplier{
			{Metric: "q", AtLeast: i64(0), MultiplierBP: ledger.MaxMultiplierBP}, {Metric: "q", AtLeast: i64(0), MultiplierBP: ledger.MaxMultiplierBP},
			{Metric: "q", AtLeast: i64(0), MultiplierBP: ledger.MaxMultiplierBP}, {Metric: "q", AtLeast: i64(0), MultiplierBP: ledger.MaxMultiplierBP},
		}}
	f := metered(t, u, nil)
	// 1e15 units at 1e15 micro-units per 1e15 units: the product is 1e30
	// in 128 bits, the line 1e15.
	f.accept("beta", "usage.report", usageReport("r1", mq("big", ledger.MaxQuantity)))
	f.reject(ledger.CodeTooLarge, "beta", "usage.report", usageReport("r2", mq("big", 1)))
	// 100 units at 1e15 would be 1e17 micro-units, the most a period may cost…
	f.accept("beta", "usage.report", usageReport("r3", mq("dear", 99)))
	// …and one more unit passes it.
	f.reject(ledger.CodeTooLarge, "beta", "usage.report", usageReport("r4", mq("dear", 2)))
	f.accept("alpha", "sla.report", ledger.SLAReportBody{Grant: "g-1", ReportID: "s1", Period: "2026-01", Measurements: []ledger.SLAMeasurement{{Metric: "q", Value: ledger.MaxQuantity}}})
	s := f.statement("g-1", "2026-01")
	// (1e15 + 99e15) × 2⁴ = 1.6e18 < 2⁶³
	if s.BaseMicros != 100_000_000_000_000_000 || s.TotalMicros != 1_600_000_000_000_000_000 {
		t.Fatalf("base %d total %d", s.BaseMicros, s.TotalMicros)
	}
	f.reject(ledger.CodeInvalid, "alpha", "sla.report", ledger.SLAReportBody{Grant: "g-1", ReportID: "s2", Period: "2026-01", Measurements: []ledger.SLAMeasurement{{Metric: "q", Value: ledger.MaxQuantity + 1}}})
}

func TestUsage_HardCapCheckAndInfraction(t *testing.T) {
	u := gpuTerms(ledger.PricingGraduated)
	u.Metrics[0].HardCap, u.Metrics[0].SoftCap = 100, 50
	f := metered(t, u, nil)
	use := ledger.CheckRequest{Member: "beta", Asset: "model-x", Action: ledger.RightUse}
	f.accept("beta", "usage.report", usageReport("r1", mq("gpu_hours", 40)))
	r := f.accept("beta", "usage.report", usageReport("r2", mq("gpu_hours", 40)))
	if !hasEvent(r, "infraction.recorded", "g-1/soft_cap_exceeded/2026-01:gpu_hours") {
		t.Fatalf("soft cap crossing: %+v", r.Outcome.Events)
	}
	d := f.wantCheck(use, true, "grant g-1")
	if len(d.Caps) != 1 || d.Caps[0].Remaining != 20 || d.Caps[0].Used != 80 || d.Caps[0].Period != "2026-01" {
		t.Fatalf("caps %+v", d.Caps)
	}
	r = f.reject(ledger.CodeRejected, "beta", "usage.report", usageReport("r3", mq("gpu_hours", 30)))
	if !strings.Contains(r.Outcome.Message, "hard cap of 100") || !strings.Contains(r.Outcome.Message, "remaining 20") {
		t.Fatalf("message %q", r.Outcome.Message)
	}
	if !hasEvent(r, "infraction.recorded", "g-1/hard_cap_exceeded/r3") {
		t.Fatalf("a rejected report over the hard cap is recorded: %+v", r.Outcome.Events)
	}
	// The rejection kept the infraction and nothing else.
	f.view(func(v *ledger.View) {
		tot, _ := v.UsageTotal("g-1", "2026-01")
		ins, _ := v.Infractions(ledger.InfractionFilter{Member: "beta", Kind: ledger.InfractionHardCap}, "", 10)
		if tot.Metrics[0].Quantity != 80 || len(ins) != 1 || ins[0].Report != "r3" || ins[0].Index != f.index {
			t.Fatalf("totals %+v infractions %+v", tot, ins)
		}
	})
	// Resubmitting the same over-cap report records nothing new.
	r = f.reject(ledger.CodeRejected, "beta", "usage.report", usageReport("r3", mq("gpu_hours", 30)))
	if len(r.Outcome.Events) != 0 {
		t.Fatalf("recorded twice: %+v", r.Outcome.Events)
	}
	f.accept("beta", "usage.report", usageReport("r4", mq("gpu_hours", 20)))
	f.wantCheck(use, false, "has used its hard cap of 100 hour of gpu_hours in period 2026-01")
	// A new period, a fresh cap.
	f.now = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	f.tick()
	f.wantCheck(use, true, "grant g-1")
}

func TestInfractions_ExpiryScopeSLAAndMissingReports(t *testing.T) {
	u := gpuTerms(ledger.PricingGraduated)
	u.SLAReporter = "alpha"
	u.SLACredits = []ledger.SLACredit{{Metric: "availability_bp", Below: 9990, DiscountBP: 500}}
	end := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f := metered(t, u, func(tm *ledger.Terms) {
		tm.Constraints = ledger.Constraints{NotAfter: &end, Territory: ledger.Territory{Allow: []string{"DE"}}}
		tm.Clauses.SLA = []ledger.SLATarget{{Metric: "p99_latency_ms", Target: 200}}
		tm.Duties = []ledger.Duty{{Kind: ledger.DutyReportUsage, Metric: "gpu_hours", Period: ledger.PeriodMonth, DueDays: 5}}
	})
	out := usageReport("r-us", mq("gpu_hours", 1))
	out.Territory = "US"
	r := f.reject(ledger.CodeRejected, "beta", "usage.report", out)
	if !hasEvent(r, "infraction.recorded", "g-1/usage_out_of_scope/r-us") {
		t.Fatalf("out of scope: %+v", r.Outcome)
	}
	early := usageReport("r-early", mq("gpu_hours", 1))
	early.Window.Start = t0 // before the grant was accepted
	if r := f.reject(ledger.CodeRejected, "beta", "usage.report", early); !hasEvent(r, "infraction.recorded", "g-1/usage_out_of_scope/r-early") {
		t.Fatalf("before activation: %+v", r.Outcome)
	}
	r = f.accept("alpha", "sla.report", ledger.SLAReportBody{Grant: "g-1", ReportID: "s1", Period: "2026-01",
		Measurements: []ledger.SLAMeasurement{{Metric: "availability_bp", Value: 9980}, {Metric: "p99_latency_ms", Value: 150}}})
	if !hasEvent(r, "infraction.recorded", "g-1/sla_breach/2026-01:availability_bp") || len(r.Outcome.Events) != 2 {
		t.Fatalf("SLA breach: %+v", r.Outcome.Events)
	}
	f.reject(ledger.CodeForbidden, "beta", "sla.report", ledger.SLAReportBody{Grant: "g-1", ReportID: "s2", Period: "2026-01",
		Measurements: []ledger.SLAMeasurement{{Metric: "availability_bp", Value: 10000}}})

	// January has no report of gpu_hours; on 6 February it is overdue. It
	// shows at once on read, before any entry records it.
	f.now = time.Date(2026, 2, 6, 0, 0, 0, 0, time.UTC)
	f.tick()
	f.view(func(v *ledger.View) {
		ins, _ := v.Infractions(ledger.InfractionFilter{Kind: ledger.InfractionMissingReport}, "", 10)
		if len(ins) != 1 || ins[0].Period != "2026-01" || ins[0].Index != 0 || ins[0].Members[0] != "beta" {
			t.Fatalf("computed missing report: %+v", ins)
		}
	})
	feb := ledger.UsageReportBody{Grant: "g-1", ReportID: "r-feb", Period: "2026-02", Metrics: []ledger.MetricQuantity{mq("gpu_hours", 3)},
		Window: ledger.Window{Start: time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC)}}
	r = f.accept("beta", "usage.report", feb)
	if !hasEvent(r, "infraction.recorded", "g-1/missing_report/2026-01:gpu_hours") {
		t.Fatalf("the next report records the missing one: %+v", r.Outcome.Events)
	}
	// Usage after the grant expired.
	f.now = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	late := ledger.UsageReportBody{Grant: "g-1", ReportID: "r-late", Period: "2026-02", Metrics: []ledger.MetricQuantity{mq("gpu_hours", 3)},
		Window: ledger.Window{Start: time.Date(2026, 2, 27, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}}
	f.accept("beta", "usage.report", late) // ends exactly at expiry: fine
	late.ReportID, late.Period = "r-march", "2026-03"
	late.Window = ledger.Window{Start: end, End: end.Add(time.Hour)}
	r = f.reject(ledger.CodeRejected, "beta", "usage.report", late)
	if !hasEvent(r, "infraction.recorded", "g-1/usage_after_expiry/r-march") {
		t.Fatalf("after expiry: %+v", r.Outcome)
	}
	f.view(func(v *ledger.View) {
		all, _ := v.Infractions(ledger.InfractionFilter{Grant: "g-1"}, "", 100)
		var kinds []string
		for _, in := range all {
			kinds = append(kinds, in.Kind)
		}
		want := "missing_report sla_breach usage_after_expiry usage_out_of_scope usage_out_of_scope"
		if strings.Join(kinds, " ") != want {
			t.Fatalf("infractions: %s, want %s", strings.Join(kinds, " "), want)
		}
		page, next := v.Infractions(ledger.InfractionFilter{Grant: "g-1"}, "", 2)
		rest, _ := v.Infractions(ledger.InfractionFilter{Grant: "g-1"}, next, 100)
		if len(page) != 2 || len(rest) != 3 || rest[0].ID <= page[1].ID {
			t.Fatalf("paging: %d then %d after %q", len(page), len(rest), next)
		}
		if byLicensor, _ := v.Infractions(ledger.InfractionFilter{Member: "alpha"}, "", 100); len(byLicensor) != 1 || byLicensor[0].Kind != ledger.InfractionSLABreach {
			t.Fatalf("licensor's infractions: %+v", byLicensor)
		}
	})
}

// BenchmarkStatement prices a grant with 10,000 usage reports in one period.
func BenchmarkStatement(b *testing.B) {
	u := gpuTerms(ledger.PricingGraduated)
	u.Metrics = append(u.Metrics, ledger.UsageMetric{Name: "tokens", Unit: "token", Pricing: ledger.Pricing{Model: ledger.PricingVolume, Currency: "EUR", Per: 1000, Tiers: []ledger.Tier{{UpTo: 1_000_000, UnitMicros: 2000}, {UnitMicros: 1500}}}})
	f := metered(b, u, nil)
	const n = 10_000
	entries := make([]ledger.LogEntry, 0, 500)
	flush := func() {
		f.l.Apply(entries)
		entries = entries[:0]
	}
	for i := range n {
		f.index++
		env := f.envelope("beta", "usage.report", "bench-"+strconv.Itoa(i), usageReport("r"+strconv.Itoa(i), mq("gpu_hours", 1), mq("tokens", 1000)))
		entries = append(entries, ledger.LogEntry{Index: f.index, Data: ledger.EncodeRecord(f.now, env)})
		if len(entries) == cap(entries) {
			flush()
		}
	}
	flush()
	s := f.statement("g-1", "2026-01")
	if s.Reports != n {
		b.Fatalf("%d reports", s.Reports)
	}
	b.ResetTimer()
	for b.Loop() {
		f.view(func(v *ledger.View) {
			if _, err := v.Statement("g-1", "2026-01"); err != nil {
				b.Fatal(err)
			}
		})
	}
}
