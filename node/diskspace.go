package node

import (
	"context"
	"sync"
	"syscall"
	"time"
)

// diskGuard watches the free space of the file system that holds the
// node's data, like etcd's NOSPACE alarm: below the reserve, the node
// refuses new proposals (which would grow its Raft log and state) and
// keeps serving reads, so that a full disk degrades the node to read-only
// instead of failing a commit.
type diskGuard struct {
	dir     string
	reserve uint64                           // bytes to keep free; 0 turns the guard off
	free    func(dir string) (uint64, error) // bytes available to the node's user
	now     func() time.Time

	mu      sync.Mutex
	checked time.Time
	avail   uint64
	err     error
}

// statfsFree is the bytes available to an unprivileged user on dir's
// file system.
func statfsFree(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// state returns the free bytes, at most a second old, and whether they are
// below the reserve.
func (g *diskGuard) state() (free uint64, low bool) {
	if g.reserve == 0 {
		return 0, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if now := g.now(); now.Sub(g.checked) >= time.Second {
		g.avail, g.err = g.free(g.dir)
		g.checked = now
	}
	if g.err != nil {
		return 0, false // an unreadable file system is not taken for a full one
	}
	return g.avail, g.avail < g.reserve
}

// watchDisk hands leadership over while this node leads with its disk
// below the reserve: the leader's refusal would stop every member's
// writes, a follower's stops only its own clients'. It checks every 2 s
// until ctx ends.
func (s *Server) watchDisk(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if free, low := s.disk.state(); low && s.c.IsLeader() {
			s.log.Warn("handing leadership over: this node's disk is below its reserve", "free_mib", free>>20, "reserve_mib", s.cfg.MinFreeBytes>>20)
			if err := s.c.TransferLeadership(); err != nil {
				s.log.Warn("no other voter took over; proposals get 507 until disk space is freed", "err", err)
			}
		}
	}
}

// alarms lists this node's raised alarms: "nospace" while its disk is
// below the reserve, and "clock" while its clock disagrees with the
// consortium's (see judgeClock).
func (s *Server) alarms() []string {
	var out []string
	if _, low := s.disk.state(); low {
		out = append(out, "nospace")
	}
	if s.clockSkewed() {
		out = append(out, "clock")
	}
	return out
}
