package node

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// TestAdmission_APIAgreesWithLedger sends the same envelopes to the API
// and, directly, to the ledger of a twin world with the same state. An
// envelope the API refuses before proposing it must be one the ledger
// rejects with the same code and message; one it lets through must get the
// ledger's own outcome.
func TestAdmission_APIAgreesWithLedger(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	twin := newWorld(t, nil)
	twin.seed()
	var proposed atomic.Int32
	ts.c.ProposeFn = func(ctx context.Context, env []byte) (*ledger.Result, error) {
		proposed.Add(1)
		return w.apply(env), nil
	}

	body := ledger.TokenRegister{Hash: ledger.HashToken("n"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)}
	sign := func(member, typ, id string, at time.Time, body any, signers ...string) []byte {
		var ss []ledger.Signer
		for _, s := range signers {
			ss = append(ss, ledgertest.Signer(s, scheme))
		}
		return ledgertest.Propose(w.g.ID(), member, typ, id, at, body, ss...).Encode()
	}
	forged, _ := ledger.DecodeEnvelope(w.envelope("alpha", "token.register", "tok-forged", body))
	forged.Signatures[0].Sig[0] ^= 1
	newKey := ledgertest.Key("alpha-2", scheme)
	rotation, err := ledger.SignDeterministic(
		ledgertest.Proposal(w.g.ID(), "alpha", "key.rotate", "rot-1", w.now, ledger.KeyRotate{Old: ledgertest.KeyID("alpha", scheme), New: newKey.Public()}),
		ledgertest.Signer("alpha", scheme), ledger.NewSigner("alpha", newKey))
	if err != nil {
		t.Fatal(err)
	}
	seeded := ledger.TokenRegister{Hash: ledger.HashToken(secret("alpha")), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)}

	for _, c := range []struct {
		name string
		env  []byte
		// api is what the API does with it: refuse it, propose it, or
		// answer with the earlier result of the same proposal.
		api string
	}{
		{"accepted", w.envelope("beta", "token.register", "tok-n", body), "propose"},
		{"exact resubmission", w.envelope("alpha", "token.register", "tok-alpha", seeded), "earlier"},
		{"ID reused for another payload", w.envelope("alpha", "token.register", "tok-alpha", body), "refuse"},
		{"bad signature", forged.Encode(), "refuse"},
		{"other consortium", ledgertest.Propose(ledgertest.Consortium, "alpha", "token.register", "x", w.now, body, ledgertest.Signer("alpha", scheme)).Encode(), "refuse"},
		{"unknown type", sign("alpha", "grant.steal", "x", w.now, body, "alpha"), "refuse"},
		{"not signed by its signer", sign("alpha", "token.register", "x", w.now, body, "beta"), "refuse"},
		{"unknown key", sign("zed", "token.register", "x", w.now, body, "zed"), "refuse"},
		{"auditor proposing a member's type", w.envelope("audit", "asset.register", "reg-x", ledger.AssetRegister{ID: "x", Kind: ledger.AssetModel,
			Digest: digestA, Owners: []ledger.Owner{{Member: "audit", ShareBP: 10000}}}), "refuse"},
		{"issued_at outside the window", sign("gamma", "token.register", "old", w.now.Add(-48*time.Hour), body, "gamma"), "propose"},
		{"rotation signed by the new key", rotation.Encode(), "propose"},
		{"not JSON", []byte("hello"), "refuse"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := proposed.Load()
			r := ts.do(http.MethodPost, "/v1/proposals", "", c.env)
			want := twin.apply(c.env)
			if got := proposed.Load() != before; got != (c.api == "propose") {
				t.Fatalf("proposed: %v, want %v (status %d: %s)", got, !got, r.status, r.body)
			}
			var got struct {
				Code      string          `json:"code"`
				Detail    string          `json:"detail"`
				Outcome   *ledger.Outcome `json:"outcome"`
				Duplicate bool            `json:"duplicate"`
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if c.api == "refuse" {
				if want.Outcome.Status != ledger.StatusRejected || got.Code != string(want.Outcome.Code) || got.Detail != want.Outcome.Message {
					t.Fatalf("API refused with %s %q; the ledger answers %+v", got.Code, got.Detail, want.Outcome)
				}
				return
			}
			if got.Outcome == nil || got.Outcome.Status != want.Outcome.Status || got.Outcome.Code != want.Outcome.Code ||
				got.Outcome.Message != want.Outcome.Message || got.Duplicate != want.Duplicate {
				t.Fatalf("API answered %d %s; the ledger answers %+v (duplicate %v)", r.status, r.body, want.Outcome, want.Duplicate)
			}
		})
	}
}

// TestProposals_RateLimitedPerSigner: junk from an address does not hold up
// a signed proposal sent from the same address; the signer's own proposals
// are limited per signer.
func TestProposals_RateLimitedPerSigner(t *testing.T) {
	w := newWorld(t, nil)
	w.seed()
	cfg := testConfig(t)
	cfg.RateLimit, cfg.RateBurst = 0.01, 2
	c := w.leaderFake("alpha")
	c.ProposeFn = func(ctx context.Context, env []byte) (*ledger.Result, error) { return w.apply(env), nil }
	ts := startServer(t, w, c, cfg)
	codes := map[int]int{}
	for range 10 {
		codes[ts.do(http.MethodPost, "/v1/proposals", "", []byte(`{"payloadType":"x","payload":"eA==","signatures":[]}`)).status]++
	}
	if codes[400] != 2 || codes[429] != 8 {
		t.Fatalf("junk from one address: %v, want 2 refused as invalid and the rest rate-limited", codes)
	}
	body := func(id string) ledger.TokenRegister {
		return ledger.TokenRegister{Hash: ledger.HashToken(id), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)}
	}
	for i, want := range []int{200, 200, 429} {
		id := "tok-rl-" + strconv.Itoa(i)
		if r := ts.do(http.MethodPost, "/v1/proposals", "", w.envelope("beta", "token.register", id, body(id))); r.status != want {
			t.Fatalf("beta's proposal %d from the junk's address: %d, want %d: %s", i, r.status, want, r.body)
		}
	}
	if r := ts.do(http.MethodPost, "/v1/proposals", "", w.envelope("gamma", "token.register", "tok-rl-g", body("g"))); r.status != 200 {
		t.Fatalf("gamma's proposal after beta's limit: %d %s", r.status, r.body)
	}
}

// TestProposals_ReplaysAndForgeriesCostTheirSender: resending a member's
// committed envelope, or forging ones that name its key, is charged to the
// sender's address, and cannot use up the member's own limit.
func TestProposals_ReplaysAndForgeriesCostTheirSender(t *testing.T) {
	w := newWorld(t, nil)
	w.seed()
	cfg := testConfig(t)
	cfg.RateLimit, cfg.RateBurst = 0.01, 2
	c := w.leaderFake("alpha")
	var proposed atomic.Int32
	c.ProposeFn = func(ctx context.Context, env []byte) (*ledger.Result, error) {
		proposed.Add(1)
		return w.apply(env), nil
	}
	s, err := NewServer(cfg, c, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	post := func(from string, env []byte) int {
		req := httptest.NewRequest(http.MethodPost, "/v1/proposals", bytes.NewReader(env))
		req.RemoteAddr = from + ":4000"
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	body := func(id string) ledger.TokenRegister {
		return ledger.TokenRegister{Hash: ledger.HashToken(id), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)}
	}
	env1 := w.envelope("beta", "token.register", "tok-r1", body("r1"))
	if code := post("10.0.0.2", env1); code != 200 {
		t.Fatalf("beta's proposal: %d", code)
	}
	codes := map[int]int{}
	for range 6 {
		codes[post("10.0.0.9", env1)]++
	}
	if codes[200] != 2 || codes[429] != 4 {
		t.Fatalf("replays from another address: %v, want 2 answered and 4 rate-limited", codes)
	}
	forged, _ := ledger.DecodeEnvelope(w.envelope("beta", "token.register", "tok-f", body("f")))
	forged.Signatures[0].Sig[0] ^= 1
	for range 2 { // junk uses up 10.0.0.8's own budget first
		post("10.0.0.8", []byte(`{"payloadType":"x","payload":"eA==","signatures":[]}`))
	}
	codes = map[int]int{}
	for range 20 {
		codes[post("10.0.0.8", forged.Encode())]++
	}
	if codes[401] != 2 || codes[429] != 18 {
		t.Fatalf("forgeries naming beta's key from an exhausted address: %v, want 2 verified and 18 rate-limited", codes)
	}
	if code := post("10.0.0.2", w.envelope("beta", "token.register", "tok-r2", body("r2"))); code != 200 {
		t.Fatalf("beta's next proposal from its own address: %d", code)
	}
	if proposed.Load() != 2 {
		t.Fatalf("%d proposals reached Raft, want beta's 2", proposed.Load())
	}
}
