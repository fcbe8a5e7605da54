package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// TestDiskSpace_ReadOnlyBelowTheReserve: below the free-space reserve a
// node refuses proposals with 507 no_space, raises the nospace alarm in
// /healthz, /v1/status and /metrics, and keeps serving reads; with space
// freed it takes proposals again.
func TestDiskSpace_ReadOnlyBelowTheReserve(t *testing.T) {
	w := newWorld(t, nil)
	w.seed()
	var free atomic.Uint64
	free.Store(100 << 20)
	now := t0
	c := w.leaderFake("alpha")
	var proposed atomic.Int32
	c.ProposeFn = func(ctx context.Context, env []byte) (*ledger.Result, error) {
		proposed.Add(1)
		return w.apply(env), nil
	}
	s, err := NewServer(testConfig(t), c, Deps{
		FreeSpace: func(string) (uint64, error) { return free.Load(), nil },
		Clock:     func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	ts := &testServer{t: t, s: s, ts: hs, c: c, w: w}
	env := w.envelope("beta", "token.register", "tok-disk", ledger.TokenRegister{Hash: ledger.HashToken("disk"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	p := ts.do(http.MethodPost, "/v1/proposals", "", env).problem(t, 507, "no_space")
	if !strings.Contains(p["detail"].(string), "100 MiB free") || proposed.Load() != 0 {
		t.Fatalf("proposal below the reserve: %v (proposed %d)", p, proposed.Load())
	}
	if r := ts.get("/v1/grants/g-ab", "beta"); r.status != 200 {
		t.Fatalf("a read below the reserve: %d %s", r.status, r.body)
	}
	var st struct{ Alarms []string }
	ts.get("/v1/status", "beta").json(t, &st)
	var h struct{ Alarms []string }
	ts.get("/healthz", "").json(t, &h)
	metrics := string(ts.get("/metrics", "").body)
	if len(st.Alarms) != 1 || st.Alarms[0] != "nospace" || len(h.Alarms) != 1 ||
		!strings.Contains(metrics, "charta_alarm_nospace 1") || !strings.Contains(metrics, "charta_disk_free_bytes 1.048576e+08") {
		t.Fatalf("alarm: status %v, healthz %v, metrics:\n%s", st.Alarms, h.Alarms, metrics)
	}
	free.Store(1 << 30)
	now = now.Add(2 * time.Second) // the guard reads the disk at most once a second
	if r := ts.do(http.MethodPost, "/v1/proposals", "", env); r.status != 200 || proposed.Load() != 1 {
		t.Fatalf("proposal with space freed: %d %s", r.status, r.body)
	}
	var after struct{ Alarms []string }
	ts.get("/v1/status", "beta").json(t, &after)
	if len(after.Alarms) != 0 || !strings.Contains(string(ts.get("/metrics", "").body), "charta_alarm_nospace 0") {
		t.Fatalf("alarm still raised: %v", after.Alarms)
	}
}

// TestDiskSpace_LeaderHandsOver: a leader whose disk is below the reserve
// hands leadership over, so that its refusals do not stop every member's
// writes.
func TestDiskSpace_LeaderHandsOver(t *testing.T) {
	w := newWorld(t, nil)
	w.seed()
	c := w.leaderFake("alpha")
	transferred := make(chan struct{}, 4)
	c.TransferLeadershipFn = func() error { transferred <- struct{}{}; return nil }
	s, err := NewServer(testConfig(t), c, Deps{FreeSpace: func(string) (uint64, error) { return 1 << 20, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.watchDisk(ctx)
	select {
	case <-transferred:
	case <-time.After(10 * time.Second):
		t.Fatal("a leader short of disk space kept its leadership")
	}
}
