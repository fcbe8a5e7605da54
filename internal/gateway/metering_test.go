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
