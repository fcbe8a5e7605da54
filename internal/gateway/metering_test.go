package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRecord_StampsAdmissionTime: a call admitted in one period and
// answered in the next is counted at its admission, so the report's
// window lies within the period its counts are keyed by.
func TestRecord_StampsAdmissionTime(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	g := testGateway(t, node, up.ts.URL, meteredRoute, nil)
	_, end := ledger.PeriodBounds(ledger.PeriodMonth, time.Now().AddDate(0, -1, 0))
	admitted := end.Add(-time.Second) // the last second of last month
	period := ledger.PeriodKey(ledger.PeriodMonth, admitted)
	k := usageKey("g-1", period, "requests")
	x := &exchange{rt: g.routes[0], member: "beta", admitted: admitted,
		plans: []meterPlan{{m: &g.routes[0].Meters[0], keys: []countKey{k}}}}
	if err := g.record(x, http.Header{}, 0); err != nil {
		t.Fatal(err)
	}
	tallies, _, err := g.j.state()
	if err != nil {
		t.Fatal(err)
	}
	if tl := tallies[k]; tl.Q != 1 || !tl.First.Equal(admitted) || !tl.Last.Equal(admitted) {
		t.Fatalf("tally %+v, want 1 at %s", tl, admitted)
	}
	if err := g.rep.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ps := node.submitted()
	if len(ps) != 1 {
		t.Fatalf("%d proposals, want 1", len(ps))
	}
	var u ledger.UsageReportBody
	if err := json.Unmarshal(ps[0].Body, &u); err != nil {
		t.Fatal(err)
	}
	start, pend := ledger.PeriodBounds(ledger.PeriodMonth, admitted)
	if u.Period != period || u.Window.Start.Before(start) || u.Window.End.After(pend) {
		t.Fatalf("report for %s has window [%s, %s), outside [%s, %s)", u.Period, u.Window.Start, u.Window.End, start, pend)
	}
}

// streamRoute counts bytes and requests on a route whose upstream
// streams a body of unknown length.
const streamRoute = `{"routes":[{"name":"stream","prefix":"/v1/stream","upstream":"UPSTREAM","asset":"model-x","action":"use",
  "meters":[{"count":"bytes","metric":"bytes","usage":true},{"count":"requests","metric":"calls","pool":"gpu"}]}]}`

// TestMeteredBody_CutShortRecordsDelivered: a response body of unknown
// length that the caller closes before its end is counted as far as it
// was delivered, and the route's other meters count the request too.
func TestMeteredBody_CutShortRecordsDelivered(t *testing.T) {
	node := newFakeNode(t)
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 100}}}
	g := testGateway(t, node, "http://upstream.invalid", streamRoute, nil)
	x := &exchange{rt: g.routes[0], member: "beta", admitted: time.Now()}
	plans, p := g.admitMeters(context.Background(), g.routes[0], "beta", &ledger.Decision{Allowed: true, Basis: "grant", Chain: []string{"g-1"}}, x.admitted)
	if p != nil {
		t.Fatal(p.detail)
	}
	x.plans = plans
	resp := &http.Response{StatusCode: 200, ContentLength: -1, Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(strings.Repeat("x", 100)))}
	if err := g.meterResponse(x, resp); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 40)
	if n, err := io.ReadFull(resp.Body, buf); n != 40 || err != nil {
		t.Fatalf("read %d: %v", n, err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	period := ledger.PeriodKey(ledger.PeriodMonth, x.admitted)
	if got := g.pend.get(usageKey("g-1", period, "bytes")); got != 40 {
		t.Errorf("pending bytes %d, want the 40 delivered", got)
	}
	if got := g.pend.get(poolKey("gpu", "beta")); got != 1 {
		t.Errorf("pending pool calls %d, want 1", got)
	}
	tallies, _, _ := g.j.state()
	if tallies[usageKey("g-1", period, "bytes")].Q != 40 || tallies[poolKey("gpu", "beta")].Q != 1 {
		t.Errorf("journal %+v", tallies)
	}
}

// TestGateway_UsageOnlyToGrantsItReports: a use allowed through a grant
// the gateway's member cannot see (a sublicence it is no party to) is let
// through and counted against no grant, never refused for want of the
// grant's terms; the metric says so.
func TestGateway_UsageOnlyToGrantsItReports(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 1000}}}
	node.hidden["g-sub"] = true
	node.decide = func(ledger.CheckRequest) ledger.Decision {
		return ledger.Decision{Allowed: true, Basis: "grant", Chain: []string{"g-sub", "g-1"}}
	}
	g := testGateway(t, node, up.ts.URL, meteredRoute, nil)
	if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	period := ledger.PeriodKey(ledger.PeriodMonth, time.Now())
	if p := g.pend.get(usageKey("g-sub", period, "requests")); p != 0 {
		t.Errorf("pending on g-sub %d, want 0", p)
	}
	if p := g.pend.get(poolKey("gpu", "beta")); p != 3 {
		t.Errorf("pending pool %d, want 3", p)
	}
	if n := testutil.ToFloat64(g.m.unmetered.WithLabelValues("infer", unmeteredNotReporter)); n != 1 {
		t.Errorf("unmetered not_reporter %v, want 1", n)
	}
}

// fixedGrantRoute charges every use to grant g-1.
const fixedGrantRoute = `{"routes":[{"name":"infer","prefix":"/v1/infer","upstream":"UPSTREAM","asset":"model-x","action":"use",
  "meters":[{"count":"requests","metric":"requests","usage":true,"grant":"g-1"}]}]}`

// TestGateway_FixedGrantOnlyWhenInChain: a meter with a fixed grant
// counts a use only when the chain that allows it holds that grant, not
// an owner's use or one under another grant.
func TestGateway_FixedGrantOnlyWhenInChain(t *testing.T) {
	for _, c := range []struct {
		name string
		d    ledger.Decision
		want int64
	}{
		{"owner", ledger.Decision{Allowed: true, Basis: "owner"}, 0},
		{"other grant", ledger.Decision{Allowed: true, Basis: "grant", Chain: []string{"g-2"}}, 0},
		{"sublicence of it", ledger.Decision{Allowed: true, Basis: "grant", Chain: []string{"g-3", "g-1"}}, 1},
		{"it", ledger.Decision{Allowed: true, Basis: "grant", Chain: []string{"g-1"}}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			node, up := newFakeNode(t), newUpstream(t)
			node.decide = func(ledger.CheckRequest) ledger.Decision { return c.d }
			g := testGateway(t, node, up.ts.URL, fixedGrantRoute, nil)
			if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			period := ledger.PeriodKey(ledger.PeriodMonth, time.Now())
			if p := g.pend.get(usageKey("g-1", period, "requests")); p != c.want {
				t.Errorf("pending on g-1 %d, want %d", p, c.want)
			}
		})
	}
}

// TestGateway_FailOpenMetering: with --fail-open and no node, a metered
// request is let through; its pool use is counted without the quota
// being enforced, and its usage is counted against no grant (no decision
// names one), which the metric shows.
func TestGateway_FailOpenMetering(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 1000}}}
	g := testGateway(t, node, up.ts.URL, meteredRoute, func(c *Config) { c.FailOpen = true })
	if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 { // learns the token
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	g.cache.invalidate() // the decision and the pool's remaining, not the identity
	node.down.Store(true)
	if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
		t.Fatalf("fail-open: %d %s", w.Code, w.Body)
	}
	period := ledger.PeriodKey(ledger.PeriodMonth, time.Now())
	if p := g.pend.get(usageKey("g-1", period, "requests")); p != 1 {
		t.Errorf("pending usage %d, want 1 (the checked request only)", p)
	}
	if p := g.pend.get(poolKey("gpu", "beta")); p != 6 {
		t.Errorf("pending pool %d, want 6 (both requests)", p)
	}
	if n := testutil.ToFloat64(g.m.unmetered.WithLabelValues("infer", unmeteredNoDecision)); n != 1 {
		t.Errorf("unmetered no_decision %v, want 1", n)
	}
}
