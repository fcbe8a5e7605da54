package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	bolt "go.etcd.io/bbolt"
)

// Deps are a gateway's collaborators.
type Deps struct {
	Logger *slog.Logger
	// Upstream carries requests to the upstreams; nil for a transport
	// tuned for many concurrent connections.
	Upstream http.RoundTripper
}

// Gateway is a running charta gateway.
type Gateway struct {
	cfg    Config
	log    *slog.Logger
	nodes  *nodes
	events []*client.Client // per node, for its event stream
	ids    *identities
	cache  *decisionCache
	quotas *quotas
	pend   *pending
	j      *journal
	rep    *reporter // nil without a signing key
	obs    *observer // nil unless infractions are enabled
	m      *metrics
	routes []*route     // longest prefix first
	ops    http.Handler // /metrics, /healthz, /readyz: the operations address
	health http.Handler // /healthz, /readyz: also on the callers' address

	flushes sync.WaitGroup // observation submissions in flight
}

// New opens the journal and prepares the gateway; Run serves it.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: deps.Logger, pend: &pending{}}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	var signer *ledger.Signer
	if cfg.KeyFile != "" {
		member, k, err := ledger.ReadKeyFile(cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("gateway: key: %w", err)
		}
		s := ledger.NewSigner(member, k)
		signer = &s
	}
	var err error
	if g.nodes, err = newNodes(cfg.Nodes, cfg.Token, cfg.CAFile, cfg.NodeTimeout, signer); err != nil {
		return nil, err
	}
	for k := range g.nodes.addrs {
		c, err := eventClient(g.nodes, k, cfg.Token)
		if err != nil {
			return nil, err
		}
		g.events = append(g.events, c)
	}
	g.cache = newDecisionCache(cfg.DecisionTTL)
	g.ids = newIdentities(g.nodes, cfg.IdentityTTL, cfg.DecisionTTL)
	member := ""
	if signer != nil {
		member, _, _ = ledger.SplitKeyID(signer.KeyID)
	}
	g.quotas = newQuotas(g.nodes, g.cache, member)
	if g.j, err = openJournal(cfg.StateDir); err != nil {
		return nil, err
	}
	g.m = newMetrics(g.pendingReports)
	if signer != nil {
		g.rep = &reporter{j: g.j, nodes: g.nodes, signer: *signer, member: member, pend: g.pend, m: g.m, log: g.log,
			committed: g.committed, now: time.Now}
	}
	if err := g.recover(); err != nil {
		g.j.Close()
		return nil, err
	}
	if ir := cfg.File.Infractions; ir != nil && ir.Enabled && g.rep != nil {
		g.obs = newObserver(*ir, g.reportObservation)
	}
	up := deps.Upstream
	if up == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 1024, 256
		up = t
	}
	for _, r := range cfg.File.Routes {
		rt := &route{Route: r, outcome: map[string]prometheus.Counter{}, metering: len(r.Meters) > 0}
		rt.up, _ = url.Parse(r.Upstream) // validated
		for _, o := range outcomes {
			rt.outcome[o] = g.m.requests.WithLabelValues(r.Name, o)
		}
		rt.latency = g.m.upstream.WithLabelValues(r.Name)
		rt.proxy = g.newProxy(rt, up)
		g.routes = append(g.routes, rt)
	}
	slices.SortStableFunc(g.routes, func(a, b *route) int { return len(b.Prefix) - len(a.Prefix) })
	health := http.NewServeMux()
	health.HandleFunc("GET /healthz", g.handleHealthz)
	health.HandleFunc("GET /readyz", g.handleReadyz)
	g.health = health
	ops := http.NewServeMux()
	ops.Handle("GET /metrics", promhttp.HandlerFor(g.m.reg, promhttp.HandlerOpts{}))
	ops.Handle("GET /healthz", health)
	ops.Handle("GET /readyz", health)
	g.ops = ops
	return g, nil
}

// recover rebuilds pending from the journal: counts not yet in a batch,
// and batches not yet committed, which the next flush submits again.
func (g *Gateway) recover() error {
	tallies, batches, err := g.j.state()
	if err != nil {
		return err
	}
	for k, t := range tallies {
		g.pend.add(k, t.Q)
	}
	for _, b := range batches {
		for i, k := range b.Keys {
			g.pend.add(k, b.Amounts[i])
		}
	}
	if len(tallies)+len(batches) > 0 {
		g.log.Info("journal recovered", "unreported_counts", len(tallies), "unconfirmed_reports", len(batches))
	}
	if g.rep == nil && len(tallies)+len(batches) > 0 {
		return errors.New("gateway: the journal holds unreported counts, and no --key is given to report them")
	}
	return nil
}

// pendingReports is the reports-pending gauge: batches not committed and
// count keys not yet in one.
func (g *Gateway) pendingReports() float64 {
	tallies, batches, err := g.j.state()
	if err != nil {
		return -1
	}
	return float64(len(tallies) + len(batches))
}

// invalidate retires every cached answer: decisions, identities, quotas.
func (g *Gateway) invalidate() {
	g.cache.invalidate()
	g.ids.invalidate()
}

// committed is the reporter's hook: a batch committed at index.
func (g *Gateway) committed(index uint64) {
	g.nodes.raiseFloor(index)
	g.cache.invalidate()
}

// ServeHTTP serves callers: the health endpoints, which a load balancer
// in front of the gateway probes, and the routes. /metrics, which shows
// every member's metered quantities, is served on the operations
// address only (OpsHandler).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz", "/readyz":
		g.health.ServeHTTP(w, r)
		return
	}
	if unsafePath(r.URL.Path) || unsafePath(r.URL.EscapedPath()) {
		newProblem(ledger.CodeInvalid, "the request path holds a dot-segment or an empty segment (\"..\", \".\", \"//\", or their percent-encodings); send it resolved").write(w, r)
		return
	}
	rt := g.match(r.URL.Path)
	if rt == nil {
		newProblem(ledger.CodeNotFound, "no route of this gateway serves "+r.URL.Path).write(w, r)
		return
	}
	member, p := g.ids.caller(r)
	if p != nil {
		if p.code == ledger.CodeUnauthorized {
			rt.outcome[outcomeUnauthorized].Inc()
		} else {
			rt.outcome[outcomeUnavailable].Inc()
		}
		p.write(w, r)
		return
	}
	k, p := rt.checkKey(member, r.Header)
	if p != nil {
		rt.outcome[outcomeInvalid].Inc()
		p.write(w, r)
		return
	}
	d, plans, admitted, p := g.admit(r.Context(), rt, k)
	if p != nil {
		p.write(w, r)
		return
	}
	if d == nil {
		rt.outcome[outcomeFailOpen].Inc()
		g.log.Warn("no node answers; letting the request through unchecked (--fail-open)", "route", rt.Name, "member", member)
	}
	x := &exchange{rt: rt, member: member, plans: plans, admitted: admitted}
	rt.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, x)))
}

// maxAdmitTries bounds how often an admission starts again because a
// batch committed while it ran. Batches commit once per flush, so a
// second try almost always settles it.
const maxAdmitTries = 4

// admit decides whether rt may serve k and plans its metering, at the
// time it returns. It answers the decision (nil if it was let through
// unchecked by --fail-open), the plans, and the admission time, or the
// problem to answer with, counted in rt's outcomes.
//
// A batch that commits while it runs would let it read the ledger's
// figure from before the commit and pending from after it, and so count
// the batch nowhere: it starts again when a batch settled meanwhile.
func (g *Gateway) admit(ctx context.Context, rt *route, k checkKey) (*ledger.Decision, []meterPlan, time.Time, *problem) {
	for try := 1; ; try++ {
		epoch := g.pend.epoch()
		d, err := g.decide(ctx, k)
		switch {
		case err != nil && g.cfg.FailOpen:
			d = nil
		case err != nil:
			rt.outcome[outcomeUnavailable].Inc()
			return nil, nil, time.Time{}, g.decideFailed(err)
		case !d.Allowed:
			rt.outcome[outcomeDenied].Inc()
			return nil, nil, time.Time{}, g.deny(rt, k, d)
		}
		now := time.Now()
		if !rt.metering {
			return d, nil, now, nil
		}
		plans, p := g.admitMeters(ctx, rt, k.member, d, now)
		if g.pend.epoch() != epoch && try < maxAdmitTries {
			(&exchange{plans: plans}).release(g.pend)
			continue
		}
		if p != nil {
			rt.outcome[outcomeOverLimit].Inc()
			return nil, nil, time.Time{}, p
		}
		if g.pend.epoch() != epoch {
			(&exchange{plans: plans}).release(g.pend)
			rt.outcome[outcomeUnavailable].Inc()
			return nil, nil, time.Time{}, unavailable("reports kept committing while this request was admitted; retry shortly")
		}
		return d, plans, now, nil
	}
}

// OpsHandler serves the operations address: /metrics, /healthz and
// /readyz.
func (g *Gateway) OpsHandler() http.Handler { return g.ops }

// decide answers k from the cache, or asks a node.
func (g *Gateway) decide(ctx context.Context, k checkKey) (*ledger.Decision, error) {
	now := time.Now()
	if d, ok := g.cache.get(k, now); ok {
		g.m.cacheHits.Inc()
		return d, nil
	}
	g.m.cacheMisses.Inc()
	gen := g.cache.generation()
	var d *ledger.Decision
	err := g.nodes.do(ctx, func(ctx context.Context, _ int, c *client.Client) error {
		var err error
		d, err = c.Check(ctx, k.request(), g.nodes.readOpts()...)
		return err
	})
	if err != nil {
		return nil, err
	}
	g.cache.put(k, d, gen, now)
	return d, nil
}

// decideFailed is the problem for a check no node answered.
func (g *Gateway) decideFailed(err error) *problem {
	var ce *client.Error
	if errors.As(err, &ce) && !unreachable(err) {
		// The node answered with an error: say what it said.
		return newProblem(ce.Code, "the ledger could not answer the check: "+ce.Detail)
	}
	g.log.Warn("no node answers a check; failing closed", "err", err)
	return unavailable("no node of the ledger answers, and no unexpired answer is cached; the gateway fails closed")
}

// deny is the problem for a denied request: the decision's reasons.
func (g *Gateway) deny(rt *route, k checkKey, d *ledger.Decision) *problem {
	if g.obs != nil {
		grant := ""
		if len(d.Candidates) > 0 {
			grant = d.Candidates[0].Grant
		}
		g.obs.denied(k.member, k.asset, k.action, grant, time.Now())
	}
	p := newProblem(ledger.CodeForbidden, "the ledger denies this use: "+d.Reason).
		with("member", k.member).with("asset", k.asset).with("action", k.action).
		with("reason", d.Reason).with("basis", d.Basis)
	if len(d.Candidates) > 0 {
		p.with("candidates", d.Candidates)
	}
	if d.BoundBy != "" {
		p.with("bound_by", d.BoundBy)
	}
	return p
}

// reportObservation signs and submits an observed infraction, in the
// background.
func (g *Gateway) reportObservation(o ledger.InfractionObserve) {
	g.m.observed.Inc()
	g.flushes.Add(1)
	go func() {
		defer g.flushes.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		id := fmt.Sprintf("gwobs-%s-%s-%s-%d", g.j.id, o.Licensee, o.Asset, o.WindowEnd.UnixNano())
		if len(id) > 128 {
			id = id[:128]
		}
		if err := g.rep.propose(ctx, ObservationType, id, o); err != nil {
			g.m.failures.WithLabelValues(ObservationType, "refused").Inc()
			g.log.Warn("observed infraction not recorded", "licensee", o.Licensee, "asset", o.Asset, "attempts", o.Attempts, "err", err)
		}
	}()
}

// handleHealthz answers 200 while the process serves.
func (g *Gateway) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 while a node answered recently (or answers
// now) and the journal is open, and 503 otherwise.
func (g *Gateway) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if !g.nodes.reachable(5 * time.Second) {
		err := g.nodes.do(r.Context(), func(ctx context.Context, _ int, c *client.Client) error {
			_, err := c.Status(ctx)
			return err
		})
		if err != nil {
			unavailable("no node of the ledger answers").write(w, r)
			return
		}
	}
	if err := g.j.db.View(func(*bolt.Tx) error { return nil }); err != nil {
		// The error names files of the host: the log has it, the
		// answer does not.
		g.log.Error("readiness: the journal cannot be read", "err", err)
		unavailable("the gateway's journal is not open").write(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Run serves callers on cfg.Listen until ctx ends, follows the event
// stream, and flushes reports every FlushInterval. On ctx's end it stops
// accepting, waits up to DrainTimeout for requests in flight, flushes
// once more and closes the journal. ready, if not nil, receives the
// address it listens on.
func (g *Gateway) Run(ctx context.Context, ready func(addr string)) error {
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		g.j.Close()
		return fmt.Errorf("gateway: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	if g.cfg.TLSCert != "" {
		tc, err := g.tlsConfig()
		if err != nil {
			ln.Close()
			g.j.Close()
			return err
		}
		srv.TLSConfig = tc
		ln = tls.NewListener(ln, tc)
	}
	var opsSrv *http.Server
	if g.cfg.MetricsListen != "" {
		oln, err := net.Listen("tcp", g.cfg.MetricsListen)
		if err != nil {
			ln.Close()
			g.j.Close()
			return fmt.Errorf("gateway: metrics-listen: %w", err)
		}
		opsSrv = &http.Server{Handler: g.ops, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)}
		go func() { _ = opsSrv.Serve(oln) }()
		g.log.Info("gateway operations endpoints listening", "addr", oln.Addr().String())
	}
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); g.watch(bg) }()
	go func() { defer wg.Done(); g.flushLoop(bg) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	g.log.Info("gateway listening", "addr", ln.Addr().String(), "routes", len(g.routes), "nodes", len(g.nodes.addrs), "fail_open", g.cfg.FailOpen)
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err = <-served:
	case <-ctx.Done():
	}
	g.log.Info("gateway stopping: draining requests in flight")
	dctx, cancel := context.WithTimeout(context.Background(), g.cfg.DrainTimeout)
	if serr := srv.Shutdown(dctx); serr != nil {
		g.log.Warn("requests still in flight at the end of the drain", "err", serr)
	}
	cancel()
	stopBG()
	wg.Wait()
	g.flushes.Wait()
	if g.rep != nil {
		fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if ferr := g.rep.flush(fctx); ferr != nil {
			g.log.Warn("final flush incomplete; the journal keeps what is unreported for the next start", "err", ferr)
		}
		cancel()
	}
	if opsSrv != nil {
		opsSrv.Close()
	}
	if cerr := g.j.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// flushLoop flushes reports every FlushInterval until ctx ends.
func (g *Gateway) flushLoop(ctx context.Context) {
	if g.rep == nil {
		return
	}
	t := time.NewTicker(g.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := g.rep.flush(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn("flush incomplete; retried at the next one", "err", err)
		}
	}
}

// tlsConfig is the listener's TLS: the gateway's certificate, and with a
// client CA, client certificates verified when given (bearer tokens still
// work without one).
func (g *Gateway) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(g.cfg.TLSCert, g.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("gateway: tls-cert/tls-key: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if g.cfg.ClientCA != "" {
		pem, err := os.ReadFile(g.cfg.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("gateway: client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("gateway: client-ca: %s holds no PEM certificate", g.cfg.ClientCA)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return tc, nil
}
