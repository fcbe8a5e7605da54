package node

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/node/api"
	"github.com/charta/charta/node/client"
)

// TestClient_RoundTripsEveryResponse reads every response type of the API
// from a real server with the client, and checks the decoded values
// against the ledger the server reads. Server and client share the types
// of package api, so this proves that what one encodes the other decodes.
func TestClient_RoundTripsEveryResponse(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	w.accept("alpha", "pool.create", "pool-gpu", ledger.PoolCreate{ID: "gpu", Resource: "gpu-hours", Unit: "hour",
		Period: ledger.PeriodMonth, Capacity: 100, Mode: ledger.QuotaFixed, Owners: []string{"alpha", "beta"},
		Quotas: []ledger.QuotaSpec{{Member: "alpha", Amount: 40}, {Member: "beta", Amount: 40}, {Member: "gamma", Amount: 20}}},
		"beta")
	ts.c.ProposeFn = func(ctx context.Context, env []byte) (*ledger.Result, error) { return w.apply(env), nil }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(ts.ts.URL, client.WithToken(secret("alpha")), client.WithSigner(ledgertest.Signer("alpha", scheme)), client.WithClock(func() time.Time { return w.now }))
	if err != nil {
		t.Fatal(err)
	}
	var head ledger.Head
	var digest ledger.Hash
	w.l.View(func(v *ledger.View) error { head, digest = v.Head(), v.Digest(); return nil })

	st, err := c.Status(ctx)
	if err != nil || st.ID != "alpha" || st.Role != "leader" || st.Leader != "alpha" || st.Term != 2 ||
		st.AppliedIndex != w.l.AppliedIndex() || st.Consortium != w.g.ID() || st.JournalHead != head || st.StateDigest != digest ||
		!slices.Equal(st.Voters, []string{"alpha", "beta"}) || !slices.Equal(st.Nonvoters, []string{"gamma"}) {
		t.Fatalf("Status: %v %+v", err, st)
	}

	servers, err := c.Cluster(ctx)
	want, _ := ts.c.Servers()
	if err != nil || !slices.Equal(servers, want) {
		t.Fatalf("Cluster: %v %+v, want %+v", err, servers, want)
	}

	cp, err := c.Checkpoint(ctx)
	if err != nil || cp.Size != head.Size || cp.Root != head.Root || cp.LastHash != head.LastHash || cp.Body == "" ||
		cp.Origin != "charta/"+w.g.ID() || cp.Index != w.l.AppliedIndex() {
		t.Fatalf("Checkpoint: %v %+v, head %+v", err, cp, head)
	}

	var e3 *ledger.Entry
	w.l.View(func(v *ledger.View) error { e3, _ = v.Entry(3); return nil })
	ip, err := c.InclusionProof(ctx, 3, head.Size)
	if err != nil || ip.EntryHash != e3.Hash || ip.Root != head.Root || ip.Verify(e3.Hash, head.Root) != nil {
		t.Fatalf("InclusionProof: %v %+v", err, ip)
	}
	if string(ip.LeafHash[:]) != string(ledger.LeafHash(e3.Hash)) {
		t.Fatalf("InclusionProof: leaf hash %s", ip.LeafHash)
	}
	cons, err := c.ConsistencyProof(ctx, 4, head.Size)
	if err != nil || cons.From != 4 || cons.To != head.Size || cons.ToRoot != head.Root || cons.Verify(cons.FromRoot, head.Root) != nil {
		t.Fatalf("ConsistencyProof: %v %+v", err, cons)
	}

	l, err := c.Lineage(ctx, "model-b")
	if err != nil || l.Asset.ID != "model-b" || len(l.Ancestors) != 1 || l.Ancestors[0].ID != "model-a" || len(l.Descendants) != 0 {
		t.Fatalf("Lineage: %v %+v", err, l)
	}

	u, err := c.PoolUsage(ctx, "gpu")
	if err != nil || u.Pool != "gpu" || len(u.Members) != 3 || u.Members[0].Member != "alpha" || u.Members[0].Quota != 40 {
		t.Fatalf("PoolUsage: %v %+v", err, u)
	}

	ds, err := c.CheckBatch(ctx, []ledger.CheckRequest{
		{Member: "beta", Asset: "model-a", Action: ledger.RightTrain},
		{Member: "gamma", Asset: "model-a", Action: ledger.RightTrain},
	})
	if err != nil || len(ds) != 2 || !ds[0].Allowed || ds[1].Allowed {
		t.Fatalf("CheckBatch: %v %+v", err, ds)
	}

	if n, err := c.ReadIndex(ctx); err != nil || n != w.l.AppliedIndex() {
		t.Fatalf("ReadIndex: %d %v", n, err)
	}
	ac, err := client.New(ts.ts.URL, client.WithToken(adminToken(t, w, "alpha")))
	if err != nil {
		t.Fatal(err)
	}
	if err := ac.Join(ctx, "alpha", "127.0.0.1:7001"); err != nil {
		t.Fatalf("Join: %v", err)
	}

	res, err := c.Propose(ctx, "token.register", "tok-round", ledger.TokenRegister{Hash: ledger.HashToken("round"),
		Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	var e *ledger.Entry
	w.l.View(func(v *ledger.View) error { e, _ = v.Entry(res.Seq); return nil })
	if err != nil || res.Outcome.Status != ledger.StatusAccepted || res.Index != w.l.AppliedIndex() || e.Hash != res.EntryHash {
		t.Fatalf("Propose: %v %+v", err, res)
	}
	again, err := c.Propose(ctx, "token.register", "tok-round", ledger.TokenRegister{Hash: ledger.HashToken("round"),
		Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	if err != nil || !again.Duplicate || again.Seq != res.Seq {
		t.Fatalf("Propose again: %v %+v", err, again)
	}

	// A journaled rejection comes back as a problem with its entry.
	_, err = c.Propose(ctx, "grant.accept", "accept-missing", ledger.GrantRef{Grant: "g-missing"})
	var pe *client.Error
	if !errors.As(err, &pe) || pe.Status != 422 || pe.Code != ledger.CodeNotFound || pe.Seq == 0 || pe.Outcome == nil ||
		pe.Outcome.Code != ledger.CodeNotFound || pe.Type != api.ProblemTypeBase+"not_found" || pe.Title != "Not found" {
		t.Fatalf("rejection: %v %+v", err, pe)
	}

	// Transfer needs the operator token.
	tok, err := loadOperatorToken(filepath.Join(ts.s.cfg.DataDir, OperatorTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	op, err := client.New(ts.ts.URL, client.WithToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	if err := op.TransferLeadership(ctx); err != nil {
		t.Fatalf("TransferLeadership: %v", err)
	}
}
