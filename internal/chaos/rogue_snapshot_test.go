package chaos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/node/client"
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

// TestRogue_FalseSnapshotToNodeProcess plays a rogue that holds alpha's
// node certificate and signing key against a consortium of real `charta
// node` processes, and offers a follower well-formed but false snapshots by
// InstallSnapshot, each far ahead of its log: one whose state buckets were
// altered (an extra API token, the checksum recomputed), and one whose
// journal carries an extra entry validly signed by alpha that the cluster
// never committed. The follower must refuse each with a logged reason
// (the state that its journal does not make; a journal head its peers do
// not vouch for) and the cluster must converge to one state. A control
// offers the follower its own state at its own applied index, which it
// must install: its peers vouch for it, so each refusal is owed to the
// falsehood alone.
func TestRogue_FalseSnapshotToNodeProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a consortium of node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := Start(ctx, Config{Nodes: 3, Dir: dir, Bin: chartaBin(t), Seed: 1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		if err := c.RegisterToken(ctx, "alpha", fmt.Sprintf("rogue-snapshot-token-0123456789-before-%06d", i)); err != nil {
			t.Fatal(err)
		}
	}
	alpha := c.Nodes[0]
	rogue := consensus.Config{BindAddr: "127.0.0.1:0", TLS: consensus.TLSFiles{CAFile: c.caPath,
		CertFile: filepath.Join(dir, "certs", alpha.ID+".crt"), KeyFile: filepath.Join(dir, "certs", alpha.ID+".key")}}

	// offer sends body to node i as alpha's InstallSnapshot at index and
	// reports whether it was installed.
	offer := func(t *testing.T, i int, body []byte, index uint64) bool {
		t.Helper()
		st, err := c.Status(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		req := &raft.InstallSnapshotRequest{
			RPCHeader:       raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(alpha.ID), Addr: []byte(alpha.proxy.Addr())},
			SnapshotVersion: raft.SnapshotVersionMax, Term: st.Term, LastLogIndex: index, LastLogTerm: st.Term,
			Configuration: raft.EncodeConfiguration(configuration(c)), ConfigurationIndex: st.CommitIndex, Size: int64(len(body)),
		}
		trans := rogueTransport(t, rogue)
		defer trans.Close()
		var resp raft.InstallSnapshotResponse
		err = trans.InstallSnapshot(raft.ServerID(c.Nodes[i].ID), raft.ServerAddress(c.Nodes[i].Raft), req, &resp, bytes.NewReader(body))
		return err == nil && resp.Success
	}

	quiet := quietState(t, ctx, c)
	i := 1 // a follower other than alpha
	if c.Leader(ctx) == 1 {
		i = 2
	}
	var own bytes.Buffer
	if err := backup(ctx, c, i, &own); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(ctx, i); err != nil || st.AppliedIndex != quiet.AppliedIndex {
		t.Fatalf("the cluster moved on during the backup (%v); the control needs a quiet cluster", err)
	}
	if !offer(t, i, own.Bytes(), quiet.AppliedIndex) {
		t.Fatalf("%s did not install its own state, vouched for by its peers; log:\n%s", c.Nodes[i].ID, lastLines(readFile(c.Nodes[i].LogFile), 20))
	}
	if _, err := c.WaitConverged(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}

	// Each false snapshot is made from the follower's current state, so
	// that it extends the follower's journal.
	current := func(t *testing.T) []byte {
		t.Helper()
		quietState(t, ctx, c)
		var b bytes.Buffer
		if err := backup(ctx, c, i, &b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, tc := range []struct {
		name, reason string
		forge        func(t *testing.T) []byte
	}{
		{"state its journal does not make", "is not the one its journal", func(t *testing.T) []byte { return forgeState(t, current(t)) }},
		{"journal with an entry never committed", "not vouched: 0 of 2 cosignatures", func(t *testing.T) []byte { return extendJournal(t, c, current(t)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.forge(t)
			st, err := c.Status(ctx, i)
			if err != nil {
				t.Fatal(err)
			}
			if offer(t, i, body, st.CommitIndex+1000) {
				t.Fatalf("%s installed the false snapshot", c.Nodes[i].ID)
			}
			// The rogue may stop waiting for the answer before the
			// follower has gathered its peers' answers.
			for deadline := time.Now().Add(20 * time.Second); !strings.Contains(readFile(c.Nodes[i].LogFile), tc.reason) && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
			}
			if !strings.Contains(readFile(c.Nodes[i].LogFile), tc.reason) {
				t.Fatalf("%s's log does not give the reason %q:\n%s", c.Nodes[i].ID, tc.reason, lastLines(readFile(c.Nodes[i].LogFile), 20))
			}
			if _, err := c.WaitConverged(ctx, 15*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := c.RegisterToken(ctx, "beta", fmt.Sprintf("rogue-snapshot-token-0123456789-after-%07d", len(tc.name))); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitConverged(ctx, 15*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// quietState waits until every node reports the same state and the applied
// index has not moved for three seconds (no time entry due), and returns it.
func quietState(t *testing.T, ctx context.Context, c *Cluster) *client.Status {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		s, err := c.WaitConverged(ctx, 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		if again, err := c.WaitConverged(ctx, 15*time.Second); err == nil && again.AppliedIndex == s.AppliedIndex {
			return again
		}
	}
	t.Fatal("the cluster never went quiet")
	return nil
}

// backup streams node i's state (GET /v1/backup) to w.
func backup(ctx context.Context, c *Cluster, i int, w io.Writer) error {
	tok, err := c.OperatorToken(i)
	if err != nil {
		return err
	}
	cl, err := c.Client(i, c.Nodes[i].ID, tok)
	if err != nil {
		return err
	}
	_, err = cl.Backup(ctx, w)
	return err
}

// configuration is the cluster's Raft configuration: every node a voter,
// at the address its peers dial.
func configuration(c *Cluster) raft.Configuration {
	var conf raft.Configuration
	for _, m := range c.Nodes {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.proxy.Addr())})
	}
	return conf
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// forgeState returns snap with one more API token in its state than its
// journal makes, framed again with its checksum: well formed, and false.
func forgeState(t *testing.T, snap []byte) []byte {
	t.Helper()
	magic := len("CHARTA-SNAPSHOT-1\n")
	path := filepath.Join(t.TempDir(), "forged.db")
	if err := os.WriteFile(path, snap[magic:len(snap)-sha256.Size], 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(btx *bolt.Tx) error {
		b := btx.Bucket([]byte("tokens"))
		_, v := b.Cursor().First()
		if v == nil {
			return errors.New("the snapshot holds no token to copy")
		}
		return b.Put([]byte(ledger.HashToken("a token nobody registered")), bytes.Clone(v))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := append(bytes.Clone(snap[:magic]), body...)
	sum := sha256.Sum256(out)
	return append(out, sum[:]...)
}

// extendJournal returns snap with one more journal entry: a token
// registration validly signed by alpha, applied at the next index, which
// the cluster never committed. Its state is the one its journal makes.
func extendJournal(t *testing.T, c *Cluster, snap []byte) []byte {
	t.Helper()
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), c.Genesis, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	at := l.LedgerTime()
	env := ledgertest.Propose(c.Genesis.ID(), "alpha", "token.register", "never-committed", at, ledger.TokenRegister{
		Hash: ledger.HashToken("never-committed"), Scopes: []string{"read"}, ExpiresAt: at.Add(time.Hour)}, c.Signer("alpha")).Encode()
	r := l.Apply([]ledger.LogEntry{{Index: l.AppliedIndex() + 1, Data: ledger.EncodeRecord(at, env)}})[0]
	if r == nil || r.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("the rogue's entry: %+v", r)
	}
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
