package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

func (s *Server) registerEventRoutes(r *mux.Router) {
	s.handle(r, http.MethodGet, "/v1/events", "handleEvents", routeOpts{access: accessMember}, s.handleEvents)
}

// eventsHeartbeat is how often an idle event stream sends a comment, so
// that proxies keep it open and dead clients are noticed.
const eventsHeartbeat = 15 * time.Second

// eventsBatch bounds the entries one stream holds in memory at a time.
const eventsBatch = 16

// streams counts the open event streams of each member (the operator's
// under ""), so that one member's clients cannot use up a node's memory
// and time that the others need.
type streams struct {
	mu   sync.Mutex
	open map[string]int
}

// take opens a stream for member unless it has max open already.
func (st *streams) take(member string, max int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.open == nil {
		st.open = map[string]int{}
	}
	if st.open[member] >= max {
		return false
	}
	st.open[member]++
	return true
}

func (st *streams) release(member string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.open[member]--; st.open[member] <= 0 {
		delete(st.open, member)
	}
}

// count is the number of streams open for member.
func (st *streams) count(member string) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.open[member]
}

// handleEvents streams committed journal entries as server-sent events:
// event "entry", id = the entry's seq, data = the entry as JSON. A client
// resumes with Last-Event-ID (the last seq it saw) or ?from=<seq> (the
// first seq it wants); without either it gets entries committed from now on.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	var next uint64
	switch last, from := r.Header.Get("Last-Event-ID"), r.URL.Query().Get("from"); {
	case last != "":
		n, err := strconv.ParseUint(last, 10, 64)
		if err != nil {
			s.writeProblem(w, r, errorf(ledger.CodeInvalid, "Last-Event-ID: %q is not a journal position", last))
			return
		}
		next = n + 1
	case from != "":
		n, err := strconv.ParseUint(from, 10, 64)
		if err != nil {
			s.writeProblem(w, r, errorf(ledger.CodeInvalid, "from: %q is not a journal position", from))
			return
		}
		next = n
	default:
		s.l.View(func(v *ledger.View) error { next = v.Head().Size; return nil })
	}
	ctx := r.Context()
	p := principalOf(ctx)
	if !s.streams.take(p.member, s.cfg.StreamsPerMember) {
		s.writeProblem(w, r, errorf(api.CodeRateLimited, "%d event streams are open for this member already, the most a node serves one member", s.cfg.StreamsPerMember).retry(5))
		return
	}
	defer s.streams.release(p.member)
	rc := http.NewResponseController(w)
	// Every send has StreamWriteLimit to reach the client, instead of the
	// server's WriteTimeout for the whole response. A client that takes
	// longer than half of it is reading too slowly: it is told why while
	// its connection still takes writes, and cut off. One that stopped
	// reading meets the deadline.
	send := func(write func() error) bool {
		start := time.Now()
		rc.SetWriteDeadline(start.Add(s.cfg.StreamWriteLimit))
		if err := write(); err != nil {
			s.metrics.streamsCut.Inc()
			return false
		}
		if err := rc.Flush(); err != nil {
			s.metrics.streamsCut.Inc()
			return false
		}
		if took := time.Since(start); took > s.cfg.StreamWriteLimit/2 {
			s.metrics.streamsCut.Inc()
			rc.SetWriteDeadline(time.Now().Add(time.Second))
			fmt.Fprintf(w, "event: closed\ndata: {\"reason\":\"slow reader: the last send took %s, over half of %s; resume with ?from=%d\",\"from\":%d}\n\n",
				took.Round(time.Millisecond), s.cfg.StreamWriteLimit, next, next)
			rc.Flush()
			return false
		}
		return true
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	if !send(func() error { w.WriteHeader(http.StatusOK); return nil }) {
		return
	}
	heartbeat := time.NewTicker(eventsHeartbeat)
	defer heartbeat.Stop()
	for {
		// A revoked or expired token, or a removed member, ends the stream.
		if !s.stillValid(p) {
			return
		}
		// Take the wake-up channel before reading, so that an entry
		// applied between the read and the wait is not missed.
		applied := s.l.Applied()
		var batch []*ledger.Entry
		s.l.View(func(v *ledger.View) error {
			batch = v.Entries(next, eventsBatch)
			for i, e := range batch {
				batch[i] = entryFor(v, p, e)
			}
			return nil
		})
		if len(batch) > 0 {
			ok := send(func() error {
				for _, e := range batch {
					data, err := json.Marshal(e)
					if err != nil {
						return fmt.Errorf("encode entry %d: %w", e.Seq, err)
					}
					if _, err := fmt.Fprintf(w, "id: %d\nevent: entry\ndata: %s\n\n", e.Seq, data); err != nil {
						return err
					}
					next = e.Seq + 1
				}
				return nil
			})
			if !ok {
				return
			}
			if len(batch) == eventsBatch {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-applied:
		case <-heartbeat.C:
			if !send(func() error { _, err := fmt.Fprint(w, ": keep-alive\n\n"); return err }) {
				return
			}
		}
	}
}
