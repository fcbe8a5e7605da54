package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// TestStatusAll_TokenStaysWithTheServer: `charta status --all` sends the
// token to the --server node only; the other members' nodes are asked for
// their public health, and never see it.
func TestStatusAll_TokenStaysWithTheServer(t *testing.T) {
	var leaked atomic.Int32
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		if r.URL.Path != "/healthz" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(api.Health{Status: "ok", Role: "follower", AppliedIndex: 41})
	}))
	defer peer.Close()
	self := httptest.NewUnstartedServer(nil)
	selfURL := "http://" + self.Listener.Addr().String()
	self.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret-token" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/status":
			json.NewEncoder(w).Encode(api.Status{ID: "alpha", Role: "leader", AppliedIndex: 42, Voters: []string{"alpha", "beta"}})
		case "/v1/members":
			json.NewEncoder(w).Encode(api.List[ledger.Member]{Items: []ledger.Member{
				{ID: "alpha", Status: ledger.MemberActive, Node: ledger.NodeInfo{APIAddr: selfURL}},
				{ID: "beta", Status: ledger.MemberActive, Node: ledger.NodeInfo{APIAddr: peer.URL}},
			}})
		default:
			http.Error(w, "not found", http.StatusNotFound)
		}
	})
	self.Start()
	defer self.Close()
	c := &cli{t: t, bin: chartaBin(t), env: []string{"CHARTA_SERVER=" + self.URL, "CHARTA_TOKEN=secret-token"}}
	out := c.ok("status", "--all")
	if !strings.Contains(out, "alpha  leader    42") || !strings.Contains(out, "beta   follower  41") {
		t.Fatalf("status --all:\n%s", out)
	}
	if leaked.Load() != 0 {
		t.Fatalf("another member's node saw the token %d times", leaked.Load())
	}
}
