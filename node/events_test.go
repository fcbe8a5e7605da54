package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	dto "github.com/prometheus/client_model/go"
)

// pipeListener serves connections made with dial over net.Pipe, which
// buffers nothing: a write waits until the client reads it, as a TCP write
// does once the socket buffers are full, without depending on their sizes.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { close(l.done); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (l *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

// streamServer is a server over a world with n more journal entries, whose
// event streams must take a batch within limit, served on a pipeListener.
func streamServer(t *testing.T, n int, limit time.Duration) (*Server, *pipeListener) {
	t.Helper()
	w := newWorld(t, nil)
	w.seed()
	for i := range n {
		w.accept("alpha", "token.register", fmt.Sprintf("tok-bulk-%d", i), ledger.TokenRegister{
			Hash: ledger.HashToken(fmt.Sprintf("bulk-%d", i)), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	}
	cfg := testConfig(t)
	cfg.StreamWriteLimit = limit
	s, err := NewServer(cfg, w.leaderFake("alpha"), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	l := newPipeListener()
	hs := &http.Server{Handler: s.Handler()}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	return s, l
}

// rawStream opens GET /v1/events?from=0 as member and returns the
// connection without reading anything.
func rawStream(t *testing.T, l *pipeListener, member string) net.Conn {
	t.Helper()
	c := l.dial()
	t.Cleanup(func() { c.Close() })
	go fmt.Fprintf(c, "GET /v1/events?from=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", secret(member))
	return c
}

func waitStreams(t *testing.T, s *Server, member string, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for s.streams.count(member) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d streams open, want %d", member, s.streams.count(member), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEvents_StreamsPerMember: one member's streams are capped, and the cap
// leaves the other members' streams alone.
func TestEvents_StreamsPerMember(t *testing.T) {
	ts := newTestServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func(member string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.ts.URL+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+secret(member))
		return http.DefaultClient.Do(req)
	}
	var held []*http.Response
	for range ts.s.cfg.StreamsPerMember {
		resp, err := open("gamma")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream: %v %v", err, resp)
		}
		held = append(held, resp)
	}
	resp, err := open("gamma")
	if err != nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("one stream over the cap: %v %+v", err, resp)
	}
	resp.Body.Close()
	other, err := open("beta")
	if err != nil || other.StatusCode != 200 {
		t.Fatalf("another member's stream: %v %v", err, other)
	}
	other.Body.Close()
	held[0].Body.Close()
	waitStreams(t, ts.s, "gamma", ts.s.cfg.StreamsPerMember-1)
	again, err := open("gamma")
	if err != nil || again.StatusCode != 200 {
		t.Fatalf("a stream after one closed: %v %v", err, again)
	}
	again.Body.Close()
	for _, r := range held[1:] {
		r.Body.Close()
	}
}

// TestEvents_ClientThatStopsReadingIsCutOff: a stream whose client never
// reads ends once a write has waited StreamWriteLimit, and frees its slot.
func TestEvents_ClientThatStopsReadingIsCutOff(t *testing.T) {
	s, l := streamServer(t, 0, 500*time.Millisecond)
	rawStream(t, l, "gamma")
	waitStreams(t, s, "gamma", 1)
	waitStreams(t, s, "gamma", 0)
	var m dto.Metric
	if err := s.metrics.streamsCut.Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
		t.Fatalf("charta_event_streams_cut_total = %v (%v)", m.GetCounter().GetValue(), err)
	}
}

// TestEvents_SlowReaderToldWhy: a client that takes what the stream sends,
// but more slowly than half of StreamWriteLimit allows, gets a final
// "closed" event that says why and where to resume.
func TestEvents_SlowReaderToldWhy(t *testing.T) {
	s, l := streamServer(t, 40, 2*time.Second)
	c := rawStream(t, l, "gamma")
	time.Sleep(1300 * time.Millisecond) // the server's first send waits meanwhile
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var text strings.Builder
	buf := make([]byte, 32<<10)
	closed := regexp.MustCompile(`event: closed\ndata: (\{.*\})\n\n`)
	for !closed.MatchString(text.String()) {
		n, err := c.Read(buf)
		text.Write(buf[:n])
		if err != nil {
			t.Fatalf("no closing event in %d bytes (%v); tail: %q", text.Len(), err, text.String()[max(0, text.Len()-300):])
		}
	}
	var reason struct {
		Reason string
		From   uint64
	}
	data := closed.FindStringSubmatch(text.String())[1]
	entries := uint64(strings.Count(text.String(), "event: entry"))
	if err := json.Unmarshal([]byte(data), &reason); err != nil || !strings.Contains(reason.Reason, "slow reader") || reason.From != entries {
		t.Fatalf("closing event after %d entries: %s (%v)", entries, data, err)
	}
	waitStreams(t, s, "gamma", 0)
}
