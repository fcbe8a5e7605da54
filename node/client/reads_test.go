package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/transparency-dev/merkle/rfc6962"
)

func TestAllMembers_FollowsCursors(t *testing.T) {
	f := newFake(t)
	pages := map[string]struct {
		ids  []string
		next string
	}{
		"":      {[]string{"acme", "beta"}, "beta"},
		"beta":  {[]string{"corp", "delta"}, "delta"},
		"delta": {[]string{"echo"}, ""},
	}
	var index uint64 = 50
	f.handle("GET /v1/members", func(w http.ResponseWriter, r *http.Request) {
		p := pages[r.URL.Query().Get("cursor")]
		var items []ledger.Member
		for _, id := range p.ids {
			items = append(items, ledger.Member{ID: id})
		}
		index++
		writeJSON(w, index, map[string]any{"items": items, "next": p.next})
	})
	c := f.client()
	var ids []string
	for m, err := range c.AllMembers(ctxT(t), Limit(2), Consistency(ConsistencyStale)) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if !slices.Equal(ids, []string{"acme", "beta", "corp", "delta", "echo"}) {
		t.Errorf("ids = %v", ids)
	}
	reqs := f.requests("/v1/members")
	if len(reqs) != 3 {
		t.Fatalf("%d pages read, want 3", len(reqs))
	}
	for i, want := range []struct{ cursor, minIndex string }{{"", ""}, {"beta", "51"}, {"delta", "52"}} {
		q := reqs[i].Query
		if q.Get("cursor") != want.cursor || q.Get("min_index") != want.minIndex || q.Get("limit") != "2" || q.Get("consistency") != "stale" {
			t.Errorf("page %d query %v, want cursor %q min_index %q", i, q, want.cursor, want.minIndex)
		}
	}

	// One page, and stopping early.
	items, next, err := c.Members(ctxT(t), Cursor("beta"))
	if err != nil || len(items) != 2 || items[0].ID != "corp" || next != "delta" {
		t.Errorf("Members = %v %q %v", items, next, err)
	}
	n := 0
	for range c.AllMembers(ctxT(t)) {
		n++
		break
	}
	if got := len(f.requests("/v1/members")); got != 5 {
		t.Errorf("breaking out of the iterator read %d pages in total, want 5", got)
	}
}

func TestAllGrants_FilterAndError(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/grants", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "g1" {
			writeProblem(w, 401, "unauthorized", "token expired", nil)
			return
		}
		writeJSON(w, 1, map[string]any{"items": []ledger.Grant{{ID: "g1", Status: ledger.StatusActive}}, "next": "g1"})
	})
	c := f.client()
	var got []string
	var errs []error
	for g, err := range c.AllGrants(ctxT(t), GrantFilter{Licensee: "beta", Asset: "m1", Status: ledger.StatusActive}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, g.ID)
	}
	if !slices.Equal(got, []string{"g1"}) || len(errs) != 1 || !errors.Is(errs[0], ErrUnauthorized) {
		t.Errorf("got %v, errors %v", got, errs)
	}
	q := f.requests("/v1/grants")[0].Query
	if q.Get("licensee") != "beta" || q.Get("asset") != "m1" || q.Get("status") != "active" || q.Has("licensor") {
		t.Errorf("filter query %v", q)
	}
}

func TestReads_EveryRoute(t *testing.T) {
	f := newFake(t)
	list := func(items ...any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 1, map[string]any{"items": items, "next": ""})
		}
	}
	obj := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 1, v) }
	}
	f.handle("GET /v1/assets", list(ledger.Asset{ID: "m1"}))
	f.handle("GET /v1/assets/m1/lineage", obj(api.Lineage{Asset: &ledger.Asset{ID: "m1"},
		Ancestors: []*ledger.Asset{{ID: "base"}}, Descendants: []*ledger.Asset{{ID: "m2", Kind: "model"}}}))
	f.handle("GET /v1/grants/g1", obj(ledger.Grant{ID: "g1", Licensors: []string{"acme"}}))
	f.handle("GET /v1/grants/g1/history", list(ledger.GrantEvent{Grant: "g1", Kind: "offered"}, ledger.GrantEvent{Grant: "g1", Kind: "accepted"}))
	f.handle("GET /v1/grants/g1/statements", list(map[string]any{"period": "2026-01"}))
	f.handle("GET /v1/bundles", list(ledger.Bundle{ID: "b1"}))
	f.handle("GET /v1/pools", list(map[string]any{"id": "gpu"}))
	f.handle("GET /v1/pools/gpu", obj(map[string]any{"id": "gpu"}))
	f.handle("GET /v1/pools/gpu/usage", obj(api.PoolUsage{Pool: "gpu", Members: []ledger.MemberUsage{{Member: "acme", Used: 3}}}))
	f.handle("GET /v1/infractions", list())
	f.handle("GET /v1/ballots", list(ledger.Ballot{ID: "v1"}))
	f.handle("GET /v1/journal/{seq}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseUint(r.PathValue("seq"), 10, 64)
		writeJSON(w, 1, ledger.Entry{Seq: n})
	})
	c := f.client()
	ctx := ctxT(t)

	check := func(what string, err error, ok bool) {
		t.Helper()
		if err != nil || !ok {
			t.Errorf("%s: ok=%v err=%v", what, ok, err)
		}
	}
	as, _, err := c.Assets(ctx)
	check("Assets", err, len(as) == 1 && as[0].ID == "m1")
	l, err := c.Lineage(ctx, "m1")
	check("Lineage", err, l != nil && l.Asset.ID == "m1" && len(l.Ancestors) == 1 && l.Ancestors[0].ID == "base" && l.Descendants[0].Kind == "model")
	g, err := c.Grant(ctx, "g1")
	check("Grant", err, g != nil && g.ID == "g1" && g.Licensors[0] == "acme")
	h, _, err := c.GrantHistory(ctx, "g1")
	check("GrantHistory", err, len(h) == 2 && h[1].Kind == "accepted")
	st, _, err := c.GrantStatements(ctx, "g1")
	check("GrantStatements", err, len(st) == 1 && string(st[0]) == `{"period":"2026-01"}`)
	bs, _, err := c.Bundles(ctx)
	check("Bundles", err, len(bs) == 1 && bs[0].ID == "b1")
	ps, _, err := c.Pools(ctx)
	check("Pools", err, len(ps) == 1)
	p, err := c.Pool(ctx, "gpu")
	check("Pool", err, string(p) == `{"id":"gpu"}`)
	u, err := c.PoolUsage(ctx, "gpu")
	check("PoolUsage", err, u != nil && u.Pool == "gpu" && len(u.Members) == 1 && u.Members[0].Used == 3)
	in, next, err := c.Infractions(ctx)
	check("Infractions", err, len(in) == 0 && next == "")
	vs, _, err := c.Ballots(ctx)
	check("Ballots", err, len(vs) == 1 && vs[0].ID == "v1")
	e, err := c.JournalEntry(ctx, 12)
	check("JournalEntry", err, e != nil && e.Seq == 12)
	// An unrouted path answers the mux's plain-text 404, not a problem.
	_, err = c.Asset(ctx, "missing")
	var pe *Error
	if !errors.Is(err, ErrInternal) || !errors.As(err, &pe) || pe.Status != 404 || pe.Detail != "404 page not found" {
		t.Errorf("unrouted path: %v, want an internal *Error with status 404", err)
	}
}

func TestCheck_QueryAndBatch(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/check", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 4, ledger.Decision{Allowed: true, Chain: []string{"g1"}})
	})
	f.handle("POST /v1/check", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Requests []ledger.CheckRequest `json:"requests"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeProblem(w, 400, "invalid", err.Error(), nil)
			return
		}
		out := make([]ledger.Decision, len(in.Requests))
		for i, q := range in.Requests {
			out[i] = ledger.Decision{Allowed: q.Member == "acme", Reason: q.Asset}
		}
		writeJSON(w, 4, map[string]any{"decisions": out})
	})
	c := f.client()
	ctx := ctxT(t)
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	d, err := c.Check(ctx, ledger.CheckRequest{Member: "beta", Asset: "m1", Action: "train", At: at}, Consistency(ConsistencyLinearizable))
	if err != nil || !d.Allowed || d.Chain[0] != "g1" {
		t.Fatalf("Check = %+v, %v", d, err)
	}
	q := f.requests("/v1/check")[0].Query
	if q.Get("member") != "beta" || q.Get("asset") != "m1" || q.Get("action") != "train" ||
		q.Get("at") != "2026-05-01T00:00:00Z" || q.Get("consistency") != "linearizable" {
		t.Errorf("check query %v", q)
	}
	if _, err := c.Check(ctx, ledger.CheckRequest{Member: "beta", Asset: "m1", Action: "use"}); err != nil {
		t.Fatal(err)
	}
	if q := f.requests("/v1/check")[1].Query; q.Has("at") {
		t.Errorf("a zero time was sent: %v", q)
	}

	ds, err := c.CheckBatch(ctx, []ledger.CheckRequest{{Member: "acme", Asset: "a"}, {Member: "beta", Asset: "b"}}, MinIndex(9))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || !ds[0].Allowed || ds[1].Allowed || ds[1].Reason != "b" {
		t.Errorf("decisions %+v", ds)
	}
	r := f.requests("/v1/check")[2]
	if r.Method != http.MethodPost || r.Query.Get("min_index") != "9" {
		t.Errorf("batch request %s %v", r.Method, r.Query)
	}
}

func TestAllJournal_Pages(t *testing.T) {
	f := newFake(t)
	const head = 7
	f.handle("GET /v1/journal", func(w http.ResponseWriter, r *http.Request) {
		from, _ := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
		var items []ledger.Entry
		for s := from; s < head && len(items) < 3; s++ {
			items = append(items, ledger.Entry{Seq: s})
		}
		next := ""
		if from+uint64(len(items)) < head {
			next = strconv.FormatUint(from+uint64(len(items)), 10)
		}
		writeJSON(w, 1, map[string]any{"items": items, "next": next})
	})
	c := f.client()
	var seqs []uint64
	for e, err := range c.AllJournal(ctxT(t), 2) {
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
	if !slices.Equal(seqs, []uint64{2, 3, 4, 5, 6}) {
		t.Errorf("seqs %v", seqs)
	}
	items, next, err := c.Journal(ctxT(t), 0, 3)
	if err != nil || len(items) != 3 || next != "3" {
		t.Errorf("Journal = %d items, next %q, %v", len(items), next, err)
	}
	q := f.requests("/v1/journal")
	if last := q[len(q)-1].Query; last.Get("from") != "0" || last.Get("limit") != "3" {
		t.Errorf("journal query %v", last)
	}
}

func TestProofs_DecodeAndVerify(t *testing.T) {
	h := rfc6962.DefaultHasher
	e0, e1 := ledger.Hash(sha256.Sum256([]byte("e0"))), ledger.Hash(sha256.Sum256([]byte("e1")))
	l0, l1 := ledger.LeafHash(e0), ledger.LeafHash(e1)
	var root1, root2 ledger.Hash
	copy(root1[:], l0)
	copy(root2[:], h.HashChildren(l0, l1))

	f := newFake(t)
	var h1 ledger.Hash
	copy(h1[:], l1)
	f.handle("GET /v1/proofs/inclusion", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 1, api.InclusionProof{Index: 0, Size: 2, Hashes: []ledger.Hash{h1}})
	})
	f.handle("GET /v1/proofs/consistency", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 1, api.ConsistencyProof{From: 1, To: 2, Hashes: []ledger.Hash{h1}})
	})
	c := f.client()
	ctx := ctxT(t)
	ip, err := c.InclusionProof(ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := ip.Verify(e0, root2); err != nil {
		t.Errorf("valid inclusion proof: %v", err)
	}
	if err := ip.Verify(e1, root2); err == nil {
		t.Error("inclusion proof verified for the wrong entry")
	}
	if q := f.requests("/v1/proofs/inclusion")[0].Query; q.Get("index") != "0" || q.Get("size") != "2" {
		t.Errorf("inclusion query %v", q)
	}
	cp, err := c.ConsistencyProof(ctx, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if cp.From != 1 || cp.To != 2 {
		t.Errorf("consistency proof sizes %d→%d", cp.From, cp.To)
	}
	if err := cp.Verify(root1, root2); err != nil {
		t.Errorf("valid consistency proof: %v", err)
	}
	if err := cp.Verify(root2, root2); err == nil {
		t.Error("consistency proof verified against the wrong old root")
	}
	if q := f.requests("/v1/proofs/consistency")[0].Query; q.Get("from") != "1" || q.Get("to") != "2" {
		t.Errorf("consistency query %v", q)
	}
}

func TestCheckpoint_JSON(t *testing.T) {
	root := ledger.Hash(sha256.Sum256([]byte("root")))
	f := newFake(t)
	note := fmt.Sprintf("charta/%s\n42\n%s\n\n— n1 AAAA\n", "c0ffee", base64.StdEncoding.EncodeToString(root[:]))
	f.handle("GET /v1/checkpoint", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 1, api.Checkpoint{Size: 42, Root: root, LedgerTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Note: note})
	})
	c := f.client()
	for _, level := range []string{ConsistencyLeader, ConsistencyStale} {
		cp, err := c.Checkpoint(ctxT(t), Consistency(level))
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size != 42 || cp.Root != root || cp.Note != note {
			t.Errorf("%s: checkpoint %+v", level, cp)
		}
	}
}

func TestStatusAndCluster_Decode(t *testing.T) {
	f := newFake(t)
	digest := ledger.Hash(sha256.Sum256([]byte("d")))
	f.handle("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("shape") == "" {
			writeJSON(w, 5, map[string]any{
				"id": "n1", "role": "follower", "leader": "n2", "term": 3, "applied_index": 5, "commit_index": 6,
				"journal_head": ledger.Head{Size: 4, Root: digest}, "state_digest": digest, "ledger_time": "2026-01-01T00:00:00Z",
				"voters": []string{"n1", "n2", "n3"}, "nonvoters": []string{}, "version": "v0.1.0", "consortium": "c0",
			})
		}
	})
	f.handle("GET /v1/cluster", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 5, api.List[api.ClusterServer]{Items: []api.ClusterServer{
			{ID: "n1", Address: "10.0.0.1:7000", Suffrage: "voter"},
			{ID: "n2", Address: "10.0.0.2:7000", Suffrage: "voter", Leader: true},
			{ID: "n4", Address: "10.0.0.4:7000", Suffrage: "nonvoter"},
		}})
	})
	c := f.client()
	st, err := c.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != "n1" || st.Leader != "n2" || st.Term != 3 || st.AppliedIndex != 5 || st.CommitIndex != 6 ||
		st.JournalHead.Size != 4 || st.StateDigest != digest || !slices.Equal(st.Voters, []string{"n1", "n2", "n3"}) ||
		st.Version != "v0.1.0" || st.LedgerTime.Year() != 2026 {
		t.Errorf("status %+v", st)
	}
	cl, err := c.Cluster(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []ClusterServer{
		{ID: "n1", Address: "10.0.0.1:7000", Suffrage: "voter"},
		{ID: "n2", Address: "10.0.0.2:7000", Suffrage: "voter", Leader: true},
		{ID: "n4", Address: "10.0.0.4:7000", Suffrage: "nonvoter"},
	}
	if !slices.Equal(cl, want) {
		t.Errorf("cluster %+v", cl)
	}
}

func TestOps_JoinTransferReadIndexBackupHealth(t *testing.T) {
	f := newFake(t)
	snapshot := bytes.Repeat([]byte("snapshot"), 10000)
	f.handle("POST /v1/cluster/join", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 9, map[string]any{}) })
	f.handle("POST /v1/cluster/transfer-leadership", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, 403, "forbidden", "operator token required", nil)
	})
	f.handle("GET /v1/cluster/read-index", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 9, api.ReadIndex{Index: 77}) })
	f.handle("GET /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(snapshot)
	})
	f.handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	f.handle("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
		fmt.Fprint(w, "no leader")
	})
	c := f.client()
	ctx := ctxT(t)
	if err := c.Join(ctx, "delta", "10.0.0.9:7000"); err != nil {
		t.Fatal(err)
	}
	var in map[string]string
	_ = json.Unmarshal(f.requests("/v1/cluster/join")[0].Body, &in)
	if in["id"] != "delta" || in["raft_addr"] != "10.0.0.9:7000" {
		t.Errorf("join body %v", in)
	}
	if err := c.TransferLeadership(ctx); !errors.Is(err, ErrForbidden) {
		t.Errorf("TransferLeadership = %v", err)
	}
	if n, err := c.ReadIndex(ctx); err != nil || n != 77 {
		t.Errorf("ReadIndex = %d, %v", n, err)
	}
	var buf bytes.Buffer
	if n, err := c.Backup(ctx, &buf); err != nil || n != int64(len(snapshot)) || !bytes.Equal(buf.Bytes(), snapshot) {
		t.Errorf("Backup = %d, %v", n, err)
	}
	if err := c.Healthz(ctx); err != nil {
		t.Errorf("Healthz = %v", err)
	}
	if err := c.Readyz(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Readyz = %v, want ErrUnavailable", err)
	}
	if n := len(f.requests("/readyz")); n != 1 {
		t.Errorf("Readyz retried: %d requests", n)
	}
}

func TestWithTLS_TrustsCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted handshake below is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(srv.URL, WithTLS(ca))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Healthz(ctxT(t)); err != nil {
		t.Errorf("with the CA: %v", err)
	}
	// An untrusted certificate is not retried, even by retrying calls.
	plain, _ := New(srv.URL)
	start := time.Now()
	if _, err := plain.Status(ctxT(t)); err == nil || retryable(err) {
		t.Errorf("without the CA: %v, want a final error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("certificate error took %v: it was retried", d)
	}
	if _, err := New(srv.URL, WithTLS(filepath.Join(t.TempDir(), "none.pem"))); err == nil {
		t.Error("missing CA file: no error")
	}
}
