package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

func (s *Server) registerClusterRoutes(r *mux.Router) {
	member := routeOpts{access: accessMember}
	s.handle(r, http.MethodGet, "/v1/status", "handleStatus", member, s.handleStatus)
	s.handle(r, http.MethodGet, "/v1/cluster", "handleClusterList", member, s.handleClusterList)
	s.handle(r, http.MethodPost, "/v1/cluster/join", "handleClusterJoin", routeOpts{access: accessAdmin}, s.handleClusterJoin)
	s.handle(r, http.MethodPost, "/v1/cluster/transfer-leadership", "handleClusterTransfer", routeOpts{access: accessOperator}, s.handleClusterTransfer)
	// Public: it reveals only an index, and followers must not send their
	// callers' tokens to another member's node to ask for it.
	s.handle(r, http.MethodGet, "/v1/cluster/read-index", "handleClusterReadIndex", routeOpts{access: accessPublic}, s.handleClusterReadIndex)
	s.handle(r, http.MethodGet, "/v1/backup", "handleBackup", routeOpts{access: accessOperator}, s.handleBackup)
}

// handleStatus reports the node's role, indices, journal head and state
// digest. It answers whatever the cluster's state, so it takes no
// consistency parameter.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := s.c.Status()
	out := api.Status{ID: s.c.ID(), Role: st.State, Leader: st.Leader, Term: st.Term,
		CommitIndex: st.CommitIndex, Version: s.cfg.Version, Voters: []string{}, Nonvoters: []string{}, Alarms: s.alarms()}
	if servers, err := s.c.Servers(); err == nil {
		for _, sv := range servers {
			if sv.Suffrage == "voter" {
				out.Voters = append(out.Voters, sv.ID)
			} else {
				out.Nonvoters = append(out.Nonvoters, sv.ID)
			}
		}
	} else {
		s.log.Warn("status: cluster configuration unavailable", "err", err)
	}
	s.view(w, func(v *ledger.View) error {
		out.AppliedIndex = v.AppliedIndex()
		out.Consortium = v.Consortium()
		out.JournalHead = v.Head()
		out.LedgerTime = v.LedgerTime()
		out.StateDigest = s.stateDigest(v)
		out.SealAuditors = v.SealAuditors()
		return nil
	})
	out.Time = s.timeStatus()
	s.writeJSON(w, r, http.StatusOK, out)
}

// stateDigest returns the view's state digest, computed once per applied
// index: it hashes the whole state.
func (s *Server) stateDigest(v *ledger.View) ledger.Hash {
	s.digestMu.Lock()
	defer s.digestMu.Unlock()
	if !s.digestOK || s.digestIndex != v.AppliedIndex() {
		s.digest, s.digestIndex, s.digestOK = v.Digest(), v.AppliedIndex(), true
	}
	return s.digest
}

// handleClusterList lists the Raft configuration.
func (s *Server) handleClusterList(w http.ResponseWriter, r *http.Request) {
	servers, err := s.c.Servers()
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, newList(servers, ""))
}

// handleClusterJoin adds a member's node to Raft, on the leader; a follower
// forwards the request to it.
func (s *Server) handleClusterJoin(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.cfg.BodyLimit)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var req api.JoinRequest
	if err := ledger.DecodeStrict(body, &req); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if !ledger.ValidMemberID(req.ID) {
		s.writeProblem(w, r, errorf(ledger.CodeInvalid, "id: %q is not a member ID", req.ID))
		return
	}
	if _, _, err := net.SplitHostPort(req.RaftAddr); err != nil {
		s.writeProblem(w, r, errorf(ledger.CodeInvalid, "raft_addr: %q is not host:port", req.RaftAddr))
		return
	}
	// Only a member may place its own node (a new one, or at a new
	// address); a node's operator may place that node.
	if p := principalOf(r.Context()); p.member != req.ID && !(p.operator && req.ID == s.c.ID()) {
		s.writeProblem(w, r, errorf(ledger.CodeForbidden, "id: only member %s itself may join or move its node", req.ID))
		return
	}
	// The address is the one the ledger records for the member's node
	// (from genesis or its admission ballot), so that a token alone cannot
	// point Raft elsewhere. A node that moves is first recorded at its new
	// address by the consortium.
	var recorded string
	s.l.View(func(v *ledger.View) error {
		if m, ok := v.Member(req.ID); ok {
			recorded = m.Node.RaftAddr
		}
		return nil
	})
	if recorded != "" && req.RaftAddr != recorded {
		s.writeProblem(w, r, errorf(ledger.CodeForbidden, "raft_addr: member %s's node is recorded at %s, not %s; a node joins at the address the consortium recorded for it",
			req.ID, recorded, req.RaftAddr))
		return
	}
	if !s.c.IsLeader() {
		s.forward(w, r, body)
		return
	}
	if err := s.c.Join(r.Context(), req.ID, req.RaftAddr); err != nil {
		if errors.Is(err, ErrNotLeader) {
			s.forward(w, r, body)
			return
		}
		s.writeProblem(w, r, err)
		return
	}
	s.setIndex(w, s.l.AppliedIndex())
	s.writeJSON(w, r, http.StatusOK, req)
}

// handleClusterTransfer hands leadership to another voter.
func (s *Server) handleClusterTransfer(w http.ResponseWriter, r *http.Request) {
	if !s.c.IsLeader() {
		s.writeProblem(w, r, errorf(ledger.CodeInvalid, "%s is not the leader; send this to the leader", s.c.ID()))
		return
	}
	if err := s.c.TransferLeadership(); err != nil {
		if errors.Is(err, consensus.ErrNoTransferTarget) {
			err = errorf(api.CodeUnavailable, "no other voter took over leadership, so %s stays leader: %v", s.c.ID(), err).retry(1)
		}
		s.writeProblem(w, r, err)
		return
	}
	id, _ := s.c.Leader()
	s.writeJSON(w, r, http.StatusOK, api.Transfer{Previous: s.c.ID(), Leader: id})
}

// handleClusterReadIndex gives a follower the index a linearizable read
// must wait for. Leader only.
func (s *Server) handleClusterReadIndex(w http.ResponseWriter, r *http.Request) {
	if !s.c.IsLeader() {
		s.writeProblem(w, r, errorf(api.CodeUnavailable, "%s is not the leader; retry", s.c.ID()).retry(1))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.MaxWait)
	defer cancel()
	idx, err := s.c.ReadIndex(ctx)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, api.ReadIndex{Index: idx})
}

// handleBackup streams a consistent snapshot of the ledger.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	// A backup may outlast WriteTimeout, but a client that stops reading
	// must not hold the snapshot (and its read lock) for ever: each write
	// gets its own deadline.
	rc := http.NewResponseController(w)
	// Buffer the first bytes so that a failure before any data becomes a
	// problem document rather than a truncated 200.
	bw := &lazyWriter{w: w, rc: rc, idle: s.cfg.WriteTimeout}
	n, err := s.c.Backup(bw)
	if err != nil {
		if !bw.started {
			s.writeProblem(w, r, err)
			return
		}
		s.log.Error("backup stream failed", "request_id", requestID(r.Context()), "bytes", n, "err", err)
		panic(http.ErrAbortHandler) // cut the connection so the client sees a broken stream
	}
	if !bw.started {
		bw.start()
	}
}

// lazyWriter sets the backup's headers on the first write.
type lazyWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	idle    time.Duration // each write must complete within this
	started bool
}

func (l *lazyWriter) start() {
	l.started = true
	h := l.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="charta-backup.snap"`)
	l.w.WriteHeader(http.StatusOK)
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.start()
	}
	if l.rc != nil && l.idle > 0 {
		l.rc.SetWriteDeadline(time.Now().Add(l.idle))
	}
	return l.w.Write(p)
}

// forward sends a write to the leader's API and copies its answer back. A
// request that was already forwarded is not forwarded again.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	if from := r.Header.Get(ForwardedHeader); from != "" {
		s.writeProblem(w, r, errorf(api.CodeUnavailable, "%s forwarded this to %s, which is not the leader; retry shortly", from, s.c.ID()).retry(1))
		return
	}
	path := r.URL.Path
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	url, err := s.leaderURL(path)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ForwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, url, bytes.NewReader(body))
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	// Proposals carry their own signatures: the caller's token stays on
	// this node. A join is the joining member's own request, so its token
	// goes with it.
	if a := r.Header.Get("Authorization"); a != "" && strings.HasSuffix(r.URL.Path, "/cluster/join") {
		req.Header.Set("Authorization", a)
	}
	req.Header.Set(ForwardedHeader, s.c.ID())
	s.metrics.forwarded.Inc()
	resp, err := s.client.Do(req)
	if err != nil {
		s.log.Warn("forward to leader failed", "url", url, "err", err)
		s.writeProblem(w, r, errorf(api.CodeUnavailable, "the leader could not be reached; resubmit the same request, it is idempotent").
			with("resubmit", true).retry(1))
		return
	}
	defer resp.Body.Close()
	// Read-your-writes on this node: answer once the entry the leader
	// reports has been applied here too, so that a client reading from
	// this node next sees its own write. A slow follower only delays the
	// answer, up to MaxWait; the write itself is already committed.
	if idx, err := strconv.ParseUint(resp.Header.Get(IndexHeader), 10, 64); err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.MaxWait)
		s.c.WaitApplied(ctx, idx)
		cancel()
	}
	for _, k := range []string{"Content-Type", "Retry-After", IndexHeader} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}
