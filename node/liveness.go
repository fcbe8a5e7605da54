package node

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/charta/charta/ledger"
)

// How often a node asks the other members' nodes whether they are up, and
// how long without an answer makes one down.
const (
	livenessInterval  = 2 * time.Second
	livenessDownAfter = 5 * time.Second
)

// liveness remembers when this node last got an answer from each other
// member's node, for the dashboard's cluster view. It is advisory: Raft's
// own heartbeats decide leadership.
type liveness struct {
	mu      sync.Mutex
	started time.Time            // when watching started; zero if it never did
	seen    map[string]time.Time // member → last answer from its node
}

// watchPeers asks every other active member's node for /healthz every
// livenessInterval until ctx ends.
func (s *Server) watchPeers(ctx context.Context) {
	s.alive.mu.Lock()
	s.alive.started = s.clock()
	s.alive.seen = map[string]time.Time{}
	s.alive.mu.Unlock()
	t := time.NewTicker(livenessInterval)
	defer t.Stop()
	for {
		var peers []peer
		s.l.View(func(v *ledger.View) error { peers = s.peers(v, ""); return nil })
		var wg sync.WaitGroup
		for _, p := range peers {
			wg.Go(func() {
				if s.probe(ctx, p.url) {
					s.alive.mu.Lock()
					s.alive.seen[p.member] = s.clock()
					s.alive.mu.Unlock()
				}
			})
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe reports whether the node at url answers /healthz within a second.
func (s *Server) probe(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// peerState says whether member's node is up as this node sees it
// ("up", "down", or "" when it cannot tell), and when it last answered.
func (s *Server) peerState(member string) (string, time.Time) {
	if member == s.c.ID() {
		return "up", s.clock()
	}
	s.alive.mu.Lock()
	defer s.alive.mu.Unlock()
	if s.alive.started.IsZero() {
		return "", time.Time{}
	}
	now := s.clock()
	seen, ok := s.alive.seen[member]
	switch {
	case ok && now.Sub(seen) <= livenessDownAfter:
		return "up", seen
	case !ok && now.Sub(s.alive.started) <= livenessDownAfter:
		return "", time.Time{}
	}
	return "down", seen
}
