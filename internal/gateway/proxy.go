package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/prometheus/client_golang/prometheus"
)

// route is a configured route, ready to serve.
type route struct {
	Route
	up       *url.URL
	proxy    *httputil.ReverseProxy
	outcome  map[string]prometheus.Counter // by outcome, curried once
	latency  prometheus.Observer
	metering bool
}

// match returns the route with the longest prefix that path starts with
// at a segment boundary, or nil.
func (g *Gateway) match(path string) *route {
	for _, rt := range g.routes { // longest prefix first
		p := rt.Prefix
		if strings.HasPrefix(path, p) && (len(path) == len(p) || strings.HasSuffix(p, "/") || path[len(p)] == '/') {
			return rt
		}
	}
	return nil
}

// pathEncodings are the percent-encodings of the characters that make a
// path segment: a path is judged with them decoded, once more than the
// server did, since an upstream may decode it again.
var pathEncodings = strings.NewReplacer("%2e", ".", "%2E", ".", "%2f", "/", "%2F", "/", "%5c", "/", "%5C", "/", `\`, "/")

// unsafePath reports whether a request path (decoded or escaped) holds a
// dot-segment or an empty segment ("//"), encoded or not. Such a path
// could match one route's prefix and reach another resource upstream,
// where it is resolved, so the gateway refuses it rather than cleaning it.
func unsafePath(path string) bool {
	segs := strings.Split(pathEncodings.Replace(path), "/")
	for i, s := range segs {
		switch {
		case s == "." || s == "..":
			return true
		case s == "" && i > 0 && i < len(segs)-1:
			return true
		}
	}
	return false
}

// checkKey builds the check question of a request on rt by member: the
// route's scope, with the axes it lets callers override taken from their
// headers.
func (rt *route) checkKey(member string, h http.Header) (checkKey, *problem) {
	k := checkKey{member: member, asset: rt.Asset, action: rt.Action, territory: rt.Territory, purpose: rt.Purpose, industry: rt.Industry}
	if len(rt.Override) == 0 {
		return k, nil
	}
	for _, o := range []struct {
		axis, header string
		v            *string
	}{{AxisTerritory, HeaderTerritory, &k.territory}, {AxisPurpose, HeaderPurpose, &k.purpose}, {AxisIndustry, HeaderIndustry, &k.industry}} {
		if v := h.Get(o.header); v != "" && rt.overrides(o.axis) {
			*o.v = v
		}
	}
	if k != (checkKey{member: member, asset: rt.Asset, action: rt.Action, territory: rt.Territory, purpose: rt.Purpose, industry: rt.Industry}) {
		q := k.request()
		if err := q.Validate(); err != nil {
			var le *ledger.Error
			detail := err.Error()
			if errors.As(err, &le) {
				detail = le.Message
			}
			return k, newProblem(ledger.CodeInvalid, "a Charta-* header: "+detail)
		}
	}
	return k, nil
}

// exchange is one proxied request's state, carried in its context from
// ServeHTTP to the proxy's hooks.
type exchange struct {
	rt       *route
	member   string
	plans    []meterPlan
	admitted time.Time    // when it was admitted: its counts' time
	sent     time.Time    // when the request went upstream
	reqBytes atomic.Int64 // request body bytes read so far
	once     sync.Once    // settles the plans once: recorded or released
}

type exchangeKey struct{}

func exchangeOf(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// newProxy builds rt's reverse proxy: hop-by-hop headers are dropped by
// httputil, the caller's Authorization is not forwarded, Charta-Member
// names the caller, and bodies stream in both directions.
func (g *Gateway) newProxy(rt *route, tr http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport:  tr,
		BufferPool: copyBuffers,
		Rewrite: func(pr *httputil.ProxyRequest) {
			x := exchangeOf(pr.In.Context())
			if rt.StripPrefix {
				pr.Out.URL.Path = strings.TrimPrefix(pr.Out.URL.Path, strings.TrimSuffix(rt.Prefix, "/"))
				pr.Out.URL.RawPath = ""
			}
			pr.SetURL(rt.up)
			pr.SetXForwarded()
			h := pr.Out.Header
			h.Del("Authorization")
			dropMemberHeaders(h)
			if x != nil {
				h.Set(HeaderMember, x.member)
				if x.countsBytes() && pr.Out.Body != nil && pr.Out.Body != http.NoBody {
					pr.Out.Body = &countingReader{rc: pr.Out.Body, n: &x.reqBytes}
				}
				x.sent = time.Now()
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			x := exchangeOf(resp.Request.Context())
			if x == nil {
				return nil
			}
			rt.latency.Observe(time.Since(x.sent).Seconds())
			rt.outcome[outcomeAllowed].Inc()
			return g.meterResponse(x, resp)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			x := exchangeOf(r.Context())
			if x != nil {
				x.release(g.pend)
			}
			if errors.Is(err, errJournal) {
				g.log.Error("usage could not be journaled; the response was withheld", "route", rt.Name, "err", err)
				rt.outcome[outcomeUnavailable].Inc()
				unavailable("the gateway cannot record the use of this request now; retry shortly").write(w, r)
				return
			}
			if r.Context().Err() != nil {
				return // the caller went away
			}
			g.log.Warn("upstream did not answer", "route", rt.Name, "upstream", rt.up.Redacted(), "err", err)
			rt.outcome[outcomeUpstreamError].Inc()
			p := newProblem(api.CodeUnavailable, "the upstream of "+rt.Name+" did not answer")
			p.status, p.title = http.StatusBadGateway, "Bad gateway"
			p.write(w, r)
		},
	}
}

// dropMemberHeaders removes every header a caller could pass off as the
// gateway's Charta-Member: any whose name, lowercased with "_" read as
// "-", is charta-member, since CGI and WSGI upstreams map Charta_Member
// and Charta-Member to the same variable.
func dropMemberHeaders(h http.Header) {
	for name := range h {
		if strings.ReplaceAll(strings.ToLower(name), "_", "-") == "charta-member" {
			delete(h, name)
		}
	}
}

// copyBuffers are the proxies' body copy buffers, reused: a buffer per
// request would be most of what a request allocates.
var copyBuffers = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

// bufferPool is an httputil.BufferPool over a sync.Pool.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte  { return *bp.p.Get().(*[]byte) }
func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }

// countingReader counts what is read through it.
type countingReader struct {
	rc io.ReadCloser
	n  *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.rc.Read(p)
	c.n.Add(int64(k))
	return k, err
}

func (c *countingReader) Close() error { return c.rc.Close() }
