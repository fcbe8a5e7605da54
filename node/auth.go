package node

import (
	"context"
	"crypto/subtle"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"golang.org/x/time/rate"
)

// principal is who a request acts for.
type principal struct {
	operator bool   // the node's operator token
	member   string // the member a ledger token belongs to
	role     ledger.Role
	scopes   []string
	key      string // rate-limit key
	expires  time.Time
}

// seesAll reports whether the principal may see every grant, bundle and
// statement: the operator and auditors.
func (p *principal) seesAll() bool {
	return p != nil && (p.operator || p.role == ledger.RoleAuditor)
}

// party reports whether the principal may see a record whose parties are
// members.
func (p *principal) party(members ...[]string) bool {
	if p.seesAll() {
		return true
	}
	if p == nil {
		return false
	}
	for _, ms := range members {
		for _, m := range ms {
			if m == p.member {
				return true
			}
		}
	}
	return false
}

func principalOf(ctx context.Context) *principal {
	p, _ := ctx.Value(keyPrincipal).(*principal)
	return p
}

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	return ""
}

// authenticate resolves a bearer token: the operator token, or a ledger
// token that has not expired by the consortium's time (Server.checkTime)
// and whose member has not been
// removed. A suspended member keeps read access to its records.
func (s *Server) authenticate(tok string) (*principal, error) {
	return s.authenticateHash(ledger.HashToken(tok))
}

// stillValid re-checks a principal for a long-lived request such as an
// event stream: its token may have been revoked or expired, or its member
// removed, since the request began.
func (s *Server) stillValid(p *principal) bool {
	if p == nil || p.operator {
		return true
	}
	_, err := s.authenticateHash(strings.TrimPrefix(p.key, "t:"))
	return err == nil
}

func (s *Server) authenticateHash(hash string) (*principal, error) {
	if subtle.ConstantTimeCompare([]byte(hash), []byte(s.operatorHash)) == 1 {
		return &principal{operator: true, key: "t:" + hash}, nil
	}
	// Expiry is judged against the consortium's time, which moves
	// without entries: an idle ledger must not keep a token alive.
	now := s.checkTime()
	if p := s.principals.get(hash, s.l.AppliedIndex()); p != nil && p.expires.After(now) {
		return p, nil
	}
	var p *principal
	err := s.l.View(func(v *ledger.View) error {
		t, ok := v.Token(hash)
		if !ok {
			return errorf(ledger.CodeUnauthorized, "the bearer token is not registered on the ledger")
		}
		if !t.ExpiresAt.After(now) {
			return errorf(ledger.CodeUnauthorized, "the bearer token expired at %s; register a new one", t.ExpiresAt.UTC().Format(time.RFC3339))
		}
		m, ok := v.Member(t.Member)
		if !ok || m.Status == ledger.MemberRemoved {
			return errorf(ledger.CodeUnauthorized, "the bearer token's member %s is no longer in the consortium", t.Member)
		}
		p = &principal{member: m.ID, role: m.Role, scopes: t.Scopes, key: "t:" + hash, expires: t.ExpiresAt}
		s.principals.put(hash, v.AppliedIndex(), p)
		return nil
	})
	return p, err
}

// maxPrincipals bounds the principal cache; only registered, unexpired
// tokens enter it, so it fills only in a consortium with that many live
// tokens, and then the rest are looked up each time.
const maxPrincipals = 4096

// principalCache remembers what ledger tokens resolved to at one applied
// index. A token's revocation and member standing change only when the
// ledger applies an entry, so an answer cached at the current applied
// index is the one a lookup would give (expiry, which time alone brings,
// is checked on every use); the
// first lookup after the index moves starts afresh. (The ledger commits a
// batch a moment before it publishes the new applied index; a request
// served from the cache in that moment is ordered before the batch, whose
// proposers have not been answered yet.) Refusals are never cached, so
// junk tokens cannot fill it.
type principalCache struct {
	mu      sync.Mutex
	applied uint64
	byHash  map[string]*principal
}

func (c *principalCache) get(hash string, applied uint64) *principal {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.applied != applied {
		return nil
	}
	return c.byHash[hash]
}

func (c *principalCache) put(hash string, applied uint64, p *principal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case applied < c.applied:
		return // a lookup that raced a newer one
	case applied > c.applied || c.byHash == nil:
		c.applied, c.byHash = applied, make(map[string]*principal)
	}
	if len(c.byHash) < maxPrincipals {
		c.byHash[hash] = p
	}
}

// withAuth enforces a route's access rule and the rate limit, and puts the
// principal in the request context.
func (s *Server) withAuth(a access, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a == accessPublic {
			next.ServeHTTP(w, r)
			return
		}
		var p *principal
		var authErr error
		// A valid token has its own bucket; anything else (no token, or one
		// that does not authenticate) shares its address's, so that junk
		// tokens cannot each buy a fresh bucket. Signed proposals are
		// limited by their handler, per signer (see handleProposalCreate).
		key := "a:" + clientAddr(r)
		if tok := bearer(r); tok != "" && a != accessSigned {
			if p, authErr = s.authenticate(tok); authErr == nil {
				key = p.key
			}
		}
		if a != accessSigned {
			if wait, ok := s.limits.allow(key); !ok {
				s.refuseRate(w, r, wait)
				return
			}
		}
		if a != accessSigned {
			tok := bearer(r)
			if tok == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="charta"`)
				s.writeProblem(w, r, errorf(ledger.CodeUnauthorized, "this route needs an Authorization: Bearer <token> header"))
				return
			}
			if authErr != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="charta", error="invalid_token"`)
				s.writeProblem(w, r, authErr)
				return
			}
			if a == accessOperator && !p.operator {
				s.writeProblem(w, r, errorf(ledger.CodeForbidden, "only the node's operator token may call %s", r.URL.Path))
				return
			}
			if a == accessAdmin && !p.operator && !p.hasAnyScope("admin") {
				s.writeProblem(w, r, errorf(ledger.CodeForbidden, "%s changes the cluster: it needs the operator token or a token with the admin scope", r.URL.Path))
				return
			}
			if a != accessToken && !p.operator && !p.hasAnyScope("read", "admin") {
				s.writeProblem(w, r, errorf(ledger.CodeForbidden, "the token lacks the read scope"))
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyPrincipal, p)))
	})
}

// refuseRate answers 429: over the rate limit, retry after wait.
func (s *Server) refuseRate(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	s.metrics.rateLimited.Inc()
	s.writeProblem(w, r, errorf(api.CodeRateLimited, "over the rate limit of %g requests per second; slow down", s.cfg.RateLimit).
		retry(int(math.Ceil(wait.Seconds()))))
}

func (p *principal) hasAnyScope(scopes ...string) bool {
	for _, have := range p.scopes {
		for _, want := range scopes {
			if have == want {
				return true
			}
		}
	}
	return false
}

// clientAddr is the request's remote IP.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiters holds one token bucket per key. Idle buckets are dropped so the
// table cannot grow without bound under many keys.
type limiters struct {
	rate  rate.Limit
	burst int
	clock func() time.Time

	mu    sync.Mutex
	m     map[string]*limiterEntry
	swept time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiters(r float64, burst int, clock func() time.Time) *limiters {
	return &limiters{rate: rate.Limit(r), burst: burst, clock: clock, m: map[string]*limiterEntry{}}
}

// allow takes one token from key's bucket; if there is none it reports how
// long until there will be.
func (l *limiters) allow(key string) (time.Duration, bool) {
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, e := range l.m {
			if now.Sub(e.seen) > 10*time.Minute {
				delete(l.m, k)
			}
		}
		l.swept = now
	}
	e, ok := l.m[key]
	if !ok {
		e = &limiterEntry{lim: rate.NewLimiter(l.rate, l.burst)}
		l.m[key] = e
	}
	e.seen = now
	res := e.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// exhausted reports whether key's bucket has no token left, without
// taking one.
func (l *limiters) exhausted(key string) bool {
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	return ok && e.lim.TokensAt(now) < 1
}
