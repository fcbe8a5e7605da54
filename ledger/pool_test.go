package ledger_test

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

func TestPeriod_KeysAndBounds(t *testing.T) {
	at := time.Date(2026, 1, 1, 13, 0, 0, 0, time.UTC) // a Thursday; ISO week 1 of 2026
	cases := []struct {
		p          ledger.Period
		key        string
		start, end string
	}{
		{ledger.PeriodDay, "2026-01-01", "2026-01-01", "2026-01-02"},
		{ledger.PeriodWeek, "2026-W01", "2025-12-29", "2026-01-05"},
		{ledger.PeriodMonth, "2026-01", "2026-01-01", "2026-02-01"},
		{ledger.PeriodQuarter, "2026-Q1", "2026-01-01", "2026-04-01"},
		{ledger.PeriodYear, "2026", "2026-01-01", "2027-01-01"},
	}
	for _, c := range cases {
		if k := ledger.PeriodKey(c.p, at); k != c.key {
			t.Errorf("%s key: got %s want %s", c.p, k, c.key)
		}
		s, e, err := ledger.ParsePeriod(c.p, c.key)
		if err != nil || s.Format("2006-01-02") != c.start || e.Format("2006-01-02") != c.end {
			t.Errorf("%s %s: got [%s, %s) %v, want [%s, %s)", c.p, c.key, s, e, err, c.start, c.end)
		}
	}
	// The week of 2020-12-31 is ISO week 53 of 2020.
	if k := ledger.PeriodKey(ledger.PeriodWeek, time.Date(2020, 12, 31, 0, 0, 0, 0, time.UTC)); k != "2020-W53" {
		t.Errorf("got %s", k)
	}
	for _, bad := range []struct {
		p ledger.Period
		k string
	}{{ledger.PeriodMonth, "2026-1"}, {ledger.PeriodMonth, "2026-13"}, {ledger.PeriodWeek, "2026-W54"}, {ledger.PeriodWeek, "2025-W53"},
		{ledger.PeriodQuarter, "2026-Q5"}, {ledger.PeriodDay, "2026-02-30"}, {ledger.PeriodYear, "1969"}, {"fortnight", "2026"}, {ledger.PeriodYear, "20x6"}} {
		if _, _, err := ledger.ParsePeriod(bad.p, bad.k); err == nil {
			t.Errorf("%s %q: want an error", bad.p, bad.k)
		}
	}
}

func TestWeightedQuotas_LargestRemainder(t *testing.T) {
	cases := []struct {
		capacity int64
		weights  []int64
		want     []int64
	}{
		{10, []int64{1, 1, 1}, []int64{4, 3, 3}},               // equal remainders: member order
		{100, []int64{1, 2, 3}, []int64{17, 33, 50}},           // remainders 4, 2, 0 (of 6)
		{7, []int64{5, 1, 1}, []int64{5, 1, 1}},                // exact
		{1, []int64{1, 1000000}, []int64{0, 1}},                // the larger remainder wins
		{ledger.MaxQuantity, []int64{999999, 1000000, 3}, nil}, // no overflow at the bounds
	}
	members := []string{"alpha", "beta", "gamma"}
	for _, c := range cases {
		var specs []ledger.QuotaSpec
		for i, w := range c.weights {
			specs = append(specs, ledger.QuotaSpec{Member: members[i], Weight: w})
		}
		got := ledger.WeightedQuotas(c.capacity, specs)
		var sum int64
		for i, q := range got {
			sum += q.Quota
			if c.want != nil && q.Quota != c.want[i] {
				t.Errorf("capacity %d weights %v: got %+v, want %v", c.capacity, c.weights, got, c.want)
				break
			}
		}
		if sum != c.capacity {
			t.Errorf("capacity %d weights %v: quotas sum to %d", c.capacity, c.weights, sum)
		}
	}
}

// gpuPool is a fixed pool owned by alpha and beta: alpha 40, beta 40, gamma 20.
func gpuPool() ledger.PoolCreate {
	return ledger.PoolCreate{
		ID: "gpu", Resource: "gpu-hours", Unit: "hour", Period: ledger.PeriodMonth, Capacity: 100, Mode: ledger.QuotaFixed,
		Quotas: []ledger.QuotaSpec{{Member: "alpha", Amount: 40}, {Member: "beta", Amount: 40}, {Member: "gamma", Amount: 20}},
		Owners: []string{"alpha", "beta"},
	}
}

func (f *fixture) usage(pool, period string) map[string]ledger.MemberUsage {
	f.t.Helper()
	out := map[string]ledger.MemberUsage{}
	f.view(func(v *ledger.View) {
		us, err := v.PoolUsage(pool, period)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, u := range us {
			out[u.Member] = u
		}
	})
	return out
}

func TestPool_CreateConsumeAndPeriods(t *testing.T) {
	f := newFixture(t)
	f.reject(ledger.CodeUnauthorized, "alpha", "pool.create", gpuPool())
	f.accept("alpha", "pool.create", gpuPool(), "beta")
	f.reject(ledger.CodeConflict, "alpha", "pool.create", gpuPool(), "beta")

	f.accept("gamma", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 15, Ref: "job-1"})
	r := f.reject(ledger.CodeRejected, "gamma", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 6})
	for _, want := range []string{"quota 20", "used 15", "remaining 5", "period 2026-01"} {
		if !strings.Contains(r.Outcome.Message, want) {
			t.Errorf("rejection %q does not say %q", r.Outcome.Message, want)
		}
	}
	r = f.accept("gamma", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 5})
	if !hasEvent(r, "pool.consumed", "gpu") {
		t.Fatalf("events %+v", r.Outcome.Events)
	}
	if u := f.usage("gpu", ""); u["gamma"].Used != 20 || u["gamma"].Remaining != 0 || u["alpha"].Remaining != 40 {
		t.Fatalf("usage %+v", u)
	}
	// A new month starts afresh; the old one keeps its record.
	f.now = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	f.accept("gamma", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 20})
	if u := f.usage("gpu", "2026-01"); u["gamma"].Used != 20 {
		t.Fatalf("january %+v", u)
	}
	if u := f.usage("gpu", "2026-02"); u["gamma"].Used != 20 || u["gamma"].Quota != 20 {
		t.Fatalf("february %+v", u)
	}
	f.view(func(v *ledger.View) {
		evs, next := v.PoolHistory("gpu", 0, 2)
		if len(evs) != 2 || evs[0].Kind != "created" || evs[1].Kind != "consumed" || evs[1].Ref != "job-1" || next != 2 {
			t.Fatalf("history page 1: %+v next %d", evs, next)
		}
		evs, next = v.PoolHistory("gpu", next, 10)
		if len(evs) != 2 || evs[1].Period != "2026-02" || next != 0 {
			t.Fatalf("history page 2: %+v next %d", evs, next)
		}
		ps, _ := v.Pools("", 10)
		if len(ps) != 1 || ps[0].ID != "gpu" || ps[0].LogSize != 4 {
			t.Fatalf("pools %+v", ps)
		}
	})
}

func TestPool_BadInputChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.accept("alpha", "pool.create", gpuPool(), "beta")
	mod := func(fn func(*ledger.PoolCreate)) ledger.PoolCreate { p := gpuPool(); p.ID = "p2"; fn(&p); return p }
	cases := []struct {
		name, by, typ string
		body          any
		code          ledger.Code
		field         string
	}{
		{"zero capacity", "alpha", "pool.create", mod(func(p *ledger.PoolCreate) { p.Capacity = 0 }), ledger.CodeInvalid, "body.capacity"},
		{"huge capacity", "alpha", "pool.create", mod(func(p *ledger.PoolCreate) { p.Capacity = ledger.MaxQuantity + 1 }), ledger.CodeInvalid, "body.capacity"},
		{"quotas over capacity", "alpha", "pool.create", mod(func(p *ledger.PoolCreate) { p.Quotas[0].Amount = 41 }), ledger.CodeInvalid, "body.quotas"},
		{"unsorted quotas", "alpha", "pool.create", mod(func(p *ledger.PoolCreate) { p.Quotas[0], p.Quotas[1] = p.Quotas[1], p.Quotas[0] }), ledger.CodeInvalid, "body.quotas[1].member"},
		{"unknown member", "alpha", "pool.create", mod(func(p *ledger.PoolCreate) { p.Quotas[2].Member = "zed" }), ledger.CodeNotFound, "body.quotas[2].member"},
		{"bad period", "alpha", "pool.create", mod(func(p *ledger.PoolCreate) { p.Period = "fortnight" }), ledger.CodeInvalid, "body.period"},
		{"bad mode", "alpha", "pool.create", mod(func(p *ledger.PoolCreate) { p.Mode = "fair" }), ledger.CodeInvalid, "body.mode"},
		{"weights in a fixed pool", "alpha", "pool.create", mod(func(p *ledger.PoolCreate) { p.Quotas[0].Weight = 1 }), ledger.CodeInvalid, "weight"},
		{"zero weight", "alpha", "pool.create", mod(func(p *ledger.PoolCreate) {
			p.Mode = ledger.QuotaWeighted
			p.Quotas = []ledger.QuotaSpec{{Member: "alpha", Weight: 1}, {Member: "beta"}}
		}), ledger.CodeInvalid, "body.quotas[1].weight"},
		{"auditor in pool", "alpha", "pool.create", mod(func(p *ledger.PoolCreate) {
			p.Quotas = []ledger.QuotaSpec{{Member: "alpha", Amount: 1}, {Member: "audit", Amount: 1}}
		}), ledger.CodeInvalid, "auditor"},
		{"no owners", "alpha", "pool.create", mod(func(p *ledger.PoolCreate) { p.Owners = nil }), ledger.CodeForbidden, "ballot"},
		{"signer not owner", "gamma", "pool.create", mod(func(p *ledger.PoolCreate) {}), ledger.CodeForbidden, "body.owners"},
		{"zero amount", "alpha", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 0}, ledger.CodeInvalid, "body.amount"},
		{"negative amount", "alpha", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: -5}, ledger.CodeInvalid, "body.amount"},
		{"overflow amount", "alpha", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: ledger.MaxQuantity + 1}, ledger.CodeInvalid, "body.amount"},
		{"unknown pool", "alpha", "pool.consume", ledger.PoolConsume{Pool: "nope", Amount: 1}, ledger.CodeNotFound, "body.pool"},
		{"non-member consumes", "audit", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 1}, ledger.CodeForbidden, ""},
		{"long ref", "alpha", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 1, Ref: strings.Repeat("x", 300)}, ledger.CodeInvalid, "body.ref"},
		{"unknown field", "alpha", "pool.consume", map[string]any{"pool": "gpu", "amount": 1, "extra": 1}, ledger.CodeInvalid, "body"},
		{"transfer to self", "alpha", "pool.transfer", ledger.PoolTransfer{Pool: "gpu", To: "alpha", Amount: 1}, ledger.CodeInvalid, "body.to"},
		{"transfer to non-member", "alpha", "pool.transfer", ledger.PoolTransfer{Pool: "gpu", To: "audit", Amount: 1}, ledger.CodeForbidden, "body.to"},
		{"transfer past period", "alpha", "pool.transfer", ledger.PoolTransfer{Pool: "gpu", To: "beta", Amount: 1, Period: "2025-12"}, ledger.CodeRejected, "body.period"},
		{"transfer bad period", "alpha", "pool.transfer", ledger.PoolTransfer{Pool: "gpu", To: "beta", Amount: 1, Period: "2026-W03"}, ledger.CodeInvalid, "body.period"},
		{"transfer too much", "alpha", "pool.transfer", ledger.PoolTransfer{Pool: "gpu", To: "beta", Amount: 41}, ledger.CodeRejected, "remaining 40"},
		{"hold past period", "alpha", "pool.hold", ledger.PoolHold{Pool: "gpu", Hold: "h", Amount: 1, Deadline: time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)}, ledger.CodeInvalid, "body.deadline"},
		{"hold bad id", "alpha", "pool.hold", ledger.PoolHold{Pool: "gpu", Hold: "a b", Amount: 1, Deadline: t0.Add(time.Hour)}, ledger.CodeInvalid, "body.hold"},
		{"settle unknown hold", "alpha", "pool.settle", ledger.PoolSettle{Pool: "gpu", Hold: "h", Amount: 1}, ledger.CodeNotFound, "body.hold"},
	}
	for _, c := range cases {
		r := f.submit(c.by, c.typ, c.body, "beta")
		if r.Outcome.Status != ledger.StatusRejected || r.Outcome.Code != c.code || !strings.Contains(r.Outcome.Message, c.field) {
			t.Errorf("%s: want rejected %s naming %q, got %s %s: %s", c.name, c.code, c.field, r.Outcome.Status, r.Outcome.Code, r.Outcome.Message)
		}
	}
	if u := f.usage("gpu", ""); u["alpha"].Used != 0 || u["alpha"].Quota != 40 || u["beta"].Quota != 40 {
		t.Fatalf("bad input changed usage: %+v", u)
	}
	f.view(func(v *ledger.View) {
		if _, ok := v.Pool("p2"); ok {
			t.Fatal("a rejected pool was created")
		}
		if p, _ := v.Pool("gpu"); p.LogSize != 1 {
			t.Fatalf("rejections reached the pool history: %d events", p.LogSize)
		}
	})
}

func TestPool_ConsortiumPoolByBallot(t *testing.T) {
	f := newFixture(t)
	params := ledger.PoolCreate{ID: "shared", Resource: "gpu-hours", Unit: "hour", Period: ledger.PeriodWeek, Capacity: 10, Mode: ledger.QuotaWeighted,
		Quotas: []ledger.QuotaSpec{{Member: "alpha", Weight: 1}, {Member: "beta", Weight: 1}, {Member: "gamma", Weight: 1}}}
	ballot := map[string]any{"id": "b-pool", "action": "pool.create", "deadline": t0.Add(24 * time.Hour), "params": params}
	bad := params
	bad.Owners = []string{"alpha"}
	f.reject(ledger.CodeInvalid, "alpha", "ballot.open", map[string]any{"id": "b-bad", "action": "pool.create", "deadline": t0.Add(24 * time.Hour), "params": bad})
	f.accept("alpha", "ballot.open", ballot)
	r := f.accept("beta", "ballot.vote", map[string]any{"ballot": "b-pool", "approve": true})
	if !hasEvent(r, "pool.created", "shared") {
		t.Fatalf("events %+v", r.Outcome.Events)
	}
	u := f.usage("shared", "")
	if u["alpha"].Quota != 4 || u["beta"].Quota != 3 || u["gamma"].Quota != 3 || u["alpha"].Period != "2026-W02" {
		t.Fatalf("weighted quotas: %+v", u)
	}
}

func TestPool_TransferConservesTotal(t *testing.T) {
	f := newFixture(t)
	f.accept("alpha", "pool.create", gpuPool(), "beta")
	f.accept("alpha", "pool.transfer", ledger.PoolTransfer{Pool: "gpu", To: "gamma", Amount: 15})
	f.accept("gamma", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 35})
	f.reject(ledger.CodeRejected, "gamma", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 1})
	// Transfer for next month only.
	f.accept("beta", "pool.transfer", ledger.PoolTransfer{Pool: "gpu", To: "alpha", Amount: 40, Period: "2026-02"})
	u := f.usage("gpu", "")
	if u["alpha"].Quota != 25 || u["gamma"].Quota != 35 || u["beta"].Quota != 40 {
		t.Fatalf("january %+v", u)
	}
	u = f.usage("gpu", "2026-02")
	if u["alpha"].Quota != 80 || u["beta"].Quota != 0 || u["gamma"].Quota != 20 {
		t.Fatalf("february %+v", u)
	}
}

func TestPool_HoldSettleReleaseLapse(t *testing.T) {
	f := newFixture(t)
	f.accept("alpha", "pool.create", gpuPool(), "beta")
	dl := f.now.Add(time.Hour)
	f.accept("gamma", "pool.hold", ledger.PoolHold{Pool: "gpu", Hold: "job-1", Amount: 12, Deadline: dl})
	f.reject(ledger.CodeConflict, "gamma", "pool.hold", ledger.PoolHold{Pool: "gpu", Hold: "job-1", Amount: 1, Deadline: dl})
	f.reject(ledger.CodeRejected, "gamma", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 9})
	f.reject(ledger.CodeRejected, "gamma", "pool.settle", ledger.PoolSettle{Pool: "gpu", Hold: "job-1", Amount: 13})
	f.reject(ledger.CodeNotFound, "beta", "pool.settle", ledger.PoolSettle{Pool: "gpu", Hold: "job-1", Amount: 1})
	f.accept("gamma", "pool.settle", ledger.PoolSettle{Pool: "gpu", Hold: "job-1", Amount: 10})
	f.reject(ledger.CodeRejected, "gamma", "pool.release", ledger.PoolRelease{Pool: "gpu", Hold: "job-1"})
	if u := f.usage("gpu", "")["gamma"]; u.Used != 10 || u.Held != 0 || u.Remaining != 10 {
		t.Fatalf("after settle %+v", u)
	}
	f.accept("gamma", "pool.hold", ledger.PoolHold{Pool: "gpu", Hold: "job-2", Amount: 4, Deadline: dl})
	f.accept("gamma", "pool.release", ledger.PoolRelease{Pool: "gpu", Hold: "job-2"})
	f.accept("gamma", "pool.hold", ledger.PoolHold{Pool: "gpu", Hold: "job-3", Amount: 10, Deadline: dl})
	if u := f.usage("gpu", "")["gamma"]; u.Held != 10 || u.Remaining != 0 {
		t.Fatalf("holding %+v", u)
	}
	// The deadline passes: readers see the hold lapsed at once, before any
	// entry records it.
	f.now = dl
	f.accept("alpha", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 1}) // moves ledger time
	if u := f.usage("gpu", "")["gamma"]; u.Held != 0 || u.Remaining != 10 {
		t.Fatalf("lazily lapsed %+v", u)
	}
	f.view(func(v *ledger.View) {
		if h, _ := v.Hold("gpu", "gamma", "job-3"); h.Status != ledger.HoldLapsed {
			t.Fatalf("hold %+v", h)
		}
	})
	f.reject(ledger.CodeRejected, "gamma", "pool.settle", ledger.PoolSettle{Pool: "gpu", Hold: "job-3", Amount: 1})
	r := f.accept("gamma", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 10})
	if !hasEvent(r, "pool.hold_lapsed", "gpu/gamma/job-3") {
		t.Fatalf("the next entry records the lapse: %+v", r.Outcome.Events)
	}
	if u := f.usage("gpu", "")["gamma"]; u.Used != 20 || u.Held != 0 || u.Remaining != 0 {
		t.Fatalf("after lapse %+v", u)
	}
}

// TestPool_PropertyNeverOverdrawn applies random interleavings of consume,
// transfer, hold, settle and release by every member, across period
// boundaries, and checks after each entry that no member's use and holds
// exceed its quota and that the quotas still sum to the pool's base total.
func TestPool_PropertyNeverOverdrawn(t *testing.T) {
	seeds, steps := 6, 150
	if testing.Short() {
		seeds = 2
	}
	members := []string{"alpha", "beta", "gamma"}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 42))
		f := newFixture(t)
		p := gpuPool()
		p.Period = ledger.PeriodDay
		if seed%2 == 1 {
			p.Mode, p.Capacity = ledger.QuotaWeighted, 97
			p.Quotas = []ledger.QuotaSpec{{Member: "alpha", Weight: 3}, {Member: "beta", Weight: 2}, {Member: "gamma", Weight: 2}}
		}
		f.accept("alpha", "pool.create", p, "beta")
		var base int64
		for _, u := range f.usage("gpu", "") {
			base += u.Quota
		}
		accepted := 0
		for i := range steps {
			m := members[rng.IntN(3)]
			o := members[rng.IntN(3)]
			amt := int64(1 + rng.IntN(25))
			hold := "h" + strconv.Itoa(rng.IntN(8))
			var r *ledger.Result
			switch rng.IntN(6) {
			case 0, 1:
				r = f.submit(m, "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: amt})
			case 2:
				r = f.submit(m, "pool.transfer", ledger.PoolTransfer{Pool: "gpu", To: o, Amount: amt})
			case 3:
				r = f.submit(m, "pool.hold", ledger.PoolHold{Pool: "gpu", Hold: hold + "-" + strconv.Itoa(i), Amount: amt, Deadline: f.now.Add(time.Duration(1+rng.IntN(180)) * time.Minute)})
			case 4:
				r = f.submit(m, "pool.settle", ledger.PoolSettle{Pool: "gpu", Hold: hold + "-" + strconv.Itoa(i-1-rng.IntN(3)), Amount: amt})
			default:
				r = f.submit(m, "pool.release", ledger.PoolRelease{Pool: "gpu", Hold: hold + "-" + strconv.Itoa(i-1-rng.IntN(3))})
			}
			if r.Outcome.Status == ledger.StatusAccepted {
				accepted++
			}
			f.now = f.now.Add(time.Duration(rng.IntN(40)) * time.Minute)
			var sum int64
			for _, u := range f.usage("gpu", "") {
				if u.Used+u.Held > u.Quota || u.Used < 0 || u.Held < 0 || u.Quota < 0 || u.Remaining < 0 {
					t.Fatalf("seed %d step %d: %s overdrawn: %+v", seed, i, u.Member, u)
				}
				sum += u.Quota
			}
			if sum != base {
				t.Fatalf("seed %d step %d: quotas sum to %d, want %d", seed, i, sum, base)
			}
		}
		if accepted < steps/5 {
			t.Fatalf("seed %d: only %d of %d operations accepted; the test exercises too little", seed, accepted, steps)
		}
	}
}
