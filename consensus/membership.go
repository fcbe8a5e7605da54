package consensus

import (
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/charta/charta/ledger"
)

// peerBook maps Raft addresses to the server IDs expected there, from the
// Raft configuration, so that the dialer can refuse a server presenting
// another node's certificate.
type peerBook struct {
	mu     sync.Mutex
	byAddr map[string]string
}

func newPeerBook() *peerBook { return &peerBook{byAddr: map[string]string{}} }

func (p *peerBook) expect(addr string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.byAddr[addr]
	return id, ok
}

func (p *peerBook) set(addr, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byAddr[addr] = id
}

// replace sets the book to the servers of a configuration. An address
// that was just announced with set but is not yet in the configuration is
// kept, so that a join in flight is dialled with the right expectation.
func (p *peerBook) replace(servers []raft.Server) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make(map[string]string, len(servers))
	ids := make(map[string]bool, len(servers))
	for _, s := range servers {
		next[string(s.Address)] = string(s.ID)
		ids[string(s.ID)] = true
	}
	for addr, id := range p.byAddr {
		if _, taken := next[addr]; !taken && !ids[id] {
			next[addr] = id
		}
	}
	p.byAddr = next
}

// refreshPeers loads the latest configuration into the peer book.
func (n *Node) refreshPeers() {
	f := n.r().GetConfiguration()
	if f.Error() == nil {
		n.peers.replace(f.Configuration().Servers)
	}
}

// reconcileGap is the least time between two reconciliations woken by
// applied batches, so that a busy ledger does not reconcile per batch.
const reconcileGap = 200 * time.Millisecond

// run is the node's background loop. On every node it keeps the peer book
// current; on the leader it makes the Raft configuration follow the
// ledger's membership. It wakes on applied batches (rate limited), on
// Raft observations and on a periodic tick.
func (n *Node) run() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.ReconcileInterval)
	defer tick.Stop()
	h := newHealth()
	var last time.Time
	gap := time.NewTimer(0)
	defer gap.Stop()
	gapArmed := true
	for {
		var applied <-chan struct{}
		if !gapArmed {
			applied = n.ledger.Applied()
		}
		select {
		case <-n.stop:
			return
		case <-tick.C:
		case o := <-n.obsCh:
			h.observe(o)
			n.failing.Store(h.failingSet())
		case <-applied:
			if d := reconcileGap - time.Since(last); d > 0 {
				gap.Reset(d)
				gapArmed = true
				continue
			}
		case <-gap.C:
			gapArmed = false
		}
		last = time.Now()
		n.refreshPeers()
		if n.IsLeader() {
			n.reconcile(h)
		}
	}
}

// health tracks, on the leader, which peers fail heartbeats and since
// when they were last in contact.
type health struct {
	failing   map[raft.ServerID]time.Time // peer → last contact, while failing
	firstSeen map[raft.ServerID]time.Time // when this leader first saw a server in the configuration
	// syncedTerm is the term in which a barrier last confirmed that the
	// ledger had applied everything committed before this leader's term.
	syncedTerm uint64
}

func newHealth() *health {
	return &health{failing: map[raft.ServerID]time.Time{}, firstSeen: map[raft.ServerID]time.Time{}}
}

func (h *health) observe(o raft.Observation) {
	switch d := o.Data.(type) {
	case raft.LeaderObservation:
		// A new term starts heartbeats afresh.
		clear(h.failing)
		clear(h.firstSeen)
	case raft.FailedHeartbeatObservation:
		if _, ok := h.failing[d.PeerID]; !ok {
			lc := d.LastContact
			if lc.IsZero() {
				lc = time.Now()
			}
			h.failing[d.PeerID] = lc
		}
	case raft.ResumedHeartbeatObservation:
		delete(h.failing, d.PeerID)
	case raft.PeerObservation:
		if d.Removed {
			delete(h.failing, d.Peer.ID)
			delete(h.firstSeen, d.Peer.ID)
		}
	}
}

// failingSet is a copy of the peers whose heartbeats fail.
func (h *health) failingSet() *map[raft.ServerID]bool {
	m := make(map[raft.ServerID]bool, len(h.failing))
	for id := range h.failing {
		m[id] = true
	}
	return &m
}

// down reports whether peer id has been out of contact for longer than d.
func (h *health) down(id raft.ServerID, d time.Duration) bool {
	lc, ok := h.failing[id]
	return ok && time.Since(lc) > d
}

// healthy reports whether peer id has been in the configuration long
// enough for a failure to show, and shows none.
func (h *health) healthy(id raft.ServerID, settle time.Duration) bool {
	_, failing := h.failing[id]
	seen, ok := h.firstSeen[id]
	return !failing && ok && time.Since(seen) > settle
}

// reconcile makes one change at a time towards the configuration the
// ledger asks for; the next wake-up continues. In order:
//  1. servers whose member is removed, suspended or unknown leave;
//  2. active members with a raft_addr that are not in the configuration
//     join as non-voters: a node that is not running yet (just admitted,
//     or not yet restarted after a restore) must not count towards the
//     quorum;
//  3. a voter out of contact for longer than VoterDeadAfter is demoted
//     when a healthy non-voter can take its place;
//  4. a healthy non-voter (in contact for a few heartbeats) is promoted
//     while there are fewer than MaxVoters voters.
func (n *Node) reconcile(h *health) {
	r := n.r()
	// A new leader may not have applied every committed entry yet: its
	// view of membership could be stale, and a stale view would remove a
	// server just admitted. A barrier per term waits for it.
	if term := r.CurrentTerm(); h.syncedTerm != term {
		if err := r.Barrier(n.cfg.ApplyTimeout).Error(); err != nil {
			n.logErr("barrier", err)
			return
		}
		h.syncedTerm = term
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return
	}
	servers, index := f.Configuration().Servers, f.Index()
	members := map[string]*ledger.Member{}
	if err := n.ledger.View(func(v *ledger.View) error {
		after := ""
		for {
			page, next := v.Members(after, 500)
			for _, m := range page {
				members[m.ID] = m
			}
			if next == "" {
				return nil
			}
			after = next
		}
	}); err != nil {
		n.log.Warn("reconcile: reading members", "err", err)
		return
	}
	now := time.Now()
	inConf := map[string]raft.Server{}
	voters := 0
	for _, s := range servers {
		inConf[string(s.ID)] = s
		if s.Suffrage == raft.Voter {
			voters++
		}
		if _, ok := h.firstSeen[s.ID]; !ok {
			h.firstSeen[s.ID] = now
		}
	}
	timeout := n.cfg.ApplyTimeout

	// 1. Removals.
	for _, s := range servers {
		m, ok := members[string(s.ID)]
		if ok && m.Status == ledger.MemberActive {
			continue
		}
		why := "not a member"
		if ok {
			why = "member is " + string(m.Status)
		}
		n.log.Info("reconcile: removing server", "id", s.ID, "why", why)
		n.logErr("remove "+string(s.ID), r.RemoveServer(s.ID, index, timeout).Error())
		return
	}

	// 2. Additions, in member ID order.
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := members[id]
		if m.Status != ledger.MemberActive || m.Node.RaftAddr == "" {
			continue
		}
		if _, ok := inConf[id]; ok {
			continue
		}
		n.peers.set(m.Node.RaftAddr, id)
		sid, addr := raft.ServerID(id), raft.ServerAddress(m.Node.RaftAddr)
		n.log.Info("reconcile: adding non-voter", "id", id, "addr", addr)
		n.logErr("add non-voter "+id, r.AddNonvoter(sid, addr, index, timeout).Error())
		return
	}

	// 3 and 4. Replace lost voters; fill free voter seats.
	settle := 4 * n.cfg.HeartbeatTimeout
	var candidate *raft.Server
	for i, s := range servers {
		if s.Suffrage == raft.Nonvoter && h.healthy(s.ID, settle) {
			candidate = &servers[i]
			break
		}
	}
	if candidate == nil {
		return
	}
	for _, s := range servers {
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.ID && h.down(s.ID, n.cfg.VoterDeadAfter) {
			n.log.Warn("reconcile: demoting unreachable voter", "id", s.ID, "replacement", candidate.ID)
			n.logErr("demote "+string(s.ID), r.DemoteVoter(s.ID, index, timeout).Error())
			return
		}
	}
	if voters < n.cfg.MaxVoters {
		n.log.Info("reconcile: promoting non-voter", "id", candidate.ID)
		n.logErr("promote "+string(candidate.ID), r.AddVoter(candidate.ID, candidate.Address, index, timeout).Error())
	}
}

func (n *Node) logErr(what string, err error) {
	if err != nil {
		n.log.Warn("reconcile: "+what+" failed", "err", err)
	}
}
