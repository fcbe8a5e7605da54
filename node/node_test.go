package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/node/api"
)

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestNode_SingleFounderServesWrites runs a whole node (Raft over mTLS,
// the ledger, the API) as the sole founder, commits a proposal through
// the API and shuts down.
func TestNode_SingleFounderServesWrites(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey, err := consensus.NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := consensus.IssueNodeCert(caCert, caKey, "alpha", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raftAddr := freeAddr(t)
	now := time.Now().UTC().Truncate(time.Second)
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: "Solo", CreatedAt: now.Add(-time.Minute), Charter: ledgertest.StampedCharter(),
		Members: []ledger.GenesisMember{{ID: "alpha", Role: ledger.RoleMember, Keys: []ledger.PublicKey{ledgertest.Key("alpha", scheme).Public()},
			Node: ledger.NodeInfo{RaftAddr: raftAddr, APIAddr: "127.0.0.1:1"}}}}
	if err := g.Sign(ledgertest.Signer("alpha", scheme)); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ID, cfg.DataDir, cfg.HTTPAddr, cfg.RaftAddr = "alpha", filepath.Join(dir, "data"), "127.0.0.1:0", raftAddr
	cfg.GenesisFile = write("genesis.json", g.Encode())
	cfg.TLS = consensus.TLSFiles{CAFile: write("ca.pem", caCert), CertFile: write("node.pem", cert), KeyFile: write("node.key", key)}
	cfg.Bootstrap, cfg.NoSync = true, true
	n, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	base := "http://" + n.APIAddr()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not ready within 15s (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	env := ledgertest.Propose(g.ID(), "alpha", "token.register", "tok-1", time.Now().UTC(),
		ledger.TokenRegister{Hash: ledger.HashToken(secret("alpha")), Scopes: []string{"read"}, ExpiresAt: now.Add(time.Hour)},
		ledgertest.Signer("alpha", scheme)).Encode()
	resp, err := http.Post(base+"/v1/proposals", "application/json", bytes.NewReader(env))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var res api.ProposalResponse
	if resp.StatusCode != 200 || json.Unmarshal(body, &res) != nil || res.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("proposal: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/status?min_index="+fmt.Sprint(res.Index), nil)
	req.Header.Set("Authorization", "Bearer "+secret("alpha"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var st api.Status
	if resp.StatusCode != 200 || json.Unmarshal(body, &st) != nil || st.Role != "leader" || st.AppliedIndex < res.Index || len(st.Voters) != 1 {
		t.Fatalf("status: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestMapConsensusErr(t *testing.T) {
	for _, c := range []struct {
		in   error
		want error
	}{
		{fmt.Errorf("x: %w", consensus.ErrNotLeader), ErrNotLeader},
		{fmt.Errorf("%w: %w", consensus.ErrAmbiguous, consensus.ErrShutdown), ErrAmbiguous},
		{consensus.ErrNotMember, ErrNotMember},
		{consensus.ErrShutdown, ErrUnavailable},
		{consensus.ErrTimeout, ErrUnavailable},
	} {
		got := mapConsensusErr(c.in)
		if !errors.Is(got, c.want) || !errors.Is(got, c.in) {
			t.Errorf("%v: got %v, want it to wrap %v", c.in, got, c.want)
		}
	}
}
