package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// upstream is a test resource that records what reached it.
type upstream struct {
	ts   *httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last *http.Request
	// tokens is the X-Tokens header it answers with.
	tokens string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{tokens: "3"}
	u.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.last = r.Clone(context.Background())
		tokens := u.tokens
		u.mu.Unlock()
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Tokens", tokens)
		io.WriteString(w, "hello from upstream")
	}))
	t.Cleanup(u.ts.Close)
	return u
}

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

const oneRoute = `{"routes":[{"name":"infer","prefix":"/v1/infer","upstream":"UPSTREAM/base","asset":"model-x","action":"use",
  "territory":"DE","override":["territory"]}]}`

// call sends a request to the gateway's handler as the holder of token.
func call(t *testing.T, g *Gateway, method, path, token string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader("request body"))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	return w
}

// problemOf decodes a problem answer and checks its status and code.
func problemOf(t *testing.T, w *httptest.ResponseRecorder, status int, code ledger.Code) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q: %s", ct, w.Body)
	}
	var p map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p["code"] != string(code) || p["type"] != api.ProblemTypeBase+string(code) || p["status"] != float64(status) || p["detail"] == "" {
		t.Fatalf("problem %v, want code %s", p, code)
	}
	return p
}

// TestGateway_AllowedIsProxied forwards an allowed request to the
// upstream's base path, names the member, and forwards neither the
// caller's credentials nor its hop-by-hop headers nor its own
// Charta-Member.
func TestGateway_AllowedIsProxied(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	g := testGateway(t, node, up.ts.URL, oneRoute, nil)
	w := call(t, g, "POST", "/v1/infer/chat?x=1", "beta-token", "Charta-Member", "alpha", "Connection", "X-Hop", "X-Hop", "secret", "X-Other", "kept")
	if w.Code != 200 || w.Body.String() != "hello from upstream" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	r := up.lastRequest()
	if r.URL.Path != "/base/v1/infer/chat" || r.URL.RawQuery != "x=1" {
		t.Errorf("upstream path %s?%s", r.URL.Path, r.URL.RawQuery)
	}
	if r.Header.Get("Authorization") != "" || r.Header.Get("X-Hop") != "" || r.Header.Get("X-Other") != "kept" {
		t.Errorf("upstream headers: %v", r.Header)
	}
	if got := r.Header.Values(HeaderMember); len(got) != 1 || got[0] != "beta" {
		t.Errorf("Charta-Member %q, want beta", got)
	}
}

// TestGateway_DeniedNeverReachesUpstream answers a denial with 403 and the
// decision's reasons, and the upstream never sees the request.
func TestGateway_DeniedNeverReachesUpstream(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.decide = func(q ledger.CheckRequest) ledger.Decision {
		return ledger.Decision{Basis: "none", Reason: "no grant allows beta to use model-x in US; grant g-1: territory US is not in DE",
			Candidates: []ledger.Candidate{{Grant: "g-1", Status: ledger.StatusActive, Reason: "territory US is not in DE"}}}
	}
	g := testGateway(t, node, up.ts.URL, oneRoute, nil)
	p := problemOf(t, call(t, g, "GET", "/v1/infer", "beta-token", "Charta-Territory", "US"), 403, ledger.CodeForbidden)
	if !strings.Contains(p["reason"].(string), "territory US is not in DE") || p["member"] != "beta" || p["asset"] != "model-x" {
		t.Errorf("problem: %v", p)
	}
	if c, _ := p["candidates"].([]any); len(c) != 1 {
		t.Errorf("candidates: %v", p["candidates"])
	}
	if up.hits.Load() != 0 {
		t.Fatalf("the upstream was hit %d times", up.hits.Load())
	}
}

func TestGateway_Unauthorized(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	g := testGateway(t, node, up.ts.URL, oneRoute, nil)
	problemOf(t, call(t, g, "GET", "/v1/infer", ""), 401, ledger.CodeUnauthorized)
	p := problemOf(t, call(t, g, "GET", "/v1/infer", "stolen"), 401, ledger.CodeUnauthorized)
	if !strings.Contains(p["detail"].(string), "not registered") {
		t.Errorf("detail: %v", p["detail"])
	}
	problemOf(t, call(t, g, "GET", "/elsewhere", "beta-token"), 404, ledger.CodeNotFound)
	if up.hits.Load() != 0 {
		t.Fatal("the upstream was hit")
	}
}

func TestGateway_UpstreamDown(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	g := testGateway(t, node, up.ts.URL, oneRoute, nil)
	up.ts.Close()
	w := call(t, g, "GET", "/v1/infer", "beta-token")
	problemOf(t, w, 502, "unavailable")
}

// TestGateway_HeaderOverride takes the territory from Charta-Territory,
// which the route allows, but not the purpose, which it does not, and
// refuses a territory that is no country.
func TestGateway_HeaderOverride(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	var mu sync.Mutex
	var asked []ledger.CheckRequest
	node.decide = func(q ledger.CheckRequest) ledger.Decision {
		mu.Lock()
		asked = append(asked, q)
		mu.Unlock()
		return ledger.Decision{Allowed: true, Basis: "owner"}
	}
	g := testGateway(t, node, up.ts.URL, oneRoute, nil)
	if w := call(t, g, "GET", "/v1/infer", "beta-token", HeaderTerritory, "FR", HeaderPurpose, "ads"); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	mu.Lock()
	if len(asked) != 2 || asked[0].Territory != "FR" || asked[0].Purpose != "" || asked[1].Territory != "DE" {
		t.Errorf("checks asked: %+v", asked)
	}
	mu.Unlock()
	problemOf(t, call(t, g, "GET", "/v1/infer", "beta-token", HeaderTerritory, "Narnia"), 400, ledger.CodeInvalid)
}

// TestGateway_CacheAndEvents answers repeated questions from the cache,
// and asks again after the event stream delivers an entry that may change
// the answer (not after one that cannot).
func TestGateway_CacheAndEvents(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	g := testGateway(t, node, up.ts.URL, oneRoute, func(c *Config) { c.DecisionTTL = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.watch(ctx)
	waitFor(t, "the event stream", func() bool { return node.streaming() })
	get := func() {
		t.Helper()
		if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	get()
	get()
	get()
	if n := node.checks.Load(); n != 1 {
		t.Fatalf("%d checks for three identical requests, want 1", n)
	}
	node.emit(10, "sla.report")
	node.emit(11, "grant.revoke")
	waitFor(t, "a check after the revocation", func() bool { get(); return node.checks.Load() == 2 })
	node.mu.Lock()
	node.decide = func(ledger.CheckRequest) ledger.Decision {
		return ledger.Decision{Basis: "none", Reason: "grant g-1 is revoked"}
	}
	node.mu.Unlock()
	node.emit(12, "token.revoke")
	waitFor(t, "the denial", func() bool { return call(t, g, "GET", "/v1/infer", "beta-token").Code == 403 })
}

// TestGateway_FailClosed serves a cached allow while no node answers, and
// refuses what is not cached with 503; --fail-open lets it through.
func TestGateway_FailClosed(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	g := testGateway(t, node, up.ts.URL, oneRoute, func(c *Config) { c.DecisionTTL = time.Minute })
	if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	node.down.Store(true)
	if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
		t.Fatalf("a cached allow was not served: %d %s", w.Code, w.Body)
	}
	problemOf(t, call(t, g, "GET", "/v1/infer", "beta-token", HeaderTerritory, "FR"), 503, "unavailable")
	hits := up.hits.Load()

	open := testGateway(t, node, up.ts.URL, oneRoute, func(c *Config) { c.FailOpen = true })
	// The caller's identity still needs a node: an unknown token is 503.
	problemOf(t, call(t, open, "GET", "/v1/infer", "beta-token"), 503, "unavailable")
	node.down.Store(false)
	call(t, open, "GET", "/v1/infer", "beta-token", HeaderTerritory, "FR") // learns the token
	node.down.Store(true)
	if w := call(t, open, "GET", "/v1/infer", "beta-token", HeaderTerritory, "IT"); w.Code != 200 {
		t.Fatalf("fail-open: %d %s", w.Code, w.Body)
	}
	if up.hits.Load() != hits+2 {
		t.Fatalf("upstream hits %d, want %d", up.hits.Load(), hits+2)
	}
}

const meteredRoute = `{"routes":[{"name":"infer","prefix":"/v1/infer","upstream":"UPSTREAM","asset":"model-x","action":"use",
  "meters":[{"count":"requests","metric":"requests","usage":true},{"count":"header","header":"X-Tokens","metric":"tokens","pool":"gpu"}]}]}`

// TestGateway_MeteringReports counts requests into the allowing grant's
// usage and the X-Tokens header into beta's pool quota (a malformed
// header counts zero), and reports them at the flush; nothing is left to
// report after, and a second flush sends nothing.
func TestGateway_MeteringReports(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 1000}}}
	g := testGateway(t, node, up.ts.URL, meteredRoute, nil)
	for _, tok := range []string{"3", "4", "abc", "5"} {
		up.mu.Lock()
		up.tokens = tok
		up.mu.Unlock()
		if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	period := ledger.PeriodKey(ledger.PeriodMonth, time.Now())
	if p := g.pend.get(usageKey("g-1", period, "requests")); p != 4 {
		t.Errorf("pending requests %d, want 4", p)
	}
	if p := g.pend.get(poolKey("gpu", "beta")); p != 12 {
		t.Errorf("pending tokens %d, want 12", p)
	}
	if err := g.rep.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ps := node.submitted()
	if len(ps) != 2 {
		t.Fatalf("%d proposals, want 2", len(ps))
	}
	var pc ledger.PoolConsume
	var u ledger.UsageReportBody
	json.Unmarshal(ps[0].Body, &pc)
	json.Unmarshal(ps[1].Body, &u)
	if ps[0].Type != typePool || pc.Pool != "gpu" || pc.Amount != 12 || pc.Member != "beta" || ps[0].Signer != "alpha" {
		t.Errorf("pool.consume: %s %s", ps[0].Type, ps[0].Body)
	}
	if ps[1].Type != typeUsage || u.Grant != "g-1" || u.Period != period || len(u.Metrics) != 1 || u.Metrics[0] != (ledger.MetricQuantity{Metric: "requests", Quantity: 4}) || u.ReportID != ps[1].ID {
		t.Errorf("usage.report: %s", ps[1].Body)
	}
	if g.pend.get(poolKey("gpu", "beta")) != 0 || g.pend.get(usageKey("g-1", period, "requests")) != 0 {
		t.Error("pending after the flush")
	}
	if err := g.rep.flush(context.Background()); err != nil || len(node.submitted()) != 2 {
		t.Fatalf("second flush: %v, %d proposals", err, len(node.submitted()))
	}
	if n := testutil.ToFloat64(g.m.malformed.WithLabelValues("infer")); n != 1 {
		t.Errorf("%v malformed headers counted, want 1", n)
	}
	if n := testutil.ToFloat64(g.m.metered.WithLabelValues("beta", "tokens")); n != 12 {
		t.Errorf("metered tokens %v, want 12", n)
	}
}

// TestGateway_ResubmitsAfterLostAnswer: a batch whose answer was lost
// (the node took it, the gateway stopped before recording it) is sent
// again as the same envelope, and the ledger's duplicate answer clears
// it: counted once.
func TestGateway_ResubmitsAfterLostAnswer(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 1000}}}
	g := testGateway(t, node, up.ts.URL, meteredRoute, nil)
	call(t, g, "GET", "/v1/infer", "beta-token")
	g.rep.consortium = fakeConsortium
	batches, err := g.j.cut(g.rep.builder(inClear("g-1")))
	if err != nil || len(batches) != 2 {
		t.Fatalf("cut: %v, %d", err, len(batches))
	}
	// The node takes the first batch; its answer is lost.
	resp, err := http.Post(node.ts.URL+"/v1/proposals", "application/json", strings.NewReader(string(batches[0].Envelope)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := g.rep.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(node.submitted()); n != 2 {
		t.Fatalf("%d proposals recorded, want 2 (one each)", n)
	}
	if _, left, _ := g.j.state(); len(left) != 0 {
		t.Fatalf("%d batches left", len(left))
	}
}

// TestGateway_RefusesOverLimit refuses a metered request with 429 when the
// grant's hard cap or the caller's pool quota, less what is counted and
// not yet reported, would be passed; the upstream never sees it.
func TestGateway_RefusesOverLimit(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	period := ledger.PeriodKey(ledger.PeriodMonth, time.Now())
	node.decide = func(ledger.CheckRequest) ledger.Decision {
		return ledger.Decision{Allowed: true, Basis: "grant", Chain: []string{"g-1"},
			Caps: []ledger.CapLeft{{Grant: "g-1", Metric: "requests", Unit: "request", Period: period, Cap: 10, Used: 8, Remaining: 2}}}
	}
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 1000}}}
	g := testGateway(t, node, up.ts.URL, meteredRoute, nil)
	for i := range 2 {
		if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	p := problemOf(t, call(t, g, "GET", "/v1/infer", "beta-token"), 429, "rate_limited")
	if l, _ := p["limit"].(map[string]any); l["kind"] != "hard_cap" || l["grant"] != "g-1" || l["pending"] != float64(2) {
		t.Errorf("limit: %v", p["limit"])
	}
	if up.hits.Load() != 2 {
		t.Fatalf("upstream hits %d, want 2", up.hits.Load())
	}

	node.decide = func(ledger.CheckRequest) ledger.Decision { return ledger.Decision{Allowed: true, Basis: "owner"} }
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 5}}}
	g2 := testGateway(t, node, up.ts.URL, meteredRoute, nil)
	up.mu.Lock()
	up.tokens = "5"
	up.mu.Unlock()
	if w := call(t, g2, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	p = problemOf(t, call(t, g2, "GET", "/v1/infer", "beta-token"), 429, "rate_limited")
	if l, _ := p["limit"].(map[string]any); l["kind"] != "pool_quota" || l["pool"] != "gpu" || l["pending"] != float64(5) {
		t.Errorf("limit: %v", p["limit"])
	}
}

// waitFor polls cond until it holds, for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
