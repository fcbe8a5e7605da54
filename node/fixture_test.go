package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/node/api"
)

// scheme is the test keys' scheme: ed25519 keeps tests fast.
const scheme = ledger.SchemeEd25519

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// world is a real ledger in a temporary directory, fed signed proposals the
// way a leader would: each gets the next log index and the world's clock
// as stamp.
type world struct {
	t   testing.TB
	g   *ledger.Genesis
	l   *ledger.Ledger
	now time.Time

	mu        sync.Mutex
	index     uint64
	observers []consensus.ApplyObserver // what the fakes' ObserveApply set
}

// newWorld builds a genesis for alpha, beta, gamma (members) and audit
// (auditor). apiAddrs overrides members' API addresses.
func newWorld(t testing.TB, apiAddrs map[string]string) *world {
	t.Helper()
	return newWorldCharter(t, apiAddrs, ledgertest.StampedCharter())
}

// newWorldCharter is newWorld under charter c.
func newWorldCharter(t testing.TB, apiAddrs map[string]string, c ledger.Charter) *world {
	t.Helper()
	return newWorldWith(t, apiAddrs, c, nil)
}

// newWorldWith is newWorldCharter with each genesis member passed to edit
// (when not nil) before the founders sign.
func newWorldWith(t testing.TB, apiAddrs map[string]string, c ledger.Charter, edit func(*ledger.GenesisMember)) *world {
	t.Helper()
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: "Test consortium", CreatedAt: t0, Charter: c}
	for i, m := range []string{"alpha", "audit", "beta", "gamma"} {
		role := ledger.RoleMember
		if m == "audit" {
			role = ledger.RoleAuditor
		}
		api := apiAddrs[m]
		if api == "" {
			api = "127.0.0.1:" + strconv.Itoa(8081+i)
		}
		g.Members = append(g.Members, ledger.GenesisMember{
			ID: m, Role: role, Keys: []ledger.PublicKey{ledgertest.Key(m, scheme).Public()},
			Node: ledger.NodeInfo{RaftAddr: "127.0.0.1:" + strconv.Itoa(7001+i), APIAddr: api},
		})
	}
	for i := range g.Members {
		if edit != nil {
			edit(&g.Members[i])
		}
	}
	for _, m := range g.Members {
		if err := g.Sign(ledgertest.Signer(m.ID, scheme)); err != nil {
			t.Fatal(err)
		}
	}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &world{t: t, g: g, l: l, now: t0.Add(time.Minute)}
}

// envelope signs a proposal by member, co-signed by cosigners.
func (w *world) envelope(member, typ, id string, body any, cosigners ...string) []byte {
	signers := []ledger.Signer{ledgertest.Signer(member, scheme)}
	for _, c := range cosigners {
		signers = append(signers, ledgertest.Signer(c, scheme))
	}
	return ledgertest.Propose(w.g.ID(), member, typ, id, w.now, body, signers...).Encode()
}

// apply commits an envelope as the next log entry.
func (w *world) apply(env []byte) *ledger.Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.index++
	start := time.Now()
	rs := w.l.Apply([]ledger.LogEntry{{Index: w.index, Data: ledger.EncodeRecord(w.now, env)}})
	for _, obs := range w.observers {
		obs(rs, time.Since(start))
	}
	return rs[0]
}

// accept applies a proposal and fails the test unless it is accepted.
func (w *world) accept(member, typ, id string, body any, cosigners ...string) *ledger.Result {
	w.t.Helper()
	r := w.apply(w.envelope(member, typ, id, body, cosigners...))
	if r.Outcome.Status != ledger.StatusAccepted {
		w.t.Fatalf("%s %s by %s: %s: %s", typ, id, member, r.Outcome.Code, r.Outcome.Message)
	}
	return r
}

// secret is member's bearer token.
func secret(member string) string { return "test-token-of-" + member + "-0123456789" }

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func grantOffer(id, licensor, licensee, asset string, rights ...ledger.Right) ledger.GrantOffer {
	return ledger.GrantOffer{ID: id, Licensors: []string{licensor}, Licensees: []string{licensee},
		Terms: ledger.Terms{Assets: []string{asset}, Rights: rights}}
}

// seed registers every member's token, three assets (model-b derives from
// model-a), an active grant alpha→beta, a cross-licence bundle between
// alpha and gamma, and an open ballot.
func (w *world) seed() {
	w.t.Helper()
	for _, m := range []string{"alpha", "audit", "beta", "gamma"} {
		w.accept(m, "token.register", "tok-"+m, ledger.TokenRegister{
			Hash: ledger.HashToken(secret(m)), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)})
	}
	asset := func(owner, id string, parents ...ledger.Parent) {
		w.accept(owner, "asset.register", "reg-"+id, ledger.AssetRegister{ID: id, Kind: ledger.AssetModel, Digest: digestA,
			Owners: []ledger.Owner{{Member: owner, ShareBP: 10000}}, Parents: parents})
	}
	asset("alpha", "model-a")
	asset("alpha", "model-b", ledger.Parent{Asset: "model-a"})
	asset("gamma", "data-g")
	w.accept("alpha", "grant.offer", "offer-ab", grantOffer("g-ab", "alpha", "beta", "model-a", ledger.RightTrain))
	w.accept("beta", "grant.accept", "accept-ab", ledger.GrantRef{Grant: "g-ab"})
	w.accept("alpha", "bundle.offer", "bundle-ag", ledger.BundleOffer{ID: "x-ag", Deadline: t0.Add(24 * time.Hour), Grants: []ledger.GrantOffer{
		grantOffer("g-ag", "alpha", "gamma", "model-a", ledger.RightEvaluate),
		grantOffer("g-ga", "gamma", "alpha", "data-g", ledger.RightTrain),
	}}, "gamma")
	w.accept("alpha", "ballot.open", "ballot-1", ledger.BallotOpenBody{ID: "admit-delta", Action: "member.admit",
		Deadline: t0.Add(7 * 24 * time.Hour), Params: json.RawMessage(`{"member":"delta","role":"member","keys":[` +
			string(mustJSON(ledgertest.Key("delta", scheme).Public())) + `],"node":{"raft_addr":"127.0.0.1:7009","api_addr":"127.0.0.1:8089"}}`)})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// leaderFake is a Consensus that leads a one-node cluster over the world:
// Propose applies directly to the ledger.
func (w *world) leaderFake(id string) *fakeConsensus {
	return &fakeConsensus{
		IDFn:     func() string { return id },
		LedgerFn: func() *ledger.Ledger { return w.l },
		ProposeFn: func(ctx context.Context, env []byte) (*ledger.Result, error) {
			return w.apply(env), nil
		},
		IsLeaderFn:  func() bool { return true },
		LeaderFn:    func() (string, string) { return id, "127.0.0.1:7001" },
		ReadIndexFn: func(context.Context) (uint64, error) { return w.l.AppliedIndex(), nil },
		WaitAppliedFn: func(ctx context.Context, index uint64) error {
			for {
				ch := w.l.Applied()
				if w.l.AppliedIndex() >= index {
					return nil
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-ch:
				}
			}
		},
		StatusFn: func() consensus.Status {
			a := w.l.AppliedIndex()
			return consensus.Status{ID: id, State: "leader", Term: 2, Leader: id, LeaderAddr: "127.0.0.1:7001", CommitIndex: a, AppliedIndex: a, LastIndex: a}
		},
		ServersFn: func() ([]api.ClusterServer, error) {
			return []api.ClusterServer{{ID: id, Address: "127.0.0.1:7001", Suffrage: "voter", Leader: true},
				{ID: "beta", Address: "127.0.0.1:7003", Suffrage: "voter"}, {ID: "gamma", Address: "127.0.0.1:7004", Suffrage: "nonvoter"}}, nil
		},
		JoinFn:               func(context.Context, string, string) error { return nil },
		TransferLeadershipFn: func() error { return nil },
		ObserveApplyFn: func(fn consensus.ApplyObserver) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.observers = append(w.observers, fn)
		},
		BackupFn: func(wr io.Writer) (int64, error) {
			s, err := w.l.Snapshot()
			if err != nil {
				return 0, err
			}
			defer s.Release()
			return s.WriteTo(wr)
		},
	}
}

// followerFake is leaderFake for a follower of leader: it does not
// propose, and knows the leader.
func (w *world) followerFake(id, leader string) *fakeConsensus {
	f := w.leaderFake(id)
	f.IsLeaderFn = func() bool { return false }
	f.LeaderFn = func() (string, string) { return leader, "127.0.0.1:7001" }
	f.ProposeFn = func(context.Context, []byte) (*ledger.Result, error) { return nil, ErrNotLeader }
	f.ReadIndexFn = func(context.Context) (uint64, error) { return 0, ErrNotLeader }
	f.StatusFn = func() consensus.Status {
		a := w.l.AppliedIndex()
		return consensus.Status{ID: id, State: "follower", Term: 2, Leader: leader, CommitIndex: a, AppliedIndex: a, LastIndex: a, LastContact: 50 * time.Millisecond}
	}
	return f
}

// testServer is a Server under httptest.
type testServer struct {
	t  testing.TB
	s  *Server
	ts *httptest.Server
	c  *fakeConsensus
	w  *world
}

// testConfig is the default configuration with a temporary data directory.
func testConfig(t testing.TB) ServerConfig {
	cfg := DefaultServerConfig()
	cfg.DataDir = t.TempDir()
	cfg.MaxWait = 2 * time.Second
	cfg.RateLimit, cfg.RateBurst = 10000, 10000
	return cfg
}

func startServer(t testing.TB, w *world, c *fakeConsensus, cfg ServerConfig) *testServer {
	t.Helper()
	s, err := NewServer(cfg, c, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &testServer{t: t, s: s, ts: ts, c: c, w: w}
}

// newTestServer is a leader over a seeded world.
func newTestServer(t testing.TB) *testServer {
	t.Helper()
	w := newWorld(t, nil)
	w.seed()
	return startServer(t, w, w.leaderFake("alpha"), testConfig(t))
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request as member (a member ID, "operator", or "" for none).
func (ts *testServer) do(method, path, as string, body []byte, header ...string) response {
	ts.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.ts.URL+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	switch as {
	case "":
	case "operator":
		tok, err := loadOperatorToken(filepath.Join(ts.s.cfg.DataDir, OperatorTokenFile))
		if err != nil {
			ts.t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	default:
		req.Header.Set("Authorization", "Bearer "+secret(as))
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.ts.Client().Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (ts *testServer) get(path, as string) response {
	ts.t.Helper()
	return ts.do(http.MethodGet, path, as, nil)
}

// problem decodes a problem document and checks its media type, status
// and code.
func (r response) problem(t testing.TB, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.body)
	}
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem does not decode: %v: %s", err, r.body)
	}
	if p["code"] != code || p["type"] != api.ProblemTypeBase+code || p["status"] != float64(status) {
		t.Fatalf("problem %v, want code %s status %d", p, code, status)
	}
	if d, _ := p["detail"].(string); d == "" {
		t.Fatalf("problem without detail: %v", p)
	}
	return p
}

// json decodes a 200 response into v.
func (r response) json(t testing.TB, v any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode: %v: %s", err, r.body)
	}
}
