package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// writeEvent writes one SSE event carrying a journal entry.
func writeEvent(w http.ResponseWriter, seq uint64) {
	b, _ := json.Marshal(ledger.Entry{Seq: seq, Index: seq + 100, Outcome: ledger.Outcome{Status: ledger.StatusAccepted}})
	fmt.Fprintf(w, "id: %d\r\nevent: entry\r\ndata: %s\r\n\r\n", seq, b)
	w.(http.Flusher).Flush()
}

func TestEvents_ResumeWithLastEventID(t *testing.T) {
	f := newFake(t)
	var conns atomic.Int32
	f.handle("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		switch conns.Add(1) {
		case 1:
			fmt.Fprint(w, ": hello\n\nretry: 1\n\n")
			for seq := uint64(5); seq <= 7; seq++ {
				writeEvent(w, seq)
			}
			// The stream ends: the client must resume after 7.
		case 2:
			writeProblem(w, 503, "unavailable", "node is catching up", nil)
		default:
			writeEvent(w, 7) // a repeat, which the client must skip
			writeEvent(w, 8)
			fmt.Fprint(w, "data: {\"seq\":9,\n")
			fmt.Fprint(w, "data: \"index\":109}\n")
			fmt.Fprint(w, "id: 9\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	})
	c := f.client()
	var seqs []uint64
	for ev, err := range c.Events(ctxT(t), 5) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Entry == nil || ev.Entry.Seq != ev.Seq || ev.Entry.Index != ev.Seq+100 {
			t.Fatalf("event %+v: entry %+v", ev, ev.Entry)
		}
		seqs = append(seqs, ev.Seq)
		if ev.Seq == 9 {
			break
		}
	}
	if !slices.Equal(seqs, []uint64{5, 6, 7, 8, 9}) {
		t.Errorf("got seqs %v, want 5..9 once each", seqs)
	}
	reqs := f.requests("/v1/events")
	if len(reqs) != 3 {
		t.Fatalf("%d connections, want 3", len(reqs))
	}
	if q := reqs[0].Query.Get("from"); q != "5" || reqs[0].Header.Get("Last-Event-ID") != "" {
		t.Errorf("first connection: from=%s Last-Event-ID=%q", q, reqs[0].Header.Get("Last-Event-ID"))
	}
	for _, r := range reqs[1:] {
		if r.Header.Get("Last-Event-ID") != "7" || r.Query.Get("from") != "8" {
			t.Errorf("resume: Last-Event-ID=%q from=%s, want 7 and 8", r.Header.Get("Last-Event-ID"), r.Query.Get("from"))
		}
		if r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("Accept = %q", r.Header.Get("Accept"))
		}
	}
}

func TestEvents_FatalErrorEndsStream(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, 401, "unauthorized", "token expired", nil)
	})
	var errs []error
	for _, err := range f.client().Events(ctxT(t), 0) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], ErrUnauthorized) {
		t.Errorf("yielded %v, want one ErrUnauthorized", errs)
	}
	if n := len(f.requests("/v1/events")); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestEvents_GivesUpWhenNodeStaysDown(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, 503, "unavailable", "no leader", nil)
	})
	c := f.client(WithRetry(RetryPolicy{MaxElapsed: 50 * time.Millisecond, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}))
	var errs []error
	for _, err := range c.Events(ctxT(t), 0) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], ErrUnavailable) {
		t.Errorf("yielded %v, want one ErrUnavailable", errs)
	}
}

func TestEvents_StopsWithContext(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		writeEvent(w, 0)
		<-r.Context().Done()
	})
	ctx, cancel := contextWithCancel(t)
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, err := range f.client().Events(ctx, 0) {
			if err != nil {
				t.Error(err)
				return
			}
			n++
			cancel()
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Events did not stop after the context was cancelled")
	}
	if n != 1 {
		t.Errorf("got %d events, want 1", n)
	}
}
