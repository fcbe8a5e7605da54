package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
	"github.com/charta/charta/node/api"
	"github.com/charta/charta/node/client"
	"github.com/prometheus/client_golang/prometheus/testutil"
	bolt "go.etcd.io/bbolt"
)

// inClear is the sealing of grants whose usage reports go in the clear.
func inClear(grants ...string) map[string][]seal.Recipient {
	out := map[string][]seal.Recipient{}
	for _, g := range grants {
		out[g] = nil
	}
	return out
}

// usageReports returns the usage reports among ps, decoded.
func usageReports(t *testing.T, ps []*ledger.Proposal) []ledger.UsageReportBody {
	t.Helper()
	var out []ledger.UsageReportBody
	for _, p := range ps {
		if p.Type != typeUsage {
			continue
		}
		var b ledger.UsageReportBody
		if err := ledger.DecodeStrict(p.Body, &b); err != nil {
			t.Fatal(err)
		}
		if p.ID != b.ReportID {
			t.Errorf("proposal %s carries report %s", p.ID, b.ReportID)
		}
		out = append(out, b)
	}
	return out
}

// openUsage opens the sealed metrics of report b as member, with the test
// encryption key whose seed is named seedOf, under the report's binding.
func openUsage(t *testing.T, b ledger.UsageReportBody, member, seedOf string) []ledger.MetricQuantity {
	t.Helper()
	if b.Confidential == nil || len(b.Metrics) != 0 {
		t.Fatalf("report %s is not sealed: %+v", b.ReportID, b)
	}
	k, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed(seedOf))
	if err != nil {
		t.Fatal(err)
	}
	pt, _, err := seal.Open(seal.FromLedger(b.Confidential.Sealed), member, k,
		seal.Binding{Consortium: fakeConsortium, Kind: ledger.SealedUsageKind, ID: ledger.SealedUsageID(b.Grant, b.ReportID)})
	if err != nil {
		t.Fatalf("%s cannot open report %s: %v", member, b.ReportID, err)
	}
	su, err := ledger.ParseSealedUsage(pt)
	if err != nil {
		t.Fatal(err)
	}
	return su.Metrics
}

func rejectedBatches(t *testing.T, g *Gateway) int {
	t.Helper()
	var n int
	g.j.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketRejected).Stats().KeyN; return nil })
	return n
}

// TestReporter_SealsConfidentialUsage: a confidential grant's usage is
// metered by its opened usage terms, and its report carries the metrics
// only sealed to the grant's parties at their current keys, under the
// report's binding; each party opens the exact count. The pool
// consumption beside it stays in the clear.
func TestReporter_SealsConfidentialUsage(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.confidential["g-1"] = true
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 1000}}}
	g := testGateway(t, node, up.ts.URL, meteredRoute, nil)
	for range 3 {
		if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	period := ledger.PeriodKey(ledger.PeriodMonth, time.Now())
	if p := g.pend.get(usageKey("g-1", period, "requests")); p != 3 {
		t.Fatalf("pending %d, want 3", p)
	}
	if err := g.rep.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ps := node.submitted()
	us := usageReports(t, ps)
	if len(ps) != 2 || len(us) != 1 {
		t.Fatalf("%d proposals, %d usage reports; want 2 and 1", len(ps), len(us))
	}
	u := us[0]
	if u.Grant != "g-1" || u.Period != period {
		t.Errorf("report %+v", u)
	}
	if got := u.Confidential.Sealed.Recipients(); !slices.Equal(got, []string{"alpha", "beta"}) {
		t.Errorf("sealed to %v, want the parties alpha and beta", got)
	}
	for _, w := range u.Confidential.Sealed.Wraps {
		if w.KeyFingerprint != ledgertest.EncryptionKey(w.Member).Fingerprint() {
			t.Errorf("%s's wrap names key %s, not its current one", w.Member, w.KeyFingerprint)
		}
	}
	for _, m := range []string{"alpha", "beta"} {
		if ms := openUsage(t, u, m, m); len(ms) != 1 || ms[0] != (ledger.MetricQuantity{Metric: "requests", Quantity: 3}) {
			t.Errorf("%s opens %+v, want 3 requests", m, ms)
		}
	}
	var pc ledger.PoolConsume
	if err := json.Unmarshal(ps[0].Body, &pc); err != nil || ps[0].Type != typePool || pc.Pool != "gpu" || pc.Amount != 9 {
		t.Errorf("pool.consume: %s", ps[0].Body)
	}
	if g.pend.get(usageKey("g-1", period, "requests")) != 0 {
		t.Error("pending after the flush")
	}

	// Terms the node does not show the gateway's token opened: the use
	// cannot be metered, so it is refused, and never reaches the
	// upstream.
	node.mu.Lock()
	node.sealedTerms = true
	node.mu.Unlock()
	g.invalidate()
	hits := up.hits.Load()
	if p := problemOf(t, call(t, g, "GET", "/v1/infer", "beta-token"), 503, api.CodeUnavailable); p["detail"] == nil {
		t.Errorf("problem %v", p)
	}
	if up.hits.Load() != hits {
		t.Error("a use that could not be metered reached the upstream")
	}
}

// TestReporter_SealedReportResubmittedAfterCrash: a sealed report whose
// answer was lost, and the gateway killed before it learned the outcome,
// is resubmitted by the restarted gateway as the very envelope it
// journaled (sealing is randomized, and never done again): the ledger
// answers it as a duplicate, and the count is in the ledger once.
func TestReporter_SealedReportResubmittedAfterCrash(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.confidential["g-1"] = true
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 1000}}}
	node.lose = func(p *ledger.Proposal) bool { return p.Type == typeUsage }
	g := testGateway(t, node, up.ts.URL, meteredRoute, nil)
	for range 2 {
		call(t, g, "GET", "/v1/infer", "beta-token")
	}
	if err := g.rep.flush(context.Background()); err == nil {
		t.Fatal("flush succeeded although the report's answer was lost")
	}
	_, kept, _ := g.j.state()
	if len(kept) != 1 || len(usageReports(t, node.submitted())) != 1 {
		t.Fatalf("%d batches kept, %d reports taken; want 1 and 1", len(kept), len(usageReports(t, node.submitted())))
	}
	g.j.Close() // killed: no final flush

	node.mu.Lock()
	node.lose = nil
	node.mu.Unlock()
	g2 := testGateway(t, node, up.ts.URL, meteredRoute, func(c *Config) { c.StateDir = g.cfg.StateDir })
	period := ledger.PeriodKey(ledger.PeriodMonth, time.Now())
	if p := g2.pend.get(usageKey("g-1", period, "requests")); p != 2 {
		t.Fatalf("pending after the restart %d, want 2", p)
	}
	if err := g2.rep.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	us := usageReports(t, node.submitted())
	if len(us) != 1 || us[0].ReportID != kept[0].ID {
		t.Fatalf("%d reports in the ledger, want the one of batch %s", len(us), kept[0].ID)
	}
	if ms := openUsage(t, us[0], "beta", "beta"); len(ms) != 1 || ms[0].Quantity != 2 {
		t.Errorf("beta opens %+v, want 2 requests", ms)
	}
	if _, left, _ := g2.j.state(); len(left) != 0 || g2.pend.get(usageKey("g-1", period, "requests")) != 0 {
		t.Errorf("%d batches left, pending %d", len(left), g2.pend.get(usageKey("g-1", period, "requests")))
	}
	if n := testutil.ToFloat64(g2.m.sent.WithLabelValues(typeUsage)); n != 1 {
		t.Errorf("usage reports sent %v, want 1", n)
	}
}

// TestReporter_ResealedUnderTakenIDIsCommitted: a batch whose ID the
// ledger holds under another sealing of the same counts (an earlier
// attempt of this gateway's, which a journal of an earlier version could
// re-sign) is answered 409 id_taken, and cleared as committed: counted
// once, never resubmitted in a loop.
func TestReporter_ResealedUnderTakenIDIsCommitted(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.confidential["g-1"] = true
	g := testGateway(t, node, up.ts.URL, oneUsageRoute, nil)
	call(t, g, "GET", "/v1/infer", "beta-token")
	g.rep.consortium = fakeConsortium
	rs, err := g.rep.recipients(context.Background(), "g-1")
	if err != nil || len(rs) != 2 {
		t.Fatalf("recipients %v, %v", rs, err)
	}
	batches, err := g.j.cut(g.rep.builder(map[string][]seal.Recipient{"g-1": rs}))
	if err != nil || len(batches) != 1 {
		t.Fatalf("cut: %v, %d", err, len(batches))
	}
	// An earlier attempt: the same counts under the same ID, sealed
	// (and signed) again; the ledger took it.
	b := batches[0]
	var rep ledger.UsageReportBody
	if err := json.Unmarshal(b.Body, &rep); err != nil {
		t.Fatal(err)
	}
	rep.Confidential = nil
	rep.Metrics = []ledger.MetricQuantity{{Metric: "requests", Quantity: 1}}
	if err := client.SealUsage(fakeConsortium, rs, &rep); err != nil {
		t.Fatal(err)
	}
	earlier := b
	earlier.Body = mustJSON(t, rep)
	if err := g.rep.sign(&earlier); err != nil {
		t.Fatal(err)
	}
	if string(earlier.Envelope) == string(b.Envelope) {
		t.Fatal("sealing twice gave the same envelope")
	}
	c, err := client.New(node.ts.URL, client.WithToken("gw-token"), client.WithRetry(client.RetryPolicy{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(context.Background(), earlier.Envelope); err != nil {
		t.Fatal(err)
	}

	if err := g.rep.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if us := usageReports(t, node.submitted()); len(us) != 1 {
		t.Fatalf("%d reports in the ledger, want 1", len(us))
	}
	period := ledger.PeriodKey(ledger.PeriodMonth, time.Now())
	if _, left, _ := g.j.state(); len(left) != 0 || g.pend.get(usageKey("g-1", period, "requests")) != 0 || rejectedBatches(t, g) != 0 {
		t.Errorf("%d batches left, pending %d, %d rejected; want the batch cleared as committed",
			len(left), g.pend.get(usageKey("g-1", period, "requests")), rejectedBatches(t, g))
	}
	if err := g.rep.flush(context.Background()); err != nil || len(node.submitted()) != 1 {
		t.Errorf("a second flush: %v, %d proposals", err, len(node.submitted()))
	}
}

// oneUsageRoute counts requests into the allowing grant's usage only.
const oneUsageRoute = `{"routes":[{"name":"infer","prefix":"/v1/infer","upstream":"UPSTREAM","asset":"model-x","action":"use",
  "meters":[{"count":"requests","metric":"requests","usage":true}]}]}`

// TestReporter_ResealsAfterKeyRotation: a sealed report that could not be
// submitted before a party rotated its encryption key is rejected by the
// ledger for the replaced key; its counts go out again in a new report
// sealed to the current keys, under a new ID, and are counted once. A
// sealed report rejected for another reason, or when a party has no key
// left to seal to, is kept in the rejected bucket as before.
func TestReporter_ResealsAfterKeyRotation(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.confidential["g-1"] = true
	node.refuse = func(p *ledger.Proposal) (int, ledger.Code, string) {
		return 503, api.CodeUnavailable, "no leader"
	}
	g := testGateway(t, node, up.ts.URL, oneUsageRoute, nil)
	for range 4 {
		call(t, g, "GET", "/v1/infer", "beta-token")
	}
	if err := g.rep.flush(context.Background()); err == nil {
		t.Fatal("flush succeeded with no leader")
	}
	_, kept, _ := g.j.state()
	if len(kept) != 1 {
		t.Fatalf("%d batches kept, want 1", len(kept))
	}
	// beta rotates its encryption key before the report gets through.
	node.mu.Lock()
	node.refuse = nil
	node.encKeys["beta"] = ledgertest.EncryptionKey("beta-2")
	node.mu.Unlock()
	if err := g.rep.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	period := ledger.PeriodKey(ledger.PeriodMonth, time.Now())
	k := usageKey("g-1", period, "requests")
	if len(node.rejected) != 1 || g.pend.get(k) != 4 || rejectedBatches(t, g) != 0 {
		t.Fatalf("%d rejected by the ledger, pending %d, %d in the rejected bucket; want 1, 4, 0", len(node.rejected), g.pend.get(k), rejectedBatches(t, g))
	}
	if n := testutil.ToFloat64(g.m.failures.WithLabelValues(typeUsage, "resealed")); n != 1 {
		t.Errorf("resealed %v, want 1", n)
	}
	if err := g.rep.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	us := usageReports(t, node.submitted())
	if len(us) != 1 || us[0].ReportID == kept[0].ID {
		t.Fatalf("%d reports accepted; want one, under a new ID", len(us))
	}
	if ms := openUsage(t, us[0], "beta", "beta-2"); len(ms) != 1 || ms[0].Quantity != 4 {
		t.Errorf("beta opens %+v with its new key, want 4 requests", ms)
	}
	var first ledger.UsageReportBody
	if err := json.Unmarshal(kept[0].Body, &first); err != nil {
		t.Fatal(err)
	}
	if !us[0].Window.Start.Equal(first.Window.Start) || !us[0].Window.End.Equal(first.Window.End) {
		t.Errorf("window %+v, want the rejected report's %+v", us[0].Window, first.Window)
	}
	if _, left, _ := g.j.state(); len(left) != 0 || g.pend.get(k) != 0 {
		t.Errorf("%d batches left, pending %d", len(left), g.pend.get(k))
	}

	// Rejected with the keys current: kept for the operator.
	node.mu.Lock()
	node.reject = func(*ledger.Proposal) string { return "the grace for the period ended" }
	node.mu.Unlock()
	call(t, g, "GET", "/v1/infer", "beta-token")
	if err := g.rep.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rejectedBatches(t, g) != 1 || g.pend.get(k) != 0 {
		t.Errorf("%d in the rejected bucket, pending %d; want 1 and 0", rejectedBatches(t, g), g.pend.get(k))
	}
	if n := testutil.ToFloat64(g.m.failures.WithLabelValues(typeUsage, "rejected")); n != 1 {
		t.Errorf("rejected %v, want 1", n)
	}

	// Rejected when a party no longer has a key at all: sealing again
	// cannot help, so it is kept for the operator too, not retried.
	node.mu.Lock()
	node.reject = nil
	node.refuse = func(p *ledger.Proposal) (int, ledger.Code, string) { return 503, api.CodeUnavailable, "no leader" }
	node.mu.Unlock()
	call(t, g, "GET", "/v1/infer", "beta-token")
	if err := g.rep.flush(context.Background()); err == nil {
		t.Fatal("flush succeeded with no leader")
	}
	node.mu.Lock()
	node.refuse = nil
	delete(node.encKeys, "beta")
	node.mu.Unlock()
	if err := g.rep.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rejectedBatches(t, g) != 2 || g.pend.get(k) != 0 {
		t.Errorf("%d in the rejected bucket, pending %d; want 2 and 0", rejectedBatches(t, g), g.pend.get(k))
	}
	if n := testutil.ToFloat64(g.m.failures.WithLabelValues(typeUsage, "resealed")); n != 1 {
		t.Errorf("resealed %v, want still 1", n)
	}
}
