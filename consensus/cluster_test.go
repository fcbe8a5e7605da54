package consensus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// scheme signs the test proposals: ed25519 keeps them fast.
const scheme = ledger.SchemeEd25519

// testLogger discards below Warn, or writes to stderr with -v and
// CHARTA_TEST_LOG=1.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("CHARTA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. The genesis must name Raft addresses before the nodes start.
// handedOut remembers the addresses freeAddr gave, so that two calls
// never return the same port even though each listener is closed at once.
var handedOut sync.Map

func freeAddr(t testing.TB) string {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, dup := handedOut.LoadOrStore(addr, true); !dup {
			return addr
		}
	}
}

// testCA is a consortium CA written to a directory.
type testCA struct {
	dir             string
	certPEM, keyPEM []byte
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	c, k, err := NewCA("test consortium CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), c, 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{dir: dir, certPEM: c, keyPEM: k}
}

// files issues a certificate for id and writes it with the CA certificate.
func (ca *testCA) files(t testing.TB, id string) TLSFiles {
	t.Helper()
	c, k, err := IssueNodeCert(ca.certPEM, ca.keyPEM, id, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := TLSFiles{CAFile: filepath.Join(ca.dir, "ca.pem"), CertFile: filepath.Join(dir, id+".pem"), KeyFile: filepath.Join(dir, id+".key")}
	if err := os.WriteFile(f.CertFile, c, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.KeyFile, k, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// testGenesis returns a signed genesis whose founders ids run nodes at addrs.
func testGenesis(t testing.TB, ids, addrs []string) *ledger.Genesis {
	t.Helper()
	g := &ledger.Genesis{
		Format:    ledger.GenesisFormat,
		Name:      "Consensus test consortium",
		CreatedAt: time.Now().UTC().Truncate(time.Second).Add(-time.Minute),
		Charter:   ledgertest.StampedCharter(),
	}
	for i, id := range ids {
		g.Members = append(g.Members, ledger.GenesisMember{
			ID: id, Role: ledger.RoleMember, Keys: []ledger.PublicKey{ledgertest.Key(id, scheme).Public()},
			Node: ledger.NodeInfo{RaftAddr: addrs[i]},
		})
	}
	for _, id := range ids {
		if err := g.Sign(ledgertest.Signer(id, scheme)); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// tokenProposal is a token.register by member with proposal ID id, issued now.
func tokenProposal(g *ledger.Genesis, member, id string) []byte {
	now := time.Now().UTC()
	body := map[string]any{"hash": ledger.HashToken(id), "scopes": []string{"read"}, "expires_at": now.Add(24 * time.Hour)}
	return ledgertest.Propose(g.ID(), member, "token.register", id, now, body, ledgertest.Signer(member, scheme)).Encode()
}

// cluster is an in-process cluster over TCP with mTLS and bbolt stores.
type cluster struct {
	t     *testing.T
	g     *ledger.Genesis
	ca    *testCA
	ids   []string
	cfgs  []Config
	nodes []*Node // nil while stopped
}

// fastConfig has timeouts for a loopback cluster on a loaded machine.
func fastConfig() Config {
	c := DefaultConfig()
	c.HeartbeatTimeout = 300 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	c.LeaderLeaseTimeout = 150 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.ApplyTimeout = 5 * time.Second
	c.ReconcileInterval = 200 * time.Millisecond
	c.NoSync = true
	return c
}

func newCluster(t *testing.T, n int, tweak func(*Config)) *cluster {
	t.Helper()
	ids := []string{"alpha", "beta", "gamma", "kappa", "omega"}[:n] // sorted, as the genesis requires
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = freeAddr(t)
	}
	c := &cluster{t: t, g: testGenesis(t, ids, addrs), ca: newTestCA(t), ids: ids, nodes: make([]*Node, n)}
	for i, id := range ids {
		cfg := fastConfig()
		cfg.ID, cfg.Dir, cfg.BindAddr = id, t.TempDir(), addrs[i]
		cfg.Genesis, cfg.Bootstrap = c.g, true
		cfg.TLS = c.ca.files(t, id)
		cfg.Logger = testLogger(t).With("id", id)
		if tweak != nil {
			tweak(&cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	for i := range ids {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	return c
}

func (c *cluster) start(i int) *Node {
	c.t.Helper()
	n, err := New(c.cfgs[i])
	if err != nil {
		c.t.Fatalf("start %s: %v", c.ids[i], err)
	}
	c.nodes[i] = n
	return n
}

func (c *cluster) stop(i int) {
	c.t.Helper()
	if n := c.nodes[i]; n != nil {
		if err := n.Shutdown(); err != nil {
			c.t.Errorf("shutdown %s: %v", c.ids[i], err)
		}
		c.nodes[i] = nil
	}
}

func (c *cluster) running() []*Node {
	var out []*Node
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leader waits until the running nodes agree on one leader and returns it.
func (c *cluster) leader() *Node {
	c.t.Helper()
	var l *Node
	eventually(c.t, 10*time.Second, "one agreed leader", func() error {
		l = nil
		for _, n := range c.running() {
			if n.IsLeader() {
				if l != nil {
					return fmt.Errorf("two leaders: %s and %s", l.ID(), n.ID())
				}
				l = n
			}
		}
		if l == nil {
			return fmt.Errorf("no leader")
		}
		for _, n := range c.running() {
			if id, _ := n.Leader(); id != l.ID() {
				return fmt.Errorf("%s follows %q, not %s", n.ID(), id, l.ID())
			}
		}
		return nil
	})
	return l
}

func (c *cluster) followers() []*Node {
	var out []*Node
	for _, n := range c.running() {
		if !n.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

// propose submits a token.register by the first founder through the
// leader, retrying while leadership moves.
func (c *cluster) propose(id string) *ledger.Result {
	c.t.Helper()
	env := tokenProposal(c.g, c.ids[0], id)
	var res *ledger.Result
	eventually(c.t, 10*time.Second, "propose "+id, func() error {
		l := c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := l.Propose(ctx, env)
		if err != nil {
			return err
		}
		res = r
		return nil
	})
	if res.Outcome.Status != ledger.StatusAccepted {
		c.t.Fatalf("proposal %s: %s %s", id, res.Outcome.Code, res.Outcome.Message)
	}
	return res
}

// state is what must be equal on every node after convergence.
type state struct {
	applied uint64
	head    ledger.Head
	digest  ledger.Hash
}

func stateOf(t testing.TB, n *Node) state {
	t.Helper()
	var s state
	if err := n.Ledger().View(func(v *ledger.View) error {
		s = state{applied: v.AppliedIndex(), head: v.Head(), digest: v.Digest()}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// converged waits until every running node has applied at least index and
// all report the same applied index, journal head and state digest.
func (c *cluster) converged(index uint64) state {
	c.t.Helper()
	var want state
	eventually(c.t, 15*time.Second, "convergence", func() error {
		nodes := c.running()
		want = stateOf(c.t, nodes[0])
		if want.applied < index {
			return fmt.Errorf("%s applied %d < %d", nodes[0].ID(), want.applied, index)
		}
		for _, n := range nodes[1:] {
			if got := stateOf(c.t, n); got != want {
				return fmt.Errorf("%s at %d (head %d) differs from %s at %d (head %d)",
					n.ID(), got.applied, got.head.Size, nodes[0].ID(), want.applied, want.head.Size)
			}
		}
		return nil
	})
	return want
}

// journalIDs counts the proposal IDs in a node's journal.
func journalIDs(t testing.TB, n *Node) map[string]int {
	t.Helper()
	out := map[string]int{}
	if err := n.Ledger().View(func(v *ledger.View) error {
		for from := uint64(1); ; {
			es := v.Entries(from, 256)
			if len(es) == 0 {
				return nil
			}
			for _, e := range es {
				out[e.Outcome.ID]++
				from = e.Seq + 1
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// isPrefixed reports whether err's message starts with the package name.
func isPrefixed(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "consensus: ") }
