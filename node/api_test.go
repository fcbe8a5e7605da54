package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/node/api"
	"github.com/transparency-dev/merkle/proof"
)

func TestVisibility_NonPartyGets404(t *testing.T) {
	ts := newTestServer(t)
	for _, path := range []string{"/v1/grants/g-ab", "/v1/grants/g-ab/history", "/v1/grants/g-ab/statements"} {
		ts.get(path, "gamma").problem(t, http.StatusNotFound, "not_found")
		for _, who := range []string{"alpha", "beta", "audit", "operator"} {
			if r := ts.get(path, who); r.status != http.StatusOK {
				t.Errorf("%s GET %s: status %d: %s", who, path, r.status, r.body)
			}
		}
	}
	// The 404 for an invisible grant is the 404 for a missing one.
	hidden := ts.get("/v1/grants/g-ab", "gamma")
	missing := ts.get("/v1/grants/g-zz", "gamma")
	if strings.Replace(string(hidden.body), "g-ab", "g-zz", -1) != string(missing.body) {
		t.Errorf("an invisible grant answers differently from a missing one:\n%s\n%s", hidden.body, missing.body)
	}
	ids := func(as, path string) []string {
		var l struct {
			Items []struct {
				ID  string `json:"id"`
				ID2 string `json:"ID"`
			} `json:"items"`
		}
		ts.get(path, as).json(t, &l)
		var out []string
		for _, x := range l.Items {
			out = append(out, x.ID+x.ID2)
		}
		return out
	}
	for _, c := range []struct {
		as, path, want string
	}{
		{"gamma", "/v1/grants", "g-ag,g-ga"},
		{"beta", "/v1/grants", "g-ab"},
		{"alpha", "/v1/grants", "g-ab,g-ag,g-ga"},
		{"audit", "/v1/grants", "g-ab,g-ag,g-ga"},
		{"operator", "/v1/grants?licensor=alpha", "g-ab,g-ag"},
		{"beta", "/v1/bundles", ""},
		{"gamma", "/v1/bundles", "x-ag"},
		{"audit", "/v1/bundles", "x-ag"},
	} {
		if got := strings.Join(ids(c.as, c.path), ","); got != c.want {
			t.Errorf("%s GET %s: %q, want %q", c.as, c.path, got, c.want)
		}
	}
	ts.get("/v1/bundles/x-ag", "beta").problem(t, http.StatusNotFound, "not_found")
	if r := ts.get("/v1/bundles/x-ag", "audit"); r.status != http.StatusOK {
		t.Errorf("auditor cannot see the bundle: %d", r.status)
	}
	// A member may not ask about another member's entitlements to
	// someone else's asset.
	ts.get("/v1/check?member=beta&asset=data-g&action=train", "alpha").problem(t, http.StatusForbidden, "forbidden")
	// An asset that does not exist is not found, not forbidden: the asset
	// registry is public.
	ts.get("/v1/check?member=beta&asset=nope&action=train", "alpha").problem(t, http.StatusNotFound, "not_found")
}

func TestProblems_EveryCode(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	ts.get("/v1/members?limit=x", "alpha").problem(t, 400, "invalid")
	ts.get("/v1/members?consistency=eventual", "alpha").problem(t, 400, "invalid")
	ts.do(http.MethodPost, "/v1/proposals", "", []byte(`{"payloadType":`)).problem(t, 400, "invalid")
	ts.get("/v1/members", "").problem(t, 401, "unauthorized")
	ts.get("/v1/backup", "alpha").problem(t, 403, "forbidden")
	ts.get("/v1/assets/nope", "alpha").problem(t, 404, "not_found")
	ts.get("/v1/no/such/route", "alpha").problem(t, 404, "not_found")
	// conflict: a journaled conflict outcome.
	p := ts.do(http.MethodPost, "/v1/proposals", "", w.envelope("alpha", "token.register", "tok-again",
		ledger.TokenRegister{Hash: ledger.HashToken(secret("alpha")), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})).
		problem(t, 409, "conflict")
	if p["index"] == nil || p["entry_hash"] == nil {
		t.Errorf("journaled conflict without its index and entry hash: %v", p)
	}
	ts.do(http.MethodPost, "/v1/proposals", "", bytes.Repeat([]byte("x"), 1<<20+1)).problem(t, 413, "too_large")
	// rejected: issued_at far outside the window.
	env := ledgertest.Propose(w.g.ID(), "alpha", "token.register", "tok-old", t0.Add(-time.Hour),
		ledger.TokenRegister{Hash: ledger.HashToken("x"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)},
		ledgertest.Signer("alpha", scheme)).Encode()
	p = ts.do(http.MethodPost, "/v1/proposals", "", env).problem(t, 422, "rejected")
	if p["outcome"].(map[string]any)["status"] != "rejected" {
		t.Errorf("rejection without its outcome: %v", p)
	}
	// unavailable: a follower that lost its leader.
	ts.c.IsLeaderFn = func() bool { return false }
	ts.c.StatusFn = func() consensus.Status { return consensus.Status{State: "follower"} }
	r := ts.get("/v1/members", "alpha")
	r.problem(t, 503, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if r := ts.get("/v1/members?consistency=stale", "alpha"); r.status != 200 {
		t.Errorf("stale read refused without a leader: %d", r.status)
	}
	// internal: the detail is generic and the cause is not echoed.
	ts.c.ServersFn = func() ([]api.ClusterServer, error) { return nil, errors.New("secret disk path /var/x") }
	r = ts.get("/v1/cluster", "alpha")
	p = r.problem(t, 500, "internal")
	if strings.Contains(string(r.body), "secret") || p["request_id"] != r.header.Get("X-Request-ID") {
		t.Errorf("internal problem leaks or lacks the request ID: %s", r.body)
	}
	// ambiguous: resubmit.
	ts.c.IsLeaderFn = func() bool { return true }
	ts.c.ProposeFn = func(context.Context, []byte) (*ledger.Result, error) {
		return nil, errors.Join(ErrAmbiguous, errors.New("timeout"))
	}
	p = ts.do(http.MethodPost, "/v1/proposals", "", w.envelope("alpha", "token.register", "tok-amb",
		ledger.TokenRegister{Hash: ledger.HashToken("amb"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})).
		problem(t, 503, "unavailable")
	if p["resubmit"] != true || p["detail"] != "resubmit the same proposal; it is idempotent" {
		t.Errorf("ambiguous write problem: %v", p)
	}
}

func TestProblemFor_ConflictErrorCarriesWith(t *testing.T) {
	err := &ledger.ConflictError{Err: ledger.Errorf(ledger.CodeConflict, "exclusive grant overlaps"), With: "g-1"}
	p := problemFor(err, "rid", nil)
	if p.Status != 409 || p.Code != "conflict" || p.Extensions["with"] != "g-1" {
		t.Fatalf("%+v", p)
	}
	for code, status := range map[ledger.Code]int{ledger.CodeInvalid: 400, ledger.CodeUnauthorized: 401, ledger.CodeForbidden: 403,
		ledger.CodeNotFound: 404, ledger.CodeConflict: 409, ledger.CodeRejected: 422, ledger.CodeTooLarge: 413} {
		if p := problemFor(ledger.Errorf(code, "m"), "rid", nil); p.Status != status || p.Code != code || p.Detail != "m" {
			t.Errorf("%s: %+v", code, p)
		}
	}
	rj := &rejection{result: &ledger.Result{Index: 9, Outcome: ledger.Outcome{Status: "rejected", Code: ledger.CodeConflict,
		Message: "overlaps (conflicts with g-7)", With: "g-7"}}}
	if p := problemFor(rj, "rid", nil); p.Status != 409 || p.Extensions["with"] != "g-7" || p.Extensions["index"] != uint64(9) {
		t.Errorf("journaled conflict: %+v", p)
	}
}

// TestProblemFor_IDTakenIsMarked: a proposal ID its signer used for a
// different proposal is a conflict marked id_taken, which the client
// decodes into a field, so that no caller reads it out of the detail.
func TestProblemFor_IDTakenIsMarked(t *testing.T) {
	err := &ledger.IDTakenError{Err: ledger.Errorf(ledger.CodeConflict, "id: alpha already used proposal ID \"x\" for a different proposal (entry 3)")}
	p := problemFor(err, "rid", nil)
	if p.Status != 409 || p.Code != "conflict" || p.Extensions["id_taken"] != true {
		t.Fatalf("%+v", p)
	}
	if p := problemFor(ledger.Errorf(ledger.CodeConflict, "id: looks alike"), "rid", nil); p.Extensions["id_taken"] != nil {
		t.Fatalf("a plain conflict is marked id_taken: %+v", p)
	}
}

// TestProposal_HandsTheDecodedEnvelopeOn checks that the API hands the
// envelope its admission decoded to consensus, so that the leader's state
// machine does not decode it again.
func TestProposal_HandsTheDecodedEnvelopeOn(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	ts.c.ProposeFn = func(ctx context.Context, env []byte) (*ledger.Result, error) { return w.apply(env), nil }
	body := ledger.TokenRegister{Hash: ledger.HashToken("d"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)}
	var out api.ProposalResponse
	ts.do(http.MethodPost, "/v1/proposals", "", w.envelope("alpha", "token.register", "tok-d", body)).json(t, &out)
	ts.c.mu.Lock()
	defer ts.c.mu.Unlock()
	if len(ts.c.decoded) != 1 || ts.c.decoded[0] == nil {
		t.Fatalf("consensus was handed %v, want the decoded envelope", ts.c.decoded)
	}
}

func TestPrecheck_RefusesWithoutChangingState(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	var proposed atomic.Int32
	ts.c.ProposeFn = func(ctx context.Context, env []byte) (*ledger.Result, error) {
		proposed.Add(1)
		return w.apply(env), nil
	}
	body := ledger.TokenRegister{Hash: ledger.HashToken("n"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)}
	good := w.envelope("alpha", "token.register", "tok-n", body)
	forged, _ := ledger.DecodeEnvelope(good)
	forged.Signatures[0].Sig[0] ^= 1
	other := ledgertest.Propose(ledgertest.Consortium, "alpha", "token.register", "tok-n", w.now, body, ledgertest.Signer("alpha", scheme)).Encode()
	unknownType := ledgertest.Propose(w.g.ID(), "alpha", "grant.steal", "x", w.now, body, ledgertest.Signer("alpha", scheme)).Encode()
	notSigner := ledgertest.Propose(w.g.ID(), "alpha", "token.register", "x", w.now, body, ledgertest.Signer("beta", scheme)).Encode()
	stranger := ledgertest.Propose(w.g.ID(), "zed", "token.register", "x", w.now, body, ledgertest.Signer("zed", scheme)).Encode()
	var before ledger.Hash
	w.l.View(func(v *ledger.View) error { before = v.Digest(); return nil })
	for _, c := range []struct {
		name   string
		env    []byte
		status int
		code   string
	}{
		{"bad signature", forged.Encode(), 401, "unauthorized"},
		{"other consortium", other, 400, "invalid"},
		{"unknown type", unknownType, 400, "invalid"},
		{"not signed by signer", notSigner, 401, "unauthorized"},
		{"unknown key", stranger, 401, "unauthorized"},
		{"not JSON", []byte("hello"), 400, "invalid"},
		{"unknown field", []byte(`{"payloadType":"x","payload":"eA==","signatures":[],"extra":1}`), 400, "invalid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts.do(http.MethodPost, "/v1/proposals", "", c.env).problem(t, c.status, c.code)
		})
	}
	var after ledger.Hash
	w.l.View(func(v *ledger.View) error { after = v.Digest(); return nil })
	if before != after || proposed.Load() != 0 {
		t.Fatalf("prechecked proposals reached the log (%d) or changed the state", proposed.Load())
	}
	if r := ts.do(http.MethodPost, "/v1/proposals", "", good); r.status != 200 || proposed.Load() != 1 {
		t.Fatalf("the good envelope: %d %s", r.status, r.body)
	}
}

func TestPrecheck_KeyRotationSignedByNewKey(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	newKey := ledgertest.Key("alpha-2", scheme)
	old := ledgertest.KeyID("alpha", scheme)
	p := ledgertest.Proposal(w.g.ID(), "alpha", "key.rotate", "rot-1", w.now, ledger.KeyRotate{Old: old, New: newKey.Public()})
	env, err := ledger.SignDeterministic(p, ledgertest.Signer("alpha", scheme), ledger.NewSigner("alpha", newKey))
	if err != nil {
		t.Fatal(err)
	}
	var res api.ProposalResponse
	ts.do(http.MethodPost, "/v1/proposals", "", env.Encode()).json(t, &res)
	if res.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("rotation: %+v", res)
	}
}

// leaderAndFollower starts alpha as leader and beta as its follower over
// one world, with alpha's API address on the ledger pointing at its test
// server.
func leaderAndFollower(t *testing.T) (leader, follower *testServer, proposed *atomic.Int32) {
	t.Helper()
	lts := httptest.NewUnstartedServer(nil)
	w := newWorld(t, map[string]string{"alpha": lts.Listener.Addr().String()})
	w.seed()
	lc := w.leaderFake("alpha")
	proposed = new(atomic.Int32)
	lc.ProposeFn = func(ctx context.Context, env []byte) (*ledger.Result, error) {
		proposed.Add(1)
		return w.apply(env), nil
	}
	ls, err := NewServer(testConfig(t), lc, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	lts.Config.Handler = ls.Handler()
	lts.Start()
	t.Cleanup(lts.Close)
	leader = &testServer{t: t, s: ls, ts: lts, c: lc, w: w}
	follower = startServer(t, w, w.followerFake("beta", "alpha"), testConfig(t))
	return leader, follower, proposed
}

func TestProposals_ForwardToLeader(t *testing.T) {
	_, follower, proposed := leaderAndFollower(t)
	w := follower.w
	env := w.envelope("beta", "token.register", "tok-fwd", ledger.TokenRegister{Hash: ledger.HashToken("fwd"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	var res api.ProposalResponse
	follower.do(http.MethodPost, "/v1/proposals", "", env).json(t, &res)
	if proposed.Load() != 1 || res.Outcome.Status != ledger.StatusAccepted || res.Index != w.l.AppliedIndex() {
		t.Fatalf("forwarded proposal: proposed %d times, %+v", proposed.Load(), res)
	}
	// A rejection travels back as the leader's problem.
	follower.do(http.MethodPost, "/v1/proposals", "", w.envelope("beta", "token.register", "tok-fwd2",
		ledger.TokenRegister{Hash: ledger.HashToken("fwd"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})).problem(t, 409, "conflict")
	// Loop guard: a forwarded request reaching a follower is not
	// forwarded again.
	env = w.envelope("beta", "token.register", "tok-loop", ledger.TokenRegister{Hash: ledger.HashToken("loop"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	follower.do(http.MethodPost, "/v1/proposals", "", env, ForwardedHeader, "gamma").problem(t, 503, "unavailable")
	if proposed.Load() != 2 {
		t.Fatalf("the looping request reached the leader: %d proposals", proposed.Load())
	}
	// A precheck failure is answered by the follower itself.
	follower.do(http.MethodPost, "/v1/proposals", "", []byte("{}")).problem(t, 400, "invalid")
	if proposed.Load() != 2 {
		t.Fatal("an invalid envelope was forwarded")
	}
}

func TestProposals_LeaderUnreachable(t *testing.T) {
	w := newWorld(t, map[string]string{"alpha": "127.0.0.1:1"})
	w.seed()
	follower := startServer(t, w, w.followerFake("beta", "alpha"), testConfig(t))
	env := w.envelope("beta", "token.register", "tok-x", ledger.TokenRegister{Hash: ledger.HashToken("x"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	p := follower.do(http.MethodPost, "/v1/proposals", "", env).problem(t, 503, "unavailable")
	if p["resubmit"] != true {
		t.Errorf("unreachable leader: want resubmit, got %v", p)
	}
}

func TestRead_LinearizableOnFollowerAsksLeader(t *testing.T) {
	leader, follower, _ := leaderAndFollower(t)
	var asked atomic.Int32
	leader.c.ReadIndexFn = func(context.Context) (uint64, error) { asked.Add(1); return leader.w.l.AppliedIndex(), nil }
	r := follower.get("/v1/members/alpha?consistency=linearizable", "gamma")
	if r.status != 200 || asked.Load() != 1 {
		t.Fatalf("linearizable read on a follower: status %d, leader asked %d times: %s", r.status, asked.Load(), r.body)
	}
	// A read index beyond what the follower has applied makes it wait.
	target := leader.w.l.AppliedIndex() + 1
	var waiting atomic.Bool
	leader.c.ReadIndexFn = func(context.Context) (uint64, error) { return target, nil }
	wait := follower.c.WaitAppliedFn
	follower.c.WaitAppliedFn = func(ctx context.Context, index uint64) error { waiting.Store(true); return wait(ctx, index) }
	done := make(chan response)
	go func() { done <- follower.get("/v1/members/alpha?consistency=linearizable", "gamma") }()
	waitFor(t, waiting.Load)
	leader.w.accept("gamma", "token.register", "tok-lin", ledger.TokenRegister{Hash: ledger.HashToken("lin"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	r = <-done
	if r.status != 200 || r.header.Get(IndexHeader) != strconv.FormatUint(leader.w.l.AppliedIndex(), 10) {
		t.Fatalf("status %d index %s: %s", r.status, r.header.Get(IndexHeader), r.body)
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRead_MinIndexWaits(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	target := w.l.AppliedIndex() + 1
	var waiting atomic.Bool
	wait := ts.c.WaitAppliedFn
	ts.c.WaitAppliedFn = func(ctx context.Context, index uint64) error { waiting.Store(true); return wait(ctx, index) }
	done := make(chan response)
	go func() { done <- ts.get("/v1/members?min_index="+strconv.FormatUint(target, 10), "alpha") }()
	waitFor(t, waiting.Load)
	select {
	case r := <-done:
		t.Fatalf("answered before index %d was applied: %d", target, r.status)
	default:
	}
	w.accept("alpha", "token.register", "tok-min", ledger.TokenRegister{Hash: ledger.HashToken("min"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	r := <-done
	if r.status != 200 || r.header.Get(IndexHeader) != strconv.FormatUint(target, 10) {
		t.Fatalf("status %d, index %s, want 200 at %d", r.status, r.header.Get(IndexHeader), target)
	}
	// An index that never comes: 503 after MaxWait.
	start := time.Now()
	ts.get("/v1/members?min_index=999999", "alpha").problem(t, 503, "unavailable")
	if d := time.Since(start); d < ts.s.cfg.MaxWait {
		t.Errorf("gave up after %v, before MaxWait %v", d, ts.s.cfg.MaxWait)
	}
}

func TestRateLimit_429(t *testing.T) {
	w := newWorld(t, nil)
	w.seed()
	cfg := testConfig(t)
	cfg.RateLimit, cfg.RateBurst = 0.001, 2
	ts := startServer(t, w, w.leaderFake("alpha"), cfg)
	for i := 0; i < 2; i++ {
		if r := ts.get("/v1/members", "alpha"); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := ts.get("/v1/members", "alpha")
	r.problem(t, 429, "rate_limited")
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Buckets are per token: beta still has its burst.
	if r := ts.get("/v1/members", "beta"); r.status != 200 {
		t.Errorf("beta limited by alpha's traffic: %d", r.status)
	}
}

func TestProposals_InFlightBound(t *testing.T) {
	w := newWorld(t, nil)
	w.seed()
	cfg := testConfig(t)
	cfg.MaxInFlight = 1
	c := w.leaderFake("alpha")
	entered, release := make(chan struct{}), make(chan struct{})
	c.ProposeFn = func(ctx context.Context, env []byte) (*ledger.Result, error) {
		close(entered)
		<-release
		return w.apply(env), nil
	}
	ts := startServer(t, w, c, cfg)
	env := func(id string) []byte {
		return w.envelope("alpha", "token.register", id, ledger.TokenRegister{Hash: ledger.HashToken(id), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	}
	done := make(chan response)
	go func() { done <- ts.do(http.MethodPost, "/v1/proposals", "", env("a")) }()
	<-entered
	r := ts.do(http.MethodPost, "/v1/proposals", "", env("b"))
	r.problem(t, 429, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	close(release)
	if r := <-done; r.status != 200 {
		t.Fatalf("first proposal: %d %s", r.status, r.body)
	}
}

func TestBodyLimit_413(t *testing.T) {
	w := newWorld(t, nil)
	w.seed()
	cfg := testConfig(t)
	cfg.BodyLimit = 64
	ts := startServer(t, w, w.leaderFake("alpha"), cfg)
	big := []byte(`{"requests":[` + strings.Repeat(`{"asset":"model-a","action":"use"},`, 10) + `{"asset":"model-a","action":"use"}]}`)
	ts.do(http.MethodPost, "/v1/check", "alpha", big).problem(t, 413, "too_large")
	ts.do(http.MethodPost, "/v1/proposals", "", make([]byte, 1<<20+10)).problem(t, 413, "too_large")
	ts.do(http.MethodPost, "/v1/cluster/join", "operator", big).problem(t, 413, "too_large")
}

func TestOperatorRoutes_403(t *testing.T) {
	ts := newTestServer(t)
	for _, who := range []string{"alpha", "audit"} {
		ts.get("/v1/backup", who).problem(t, 403, "forbidden")
		ts.do(http.MethodPost, "/v1/cluster/transfer-leadership", who, nil).problem(t, 403, "forbidden")
	}
	r := ts.get("/v1/backup", "operator")
	if r.status != 200 || r.header.Get("Content-Type") != "application/octet-stream" || !bytes.HasPrefix(r.body, []byte("CHARTA-SNAPSHOT-1\n")) {
		t.Fatalf("backup: %d %q %.40q", r.status, r.header.Get("Content-Type"), r.body)
	}
	var transferred atomic.Bool
	ts.c.TransferLeadershipFn = func() error { transferred.Store(true); return nil }
	if r := ts.do(http.MethodPost, "/v1/cluster/transfer-leadership", "operator", nil); r.status != 200 || !transferred.Load() {
		t.Fatalf("transfer: %d %s", r.status, r.body)
	}
}

func TestAuth_Unauthenticated401(t *testing.T) {
	ts := newTestServer(t)
	for _, path := range []string{"/v1/members", "/v1/grants", "/v1/status", "/v1/events", "/v1/journal", "/v1/check?asset=a&action=use"} {
		r := ts.get(path, "")
		r.problem(t, 401, "unauthorized")
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", path)
		}
		ts.do(http.MethodGet, path, "", nil, "Authorization", "Bearer not-a-token").problem(t, 401, "unauthorized")
	}
	for _, path := range []string{"/healthz", "/v1/openapi.json", "/metrics", "/"} {
		if r := ts.get(path, ""); r.status != 200 {
			t.Errorf("public %s: %d", path, r.status)
		}
	}
	// Tokens expire against ledger time, also once a request has
	// authenticated with them (the principal cache lives for one applied
	// index).
	if r := ts.get("/v1/members", "beta"); r.status != 200 {
		t.Fatalf("beta before expiry: %d %s", r.status, r.body)
	}
	w := ts.w
	w.now = t0.Add(49 * time.Hour)
	w.accept("alpha", "token.register", "tok-late", ledger.TokenRegister{Hash: ledger.HashToken("late"), Scopes: []string{"read"}, ExpiresAt: t0.Add(100 * time.Hour)})
	p := ts.get("/v1/members", "beta").problem(t, 401, "unauthorized")
	if !strings.Contains(p["detail"].(string), "expired") {
		t.Errorf("expired token: %v", p)
	}
	if r := ts.get("/v1/members", "operator"); r.status != 200 {
		t.Errorf("operator: %d", r.status)
	}
}

func TestOperatorToken_CreatedAndReused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, OperatorTokenFile)
	a, err := loadOperatorToken(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if _, err := hex.DecodeString(a); err != nil || len(a) != 64 {
		t.Fatalf("token %q is not 32 bytes of hex", a)
	}
	b, err := loadOperatorToken(path)
	if err != nil || b != a {
		t.Fatalf("token not reused: %q vs %q (%v)", a, b, err)
	}
	os.Chmod(path, 0o644)
	if _, err := loadOperatorToken(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable token file was accepted: %v", err)
	}
}

// inclusionJSON and consistencyJSON are the proofs as the wire carries
// them: hashes in hex.
type inclusionJSON struct {
	Index     uint64   `json:"index"`
	Size      uint64   `json:"size"`
	EntryHash string   `json:"entry_hash"`
	LeafHash  string   `json:"leaf_hash"`
	Root      string   `json:"root"`
	Hashes    []string `json:"hashes"`
}

type consistencyJSON struct {
	From     uint64   `json:"from"`
	To       uint64   `json:"to"`
	FromRoot string   `json:"from_root"`
	ToRoot   string   `json:"to_root"`
	Hashes   []string `json:"hashes"`
}

func TestProofs_Verify(t *testing.T) {
	ts := newTestServer(t)
	var cp api.Checkpoint
	ts.get("/v1/checkpoint", "gamma").json(t, &cp)
	size := cp.Size
	if size < 10 || !strings.HasPrefix(cp.Body, "charta/"+ts.w.g.ID()+"\n"+strconv.FormatUint(size, 10)+"\n") {
		t.Fatalf("checkpoint %+v", cp)
	}
	if r := ts.do(http.MethodGet, "/v1/checkpoint", "gamma", nil, "Accept", "text/plain"); string(r.body) != cp.Body {
		t.Errorf("text checkpoint %q, want %q", r.body, cp.Body)
	}
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	all := func(ss []string) [][]byte {
		var out [][]byte
		for _, s := range ss {
			out = append(out, unhex(s))
		}
		return out
	}
	for n := uint64(1); n <= size; n++ {
		for i := uint64(0); i < n; i++ {
			var p inclusionJSON
			ts.get("/v1/proofs/inclusion?index="+strconv.FormatUint(i, 10)+"&size="+strconv.FormatUint(n, 10), "gamma").json(t, &p)
			if err := proof.VerifyInclusion(hasher, i, n, unhex(p.LeafHash), all(p.Hashes), unhex(p.Root)); err != nil {
				t.Fatalf("inclusion %d in %d: %v", i, n, err)
			}
			if n == size && p.Root != cp.Root.String() {
				t.Fatalf("root at size %d is %s, checkpoint says %s", n, p.Root, cp.Root)
			}
		}
		for m := uint64(0); m <= n; m++ {
			var p consistencyJSON
			ts.get("/v1/proofs/consistency?from="+strconv.FormatUint(m, 10)+"&to="+strconv.FormatUint(n, 10), "gamma").json(t, &p)
			if m > 0 {
				if err := proof.VerifyConsistency(hasher, m, n, all(p.Hashes), unhex(p.FromRoot), unhex(p.ToRoot)); err != nil {
					t.Fatalf("consistency %d→%d: %v", m, n, err)
				}
			}
		}
	}
	// A proof that must fail: a tampered leaf.
	var p inclusionJSON
	ts.get("/v1/proofs/inclusion?index=2", "gamma").json(t, &p)
	leaf := unhex(p.LeafHash)
	leaf[0] ^= 1
	if proof.VerifyInclusion(hasher, 2, p.Size, leaf, all(p.Hashes), unhex(p.Root)) == nil {
		t.Fatal("a tampered leaf verified")
	}
	ts.get("/v1/proofs/inclusion?index=5&size=3", "gamma").problem(t, 400, "invalid")
	ts.get("/v1/proofs/inclusion?index=1&size=999", "gamma").problem(t, 400, "invalid")
	ts.get("/v1/proofs/consistency?from=5&to=3", "gamma").problem(t, 400, "invalid")
}

func TestEvents_StreamAndResume(t *testing.T) {
	ts := newTestServer(t)
	read := func(header ...string) (*bufio.Reader, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.ts.URL+"/v1/events?from=2", nil)
		req.Header.Set("Authorization", "Bearer "+secret("gamma"))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := ts.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return bufio.NewReader(resp.Body), func() { cancel(); resp.Body.Close() }
	}
	next := func(r *bufio.Reader) (id uint64, e ledger.Entry) {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasPrefix(line, "id: "):
				id, _ = strconv.ParseUint(strings.TrimSpace(line[4:]), 10, 64)
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(line[6:]), &e); err != nil {
					t.Fatal(err)
				}
			case line == "\n" && e.Hash != (ledger.Hash{}):
				return id, e
			}
		}
	}
	r, stop := read()
	for want := uint64(2); want < 5; want++ {
		if id, e := next(r); id != want || e.Seq != want {
			t.Fatalf("event id %d seq %d, want %d", id, e.Seq, want)
		}
	}
	// A new entry arrives on the open stream.
	size := ts.w.l.AppliedIndex() + 1 // journal size: genesis + one entry per index
	ts.w.accept("beta", "token.register", "tok-ev", ledger.TokenRegister{Hash: ledger.HashToken("ev"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	for {
		id, e := next(r)
		if id == size {
			if e.Outcome.ID != "tok-ev" {
				t.Fatalf("new entry %+v", e.Outcome)
			}
			break
		}
	}
	stop()
	// Resume after seq 7: Last-Event-ID wins over from.
	r, stop = read("Last-Event-ID", "7")
	defer stop()
	if id, _ := next(r); id != 8 {
		t.Fatalf("resumed at %d, want 8", id)
	}
}

func TestReadyz(t *testing.T) {
	w := newWorld(t, nil)
	w.seed()
	c := w.leaderFake("alpha")
	st := consensus.Status{State: "follower"}
	c.IsLeaderFn = func() bool { return false }
	c.StatusFn = func() consensus.Status { return st }
	now := t0
	start := func(cfg ServerConfig) *testServer {
		s, err := NewServer(cfg, c, Deps{Clock: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(s.Handler())
		t.Cleanup(hs.Close)
		return &testServer{t: t, s: s, ts: hs, c: c, w: w}
	}
	cfg := testConfig(t)
	ts := start(cfg)
	ts.get("/readyz", "").problem(t, 503, "unavailable") // no leader
	// Within the allowed lag (the default, 8), behind a new leader's no-op
	// (commit index past the last proposal), a node is ready.
	applied := w.l.AppliedIndex()
	st = consensus.Status{State: "follower", Leader: "beta", CommitIndex: applied + 10, CommandIndex: applied + 8, AppliedIndex: applied}
	if r := ts.get("/readyz", ""); r.status != 200 {
		t.Fatalf("readyz 8 behind: %d %s", r.status, r.body)
	}
	// 14 behind: ready while it catches up, not once a proposal it saw
	// committed has waited over a second.
	st.CommandIndex = applied + 14
	if r := ts.get("/readyz", ""); r.status != 200 {
		t.Fatalf("readyz as it falls 14 behind: %d %s", r.status, r.body)
	}
	now = now.Add(1500 * time.Millisecond)
	if p := ts.get("/readyz", "").problem(t, 503, "unavailable"); !strings.Contains(p["detail"].(string), "committed 1.5s ago") {
		t.Fatalf("readyz 14 behind for 1.5 s: %v", p)
	}
	// Applying keeps it ready, however far behind a steady load keeps it.
	st.AppliedIndex, st.CommandIndex = applied+14, applied+40
	if r := ts.get("/readyz", ""); r.status != 200 {
		t.Fatalf("readyz applying under load: %d %s", r.status, r.body)
	}
	now = now.Add(500 * time.Millisecond)
	st.AppliedIndex, st.CommandIndex = applied+40, applied+70
	if r := ts.get("/readyz", ""); r.status != 200 {
		t.Fatalf("readyz applying under load: %d %s", r.status, r.body)
	}
	// Losing touch with the leader makes it unready at once.
	st.AppliedIndex, st.CommandIndex, st.LastContact = applied+70, applied+70, cfg.LeaderLease+time.Second
	if p := ts.get("/readyz", "").problem(t, 503, "unavailable"); !strings.Contains(p["detail"].(string), "no contact with the leader") {
		t.Fatalf("readyz without leader contact: %v", p)
	}
	if r := ts.get("/healthz", ""); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
}

func TestMetrics_LatencyByRoute(t *testing.T) {
	ts := newTestServer(t)
	ts.get("/v1/grants/g-ab", "beta")
	ts.get("/v1/grants/g-ab", "gamma")
	r := ts.get("/metrics", "")
	body := string(r.body)
	for _, want := range []string{
		`charta_http_request_duration_seconds_count{code="200",method="GET",route="/v1/grants/{id}"} 1`,
		`charta_http_request_duration_seconds_count{code="404",method="GET",route="/v1/grants/{id}"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestCluster_JoinForwardedAndRefused(t *testing.T) {
	leader, follower, _ := leaderAndFollower(t)
	var joined atomic.Value
	leader.c.JoinFn = func(ctx context.Context, id, addr string) error {
		if id != "gamma" {
			return errors.Join(ErrNotMember, errors.New("no such member"))
		}
		joined.Store(id + "@" + addr)
		return nil
	}
	admin := adminToken(t, leader.w, "gamma")
	if r := follower.do(http.MethodPost, "/v1/cluster/join", "", []byte(`{"id":"gamma","raft_addr":"127.0.0.1:7004"}`), "Authorization", "Bearer "+admin); r.status != 200 {
		t.Fatalf("join via follower: %d %s", r.status, r.body)
	}
	if joined.Load() != "gamma@127.0.0.1:7004" {
		t.Fatalf("leader saw join %v", joined.Load())
	}
	follower.do(http.MethodPost, "/v1/cluster/join", "", []byte(`{"id":"zed","raft_addr":"127.0.0.1:7009"}`), "Authorization", "Bearer "+admin).problem(t, 403, "forbidden")
	follower.do(http.MethodPost, "/v1/cluster/join", "", []byte(`{"id":"gamma","raft_addr":"nope"}`), "Authorization", "Bearer "+admin).problem(t, 400, "invalid")
}

// adminToken registers a token with the admin scope for member and
// returns its secret.
func adminToken(t *testing.T, w *world, member string) string {
	t.Helper()
	tok := "admin-token-of-" + member + "-0123456789"
	w.accept(member, "token.register", "tok-admin-"+member, ledger.TokenRegister{
		Hash: ledger.HashToken(tok), Scopes: []string{"read", "admin"}, ExpiresAt: t0.Add(48 * time.Hour)})
	return tok
}

// TestCluster_JoinNeedsAuthorityAndTheRecordedAddress: a read token cannot
// move its member's node, and no token can point Raft at an address the
// ledger does not record for the node.
func TestCluster_JoinNeedsAuthorityAndTheRecordedAddress(t *testing.T) {
	ts := newTestServer(t)
	var joins atomic.Int32
	ts.c.JoinFn = func(ctx context.Context, id, addr string) error { joins.Add(1); return nil }
	p := ts.do(http.MethodPost, "/v1/cluster/join", "gamma", []byte(`{"id":"gamma","raft_addr":"10.9.9.9:7000"}`)).problem(t, 403, "forbidden")
	if !strings.Contains(p["detail"].(string), "admin scope") {
		t.Errorf("read token: %v", p)
	}
	admin := adminToken(t, ts.w, "gamma")
	p = ts.do(http.MethodPost, "/v1/cluster/join", "", []byte(`{"id":"gamma","raft_addr":"10.9.9.9:7000"}`), "Authorization", "Bearer "+admin).problem(t, 403, "forbidden")
	if !strings.Contains(p["detail"].(string), "recorded at 127.0.0.1:7004") {
		t.Errorf("bogus address: %v", p)
	}
	if joins.Load() != 0 {
		t.Fatalf("%d refused joins reached Raft", joins.Load())
	}
	if r := ts.do(http.MethodPost, "/v1/cluster/join", "", []byte(`{"id":"gamma","raft_addr":"127.0.0.1:7004"}`), "Authorization", "Bearer "+admin); r.status != 200 || joins.Load() != 1 {
		t.Fatalf("join at the recorded address: %d %s", r.status, r.body)
	}
	if r := ts.do(http.MethodPost, "/v1/cluster/join", "operator", []byte(`{"id":"alpha","raft_addr":"127.0.0.1:7001"}`)); r.status != 200 {
		t.Fatalf("the operator placing its own node: %d %s", r.status, r.body)
	}
}

func TestCheck_Batch(t *testing.T) {
	ts := newTestServer(t)
	var out api.CheckBatchResponse
	ts.do(http.MethodPost, "/v1/check", "beta", []byte(`{"requests":[{"asset":"model-a","action":"train"},{"asset":"model-a","action":"use","at":"2026-01-05T10:00:00Z"}]}`)).json(t, &out)
	if len(out.Decisions) != 2 {
		t.Fatalf("decisions %+v", out)
	}
	ts.do(http.MethodPost, "/v1/check", "beta", []byte(`{"requests":[{"asset":"model-a","action":"fly"}]}`)).problem(t, 400, "invalid")
	ts.do(http.MethodPost, "/v1/check", "beta", []byte(`{"requests":[],"x":1}`)).problem(t, 400, "invalid")
	ts.get("/v1/check?asset=model-a&action=train&at=yesterday", "beta").problem(t, 400, "invalid")
}

// TestVisibility_JournalWithholdsOthersEntries: gamma sees the journal's
// shape but not the alpha→beta offer's envelope or outcome details; the
// parties and the auditor see it whole.
func TestVisibility_JournalWithholdsOthersEntries(t *testing.T) {
	ts := newTestServer(t)
	var list struct {
		Items []ledger.Entry `json:"items"`
	}
	ts.get("/v1/journal?limit=1000", "audit").json(t, &list)
	seq := -1
	for _, e := range list.Items {
		if e.Outcome.Type == "grant.offer" && e.Outcome.Signer == "alpha" {
			var env struct{ Payload []byte }
			json.Unmarshal(e.Envelope, &env)
			if strings.Contains(string(env.Payload), `"g-ab"`) {
				seq = int(e.Seq)
			}
		}
	}
	if seq < 0 {
		t.Fatal("no offer of g-ab in the journal")
	}
	path := "/v1/journal/" + strconv.Itoa(seq)
	var e ledger.Entry
	ts.get(path, "gamma").json(t, &e)
	if len(e.Envelope) != 0 || e.Outcome.ID != "" || len(e.Outcome.Events) != 0 || e.Outcome.Type != "grant.offer" || e.Hash.String() == "" {
		t.Fatalf("gamma sees the alpha→beta offer: %+v", e)
	}
	for _, who := range []string{"alpha", "beta", "audit", "operator"} {
		var whole ledger.Entry
		ts.get(path, who).json(t, &whole)
		if len(whole.Envelope) == 0 || whole.VerifyHash() != nil {
			t.Errorf("%s does not see the whole entry", who)
		}
	}
	// gamma's own entries and public ones stay whole.
	ts.get("/v1/journal?limit=1000", "gamma").json(t, &list)
	whole := 0
	for _, e := range list.Items {
		if len(e.Envelope) > 0 {
			whole++
		}
	}
	if whole == 0 || whole == len(list.Items) {
		t.Fatalf("gamma sees %d of %d entries whole", whole, len(list.Items))
	}
}

// TestProposals_PrecheckCatchesUpBeforeRefusing is a regression test: a
// node whose state lagged the leader's refused, with 401, a proposal
// signed by a key whose rotation had already been acknowledged through
// another node (found by the chaos suite's W3). Precheck now catches up
// with the leader's commit index before it refuses for a key or member.
func TestProposals_PrecheckCatchesUpBeforeRefusing(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	old, next := ledgertest.Signer("alpha", scheme), ledger.NewSigner("alpha", ledgertest.Key("alpha-next", scheme))
	rotate := ledgertest.Propose(w.g.ID(), "alpha", "key.rotate", "rotate-1", w.now,
		ledger.KeyRotate{Old: old.KeyID, New: next.Key.Public()}, old, next).Encode()
	withNew := ledgertest.Propose(w.g.ID(), "alpha", "token.register", "tok-next", w.now,
		ledger.TokenRegister{Hash: ledger.HashToken("next"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)}, next).Encode()

	// The rotation is committed (the read index is past it) but not yet
	// applied here: the proposal must wait for it, then be accepted.
	target := w.l.AppliedIndex() + 1
	ts.c.ReadIndexFn = func(context.Context) (uint64, error) { return target, nil }
	var waiting atomic.Bool
	wait := ts.c.WaitAppliedFn
	ts.c.WaitAppliedFn = func(ctx context.Context, index uint64) error { waiting.Store(true); return wait(ctx, index) }
	done := make(chan response)
	go func() { done <- ts.do(http.MethodPost, "/v1/proposals", "", withNew) }()
	for !waiting.Load() {
		select {
		case r := <-done:
			t.Fatalf("answered %d without catching up: %s", r.status, r.body)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if r := w.apply(rotate); r.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("rotation: %s: %s", r.Outcome.Code, r.Outcome.Message)
	}
	if r := <-done; r.status != 200 {
		t.Fatalf("a proposal signed by the new key: status %d, want 200: %s", r.status, r.body)
	}

	// Caught up, a retired or unknown key is still refused.
	ts.c.ReadIndexFn = func(context.Context) (uint64, error) { return w.l.AppliedIndex(), nil }
	stale := ledgertest.Propose(w.g.ID(), "alpha", "token.register", "tok-old", w.now,
		ledger.TokenRegister{Hash: ledger.HashToken("old"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)}, old).Encode()
	ts.do(http.MethodPost, "/v1/proposals", "", stale).problem(t, 401, "unauthorized")

	// But a resubmission of the rotation, which retired the key that
	// signed it, gets the original result.
	r := ts.do(http.MethodPost, "/v1/proposals", "", rotate)
	var res api.ProposalResponse
	if r.status != 200 || json.Unmarshal(r.body, &res) != nil || !res.Duplicate || res.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("resubmitted rotation: status %d: %s", r.status, r.body)
	}
}

// TestProposals_ResubmissionAnsweredWithoutCommitting: an exact
// resubmission of a committed proposal, even with its signatures replaced
// by garbage, is answered with the original result from the node's state,
// without a new log entry and without any effect.
func TestProposals_ResubmissionAnsweredWithoutCommitting(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	env := ledgertest.Propose(w.g.ID(), "alpha", "token.register", "tok-once", w.now,
		ledger.TokenRegister{Hash: ledger.HashToken("once"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)}, ledgertest.Signer("alpha", scheme))
	orig := w.apply(env.Encode())
	if orig.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("original: %+v", orig.Outcome)
	}
	proposed := 0
	ts.c.ProposeFn = func(context.Context, []byte) (*ledger.Result, error) {
		proposed++
		return nil, errors.New("must not be proposed")
	}
	head := w.l.AppliedIndex()
	env.Signatures[0].Sig = bytes.Repeat([]byte{0x5a}, len(env.Signatures[0].Sig))
	r := ts.do(http.MethodPost, "/v1/proposals", "", env.Encode())
	var res api.ProposalResponse
	if r.status != 200 || json.Unmarshal(r.body, &res) != nil {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if !res.Duplicate || res.Index != orig.Index || res.EntryHash != orig.EntryHash || proposed != 0 || w.l.AppliedIndex() != head {
		t.Fatalf("resubmission: %+v (original %+v), proposed %d times, applied %d -> %d", res, orig, proposed, head, w.l.AppliedIndex())
	}
	// Another body under the same ID is still refused by its signature.
	other := ledgertest.Propose(w.g.ID(), "alpha", "token.register", "tok-once", w.now,
		ledger.TokenRegister{Hash: ledger.HashToken("twice"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)}, ledgertest.Signer("alpha", scheme))
	other.Signatures[0].Sig = bytes.Repeat([]byte{0x5a}, len(other.Signatures[0].Sig))
	ts.do(http.MethodPost, "/v1/proposals", "", other.Encode()).problem(t, 401, "unauthorized")
}

// A principal is cached only while the applied index stands still: a
// token that authenticated a moment ago is refused once its revocation is
// applied.
func TestAuth_CachedPrincipalFollowsTheLedger(t *testing.T) {
	ts := newTestServer(t)
	for range 2 {
		if r := ts.get("/v1/members", "beta"); r.status != 200 {
			t.Fatalf("beta: %d %s", r.status, r.body)
		}
	}
	ts.w.accept("beta", "token.revoke", "rev-beta", ledger.TokenRevoke{Hash: ledger.HashToken(secret("beta"))})
	p := ts.get("/v1/members", "beta").problem(t, 401, "unauthorized")
	if !strings.Contains(p["detail"].(string), "not registered") {
		t.Errorf("revoked token: %v", p)
	}
}

// The consistency parameters are read however they are spelled: escaped
// names are still seen (the fast path skips parsing only a query with no
// escape in it), and what url.ParseQuery does not take as the name is not.
func TestRead_ConsistencyParamsSpelledAnyWay(t *testing.T) {
	ts := newTestServer(t)
	for _, q := range []string{"consistency=bogus", "consisten%63y=bogus", "min_index=x", "min%5Findex=x", "a=%41&min_index=-1"} {
		ts.get("/v1/members?"+q, "alpha").problem(t, 400, "invalid")
	}
	for _, q := range []string{"", "a=1", "consistency+=bogus", "xconsistency=bogus", "consistency=stale&min_index=0"} {
		if r := ts.get("/v1/members?"+q, "alpha"); r.status != 200 {
			t.Errorf("?%s: %d %s", q, r.status, r.body)
		}
	}
}
