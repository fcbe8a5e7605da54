package chaos

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// rogueLayer is a raft.StreamLayer that only dials, over mutual TLS with a
// member's node certificate: what a rogue holding that member's node key
// can do.
type rogueLayer struct {
	tls       *tls.Config
	addr      net.Addr
	closed    chan struct{}
	closeOnce sync.Once
}

func (r *rogueLayer) Accept() (net.Conn, error) {
	<-r.closed
	return nil, net.ErrClosed
}

func (r *rogueLayer) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	return nil
}

func (r *rogueLayer) Addr() net.Addr { return r.addr }

func (r *rogueLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(address), r.tls)
}

// rogueTransport is raft's own NetworkTransport over a rogueLayer that
// presents the node certificate of cfg.
func rogueTransport(t *testing.T, cfg consensus.Config) *raft.NetworkTransport {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := net.ResolveTCPAddr("tcp", cfg.BindAddr)
	if err != nil {
		t.Fatal(err)
	}
	// The rogue does not check whom it talks to.
	layer := &rogueLayer{tls: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true},
		addr: addr, closed: make(chan struct{})}
	return raft.NewNetworkTransport(layer, 1, 5*time.Second, io.Discard)
}

// follower returns the index of a node that follows and is not alpha, in
// whose name the rogue speaks.
func (c *inproc) follower(t *testing.T) int {
	t.Helper()
	leader := c.leader(t)
	for i, n := range c.nodes {
		if n != leader && n.ID() != "alpha" {
			return i
		}
	}
	t.Fatal("no follower besides alpha")
	return -1
}

// restart shuts node i down and starts it again from its data directory.
func (c *inproc) restart(t *testing.T, i int) {
	t.Helper()
	if err := c.nodes[i].Shutdown(); err != nil {
		t.Fatal(err)
	}
	n, err := consensus.New(c.cfgs[i])
	if err != nil {
		t.Fatalf("%s does not start again from its data directory: %v", c.cfgs[i].ID, err)
	}
	c.nodes[i] = n
}

func stateOf(n *consensus.Node) nodeState {
	var s nodeState
	s.applied = n.Ledger().AppliedIndex()
	n.Ledger().View(func(v *ledger.View) error { s.digest, s.head = v.Digest(), v.Head(); return nil })
	return s
}

// otherConsortiumSnapshot is a well-formed snapshot of a consortium other
// than c's: the same founders under another genesis.
func otherConsortiumSnapshot(t *testing.T, c *inproc) []byte {
	t.Helper()
	g := *c.g
	g.Name = "Another consortium"
	g.Signatures = nil
	for _, m := range g.Members {
		if err := g.Sign(ledgertest.Signer(m.ID, rogueScheme)); err != nil {
			t.Fatal(err)
		}
	}
	if g.ID() == c.g.ID() {
		t.Fatal("the other genesis has the same consortium ID")
	}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), &g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	var b bytes.Buffer
	if _, err := s.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestRogue_InstallsMalformedSnapshot plays a rogue holding alpha's node
// certificate that speaks Raft's wire protocol to a follower and offers it
// malformed snapshots by InstallSnapshot, at the follower's term and far
// ahead of its log, so that Raft attempts to install each one. The
// follower must refuse each, keep its state (digest, journal head and
// applied index), go on following, and start again from its data
// directory into the same state, without the rogue's snapshot; the cluster
// must then converge and accept honest proposals.
func TestRogue_InstallsMalformedSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an in-process cluster")
	}
	c := newInproc(t)
	alpha := ledgertest.Signer("alpha", rogueScheme)
	now := time.Now().UTC()
	seq := 0
	proposeHonest := func(t *testing.T) nodeState {
		t.Helper()
		seq++
		id := fmt.Sprintf("honest-%d", seq)
		env := ledgertest.Propose(c.g.ID(), "alpha", "token.register", id, now, ledger.TokenRegister{
			Hash: ledger.HashToken(id), Scopes: []string{"read"}, ExpiresAt: now.Add(time.Hour)}, alpha).Encode()
		res := c.proposeSettled(t, env, c.converged(t, 0))
		if res.Outcome.Status != ledger.StatusAccepted {
			t.Fatalf("honest proposal %s: %+v", id, res.Outcome)
		}
		return c.converged(t, res.Index)
	}
	proposeHonest(t)

	var snap bytes.Buffer
	if _, err := c.leader(t).Backup(&snap); err != nil {
		t.Fatal(err)
	}
	good := snap.Bytes()
	// Sanity: the good snapshot is one a ledger of this consortium takes,
	// so each refusal below is owed to the damage alone.
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), c.g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Restore(bytes.NewReader(good)); err != nil {
		t.Fatalf("the untouched snapshot is refused: %v", err)
	}
	l.Close()

	garbage := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{7}).Read(garbage)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	// A rogue can recompute the trailing SHA-256 itself; a journal entry
	// whose recorded outcome was altered must still be caught.
	rechecked := bytes.ReplaceAll(good[:len(good)-sha256.Size], []byte(`"accepted"`), []byte(`"rejected"`))
	if len(rechecked) != len(good)-sha256.Size || bytes.Equal(rechecked, good[:len(rechecked)]) {
		t.Fatal("the snapshot holds no accepted outcome to alter")
	}
	sum := sha256.Sum256(rechecked)
	rechecked = append(rechecked, sum[:]...)

	for _, rc := range []struct {
		name string
		body []byte
		good bool   // the control: the follower's own state, at its own last index
		conf []byte // the configuration sent, if not the cluster's
	}{
		{"control: the current snapshot", good, true, nil},
		{"random garbage", garbage, false, nil},
		{"truncated snapshot", good[:len(good)/2], false, nil},
		{"byte flipped mid-snapshot", flipped, false, nil},
		{"journal altered, checksum recomputed", rechecked, false, nil},
		{"snapshot of another consortium", otherConsortiumSnapshot(t, c), false, nil},
		{"empty body", nil, false, nil},
		// raft panics on a configuration it cannot decode.
		{"good body, undecodable configuration", good, false, []byte{0xc1}},
	} {
		t.Run(rc.name, func(t *testing.T) {
			i := c.follower(t)
			f := c.nodes[i]
			before := stateOf(f)
			st := f.Status()
			servers, err := c.leader(t).Servers()
			if err != nil {
				t.Fatal(err)
			}
			var conf raft.Configuration
			for _, s := range servers {
				suffrage := raft.Voter
				if s.Suffrage != "voter" {
					suffrage = raft.Nonvoter
				}
				conf.Servers = append(conf.Servers, raft.Server{Suffrage: suffrage, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)})
			}
			encoded := raft.EncodeConfiguration(conf)
			if rc.conf != nil {
				encoded = rc.conf
			}
			rogueIndex := st.LastIndex + 1000
			if rc.good {
				rogueIndex = st.LastIndex
			}
			req := &raft.InstallSnapshotRequest{
				RPCHeader:          raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("alpha"), Addr: []byte(c.cfgs[0].BindAddr)},
				SnapshotVersion:    raft.SnapshotVersionMax,
				Term:               st.Term,
				LastLogIndex:       rogueIndex,
				LastLogTerm:        st.Term,
				Configuration:      encoded,
				ConfigurationIndex: st.LastIndex,
				Size:               int64(len(rc.body)),
			}
			trans := rogueTransport(t, c.cfgs[0])
			var resp raft.InstallSnapshotResponse
			err = trans.InstallSnapshot(raft.ServerID(f.ID()), raft.ServerAddress(c.cfgs[i].BindAddr), req, &resp, bytes.NewReader(rc.body))
			trans.Close() // the rogue stops
			if rc.good {
				// The rogue's path reaches Raft's install: the refusals
				// below are owed to the snapshots alone.
				if err != nil || !resp.Success {
					t.Fatalf("%s did not install its own state: err=%v success=%v", f.ID(), err, resp.Success)
				}
			} else if err == nil && resp.Success {
				t.Fatalf("%s installed the snapshot", f.ID())
			}
			if after := stateOf(f); after != before {
				t.Fatalf("%s changed state: %+v -> %+v", f.ID(), before, after)
			}

			// It goes on following: it applies an honest proposal.
			want := proposeHonest(t)

			// It starts again into the same state, and the rogue's
			// snapshot is not among the ones Raft would trust.
			if err := f.Shutdown(); err != nil {
				t.Fatal(err)
			}
			store, err := raft.NewFileSnapshotStore(c.cfgs[i].Dir, 2, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			metas, err := store.List()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range metas {
				if !rc.good && m.Index == rogueIndex {
					t.Errorf("%s kept the rogue's snapshot %s (index %d, %d bytes)", f.ID(), m.ID, m.Index, m.Size)
				}
			}
			c.restart(t, i)
			if got := stateOf(c.nodes[i]); got != want {
				t.Fatalf("%s restarted into %+v, want %+v", f.ID(), got, want)
			}
			c.converged(t, want.applied)
			proposeHonest(t)
		})
	}
}
