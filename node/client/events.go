package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
)

// maxEventLine bounds one line of the event stream: an entry carries its
// envelope, at most the charter's proposal limit (1 MiB by default) in
// base64.
const maxEventLine = 8 << 20

// Events streams the committed journal entries from seq from onwards, as
// server-sent events of GET /v1/events, until ctx is done or the consumer
// stops.
//
// When the stream breaks, or the node is unavailable, Events reconnects with
// Last-Event-ID (and from) set to resume after the last event it delivered,
// so that no entry is skipped or delivered twice. It gives up and yields
// the error when the node answers with an error that retrying cannot fix
// (such as ErrUnauthorized), or when reconnecting has failed without a
// single event for longer than the retry policy's MaxElapsed. An error
// always ends the sequence.
func (c *Client) Events(ctx context.Context, from uint64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		next := from // the seq to ask for
		lastID := "" // the id of the last delivered event
		attempt := 0 // reconnections since the last event
		var failingSince time.Time
		retryWait := time.Duration(0) // the server's retry: field
		for {
			delivered, stop, err := c.streamEvents(ctx, &next, &lastID, &retryWait, yield)
			if stop {
				return
			}
			if ctx.Err() != nil {
				return
			}
			if delivered {
				attempt, failingSince = 0, time.Time{}
			}
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if err != nil && !retryable(err) && !errors.Is(err, errStreamEnded) {
				yield(Event{}, err)
				return
			}
			var retryAfter time.Duration
			var e *Error
			if errors.As(err, &e) {
				retryAfter = e.RetryAfter
			}
			wait := max(retryWait, retryAfter)
			if c.retry.MaxElapsed > 0 {
				wait = max(wait, c.retry.backoff(attempt, 0))
				if time.Since(failingSince)+wait > c.retry.MaxElapsed {
					if err == nil || errors.Is(err, errStreamEnded) {
						err = &connError{err: errStreamEnded}
					}
					yield(Event{}, err)
					return
				}
			} else if wait == 0 {
				wait = time.Second
			}
			attempt++
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// errStreamEnded is a stream that the server closed.
var errStreamEnded = errors.New("event stream ended")

// streamEvents reads one connection's events, delivering those at or after
// *next. It reports whether it delivered any, whether the consumer stopped,
// and why the stream ended.
func (c *Client) streamEvents(ctx context.Context, next *uint64, lastID *string, retryWait *time.Duration, yield func(Event, error) bool) (delivered, stop bool, err error) {
	req := request{
		method: http.MethodGet,
		path:   "/v1/events",
		query:  url.Values{"from": {strconv.FormatUint(*next, 10)}},
		header: http.Header{"Accept": {"text/event-stream"}, "Cache-Control": {"no-cache"}},
	}
	if *lastID != "" {
		req.header.Set("Last-Event-ID", *lastID)
	}
	resp, err := c.sendOnce(ctx, req)
	if err != nil {
		return false, false, err
	}
	defer resp.Body.Close()

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	var (
		data    bytes.Buffer
		hasData bool
		ev      Event
	)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			if !hasData {
				ev = Event{}
				continue
			}
			ev.Data = bytes.Clone(data.Bytes())
			data.Reset()
			hasData = false
			deliver, seqOK := true, false
			if ev.ID != "" {
				if n, perr := strconv.ParseUint(ev.ID, 10, 64); perr == nil {
					ev.Seq, seqOK = n, true
					deliver = n >= *next
				}
			}
			if ev.Type == "" || ev.Type == "entry" || ev.Type == "message" {
				var e ledger.Entry
				if json.Unmarshal(ev.Data, &e) == nil {
					ev.Entry = &e
					if !seqOK {
						ev.Seq, seqOK = e.Seq, true
						deliver = e.Seq >= *next
					}
				}
			}
			if deliver {
				if seqOK {
					*next = ev.Seq + 1
				}
				if ev.ID != "" {
					*lastID = ev.ID
				}
				delivered = true
				if !yield(ev, nil) {
					return delivered, true, nil
				}
			}
			ev = Event{}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment, such as a keep-alive
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.ID = value
			}
		case "event":
			ev.Type = value
		case "retry":
			if ms, perr := strconv.ParseUint(value, 10, 32); perr == nil {
				*retryWait = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return delivered, false, ctx.Err()
		}
		return delivered, false, &connError{err: err}
	}
	return delivered, false, errStreamEnded
}
