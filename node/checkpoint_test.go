package node

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
	"github.com/charta/charta/node/api"
)

// cluster is three member nodes (alpha, beta, gamma), each over its own
// copy of the same seeded journal and with its member key, serving the
// API on the addresses the genesis names.
type cluster struct {
	nodes map[string]*testServer
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	return newClusterOf(t, "alpha", "beta", "gamma")
}

// newClusterOf is newCluster with nodes for the members named; the other
// members' nodes are unreachable.
func newClusterOf(t *testing.T, members ...string) *cluster {
	t.Helper()
	lns := map[string]net.Listener{}
	addrs := map[string]string{"audit": "127.0.0.1:1"} // nothing listens: an unreachable peer
	for _, m := range members {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[m], addrs[m] = ln, ln.Addr().String()
	}
	c := &cluster{nodes: map[string]*testServer{}}
	for _, m := range members {
		w := newWorld(t, addrs)
		w.seed()
		cfg := testConfig(t)
		s := ledgertest.Signer(m, scheme)
		cfg.SigningKey = &s
		srv, err := NewServer(cfg, w.leaderFake(m), Deps{})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewUnstartedServer(srv.Handler())
		ts.Listener.Close()
		ts.Listener = lns[m]
		ts.Start()
		t.Cleanup(ts.Close)
		c.nodes[m] = &testServer{t: t, s: srv, ts: ts, c: w.leaderFake(m), w: w}
	}
	return c
}

func trustOf(t *testing.T, w *world) *verify.Trust {
	t.Helper()
	tr, err := verify.TrustGenesis(w.g, w.g.ID())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestCheckpoint_GathersCosignatures(t *testing.T) {
	c := newCluster(t)
	a := c.nodes["alpha"]
	var cp api.Checkpoint
	a.get("/v1/checkpoint", "beta").json(t, &cp)
	if strings.Join(cp.Cosigners, ",") != "alpha,beta,gamma" {
		t.Fatalf("cosigners %v", cp.Cosigners)
	}
	tr := trustOf(t, a.w)
	got, signers, err := tr.VerifyCheckpoint(cp.Note, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != cp.Size || len(signers) != 3 {
		t.Fatalf("verified %d by %v", got.Size, signers)
	}
	// The unreachable peer is left out of the next rounds for a while.
	a.s.ckpt.gather.Lock()
	until := a.s.ckpt.resting["audit"]
	a.s.ckpt.gather.Unlock()
	if !until.After(time.Now()) {
		t.Fatalf("the unreachable peer rests until %v", until)
	}
	// The text form is the note itself.
	r := a.do(http.MethodGet, "/v1/checkpoint", "beta", nil, "Accept", "text/plain")
	if string(r.body) != cp.Note {
		t.Fatalf("text: %q", r.body)
	}
}

// TestCheckpoint_SplitViewDetected: alpha's node serves a journal that
// forked from the others'. The other nodes refuse to cosign it, so a
// client that demands the threshold rejects alpha's checkpoint.
func TestCheckpoint_SplitViewDetected(t *testing.T) {
	c := newCluster(t)
	c.nodes["alpha"].w.accept("alpha", "token.register", "tok-fork", ledger.TokenRegister{
		Hash: ledger.HashToken("forked-token-of-alpha-0123456789"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)})
	for _, m := range []string{"beta", "gamma"} {
		c.nodes[m].w.accept("beta", "token.register", "tok-honest", ledger.TokenRegister{
			Hash: ledger.HashToken("honest-token-of-beta-0123456789ab"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)})
	}
	var forked, honest api.Checkpoint
	c.nodes["alpha"].get("/v1/checkpoint", "beta").json(t, &forked)
	c.nodes["beta"].get("/v1/checkpoint", "beta").json(t, &honest)
	if forked.Size != honest.Size || forked.Root == honest.Root {
		t.Fatalf("no fork: %d %s / %d %s", forked.Size, forked.Root, honest.Size, honest.Root)
	}
	tr := trustOf(t, c.nodes["alpha"].w)
	// Two of the four founders' nodes are honest and reachable here: even
	// a threshold of 2 rejects the fork and accepts the honest journal.
	if _, signers, err := tr.VerifyCheckpoint(forked.Note, 2); !errors.Is(err, verify.ErrThreshold) {
		t.Fatalf("forked checkpoint accepted (signers %v): %v", signers, err)
	}
	if _, signers, err := tr.VerifyCheckpoint(honest.Note, 2); err != nil || len(signers) != 2 {
		t.Fatalf("honest checkpoint: %v %v", signers, err)
	}
	// Asked directly, an honest node refuses the forked checkpoint.
	fn, _ := verify.ParseNote(forked.Note)
	r := c.nodes["beta"].do(http.MethodPost, "/v1/checkpoint/cosign", "", []byte(fn.String()))
	r.problem(t, http.StatusConflict, "conflict")
}

func TestCheckpointCosign_NeedsAMemberSignature(t *testing.T) {
	c := newCluster(t)
	var cp api.Checkpoint
	c.nodes["alpha"].get("/v1/checkpoint?gather=false", "beta").json(t, &cp)
	n, _ := verify.ParseNote(cp.Note)
	n.Sigs = nil
	body := n.String()
	c.nodes["beta"].do(http.MethodPost, "/v1/checkpoint/cosign", "", []byte(body)).problem(t, http.StatusUnauthorized, "unauthorized")
}

func TestCheck_ProofVerifiesOffline(t *testing.T) {
	c := newCluster(t)
	a := c.nodes["alpha"]
	var p verify.CheckProof
	a.get("/v1/check?member=beta&asset=model-a&action=train&proof=true", "beta").json(t, &p)
	if !p.Decision.Allowed {
		t.Fatalf("decision %+v", p.Decision)
	}
	v, err := p.Verify(a.w.g.ID(), verify.Options{Threshold: 3})
	if err != nil {
		t.Fatal(err)
	}
	if v.Entries < 4 || len(v.Signers) != 3 {
		t.Fatalf("verified %+v", v)
	}
	// The proof rests on the grant's and the asset's entries, not on
	// unrelated ones such as token registrations.
	for _, e := range p.Entries {
		if e.Entry.Outcome.Type == "token.register" {
			t.Fatalf("unrelated entry %d included", e.Entry.Seq)
		}
	}
}

func TestCheck_AsOfIndex(t *testing.T) {
	ts := newTestServer(t)
	var accept uint64
	ts.w.l.View(func(v *ledger.View) error {
		for _, e := range v.Entries(0, 1000) {
			if e.Outcome.ID == "accept-ab" {
				accept = e.Index
			}
		}
		return nil
	})
	var before, after, now ledger.Decision
	ts.get("/v1/check?member=beta&asset=model-a&action=train&as_of_index="+itoa(accept-1), "beta").json(t, &before)
	ts.get("/v1/check?member=beta&asset=model-a&action=train&as_of_index="+itoa(accept), "beta").json(t, &after)
	ts.get("/v1/check?member=beta&asset=model-a&action=train", "beta").json(t, &now)
	if before.Allowed || !after.Allowed || !now.Allowed {
		t.Fatalf("before %t (%s), after %t, now %t", before.Allowed, before.Reason, after.Allowed, now.Allowed)
	}
	ts.get("/v1/check?member=beta&asset=model-a&action=train&as_of_index=99999", "beta").problem(t, http.StatusBadRequest, "invalid")
	ts.get("/v1/check?member=beta&asset=model-a&action=train&as_of_index=3&proof=true", "beta").problem(t, http.StatusBadRequest, "invalid")
}

func TestProposal_Receipt(t *testing.T) {
	c := newCluster(t)
	a := c.nodes["alpha"]
	env := a.w.envelope("beta", "token.register", "tok-receipt", ledger.TokenRegister{
		Hash: ledger.HashToken("receipt-token-of-beta-0123456789"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)})
	var out api.ProposalResponse
	a.do(http.MethodPost, "/v1/proposals?receipt=true", "", env).json(t, &out)
	if out.Receipt == nil {
		t.Fatal("no receipt")
	}
	// The other nodes have not applied the entry: only alpha cosigns.
	cp, signers, err := out.Receipt.Verify(a.w.g.ID(), verify.Options{Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if out.Receipt.Entry.Entry.Seq != out.Seq || cp.Size != out.Seq+1 || len(signers) != 1 {
		t.Fatalf("receipt of %d under %d by %v", out.Receipt.Entry.Entry.Seq, cp.Size, signers)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
