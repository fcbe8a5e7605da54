package gateway

import (
	"context"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/prometheus/client_golang/prometheus/testutil"
	bolt "go.etcd.io/bbolt"
)

// TestReporter_CommitJournalsBeforePending: a batch whose removal from
// the journal fails stays in pending, so that the flush that resubmits it
// and clears it reduces pending once, never twice.
func TestReporter_CommitJournalsBeforePending(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 1000}}}
	g := testGateway(t, node, up.ts.URL, meteredRoute, nil)
	if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	g.rep.consortium = fakeConsortium
	batches, err := g.j.cut(g.rep.builder(inClear("g-1")))
	if err != nil || len(batches) != 2 {
		t.Fatalf("cut: %v, %d", err, len(batches))
	}
	k := poolKey("gpu", "beta")
	before := g.pend.get(k)
	if before != 3 {
		t.Fatalf("pending %d, want 3", before)
	}
	g.j.db.Close() // every journal write fails from now on
	if err := g.rep.commit(&batches[0], 101); err == nil {
		t.Fatal("commit succeeded with the journal closed")
	}
	if got := g.pend.get(k); got != before {
		t.Errorf("pending %d after a commit the journal did not record, want %d", got, before)
	}
}

// TestReporter_RefusedForGoodReleasesPending: a batch the ledger refuses
// before journaling it, for a reason a retry cannot change (the delegated
// key's not_after passed), moves to the rejected bucket and releases its
// pending, so the route's caps and quotas are not held forever.
func TestReporter_RefusedForGoodReleasesPending(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 1000}}}
	node.refuse = func(p *ledger.Proposal) (int, ledger.Code, string) {
		if p.Type == typePool {
			return 403, ledger.CodeForbidden, "signatures: key alpha/0123456789abcdef expired at its not_after"
		}
		return 0, "", ""
	}
	g := testGateway(t, node, up.ts.URL, meteredRoute, nil)
	if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if err := g.rep.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := g.pend.get(poolKey("gpu", "beta")); p != 0 {
		t.Errorf("pending %d, want 0", p)
	}
	if _, left, _ := g.j.state(); len(left) != 0 {
		t.Errorf("%d batches left to retry", len(left))
	}
	var rejected int
	g.j.db.View(func(tx *bolt.Tx) error { rejected = tx.Bucket(bucketRejected).Stats().KeyN; return nil })
	if rejected != 1 {
		t.Errorf("%d batches in the rejected bucket, want 1", rejected)
	}
	if n := testutil.ToFloat64(g.m.failures.WithLabelValues(typePool, "refused_final")); n != 1 {
		t.Errorf("refused_final %v, want 1", n)
	}
	// A refusal a retry can change keeps the batch.
	node.refuse = func(*ledger.Proposal) (int, ledger.Code, string) { return 404, ledger.CodeNotFound, "no pool gpu yet" }
	call(t, g, "GET", "/v1/infer", "beta-token")
	if err := g.rep.flush(context.Background()); err == nil {
		t.Fatal("flush succeeded")
	}
	if _, left, _ := g.j.state(); len(left) != 2 {
		t.Errorf("%d batches kept, want 2", len(left))
	}
}

// poolRoute counts requests into the caller's quota in pool gpu.
const poolRoute = `{"routes":[{"name":"infer","prefix":"/v1/infer","upstream":"UPSTREAM","asset":"model-x","action":"use",
  "meters":[{"count":"requests","metric":"calls","pool":"gpu"}]}]}`

// TestGateway_AdmissionRacingACommit: a batch that commits while a
// request is admitted (after the ledger's remaining was read, before
// pending is) must not let the request through on the ledger's old
// figure with the batch already out of pending: the admission starts
// again, and reads the ledger with the batch in it.
func TestGateway_AdmissionRacingACommit(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 5}}}
	g := testGateway(t, node, up.ts.URL, poolRoute, nil)
	for i := range 5 {
		if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	g.rep.consortium = fakeConsortium
	batches, err := g.j.cut(g.rep.builder(inClear("g-1")))
	if err != nil || len(batches) != 1 {
		t.Fatalf("cut: %v, %d", err, len(batches))
	}
	g.invalidate() // the next admission asks the node
	committed := false
	node.poolRead = func() {
		if committed {
			return
		}
		// The batch commits now: the ledger holds the 5, and nothing is
		// left; the answer on its way still says 5.
		committed = true
		node.mu.Lock()
		node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 0}}}
		node.mu.Unlock()
		if err := g.rep.commit(&batches[0], 0); err != nil {
			t.Error(err)
		}
	}
	p := problemOf(t, call(t, g, "GET", "/v1/infer", "beta-token"), 429, "rate_limited")
	if l, _ := p["limit"].(map[string]any); l["remaining"] != float64(0) || l["pending"] != float64(0) {
		t.Errorf("limit %v, want remaining 0 and pending 0", p["limit"])
	}
	if up.hits.Load() != 5 {
		t.Errorf("upstream hits %d, want 5", up.hits.Load())
	}
}

// TestReporter_IDTakenIsTyped: a conflict the node marks id_taken clears
// the batch as committed (an earlier submission of it holds the ID); a
// conflict whose detail merely reads alike does not.
func TestReporter_IDTakenIsTyped(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	node.pools["gpu"] = api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "beta", Remaining: 1000}}}
	node.refuse = func(*ledger.Proposal) (int, ledger.Code, string) {
		return 409, ledger.CodeConflict, "id: alpha already used proposal ID for a different proposal (entry 3)"
	}
	g := testGateway(t, node, up.ts.URL, poolRoute, nil)
	if w := call(t, g, "GET", "/v1/infer", "beta-token"); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if err := g.rep.flush(context.Background()); err == nil {
		t.Fatal("an unmarked conflict cleared the batch")
	}
	if _, left, _ := g.j.state(); len(left) != 1 || g.pend.get(poolKey("gpu", "beta")) != 1 {
		t.Fatalf("%d batches, pending %d; want the batch kept", len(left), g.pend.get(poolKey("gpu", "beta")))
	}
	node.idTaken.Store(true)
	if err := g.rep.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, left, _ := g.j.state(); len(left) != 0 || g.pend.get(poolKey("gpu", "beta")) != 0 {
		t.Fatalf("%d batches, pending %d; want the batch cleared", len(left), g.pend.get(poolKey("gpu", "beta")))
	}
}
