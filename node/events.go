package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/gorilla/mux"
)

func (s *Server) registerEventRoutes(r *mux.Router) {
	s.handle(r, http.MethodGet, "/v1/events", "handleEvents", routeOpts{access: accessMember}, s.handleEvents)
}

// eventsHeartbeat is how often an idle event stream sends a comment, so
// that proxies keep it open and dead clients are noticed.
const eventsHeartbeat = 15 * time.Second

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
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlives WriteTimeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	ctx := r.Context()
	p := principalOf(ctx)
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
			batch = v.Entries(next, 100)
			for i, e := range batch {
				batch[i] = entryFor(v, p, e)
			}
			return nil
		})
		// Each write has its own deadline: a client that stops reading is
		// cut off instead of holding the stream open.
		rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		for _, e := range batch {
			data, err := json.Marshal(e)
			if err != nil {
				s.log.Error("encode event", "seq", e.Seq, "err", err)
				return
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: entry\ndata: %s\n\n", e.Seq, data); err != nil {
				return
			}
			next = e.Seq + 1
		}
		if len(batch) > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
			if len(batch) == 100 {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-applied:
		case <-heartbeat.C:
			rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}
