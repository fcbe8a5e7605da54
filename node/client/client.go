package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charta/charta/ledger"
)

// IndexHeader is the response header that carries the node's applied index.
const IndexHeader = "X-Charta-Index"

// DefaultUserAgent is the User-Agent the client sends unless WithUserAgent
// sets another.
const DefaultUserAgent = "charta-client/1"

// The read consistency levels; see Consistency.
const (
	ConsistencyStale        = "stale"        // the answering node's state as it is
	ConsistencyLeader       = "leader"       // the node is or knows the current leader (the server's default)
	ConsistencyLinearizable = "linearizable" // a read-index round trip to the leader first
)

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// Client talks to one Charta node over HTTP. It is safe for concurrent use.
type Client struct {
	base        *url.URL
	hc          *http.Client
	token       string
	userAgent   string
	consistency string
	signers     []ledger.Signer
	retry       RetryPolicy
	onRetry     func(RetryNotice)
	now         func() time.Time

	lastIndex atomic.Uint64

	mu         sync.Mutex
	consortium string // set by WithConsortium, or fetched once from /v1/status
}

// settings collects the options before New builds the client from them.
type settings struct {
	hc          *http.Client
	token       string
	userAgent   string
	consistency string
	caFile      string
	signers     []ledger.Signer
	consortium  string
	retry       RetryPolicy
	onRetry     func(RetryNotice)
	now         func() time.Time
}

// Option configures a Client; see New.
type Option func(*settings) error

// WithToken sets the bearer token sent with every request. Reads need one;
// proposals are authenticated by their signatures instead.
func WithToken(token string) Option {
	return func(s *settings) error {
		s.token = strings.TrimSpace(token)
		return nil
	}
}

// WithHTTPClient makes the client send its requests through hc. The client
// never modifies hc; WithTLS applies to a copy of it. A Timeout on hc also
// cuts long streams (Events, Backup); prefer contexts.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return errors.New("client: WithHTTPClient: nil client")
		}
		s.hc = hc
		return nil
	}
}

// WithTLS makes the client trust the certificate authorities in the PEM file
// caFile (in addition to none: only these are trusted), as for a consortium
// CA. A server address without a scheme then defaults to https.
func WithTLS(caFile string) Option {
	return func(s *settings) error {
		s.caFile = caFile
		return nil
	}
}

// WithSigner adds signers whose keys sign the proposals of Propose. The first
// signer's member is the proposal's signer.
func WithSigner(signers ...ledger.Signer) Option {
	return func(s *settings) error {
		for i, sg := range signers {
			if sg.Key == nil {
				return fmt.Errorf("client: WithSigner: signer %d has no key", i)
			}
		}
		s.signers = append(s.signers, signers...)
		return nil
	}
}

// WithKeyFile loads a member's key from a Charta key file (see
// ledger.ReadKeyFile) and adds it as a signer, as WithSigner does.
func WithKeyFile(path string) Option {
	return func(s *settings) error {
		member, k, err := ledger.ReadKeyFile(path)
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		s.signers = append(s.signers, ledger.NewSigner(member, k))
		return nil
	}
}

// WithConsistency sets the read consistency of every read that does not set
// its own with the Consistency read option. Without it the server's default
// (leader) applies.
func WithConsistency(level string) Option {
	return func(s *settings) error {
		if err := validConsistency(level); err != nil {
			return err
		}
		s.consistency = level
		return nil
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(s *settings) error {
		s.userAgent = ua
		return nil
	}
}

// WithConsortium sets the consortium ID that Propose puts into proposals,
// which saves fetching it from the node's status.
func WithConsortium(id string) Option {
	return func(s *settings) error {
		if !ledger.ValidConsortiumID(id) {
			return fmt.Errorf("client: WithConsortium: %q is not 64 lowercase hex digits", id)
		}
		s.consortium = id
		return nil
	}
}

// WithRetry sets how writes and reads are retried; see RetryPolicy.
func WithRetry(p RetryPolicy) Option {
	return func(s *settings) error {
		if err := p.Validate(); err != nil {
			return err
		}
		s.retry = p
		return nil
	}
}

// WithClock replaces the clock that stamps the issued_at of proposals and
// of licence certificates, for tests and for clients whose clock is known
// to be off.
func WithClock(now func() time.Time) Option {
	return func(s *settings) error {
		if now == nil {
			return errors.New("client: WithClock: nil clock")
		}
		s.now = now
		return nil
	}
}

// RetryNotice describes a retry that is about to wait: the attempt that
// failed (0 for the first), its error, the wait, and how long the policy
// goes on trying in all.
type RetryNotice struct {
	Server  string
	Attempt int
	Err     error
	Wait    time.Duration
	Budget  time.Duration
}

// WithRetryNotice calls f before each wait between retries, so that a
// program can tell its user why a command is slow (a node that is down, a
// leader election) instead of staying silent for the whole retry budget.
func WithRetryNotice(f func(RetryNotice)) Option {
	return func(s *settings) error {
		s.onRetry = f
		return nil
	}
}

// RetryPolicy says how requests that are safe to repeat are retried when the
// node is unavailable or busy (503, 429) or the connection fails: proposal
// submissions (the identical envelope; proposals are idempotent) and reads.
// Waits grow exponentially with jitter and honour Retry-After.
type RetryPolicy struct {
	MaxElapsed     time.Duration // give up after this long in total; 0 disables retries
	InitialBackoff time.Duration // first wait
	MaxBackoff     time.Duration // longest single wait
}

// DefaultRetryPolicy retries for up to 30 s, starting at 100 ms and waiting
// at most 2 s between attempts: long enough to ride out a leader election.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxElapsed: 30 * time.Second, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}
}

// Validate checks the policy.
func (p RetryPolicy) Validate() error {
	switch {
	case p.MaxElapsed < 0:
		return errors.New("client: retry: MaxElapsed must not be negative")
	case p.MaxElapsed > 0 && p.InitialBackoff <= 0:
		return errors.New("client: retry: InitialBackoff must be positive")
	case p.MaxElapsed > 0 && p.MaxBackoff < p.InitialBackoff:
		return errors.New("client: retry: MaxBackoff must be at least InitialBackoff")
	}
	return nil
}

// backoff returns the wait before retry number attempt (0-based): the
// exponential step with jitter in [step/2, step], but at least retryAfter.
func (p RetryPolicy) backoff(attempt int, retryAfter time.Duration) time.Duration {
	step := p.InitialBackoff
	for i := 0; i < attempt && step < p.MaxBackoff; i++ {
		step *= 2
	}
	step = min(step, p.MaxBackoff)
	d := step/2 + rand.N(step/2+1)
	return max(d, retryAfter)
}

// New returns a client of the node at server, an address such as
// "https://node1.example:8443" or "localhost:8080" (http, or https with
// WithTLS, is assumed without a scheme). A path in server is kept as a
// prefix of every route.
func New(server string, opts ...Option) (*Client, error) {
	s := settings{
		hc:        http.DefaultClient,
		userAgent: DefaultUserAgent,
		retry:     DefaultRetryPolicy(),
		now:       time.Now,
	}
	for _, o := range opts {
		if err := o(&s); err != nil {
			return nil, err
		}
	}
	server = strings.TrimSpace(server)
	if server == "" {
		return nil, errors.New("client: no server address")
	}
	if !strings.Contains(server, "://") {
		scheme := "http://"
		if s.caFile != "" {
			scheme = "https://"
		}
		server = scheme + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("client: server address: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: server address %q: scheme must be http or https", server)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: server address %q: no host", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""

	hc := s.hc
	if s.caFile != "" {
		if hc, err = withCA(hc, s.caFile); err != nil {
			return nil, err
		}
	}
	c := &Client{
		base:        u,
		hc:          hc,
		token:       s.token,
		userAgent:   s.userAgent,
		consistency: s.consistency,
		signers:     s.signers,
		retry:       s.retry,
		onRetry:     s.onRetry,
		now:         s.now,
		consortium:  s.consortium,
	}
	return c, nil
}

// withCA returns a copy of hc whose transport trusts only the CAs in caFile.
func withCA(hc *http.Client, caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("client: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client: CA file %s: no PEM certificates", caFile)
	}
	var tr *http.Transport
	switch t := hc.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return nil, fmt.Errorf("client: WithTLS needs an *http.Transport, the HTTP client has a %T", hc.Transport)
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.RootCAs = pool
	cp := *hc
	cp.Transport = tr
	return &cp, nil
}

// LastIndex returns the highest X-Charta-Index the client has seen, which
// is at least the index of every write it made. Pass it to MinIndex to read
// your own writes from any node.
func (c *Client) LastIndex() uint64 { return c.lastIndex.Load() }

// noteIndex raises LastIndex to i.
func (c *Client) noteIndex(i uint64) {
	for {
		cur := c.lastIndex.Load()
		if i <= cur || c.lastIndex.CompareAndSwap(cur, i) {
			return
		}
	}
}

// headerIndex parses X-Charta-Index, or returns 0.
func headerIndex(h http.Header) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSpace(h.Get(IndexHeader)), 10, 64)
	return n
}

// readOpts are the per-call settings of a read.
type readOpts struct {
	consistency string
	minIndex    uint64
	limit       int
	cursor      string
	params      url.Values
	err         error
}

// ReadOption adjusts one read.
type ReadOption func(*readOpts)

// Consistency sets the read's consistency level: ConsistencyStale,
// ConsistencyLeader or ConsistencyLinearizable.
func Consistency(level string) ReadOption {
	return func(o *readOpts) {
		if err := validConsistency(level); err != nil {
			o.err = err
		}
		o.consistency = level
	}
}

// MinIndex makes the node wait until it has applied index n before it
// answers (or answer ErrUnavailable if that takes too long). Use
// MinIndex(c.LastIndex()) or a write's Result.Index to read your writes.
func MinIndex(n uint64) ReadOption {
	return func(o *readOpts) { o.minIndex = max(o.minIndex, n) }
}

// Limit sets the page size of a list (the server defaults to 100 and caps
// at 1000).
func Limit(n int) ReadOption {
	return func(o *readOpts) { o.limit = n }
}

// Cursor asks a list for the page after the one that returned cursor as its
// next cursor.
func Cursor(cursor string) ReadOption {
	return func(o *readOpts) { o.cursor = cursor }
}

// Param adds a query parameter, for list filters that have no typed
// argument (such as those of Statements and Infractions).
func Param(name, value string) ReadOption {
	return func(o *readOpts) {
		if o.params == nil {
			o.params = url.Values{}
		}
		o.params.Add(name, value)
	}
}

func validConsistency(level string) error {
	switch level {
	case ConsistencyStale, ConsistencyLeader, ConsistencyLinearizable:
		return nil
	}
	return fmt.Errorf("client: consistency %q: must be stale, leader or linearizable", level)
}

// readQuery applies opts to q and returns it.
func (c *Client) readQuery(q url.Values, opts []ReadOption) (url.Values, error) {
	o := readOpts{consistency: c.consistency}
	for _, f := range opts {
		f(&o)
	}
	if o.err != nil {
		return nil, o.err
	}
	if q == nil {
		q = url.Values{}
	}
	if o.consistency != "" {
		q.Set("consistency", o.consistency)
	}
	if o.minIndex > 0 {
		q.Set("min_index", strconv.FormatUint(o.minIndex, 10))
	}
	if o.limit > 0 {
		q.Set("limit", strconv.Itoa(o.limit))
	}
	if o.cursor != "" {
		q.Set("cursor", o.cursor)
	}
	for k, vs := range o.params {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	return q, nil
}

// request is one API call.
type request struct {
	method      string
	path        string // escaped, below the base URL, starting with "/"
	query       url.Values
	body        []byte
	contentType string
	header      http.Header
	retry       bool // safe to repeat unchanged
	noToken     bool // a public route: the token is not sent
}

// send performs req, retrying it under the retry policy if req.retry, and
// returns a 2xx response with its body open, or an error: an *Error for an
// error response (its body read and closed), a *connError when no response
// came, or the context's error.
func (c *Client) send(ctx context.Context, req request) (*http.Response, error) {
	start := time.Now()
	for attempt := 0; ; attempt++ {
		resp, err := c.sendOnce(ctx, req)
		if err == nil {
			return resp, nil
		}
		if !req.retry || c.retry.MaxElapsed <= 0 || !retryable(err) || ctx.Err() != nil {
			return nil, err
		}
		var retryAfter time.Duration
		var e *Error
		if errors.As(err, &e) {
			retryAfter = e.RetryAfter
		}
		wait := c.retry.backoff(attempt, retryAfter)
		if time.Since(start)+wait > c.retry.MaxElapsed {
			return nil, err
		}
		if c.onRetry != nil {
			c.onRetry(RetryNotice{Server: c.base.String(), Attempt: attempt, Err: err, Wait: wait, Budget: c.retry.MaxElapsed})
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// sendOnce performs req once.
func (c *Client) sendOnce(ctx context.Context, req request) (*http.Response, error) {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + req.path // req.path is escaped already
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("client: path %q: %w", req.path, err)
	}
	u.Path = p
	if len(req.query) > 0 {
		u.RawQuery = req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	if hr.Header.Get("Accept") == "" {
		hr.Header.Set("Accept", "application/json, application/problem+json")
	}
	if c.userAgent != "" {
		hr.Header.Set("User-Agent", c.userAgent)
	}
	if c.token != "" && !req.noToken {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var certErr *tls.CertificateVerificationError
		if errors.As(err, &certErr) {
			return nil, fmt.Errorf("client: %w", err) // retrying cannot fix it
		}
		return nil, &connError{err: err}
	}
	if i := headerIndex(resp.Header); i > 0 {
		c.noteIndex(i)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, decodeError(resp, b)
}

// do performs req and decodes a JSON answer into out (unless out is nil).
// It returns the X-Charta-Index of the answer.
func (c *Client) do(ctx context.Context, req request, out any) (uint64, error) {
	resp, err := c.send(ctx, req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	idx := headerIndex(resp.Header)
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return idx, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return idx, fmt.Errorf("client: %s %s: decode response: %w", req.method, req.path, err)
	}
	return idx, nil
}

// get performs a read of path with the read options applied and decodes
// the answer into out.
func (c *Client) get(ctx context.Context, path string, q url.Values, opts []ReadOption, out any) (uint64, error) {
	q, err := c.readQuery(q, opts)
	if err != nil {
		return 0, err
	}
	return c.do(ctx, request{method: http.MethodGet, path: path, query: q, retry: true}, out)
}

// postJSON marshals in and posts it to path.
func (c *Client) postJSON(ctx context.Context, path string, q url.Values, in any, retry bool, out any) (uint64, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return 0, fmt.Errorf("client: POST %s: %w", path, err)
	}
	return c.do(ctx, request{method: http.MethodPost, path: path, query: q, body: b, contentType: "application/json", retry: retry}, out)
}

// escape escapes one path segment.
func escape(s string) string { return url.PathEscape(s) }
