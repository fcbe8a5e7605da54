package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// fake is an httptest server whose routes tests set, and that records every
// request it receives.
type fake struct {
	t   *testing.T
	mux *http.ServeMux
	srv *httptest.Server

	mu   sync.Mutex
	reqs []recorded
}

// recorded is one request as the fake saw it.
type recorded struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
	Body         []byte
}

func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{t: t, mux: http.NewServeMux()}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), b})
		f.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		f.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// handle registers a handler for a ServeMux pattern such as "GET /v1/members".
func (f *fake) handle(pattern string, h http.HandlerFunc) { f.mux.HandleFunc(pattern, h) }

// requests returns the recorded requests to path.
func (f *fake) requests(path string) []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.reqs {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// client returns a client of the fake with fast retries.
func (f *fake) client(opts ...Option) *Client {
	f.t.Helper()
	base := []Option{WithRetry(RetryPolicy{MaxElapsed: 5 * time.Second, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})}
	c, err := New(f.srv.URL, append(base, opts...)...)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// writeJSON answers v as JSON with an X-Charta-Index header.
func writeJSON(w http.ResponseWriter, index uint64, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(IndexHeader, fmt.Sprint(index))
	_ = json.NewEncoder(w).Encode(v)
}

// writeProblem answers a problem document with the given extensions.
func writeProblem(w http.ResponseWriter, status int, code, detail string, ext map[string]any) {
	p := map[string]any{
		"type":   "https://charta.dev/problems/" + code,
		"title":  http.StatusText(status),
		"status": status,
		"detail": detail,
		"code":   code,
	}
	for k, v := range ext {
		p[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNew_Addresses(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"localhost:8080", "http://localhost:8080", true},
		{"https://n1.example:8443/", "https://n1.example:8443", true},
		{"http://proxy/charta/", "http://proxy/charta", true},
		{"", "", false},
		{"ftp://x", "", false},
		{"http://", "", false},
	} {
		c, err := New(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("New(%q): err = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if err == nil && c.base.String() != tc.want {
			t.Errorf("New(%q): base = %s, want %s", tc.in, c.base, tc.want)
		}
	}
	if _, err := New("localhost:1", WithConsistency("eventual")); err == nil {
		t.Error("WithConsistency(eventual): no error")
	}
	if _, err := New("localhost:1", WithConsortium("nope")); err == nil {
		t.Error("WithConsortium(nope): no error")
	}
	if _, err := New("localhost:1", WithRetry(RetryPolicy{MaxElapsed: time.Second})); err == nil {
		t.Error("WithRetry without backoff: no error")
	}
}

func TestClient_HeadersTokenAndUserAgent(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/members/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 7, ledger.Member{ID: r.PathValue("id"), Role: ledger.RoleMember, Status: ledger.MemberActive})
	})
	c := f.client(WithToken(" s3cret\n"), WithUserAgent("charta-cli/test"))
	m, err := c.Member(ctxT(t), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "acme" || m.Status != ledger.MemberActive {
		t.Errorf("member = %+v", m)
	}
	r := f.requests("/v1/members/acme")[0]
	if got := r.Header.Get("Authorization"); got != "Bearer s3cret" {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("User-Agent"); got != "charta-cli/test" {
		t.Errorf("User-Agent = %q", got)
	}
	if c.LastIndex() != 7 {
		t.Errorf("LastIndex = %d, want 7", c.LastIndex())
	}
}

func TestClient_PathPrefixAndEscaping(t *testing.T) {
	f := newFake(t)
	f.handle("GET /charta/v1/assets/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 1, ledger.Asset{ID: r.PathValue("id")})
	})
	c, err := New(f.srv.URL + "/charta/")
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Asset(ctxT(t), "model/v1")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "model/v1" {
		t.Errorf("asset ID = %q, want model/v1", a.ID)
	}
}

func TestClient_IndexTracking(t *testing.T) {
	f := newFake(t)
	var next int
	indices := []uint64{5, 9, 3}
	f.handle("GET /v1/members", func(w http.ResponseWriter, r *http.Request) {
		i := indices[next]
		next++
		writeJSON(w, i, map[string]any{"items": []any{}, "next": ""})
	})
	f.handle("GET /v1/grants/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(IndexHeader, "12")
		writeProblem(w, 404, "not_found", "no grant g1", nil)
	})
	c := f.client()
	for i, want := range []uint64{5, 9, 9} {
		if _, _, err := c.Members(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if got := c.LastIndex(); got != want {
			t.Errorf("after read %d: LastIndex = %d, want %d (highest seen)", i, got, want)
		}
	}
	_, err := c.Grant(ctxT(t), "g1")
	var e *Error
	if !errors.As(err, &e) || e.AppliedIndex != 12 {
		t.Fatalf("err = %v, want *Error with AppliedIndex 12", err)
	}
	if c.LastIndex() != 12 {
		t.Errorf("LastIndex after error response = %d, want 12", c.LastIndex())
	}
}

func TestReadOptions_QueryParams(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/ballots/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 1, ledger.Ballot{ID: r.PathValue("id"), Status: ledger.BallotOpen})
	})
	f.handle("GET /v1/statements", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 1, map[string]any{"items": []any{map[string]any{"grant": "g1"}}, "next": "s2"})
	})
	ctx := ctxT(t)

	c := f.client()
	if _, err := c.Ballot(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if q := f.requests("/v1/ballots/b1")[0].Query; len(q) != 0 {
		t.Errorf("default read sent %v, want no parameters (server default)", q)
	}

	c = f.client(WithConsistency(ConsistencyStale))
	if _, err := c.Ballot(ctx, "b2"); err != nil {
		t.Fatal(err)
	}
	if q := f.requests("/v1/ballots/b2")[0].Query; q.Get("consistency") != "stale" {
		t.Errorf("WithConsistency(stale) sent %v", q)
	}
	if _, err := c.Ballot(ctx, "b3", Consistency(ConsistencyLinearizable), MinIndex(42)); err != nil {
		t.Fatal(err)
	}
	q := f.requests("/v1/ballots/b3")[0].Query
	if q.Get("consistency") != "linearizable" || q.Get("min_index") != "42" {
		t.Errorf("per-call options sent %v, want consistency=linearizable min_index=42", q)
	}
	if _, err := c.Ballot(ctx, "b4", Consistency("eventual")); err == nil {
		t.Error("Consistency(eventual): no error")
	}
	if n := len(f.requests("/v1/ballots/b4")); n != 0 {
		t.Errorf("an invalid option still sent %d requests", n)
	}

	items, next, err := c.Statements(ctx, Limit(10), Cursor("s1"), Param("grant", "g1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || string(items[0]) != `{"grant":"g1"}` || next != "s2" {
		t.Errorf("statements = %s, next %q", items, next)
	}
	q = f.requests("/v1/statements")[0].Query
	if q.Get("limit") != "10" || q.Get("cursor") != "s1" || q.Get("grant") != "g1" || q.Get("consistency") != "stale" {
		t.Errorf("list sent %v", q)
	}
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxT(t))
	t.Cleanup(cancel)
	return ctx, cancel
}

// headerTransport adds a header to every request, to show that the client
// sends through the HTTP client it is given.
type headerTransport struct{ base http.RoundTripper }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Via", "custom")
	return h.base.RoundTrip(r)
}

func TestWithHTTPClient_Used(t *testing.T) {
	f := newFake(t)
	f.handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	hc := &http.Client{Transport: headerTransport{http.DefaultTransport}}
	c := f.client(WithHTTPClient(hc))
	if err := c.Healthz(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := f.requests("/healthz")[0].Header.Get("X-Via"); got != "custom" {
		t.Errorf("X-Via = %q: the given HTTP client was not used", got)
	}
	if _, err := New(f.srv.URL, WithHTTPClient(nil)); err == nil {
		t.Error("WithHTTPClient(nil): no error")
	}
	if _, err := New("https://x", WithHTTPClient(hc), WithTLS("ca.pem")); err == nil {
		t.Error("WithTLS with an unreadable CA file: no error")
	}
}

func TestPage_Shapes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ids  []string
		next string
		ok   bool
	}{
		{`{"items":[{"id":"a"}],"next":"a"}`, []string{"a"}, "a", true},
		{`{"items":[],"next":""}`, []string{}, "", true},
		// Shapes the server never sends are errors, not guesses.
		{`{"items":[{"id":"a"}],"next":17}`, nil, "", false},
		{`[{"id":"a"},{"id":"b"}]`, nil, "", false},
		{`{"items":[],"next":{}}`, nil, "", false},
		{`"nope"`, nil, "", false},
	} {
		var p api.List[ledger.Member]
		err := json.Unmarshal([]byte(tc.in), &p)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.in, err)
			continue
		}
		if !tc.ok {
			continue
		}
		ids := []string{}
		for _, m := range p.Items {
			ids = append(ids, m.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tc.ids, ",") || p.Next != tc.next {
			t.Errorf("%s: items %v next %q", tc.in, ids, p.Next)
		}
	}
}

func TestRetryPolicy_Backoff(t *testing.T) {
	p := RetryPolicy{MaxElapsed: time.Minute, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for attempt := range 10 {
		d := p.backoff(attempt, 0)
		step := min(100*time.Millisecond<<attempt, time.Second)
		if d < step/2 || d > step {
			t.Errorf("attempt %d: backoff %v outside [%v, %v]", attempt, d, step/2, step)
		}
	}
	if d := p.backoff(0, 5*time.Second); d != 5*time.Second {
		t.Errorf("Retry-After 5s: backoff %v", d)
	}
	for _, bad := range []RetryPolicy{
		{MaxElapsed: -1},
		{MaxElapsed: time.Second},
		{MaxElapsed: time.Second, InitialBackoff: time.Second, MaxBackoff: time.Millisecond},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v: valid", bad)
		}
	}
	if err := (RetryPolicy{}).Validate(); err != nil {
		t.Errorf("no retries: %v", err)
	}
}

// TestWithRetryNotice_CalledBeforeEachWait: a program learns why a request
// is slow, before each wait, and not for the answer that ends the retries.
func TestWithRetryNotice_CalledBeforeEachWait(t *testing.T) {
	f := newFake(t)
	var calls atomic.Int32
	f.handle("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", "no leader", nil)
			return
		}
		writeJSON(w, 7, map[string]any{"node_id": "alpha"})
	})
	var notices []RetryNotice
	c := f.client(WithRetryNotice(func(n RetryNotice) { notices = append(notices, n) }))
	if _, err := c.Status(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if len(notices) != 2 || notices[0].Attempt != 0 || notices[1].Attempt != 1 {
		t.Fatalf("notices %+v, want attempts 0 and 1", notices)
	}
	var e *Error
	if n := notices[0]; !errors.As(n.Err, &e) || e.Status != 503 || n.Server != f.srv.URL || n.Budget != 5*time.Second || n.Wait <= 0 {
		t.Fatalf("notice %+v", n)
	}
}
