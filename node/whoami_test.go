package node

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// TestWhoami_NamesTheTokensMember answers a member's token with its member,
// role, scopes and expiry, the operator's with operator, and refuses what
// does not authenticate with the usual 401.
func TestWhoami_NamesTheTokensMember(t *testing.T) {
	ts := newTestServer(t)
	decode := func(r response) api.Whoami {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var w api.Whoami
		if err := json.Unmarshal(r.body, &w); err != nil {
			t.Fatal(err)
		}
		return w
	}
	w := decode(ts.get("/v1/whoami", "beta"))
	if w.Member != "beta" || w.Role != ledger.RoleMember || w.Operator || len(w.Scopes) != 1 || w.Scopes[0] != "read" ||
		w.ExpiresAt == nil || !w.ExpiresAt.Equal(t0.Add(48*time.Hour)) {
		t.Errorf("beta: %+v", w)
	}
	if a := decode(ts.get("/v1/whoami", "audit")); a.Member != "audit" || a.Role != ledger.RoleAuditor {
		t.Errorf("audit: %+v", a)
	}
	if op := decode(ts.get("/v1/whoami", "operator")); !op.Operator || op.Member != "" || op.ExpiresAt != nil || op.Scopes == nil {
		t.Errorf("operator: %+v", op)
	}
	ts.get("/v1/whoami", "").problem(t, 401, "unauthorized")
	ts.do("GET", "/v1/whoami", "", nil, "Authorization", "Bearer not-a-registered-token-000000").problem(t, 401, "unauthorized")
}

// TestWhoami_AnyScope lets a token without the read scope ask who it is,
// which it may not do on any read route.
func TestWhoami_AnyScope(t *testing.T) {
	ts := newTestServer(t)
	const tok = "write-only-token-of-gamma-0123456789"
	ts.w.accept("gamma", "token.register", "tok-gamma-w", ledger.TokenRegister{
		Hash: ledger.HashToken(tok), Scopes: []string{"write"}, ExpiresAt: t0.Add(time.Hour)})
	r := ts.do("GET", "/v1/whoami", "", nil, "Authorization", "Bearer "+tok)
	var w api.Whoami
	if r.status != 200 || json.Unmarshal(r.body, &w) != nil || w.Member != "gamma" || len(w.Scopes) != 1 || w.Scopes[0] != "write" {
		t.Fatalf("write-only token: %d %s", r.status, r.body)
	}
	ts.do("GET", "/v1/members", "", nil, "Authorization", "Bearer "+tok).problem(t, 403, "forbidden")
}

// TestWhoami_MinIndexAuthenticatesAfterTheWait: asked with min_index, a
// node that is behind waits for the index and authenticates the token
// then, so that a revocation at that index is honoured (401), not the
// state the request arrived at.
func TestWhoami_MinIndexAuthenticatesAfterTheWait(t *testing.T) {
	ts := newTestServer(t)
	const tok = "gamma-token-revoked-at-the-floor-0123"
	ts.w.accept("gamma", "token.register", "tok-gamma-r", ledger.TokenRegister{
		Hash: ledger.HashToken(tok), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	target := ts.w.l.AppliedIndex() + 1
	var waiting atomic.Bool
	wait := ts.c.WaitAppliedFn
	ts.c.WaitAppliedFn = func(ctx context.Context, index uint64) error { waiting.Store(true); return wait(ctx, index) }
	done := make(chan response)
	go func() {
		done <- ts.do("GET", "/v1/whoami?consistency=stale&min_index="+strconv.FormatUint(target, 10), "", nil, "Authorization", "Bearer "+tok)
	}()
	waitFor(t, waiting.Load)
	ts.w.accept("gamma", "token.revoke", "tok-gamma-rv", ledger.TokenRevoke{Hash: ledger.HashToken(tok)})
	(<-done).problem(t, 401, "unauthorized")
	// Without a floor, the state as it is.
	if r := ts.get("/v1/whoami?min_index="+strconv.FormatUint(target, 10), "beta"); r.status != 200 {
		t.Fatalf("beta at the floor: %d %s", r.status, r.body)
	}
}
