package node

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// TestDashboard_ShowsNodeDownAndLastSeen: the overview's cluster view marks
// a member's node that stops answering as down, with when it last answered,
// and one never seen as not seen since this node started.
func TestDashboard_ShowsNodeDownAndLastSeen(t *testing.T) {
	beta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Write([]byte(`{"status":"ok"}`))
		}
	}))
	defer beta.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String() // nothing answers here
	ln.Close()
	w := newWorld(t, map[string]string{"beta": beta.Listener.Addr().String(), "gamma": closed, "audit": closed})
	w.seed()
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s, err := NewServer(testConfig(t), w.leaderFake("alpha"), Deps{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.watchPeers(ctx)

	waitState := func(member, want string) time.Time {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, seen := s.peerState(member)
			if st == want {
				return seen
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: state %q, want %q", member, st, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Not known until a few seconds have passed without an answer.
	if st, _ := s.peerState("gamma"); st != "" {
		t.Fatalf("gamma right after start: %q", st)
	}
	firstSeen := waitState("beta", "up")
	advance(livenessDownAfter + time.Second)
	waitState("gamma", "down")
	waitState("beta", "up") // the next probe answers at the new time
	beta.Close()
	advance(livenessDownAfter + time.Second)
	lastSeen := waitState("beta", "down")
	if !lastSeen.After(firstSeen) {
		t.Fatalf("beta last seen %v, first seen %v", lastSeen, firstSeen)
	}

	rec := httptest.NewRecorder()
	if err := s.handleDashboard(rec, httptest.NewRequest(http.MethodGet, "/", nil), &principal{member: "alpha", role: ledger.RoleMember}); err != nil {
		t.Fatal(err)
	}
	page := rec.Body.String()
	for _, want := range []string{
		"beta <span class=\"muted\">voter</span> <span class=\"bad node-down\">down, last seen " + lastSeen.UTC().Format("2006-01-02 15:04:05 UTC"),
		"gamma <span class=\"muted\">nonvoter</span> <span class=\"bad node-down\">down, not seen since this node started",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q:\n%s", want, page[strings.Index(page, "h-cluster"):][:1200])
		}
	}
	if strings.Contains(page, "alpha <span class=\"muted\">voter, leader</span> <span class=\"bad") {
		t.Error("this node is shown down")
	}
}
