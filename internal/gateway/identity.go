package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/charta/charta/node/client"
)

// identities resolves callers to members: an mTLS client certificate from
// the consortium CA names its member; a bearer token is resolved by the
// node's GET /v1/whoami, asked with the token itself, and the answer is
// cached for the identity TTL, never past the token's expiry, and only
// until an entry that may revoke it (token, member or key) commits. While
// the event stream is down, no commit can retire an answer, so none is
// used for longer than the decision TTL, the bound the documentation
// promises for a revocation.
type identities struct {
	nodes *nodes
	ttl   time.Duration
	down  time.Duration // the longest an answer is used while the stream is down
	// streaming is true while the event stream is followed.
	streaming atomic.Bool
	gen       atomic.Uint64
	t         *table[[sha256.Size]byte, cachedIdentity]
	// whoami asks a node who a token is; a field so tests can fake it.
	whoami func(ctx context.Context, k int, token string) (*api.Whoami, error)
}

type cachedIdentity struct {
	member  string
	gen     uint64
	asked   int64 // unix nanoseconds: when the node was asked
	expires int64 // unix nanoseconds
}

// fresh reports whether e may be used at now (unix nanoseconds).
func (id *identities) fresh(e cachedIdentity, now int64) bool {
	if e.gen != id.gen.Load() || now >= e.expires {
		return false
	}
	return id.streaming.Load() || now < e.asked+int64(id.down)
}

// maxIdentities bounds the token cache. Only tokens the node vouched for
// enter it.
const maxIdentities = 1 << 14

func newIdentities(n *nodes, ttl, down time.Duration) *identities {
	id := &identities{nodes: n, ttl: ttl, down: min(down, ttl), t: newTable[[sha256.Size]byte, cachedIdentity](maxIdentities)}
	id.whoami = func(ctx context.Context, k int, token string) (*api.Whoami, error) {
		c, err := n.asCaller(k, token)
		if err != nil {
			return nil, err
		}
		// Stale, so that an election does not make callers unknown;
		// the read floor, so that the node has applied every entry
		// the gateway has seen, a token's revocation included.
		return c.Whoami(ctx, append(n.readOpts(), client.Consistency("stale"))...)
	}
	return id
}

// invalidate forgets every cached token.
func (id *identities) invalidate() { id.gen.Add(1) }

// caller returns the member r is from, or a problem: 401 for a caller who
// is not one, 503 when no node can say.
func (id *identities) caller(r *http.Request) (string, *problem) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		// The listener verified the chain against the client CA; the
		// certificate names its member as a node certificate does.
		m, err := consensus.NodeIDFromCert(r.TLS.VerifiedChains[0][0])
		if err != nil {
			return "", newProblem(ledger.CodeUnauthorized, "the client certificate names no member: "+err.Error())
		}
		return m, nil
	}
	tok := bearer(r)
	if tok == "" {
		return "", newProblem(ledger.CodeUnauthorized, "this gateway needs an Authorization: Bearer <token> header with a token registered on the ledger, or a client certificate from the consortium CA")
	}
	return id.member(r.Context(), tok)
}

// member resolves a bearer token.
func (id *identities) member(ctx context.Context, tok string) (string, *problem) {
	h := sha256.Sum256([]byte(tok))
	now := time.Now()
	if e, ok := id.t.get(h); ok && id.fresh(e, now.UnixNano()) {
		return e.member, nil
	}
	gen := id.gen.Load()
	var w *api.Whoami
	err := id.nodes.do(ctx, func(ctx context.Context, k int, _ *client.Client) error {
		var err error
		w, err = id.whoami(ctx, k, tok)
		return err
	})
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		var ce *client.Error
		errors.As(err, &ce)
		return "", newProblem(ledger.CodeUnauthorized, "the ledger does not accept the bearer token: "+ce.Detail)
	case err != nil:
		return "", unavailable("no node could say who the bearer token belongs to")
	case w.Member == "":
		return "", newProblem(ledger.CodeUnauthorized, "the bearer token is the node's operator token, which names no member; use a member's token")
	}
	exp := now.Add(id.ttl)
	if w.ExpiresAt != nil && w.ExpiresAt.Before(exp) {
		exp = *w.ExpiresAt
	}
	if gen == id.gen.Load() {
		id.t.put(h, cachedIdentity{member: w.Member, gen: gen, asked: now.UnixNano(), expires: exp.UnixNano()})
	}
	return w.Member, nil
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

// unavailable is a 503 problem: the ledger cannot be asked now.
func unavailable(detail string) *problem {
	p := newProblem(api.CodeUnavailable, detail)
	p.retry = 1
	return p
}
