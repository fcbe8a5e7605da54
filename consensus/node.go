package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/charta/charta/ledger"
)

// Node is one Raft server with the ledger as its state machine.
type Node struct {
	cfg    Config
	log    *slog.Logger
	ledger *ledger.Ledger
	fsm    *fsm
	st     *stores
	trans  *raft.NetworkTransport
	raft   atomic.Pointer[raft.Raft] // nil until raft is running
	peers  *peerBook
	// deferSync: the state store commits without fsync (durability.go).
	deferSync bool

	obsCh    chan raft.Observation
	observer *raft.Observer
	// failing holds, on the leader, the peers whose heartbeats fail, as
	// the background loop last saw them; TransferLeadership avoids them.
	failing atomic.Pointer[map[raft.ServerID]bool]

	stop     chan struct{}
	wg       sync.WaitGroup
	downOnce sync.Once
	downErr  error
}

// Status is a node's view of the cluster.
type Status struct {
	ID           string `json:"id"`
	State        string `json:"state"` // "leader", "follower", "candidate" or "shutdown"
	Term         uint64 `json:"term"`
	Leader       string `json:"leader"`
	LeaderAddr   string `json:"leader_addr"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"` // the ledger's applied index
	// CommandIndex is the last committed entry that is a proposal, the
	// one the ledger's applied index must reach to reflect everything
	// committed (no-ops and configuration changes never reach the ledger).
	CommandIndex uint64        `json:"command_index"`
	LastIndex    uint64        `json:"last_index"`
	LastContact  time.Duration `json:"last_contact"` // since the last contact with the leader; 0 on the leader
}

// Server is one server of the Raft configuration.
type Server struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"` // "voter" or "nonvoter"
	Leader   bool   `json:"leader"`
}

// New opens the ledger and Raft's stores under cfg.Dir, starts Raft on the
// mTLS transport, bootstraps a founder's first start, and starts the
// membership reconciler.
func New(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	id, err := cfg.TLS.Load()
	if err != nil {
		return nil, err
	}
	if id.ID != cfg.ID {
		return nil, fmt.Errorf("consensus: certificate %s is for node %s, not %s", cfg.TLS.CertFile, id.ID, cfg.ID)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}
	log := cfg.Logger.With("node", cfg.ID)
	n := &Node{
		cfg:   cfg,
		log:   log,
		peers: newPeerBook(),
		obsCh: make(chan raft.Observation, 128),
		stop:  make(chan struct{}),
	}
	ok := false
	defer func() {
		if !ok {
			n.closeStores()
		}
	}()
	if !cfg.NoSync {
		if n.deferSync, err = prepareStateStore(cfg.Dir, cfg.BootIDFile, log); err != nil {
			return nil, err
		}
	}
	opts := ledger.Options{NoSync: cfg.NoSync, DeferSync: n.deferSync, OnStoreFailure: cfg.OnStoreFailure}
	if n.ledger, err = ledger.Open(filepath.Join(cfg.Dir, "state.db"), cfg.Genesis, opts); err != nil {
		return nil, err
	}
	n.fsm = newFSM(n.ledger)

	level := hclog.Warn
	if cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		level = hclog.Debug
	}
	hlog := newHCLog(log, "raft", level)
	if n.st, err = openStores(cfg.Dir, cfg.NoSync, hlog); err != nil {
		return nil, err
	}
	if restored, err := catchUpFromSnapshot(n.st, n.ledger); err != nil {
		return nil, err
	} else if restored {
		log.Info("ledger restored from the newest snapshot before starting raft", "applied", n.ledger.AppliedIndex())
	}

	stream, err := newStreamLayer(cfg.BindAddr, cfg.AdvertiseAddr, id, peerPolicy{admit: n.admitPeer, expect: n.peers.expect, snapshot: n.vetSnapshot}, log)
	if err != nil {
		return nil, err
	}
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:          stream,
		MaxPool:         3,
		MaxRPCsInFlight: RPCsInFlight,
		Timeout:         10 * time.Second,
		Logger:          hlog.Named("transport"),
	})

	rc := cfg.RaftConfig(hlog)
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("consensus: raft config: %w", err)
	}

	if cfg.Bootstrap {
		has, err := raft.HasExistingState(n.st.logs, n.st.bolt, n.st.snaps)
		if err != nil {
			return nil, fmt.Errorf("consensus: %w", err)
		}
		if !has {
			conf, err := genesisConfiguration(cfg.Genesis, cfg.ID, cfg.MaxVoters)
			if err != nil {
				return nil, err
			}
			if err := raft.BootstrapCluster(rc, n.st.logs, n.st.bolt, n.st.snaps, n.trans, conf); err != nil {
				return nil, fmt.Errorf("consensus: bootstrap: %w", err)
			}
			log.Info("bootstrapped raft from genesis", "servers", len(conf.Servers))
		}
	}

	if err := recoverFromPeersJSON(rc, n, log); err != nil {
		return nil, err
	}
	// Before Raft starts, so that its first state changes are counted.
	if cfg.Registerer != nil {
		if err := registerRaftMetrics(cfg.Registerer); err != nil {
			log.Warn("raft metrics are not exported", "err", err)
		}
	}
	r, err := raft.NewRaft(rc, n.fsm, n.st.logs, n.st.bolt, n.st.snaps, n.trans)
	if err != nil {
		return nil, fmt.Errorf("consensus: start raft: %w", err)
	}
	n.raft.Store(r)
	n.observer = raft.NewObserver(n.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation, raft.PeerObservation:
			return true
		}
		return false
	})
	r.RegisterObserver(n.observer)
	n.refreshPeers()
	n.wg.Add(1)
	go n.run()
	ok = true
	return n, nil
}

// genesisConfiguration is the first Raft configuration: the founders that
// have a raft_addr, in ID order, voters up to maxVoters and non-voters
// after that.
func genesisConfiguration(g *ledger.Genesis, self string, maxVoters int) (raft.Configuration, error) {
	var conf raft.Configuration
	found := false
	for _, m := range g.Members {
		if m.Node.RaftAddr == "" {
			continue
		}
		s := raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Node.RaftAddr)}
		if len(conf.Servers) >= maxVoters {
			s.Suffrage = raft.Nonvoter
		}
		conf.Servers = append(conf.Servers, s)
		found = found || m.ID == self
	}
	if !found {
		return conf, fmt.Errorf("consensus: bootstrap: %s is not a founder with a raft_addr in the genesis", self)
	}
	return conf, nil
}

// r returns the running Raft; nil before New finished.
func (n *Node) r() *raft.Raft { return n.raft.Load() }

// Ledger returns the node's ledger, for reads.
func (n *Node) Ledger() *ledger.Ledger { return n.ledger }

// ObserveApply makes fn see every batch applied from now on (nil stops
// it); it replaces any observer set before.
func (n *Node) ObserveApply(fn ApplyObserver) {
	if fn == nil {
		n.fsm.observe.Store(nil)
		return
	}
	n.fsm.observe.Store(&fn)
}

// ID returns the node's ID, which is its member ID.
func (n *Node) ID() string { return n.cfg.ID }

func (n *Node) isDown() bool {
	select {
	case <-n.stop:
		return true
	default:
		return false
	}
}

// Propose appends a signed envelope to the log, stamped with this node's
// clock, and returns the ledger's result once it is applied here. Only the
// leader proposes; elsewhere it returns ErrNotLeader. If the entry was
// handed to Raft but its fate is unknown (leadership lost, timeout,
// shutdown), the error wraps ErrAmbiguous: the entry may still commit.
func (n *Node) Propose(ctx context.Context, envelope []byte) (*ledger.Result, error) {
	return n.ProposeDecoded(ctx, envelope, nil)
}

// ProposeDecoded is Propose for an envelope the caller had the ledger
// decode already (ledger.Admission.Decoded): this node's state machine
// applies the entry with it rather than decoding the envelope again. The
// ledger uses it only if it was decoded from these very bytes.
func (n *Node) ProposeDecoded(ctx context.Context, envelope []byte, d *ledger.Decoded) (*ledger.Result, error) {
	record := ledger.EncodeRecord(n.cfg.Clock(), envelope)
	if d != nil && len(record) > 0 {
		// Raft hands the leader's state machine the very slice it was
		// given, so the record's first byte identifies it.
		n.fsm.decoded.Store(&record[0], d)
		defer n.fsm.decoded.Delete(&record[0])
	}
	return n.propose(ctx, record)
}

// ProposeTime appends a time record with the given body (see
// ledger.EncodeTimeBody) and returns its result once applied here. Leader
// only, with Propose's errors.
func (n *Node) ProposeTime(ctx context.Context, body []byte) (*ledger.Result, error) {
	return n.propose(ctx, ledger.EncodeTimeRecord(body))
}

func (n *Node) propose(ctx context.Context, record []byte) (*ledger.Result, error) {
	if n.isDown() {
		return nil, ErrShutdown
	}
	r := n.r()
	if r.State() != raft.Leader {
		return nil, n.notLeader()
	}
	timeout := n.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = time.Until(d)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded)
	}
	f := r.Apply(record, timeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	wait := time.NewTimer(n.cfg.ApplyTimeout)
	defer wait.Stop()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrAmbiguous, ctx.Err())
	case <-wait.C:
		return nil, fmt.Errorf("%w: not applied within %s", ErrAmbiguous, n.cfg.ApplyTimeout)
	}
	if err != nil {
		return nil, n.applyError(err)
	}
	res, ok := f.Response().(*ledger.Result)
	if !ok || res == nil {
		return nil, fmt.Errorf("consensus: entry %d has no ledger result", f.Index())
	}
	return res, nil
}

// applyError maps the error of an apply future.
func (n *Node) applyError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		// Refused before it reached the log.
		return fmt.Errorf("%w (%v)", n.notLeader(), err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %v", ErrAmbiguous, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrAmbiguous, ErrShutdown)
	default:
		return fmt.Errorf("%w: %v", ErrAmbiguous, err)
	}
}

// notLeader returns ErrNotLeader naming the leader when known.
func (n *Node) notLeader() error {
	if id, addr := n.Leader(); id != "" {
		return fmt.Errorf("%w: the leader is %s at %s", ErrNotLeader, id, addr)
	}
	return fmt.Errorf("%w: no leader is known", ErrNotLeader)
}

// IsLeader reports whether this node is the Raft leader.
func (n *Node) IsLeader() bool {
	r := n.r()
	return r != nil && r.State() == raft.Leader
}

// Leader returns the current leader's ID and Raft address, "" when unknown.
func (n *Node) Leader() (id, raftAddr string) {
	r := n.r()
	if r == nil {
		return "", ""
	}
	addr, sid := r.LeaderWithID()
	return string(sid), string(addr)
}

// ReadIndex returns an index that a linearizable read must wait for (with
// WaitApplied) before reading local state. Only the leader answers: it
// captures its last log index, then confirms with a quorum that it is
// still the leader. The index returned is that of the last command entry
// at or below it, because only commands move the ledger's applied index.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if n.isDown() {
		return 0, ErrShutdown
	}
	r := n.r()
	if r.State() != raft.Leader {
		return 0, n.notLeader()
	}
	floor := n.ledger.AppliedIndex()
	last := r.LastIndex()
	f := r.VerifyLeader()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			if errors.Is(err, raft.ErrRaftShutdown) {
				return 0, ErrShutdown
			}
			return 0, fmt.Errorf("%w (%v)", n.notLeader(), err)
		}
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: verifying leadership: %w", ErrTimeout, ctx.Err())
	}
	return lastCommandAtOrBelow(n.st.logs, last, floor), nil
}

// WaitApplied waits until the ledger has applied index, ctx ends, or the
// node shuts down. It wakes on the ledger's notifications, without polling.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		applied, restored := n.ledger.Applied(), n.fsm.restored()
		if n.ledger.AppliedIndex() >= index {
			return nil
		}
		select {
		case <-applied:
		case <-restored:
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for index %d (applied %d): %w", ErrTimeout, index, n.ledger.AppliedIndex(), ctx.Err())
		case <-n.stop:
			return ErrShutdown
		}
	}
}

// Status returns the node's view of the cluster.
func (n *Node) Status() Status {
	s := Status{ID: n.cfg.ID, State: "shutdown", AppliedIndex: n.ledger.AppliedIndex()}
	r := n.r()
	if r == nil {
		return s
	}
	s.State = strings.ToLower(r.State().String())
	s.Term = r.CurrentTerm()
	s.Leader, s.LeaderAddr = n.Leader()
	s.CommitIndex = r.CommitIndex()
	s.CommandIndex = lastCommandAtOrBelow(n.st.logs, s.CommitIndex, s.AppliedIndex)
	s.LastIndex = r.LastIndex()
	if r.State() != raft.Leader {
		if lc := r.LastContact(); !lc.IsZero() {
			s.LastContact = time.Since(lc)
		}
	}
	return s
}

// Servers returns the latest Raft configuration.
func (n *Node) Servers() ([]Server, error) {
	if n.isDown() {
		return nil, ErrShutdown
	}
	r := n.r()
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("consensus: configuration: %w", err)
	}
	leader, _ := n.Leader()
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{
			ID:       string(s.ID),
			Address:  string(s.Address),
			Suffrage: suffrage(s.Suffrage),
			Leader:   string(s.ID) == leader,
		})
	}
	return out, nil
}

func suffrage(s raft.ServerSuffrage) string {
	if s == raft.Voter {
		return "voter"
	}
	return "nonvoter"
}

// Join adds the node of member id, reachable at addr, to the cluster. Only
// the leader does it, and only for an active member of the ledger (else the
// error wraps ErrNotMember). It adds a voter while there are fewer than
// MaxVoters, else a non-voter; a server already present keeps its
// suffrage and gets the new address.
func (n *Node) Join(ctx context.Context, id, addr string) error {
	if n.isDown() {
		return ErrShutdown
	}
	r := n.r()
	if r.State() != raft.Leader {
		return n.notLeader()
	}
	if err := n.activeMember(id); err != nil {
		return err
	}
	if addr == "" {
		return errors.New("consensus: join: a raft address is required")
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return n.applyError(err)
	}
	voters := 0
	var cur *raft.Server
	for i, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
		if string(s.ID) == id {
			cur = &f.Configuration().Servers[i]
		}
	}
	// A new server joins as a non-voter; the reconciler promotes it once
	// it is in contact, so a node that never comes up cannot cost quorum.
	asVoter := false
	if cur != nil {
		if string(cur.Address) == addr {
			return nil
		}
		asVoter = cur.Suffrage == raft.Voter
	}
	n.peers.set(addr, id)
	timeout := n.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = time.Until(d)
	}
	var fut raft.IndexFuture
	if asVoter {
		fut = r.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), f.Index(), timeout)
	} else {
		fut = r.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), f.Index(), timeout)
	}
	if err := fut.Error(); err != nil {
		return fmt.Errorf("consensus: join %s: %w", id, n.applyError(err))
	}
	n.log.Info("server joined", "id", id, "addr", addr, "voter", asVoter)
	return nil
}

// activeMember returns nil if id is an active member of the ledger.
func (n *Node) activeMember(id string) error {
	var m *ledger.Member
	var ok bool
	if err := n.ledger.View(func(v *ledger.View) error { m, ok = v.Member(id); return nil }); err != nil {
		return fmt.Errorf("consensus: %w", err)
	}
	switch {
	case !ok:
		return fmt.Errorf("%w: %s is not a member", ErrNotMember, id)
	case m.Status != ledger.MemberActive:
		return fmt.Errorf("%w: member %s is %s", ErrNotMember, id, m.Status)
	}
	return nil
}

// TransferLeadership hands leadership to another voter, not one of avoid.
func (n *Node) TransferLeadership(avoid ...string) error {
	if n.isDown() {
		return ErrShutdown
	}
	r := n.r()
	if r.State() != raft.Leader {
		return n.notLeader()
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return n.applyError(err)
	}
	var failing map[raft.ServerID]bool
	if p := n.failing.Load(); p != nil {
		failing = *p
	}
	// Voters in contact, in configuration order; one that fails to take
	// over (it may have died since its last heartbeat) gives way to the
	// next.
	var errs []error
	for _, s := range f.Configuration().Servers {
		if s.Suffrage != raft.Voter || s.ID == raft.ServerID(n.cfg.ID) || failing[s.ID] || slices.Contains(avoid, string(s.ID)) {
			continue
		}
		err := r.LeadershipTransferToServer(s.ID, s.Address).Error()
		if err == nil {
			return nil
		}
		if errors.Is(err, raft.ErrNotLeader) {
			return n.notLeader()
		}
		errs = append(errs, fmt.Errorf("%s: %w", s.ID, err))
	}
	if len(errs) == 0 {
		return fmt.Errorf("%w: no other voter is in contact", ErrNoTransferTarget)
	}
	return fmt.Errorf("%w: %w", ErrNoTransferTarget, errors.Join(errs...))
}

// Backup streams a consistent snapshot of the ledger to w. Apply goes on
// meanwhile. The stream is what the ledger's Restore accepts.
func (n *Node) Backup(w io.Writer) (int64, error) {
	if n.isDown() {
		return 0, ErrShutdown
	}
	s, err := n.ledger.Snapshot()
	if err != nil {
		return 0, err
	}
	defer s.Release()
	return s.WriteTo(w)
}

// Shutdown stops the node: a leader first hands leadership to another
// voter, then Raft stops and the stores close. It is idempotent.
func (n *Node) Shutdown() error {
	n.downOnce.Do(func() {
		r := n.r()
		if r.State() == raft.Leader && n.otherVoters() {
			if err := n.TransferLeadership(); err != nil {
				n.log.Warn("leadership transfer before shutdown failed", "err", err)
			}
		}
		close(n.stop)
		n.wg.Wait()
		r.DeregisterObserver(n.observer)
		if err := r.Shutdown().Error(); err != nil {
			n.downErr = fmt.Errorf("consensus: raft shutdown: %w", err)
		}
		if err := n.closeStores(); err != nil && n.downErr == nil {
			n.downErr = err
		}
	})
	return n.downErr
}

// otherVoters reports whether the configuration has a voter besides us.
func (n *Node) otherVoters() bool {
	f := n.r().GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.ID {
			return true
		}
	}
	return false
}

func (n *Node) closeStores() error {
	var errs []error
	if n.trans != nil {
		errs = append(errs, n.trans.Close())
	}
	if n.st != nil {
		errs = append(errs, n.st.close())
	}
	if n.ledger != nil {
		err := n.ledger.Close() // syncs a store that deferred its fsyncs
		if n.deferSync {
			err = errors.Join(err, stateStoreClosed(n.cfg.Dir, err == nil))
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// admitPeer is the transport's membership check for the node ID in a
// peer's certificate. A member of the ledger is admitted unless removed.
// An ID the ledger does not know is refused while this node follows a
// leader; without a leader (a node just joining, or one restarted far
// behind), or when the ID is the leader's, it is admitted, because a
// member admitted after the local ledger's state must be able to bring
// this node up to date. The peer has in any case been issued a
// certificate by the consortium CA.
func (n *Node) admitPeer(id string) error {
	var m *ledger.Member
	var ok bool
	if err := n.ledger.View(func(v *ledger.View) error { m, ok = v.Member(id); return nil }); err != nil {
		return fmt.Errorf("consensus: peer %s: %w", id, err)
	}
	if ok {
		if m.Status != ledger.MemberActive {
			return fmt.Errorf("consensus: peer %s is a %s member", id, m.Status)
		}
		return nil
	}
	if leader, _ := n.Leader(); leader != "" && leader != id {
		return fmt.Errorf("consensus: peer %s is not a member", id)
	}
	return nil
}

// vetSnapshot is the transport's snapshot policy (see guardedConn): the
// ledger receives a snapshot offered by a peer into a file beside its
// state and checks it, exactly as a restore would, Config.VouchSnapshot
// (if set) must vouch for it, and Raft then reads the checked copy back.
// A refusal is logged with its reason.
func (n *Node) vetSnapshot(body io.Reader) (io.ReadCloser, error) {
	var vouch func(v *ledger.View) error
	if f := n.cfg.VouchSnapshot; f != nil {
		vouch = func(v *ledger.View) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				select {
				case <-n.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			return f(ctx, v)
		}
	}
	rc, err := n.ledger.CheckSnapshot(body, vouch)
	if err != nil {
		n.log.Warn("refused a snapshot a peer offered", "err", err)
	}
	return rc, err
}
