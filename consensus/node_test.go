package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/charta/charta/ledger"
)

// crash stops a node as a kill would: no leadership transfer.
func (n *Node) crash() {
	n.downOnce.Do(func() {
		close(n.stop)
		n.wg.Wait()
		r := n.r()
		r.DeregisterObserver(n.observer)
		r.Shutdown().Error()
		n.deferSync = false // a killed process leaves the state store's marker behind
		n.downErr = n.closeStores()
	})
}

func TestCluster_ElectsLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.leader()
	servers, err := l.Servers()
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 3 {
		t.Fatalf("want 3 servers, got %+v", servers)
	}
	leaders := 0
	for i, s := range servers {
		if s.ID != c.ids[i] || s.Address != c.g.Members[i].Node.RaftAddr || s.Suffrage != "voter" {
			t.Errorf("server %d: %+v, want voter %s at %s", i, s, c.ids[i], c.g.Members[i].Node.RaftAddr)
		}
		if s.Leader {
			leaders++
			if s.ID != l.ID() {
				t.Errorf("server list names %s leader, the leader is %s", s.ID, l.ID())
			}
		}
	}
	if leaders != 1 {
		t.Errorf("want one leader in the server list, got %d", leaders)
	}
	st := l.Status()
	if st.State != "leader" || st.Leader != l.ID() || st.Term == 0 || st.LastContact != 0 {
		t.Errorf("leader status: %+v", st)
	}
	for _, f := range c.followers() {
		if st := f.Status(); st.State != "follower" || st.Leader != l.ID() || st.LeaderAddr == "" {
			t.Errorf("follower status: %+v", st)
		}
	}
}

func TestCluster_ProposeReplicates(t *testing.T) {
	c := newCluster(t, 3, nil)
	var last *ledger.Result
	for i := range 20 {
		r := c.propose(fmt.Sprintf("tok-%d", i))
		if last != nil && (r.Index <= last.Index || r.Seq != last.Seq+1) {
			t.Fatalf("entry %d: index %d seq %d after index %d seq %d", i, r.Index, r.Seq, last.Index, last.Seq)
		}
		last = r
	}
	s := c.converged(last.Index)
	if s.applied != last.Index || s.head.Size != last.Seq+1 || s.head.LastHash != last.EntryHash {
		t.Fatalf("converged state %+v does not end with the last result %+v", s, last)
	}
	// A resubmission is answered with the original outcome, not applied again.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	env := tokenProposal(c.g, "alpha", "tok-0-dup")
	again, err := c.leader().Propose(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	dup, err := c.leader().Propose(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if !dup.Duplicate || dup.Seq != again.Seq {
		t.Fatalf("resubmission: %+v, original %+v", dup, again)
	}
	c.converged(dup.Index)
	for _, n := range c.running() {
		if ids := journalIDs(t, n); ids["tok-0-dup"] != 1 || ids["tok-19"] != 1 {
			t.Fatalf("%s journal: tok-0-dup %d times, tok-19 %d times", n.ID(), ids["tok-0-dup"], ids["tok-19"])
		}
	}
}

// TestCluster_LeaderAppliesTheDecodedEnvelope checks that an envelope the
// API decoded reaches the leader's state machine with its entry, so the
// leader does not decode it again, and that the entry is applied like any
// other on every node.
func TestCluster_LeaderAppliesTheDecodedEnvelope(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader()
	env := tokenProposal(c.g, "alpha", "tok-decoded")
	var adm *ledger.Admission
	leader.Ledger().View(func(v *ledger.View) error {
		var err error
		adm, err = v.Admit(env, v.LedgerTime())
		return err
	})
	if adm == nil || adm.Decoded == nil {
		t.Fatal("admission decoded nothing")
	}
	before := leader.fsm.handedOver.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := leader.ProposeDecoded(ctx, env, adm.Decoded)
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome.Status != ledger.StatusAccepted || r.Outcome.ID != "tok-decoded" {
		t.Fatalf("outcome %+v", r.Outcome)
	}
	if got := leader.fsm.handedOver.Load() - before; got != 1 {
		t.Fatalf("the leader's state machine took %d decoded envelopes, want 1", got)
	}
	left := 0
	leader.fsm.decoded.Range(func(any, any) bool { left++; return true })
	if left != 0 {
		t.Fatalf("%d decoded envelopes left behind after their proposals returned", left)
	}
	c.converged(r.Index)
	for _, n := range c.running() {
		if ids := journalIDs(t, n); ids["tok-decoded"] != 1 {
			t.Fatalf("%s journal holds tok-decoded %d times", n.ID(), ids["tok-decoded"])
		}
	}
}

func TestCluster_FollowerRejectsPropose(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.leader()
	r := c.propose("tok-1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, f := range c.followers() {
		_, err := f.Propose(ctx, tokenProposal(c.g, "alpha", "tok-2"))
		if !errors.Is(err, ErrNotLeader) || !isPrefixed(err) {
			t.Errorf("%s Propose: want ErrNotLeader, got %v", f.ID(), err)
		}
		if _, err := f.ReadIndex(ctx); !errors.Is(err, ErrNotLeader) {
			t.Errorf("%s ReadIndex: want ErrNotLeader, got %v", f.ID(), err)
		}
		if err := f.Join(ctx, "alpha", "127.0.0.1:1"); !errors.Is(err, ErrNotLeader) {
			t.Errorf("%s Join: want ErrNotLeader, got %v", f.ID(), err)
		}
		if err := f.TransferLeadership(); !errors.Is(err, ErrNotLeader) {
			t.Errorf("%s TransferLeadership: want ErrNotLeader, got %v", f.ID(), err)
		}
	}
	// A linearizable read: read index on the leader, wait on a follower.
	idx, err := l.ReadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if idx < r.Index {
		t.Fatalf("read index %d is below the acknowledged write %d", idx, r.Index)
	}
	f := c.followers()[0]
	if err := f.WaitApplied(ctx, idx); err != nil {
		t.Fatal(err)
	}
	if got := f.Ledger().AppliedIndex(); got < r.Index {
		t.Fatalf("follower applied %d after waiting for %d", got, idx)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := f.WaitApplied(short, idx+1000); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for an index never reached: %v", err)
	}
	// Join refuses non-members.
	if err := l.Join(ctx, "mallory", "127.0.0.1:1"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("join of a non-member: %v", err)
	}
}

func TestCluster_LeaderLossThenWritesContinue(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.leader()
	var (
		mu        sync.Mutex
		acked     = map[string]uint64{}
		ambiguous = map[string]bool{}
	)
	// write proposes n entries through whichever of nodes leads,
	// retrying those that were refused before reaching the log.
	write := func(nodes []*Node, stop <-chan struct{}, prefix string, n int) {
		for i := 0; i < n; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("%s-%d", prefix, i)
			env := tokenProposal(c.g, "alpha", id)
			for {
				var l *Node
				for _, n := range nodes {
					if n.IsLeader() {
						l = n
					}
				}
				if l == nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				r, err := l.Propose(ctx, env)
				cancel()
				mu.Lock()
				switch {
				case err == nil:
					acked[id] = r.Index
				case errors.Is(err, ErrAmbiguous):
					ambiguous[id] = true
				}
				mu.Unlock()
				if err == nil || errors.Is(err, ErrAmbiguous) {
					break
				}
				time.Sleep(10 * time.Millisecond) // not appended: retry on the new leader
			}
		}
	}
	ackedN := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	// Write continuously while the leader dies.
	stop := make(chan struct{})
	done := make(chan struct{})
	nodes := append([]*Node(nil), c.nodes...)
	go func() { defer close(done); write(nodes, stop, "during", 1000) }()
	eventually(t, 10*time.Second, "writes before the crash", func() error {
		if n := ackedN(); n < 10 {
			return fmt.Errorf("%d acked", n)
		}
		return nil
	})
	old := c.leader()
	old.crash()
	crashedAt := ackedN()
	for i, n := range c.nodes {
		if n == old {
			c.nodes[i] = nil
		}
	}
	if l := c.leader(); l == old {
		t.Fatal("the crashed node is still leader")
	}
	eventually(t, 15*time.Second, "writes after the crash", func() error {
		if n := ackedN(); n < crashedAt+10 {
			return fmt.Errorf("%d acked, %d at the crash", n, crashedAt)
		}
		return nil
	})
	close(stop)
	<-done
	write(c.running(), nil, "after", 10)
	var maxIndex uint64
	for _, idx := range acked {
		maxIndex = max(maxIndex, idx)
	}
	c.converged(maxIndex)
	for _, n := range c.running() {
		ids := journalIDs(t, n)
		for id := range acked {
			if ids[id] != 1 {
				t.Errorf("%s: acknowledged %s is in the journal %d times", n.ID(), id, ids[id])
			}
		}
		for id := range ambiguous {
			if ids[id] > 1 {
				t.Errorf("%s: ambiguous %s is in the journal %d times", n.ID(), id, ids[id])
			}
		}
	}
	t.Logf("%d acknowledged, %d ambiguous", len(acked), len(ambiguous))
}

func TestCluster_RestartCatchesUpViaSnapshot(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotThreshold = 16
		cfg.TrailingLogs = 4
		cfg.SnapshotInterval = 50 * time.Millisecond
	})
	l := c.leader()
	c.propose("tok-first")
	// Stop a follower.
	var fi int
	for i, n := range c.nodes {
		if n != l {
			fi = i
		}
	}
	stoppedAt := c.nodes[fi].Ledger().AppliedIndex()
	c.stop(fi)
	var last *ledger.Result
	for i := range 60 {
		last = c.propose(fmt.Sprintf("tok-%d", i))
	}
	// The leader must have compacted past what the follower has, so that
	// only a snapshot can bring it back.
	eventually(t, 10*time.Second, "leader log compaction", func() error {
		first, err := c.leader().st.logs.FirstIndex()
		if err != nil {
			return err
		}
		if first <= stoppedAt+1 {
			return fmt.Errorf("first index %d, follower stopped at %d", first, stoppedAt)
		}
		return nil
	})
	n := c.start(fi)
	s := c.converged(last.Index)
	if s.applied != last.Index {
		t.Fatalf("converged at %d, want %d", s.applied, last.Index)
	}
	snaps, err := n.st.snaps.List()
	if err != nil || len(snaps) == 0 {
		t.Fatalf("the restarted follower holds no installed snapshot: %v %v", snaps, err)
	}
	if ids := journalIDs(t, n); ids["tok-59"] != 1 || ids["tok-first"] != 1 {
		t.Fatalf("restarted follower's journal: %v", ids)
	}
	// It keeps following after the install.
	r := c.propose("tok-after")
	c.converged(r.Index)
}

func TestFSM_NoDoubleApplyAfterRestart(t *testing.T) {
	c := newCluster(t, 1, nil)
	var last *ledger.Result
	for i := range 10 {
		last = c.propose(fmt.Sprintf("tok-%d", i))
	}
	before := stateOf(t, c.nodes[0])
	c.stop(0)
	n := c.start(0)
	c.leader()
	// Raft replays its committed log into the FSM after the restart; the
	// ledger must skip what it holds.
	eventually(t, 10*time.Second, "replay", func() error {
		if got := n.r().AppliedIndex(); got < last.Index {
			return fmt.Errorf("raft applied %d < %d", got, last.Index)
		}
		return nil
	})
	if after := stateOf(t, n); after != before {
		t.Fatalf("state changed by replay: %+v, was %+v", after, before)
	}
	r := c.propose("tok-10")
	if r.Seq != last.Seq+1 {
		t.Fatalf("next entry has seq %d, want %d", r.Seq, last.Seq+1)
	}
	ids := journalIDs(t, n)
	for i := range 11 {
		if got := ids[fmt.Sprintf("tok-%d", i)]; got != 1 {
			t.Errorf("tok-%d is in the journal %d times", i, got)
		}
	}
}

func TestFSM_ApplyBatch(t *testing.T) {
	g := testGenesis(t, []string{"alpha"}, []string{"127.0.0.1:1"})
	l, err := ledger.Open(t.TempDir()+"/state.db", g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := newFSM(l)
	stamp := time.Now()
	cmd := func(i uint64, id string) *raft.Log {
		return &raft.Log{Index: i, Type: raft.LogCommand, Data: ledger.EncodeRecord(stamp, tokenProposal(g, "alpha", id))}
	}
	out := f.ApplyBatch([]*raft.Log{cmd(1, "a"), {Index: 2, Type: raft.LogConfiguration}, cmd(3, "b")})
	if len(out) != 3 || out[1] != nil {
		t.Fatalf("responses: %v", out)
	}
	for _, i := range []int{0, 2} {
		r, ok := out[i].(*ledger.Result)
		if !ok || r.Outcome.Status != ledger.StatusAccepted || r.Index != uint64(i+1) {
			t.Fatalf("response %d: %#v", i, out[i])
		}
	}
	// A replayed batch: already-applied entries answer nil, new ones apply.
	out = f.ApplyBatch([]*raft.Log{cmd(3, "b"), cmd(4, "c")})
	if out[0] != nil {
		t.Fatalf("replayed entry 3 was applied again: %#v", out[0])
	}
	if r, ok := out[1].(*ledger.Result); !ok || r.Index != 4 || r.Seq != 3 {
		t.Fatalf("entry 4: %#v", out[1])
	}
	// Snapshot → Restore round trip through the FSM.
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	l2, err := ledger.Open(t.TempDir()+"/state.db", g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	f2 := newFSM(l2)
	restored := f2.restored()
	if err := f2.Restore(sink.reader()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-restored:
	default:
		t.Fatal("Restore did not notify waiters")
	}
	if l2.AppliedIndex() != 4 {
		t.Fatalf("restored applied index %d", l2.AppliedIndex())
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) reader() *nopCloser {
	return &nopCloser{bytes.NewReader(s.Bytes())}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// TestStatus_CommandIndexSkipsNoops: the command index is the last
// committed proposal, below a new leader's no-op and configuration
// entries, which the ledger never applies; readiness waits for it.
func TestStatus_CommandIndexSkipsNoops(t *testing.T) {
	c := newCluster(t, 3, nil)
	r := c.propose("tok-1")
	c.converged(r.Index)
	if err := c.leader().TransferLeadership(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a new leader's no-op", func() error {
		st := c.leader().Status()
		if st.CommitIndex <= r.Index {
			return fmt.Errorf("commit index %d, proposal at %d", st.CommitIndex, r.Index)
		}
		return nil
	})
	for _, n := range c.running() {
		eventually(t, 10*time.Second, n.ID()+" command index", func() error {
			if st := n.Status(); st.CommandIndex != r.Index || st.AppliedIndex != r.Index {
				return fmt.Errorf("%s: command index %d, applied %d, commit %d; want %d", n.ID(), st.CommandIndex, st.AppliedIndex, st.CommitIndex, r.Index)
			}
			return nil
		})
	}
}

// TestTransferLeadership_SkipsADeadVoter: with one follower killed, a
// leadership transfer goes to the live one instead of failing on the dead
// one.
func TestTransferLeadership_SkipsADeadVoter(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.converged(c.propose("tok-1").Index)
	l := c.leader()
	fs := c.followers()
	dead, live := fs[0], fs[1]
	for i, n := range c.nodes {
		if n == dead {
			n.crash()
			c.nodes[i] = nil
		}
	}
	eventually(t, 10*time.Second, "the leader sees "+dead.ID()+"'s heartbeats fail", func() error {
		if p := l.failing.Load(); p == nil || !(*p)[raft.ServerID(dead.ID())] {
			return fmt.Errorf("failing: %v", p)
		}
		return nil
	})
	if err := l.TransferLeadership(); err != nil {
		t.Fatalf("transfer with one dead voter: %v", err)
	}
	if got := c.leader(); got.ID() != live.ID() {
		t.Fatalf("leader is %s, want %s", got.ID(), live.ID())
	}
}
