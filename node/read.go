package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// Read consistency levels (query parameter consistency).
const (
	consistencyStale        = "stale"        // the local state as it is
	consistencyLeader       = "leader"       // this node leads, or heard from the leader within the lease
	consistencyLinearizable = "linearizable" // read index from the leader, then wait to apply it
)

// withConsistency makes a read wait for the consistency and min_index the
// client asked for, within MaxWait, before the handler reads the state.
func (s *Server) withConsistency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.awaitConsistency(r); err != nil {
			s.writeProblem(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) awaitConsistency(r *http.Request) error {
	mode, minIndex := "", ""
	if raw := r.URL.RawQuery; strings.Contains(raw, "consistency") || strings.Contains(raw, "min_index") || strings.Contains(raw, "%") {
		// Without an escape, neither name can hide in the query, which
		// spares the hot read paths a second parse.
		q := r.URL.Query()
		mode, minIndex = q.Get("consistency"), q.Get("min_index")
	}
	// One MaxWait covers every wait of the request; its context is made
	// only when a read has to wait.
	deadline := time.Now().Add(s.cfg.MaxWait)
	switch mode {
	case consistencyStale:
	case "", consistencyLeader:
		if !s.c.IsLeader() {
			st := s.c.Status()
			if st.Leader == "" {
				return errorf(api.CodeUnavailable, "no leader is known; retry, or read with consistency=stale").retry(1)
			}
			if st.LastContact > s.cfg.LeaderLease {
				return errorf(api.CodeUnavailable, "no contact with the leader for %s; retry, or read with consistency=stale", st.LastContact.Round(1e6)).retry(1)
			}
		}
	case consistencyLinearizable:
		ctx, cancel := context.WithDeadline(r.Context(), deadline)
		defer cancel()
		idx, err := s.readIndex(ctx, r)
		if err != nil {
			return err
		}
		if err := s.waitApplied(r.Context(), deadline, idx); err != nil {
			return err
		}
	default:
		return errorf(ledger.CodeInvalid, "consistency: %q is not stale, leader or linearizable", mode)
	}
	if minIndex != "" {
		n, err := strconv.ParseUint(minIndex, 10, 64)
		if err != nil {
			return errorf(ledger.CodeInvalid, "min_index: %q is not a non-negative integer", minIndex)
		}
		if err := s.waitApplied(r.Context(), deadline, n); err != nil {
			return err
		}
	}
	return nil
}

// waitApplied waits until the ledger has applied index, at most until
// deadline.
func (s *Server) waitApplied(parent context.Context, deadline time.Time, index uint64) error {
	if s.l.AppliedIndex() >= index {
		return nil
	}
	ctx, cancel := context.WithDeadline(parent, deadline)
	defer cancel()
	err := s.c.WaitApplied(ctx, index)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return errorf(api.CodeUnavailable, "index %d was not applied within %s (applied: %d); retry later", index, s.cfg.MaxWait, s.l.AppliedIndex()).retry(1)
	}
	return err
}

// readIndex obtains a linearizable read index: locally on the leader, from
// the leader's /v1/cluster/read-index on a follower.
func (s *Server) readIndex(ctx context.Context, r *http.Request) (uint64, error) {
	if s.c.IsLeader() {
		idx, err := s.c.ReadIndex(ctx)
		if err == nil || !errors.Is(err, ErrNotLeader) {
			return idx, err
		}
	}
	if r.Header.Get(ForwardedHeader) != "" {
		return 0, errorf(api.CodeUnavailable, "forwarded read-index request reached %s, which is not the leader; retry", s.c.ID()).retry(1)
	}
	url, err := s.leaderURL("/v1/cluster/read-index")
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(ForwardedHeader, s.c.ID())
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, errorf(api.CodeUnavailable, "the leader could not be reached for a read index: %v", err).retry(1)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return 0, errorf(api.CodeUnavailable, "the leader refused a read index with status %d; retry", resp.StatusCode).retry(1)
	}
	var ri api.ReadIndex
	if err := json.Unmarshal(body, &ri); err != nil {
		return 0, errorf(api.CodeUnavailable, "the leader's read index answer did not decode: %v", err).retry(1)
	}
	return ri.Index, nil
}

// leaderURL returns the URL of path on the leader's API, from the leader
// member's node record.
func (s *Server) leaderURL(path string) (string, error) {
	id, _ := s.c.Leader()
	if id == "" {
		return "", errorf(api.CodeUnavailable, "no leader is known; retry shortly").retry(1)
	}
	if id == s.c.ID() {
		return "", errorf(api.CodeUnavailable, "leadership is changing; retry shortly").retry(1)
	}
	var addr string
	s.l.View(func(v *ledger.View) error {
		if m, ok := v.Member(id); ok {
			addr = m.Node.APIAddr
		}
		return nil
	})
	if addr == "" {
		return "", errorf(api.CodeUnavailable, "the leader %s has no API address on the ledger; send the request to it directly", id).retry(1)
	}
	if !strings.Contains(addr, "://") {
		scheme := "http://"
		if s.cfg.TLS {
			scheme = "https://"
		}
		addr = scheme + addr
	}
	return strings.TrimSuffix(addr, "/") + path, nil
}

// view runs fn on a consistent read view and sets the index header to the
// view's applied index.
func (s *Server) view(w http.ResponseWriter, fn func(v *ledger.View) error) error {
	return s.l.View(func(v *ledger.View) error {
		s.setIndex(w, v.AppliedIndex())
		return fn(v)
	})
}

// newList is a page of a list; an empty page has items [], not null.
func newList[T any](items []T, next string) api.List[T] {
	if items == nil {
		items = []T{}
	}
	return api.List[T]{Items: items, Next: next}
}

// Pagination bounds.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// page reads the limit and cursor parameters. A limit above the maximum
// is refused, as openapi.json declares, rather than quietly lowered.
func page(r *http.Request) (cursor string, limit int, err error) {
	q := r.URL.Query()
	limit = defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return "", 0, errorf(ledger.CodeInvalid, "limit: %q is not a positive integer", v)
		}
		if n > maxLimit {
			return "", 0, errorf(ledger.CodeInvalid, "limit: %d is over the maximum of %d; page with cursor", n, maxLimit)
		}
		limit = n
	}
	cursor = q.Get("cursor")
	if cursor != "" && !ledger.ValidID(cursor) {
		return "", 0, errorf(ledger.CodeInvalid, "cursor: %q is not a cursor this API returned", cursor)
	}
	return cursor, limit, nil
}

// uintParam parses an optional non-negative integer query parameter.
func uintParam(r *http.Request, name string, def uint64) (uint64, error) {
	return uintValue(r.URL.Query(), name, def)
}

// uintValue reads an optional non-negative integer from parsed query
// parameters.
func uintValue(q url.Values, name string, def uint64) (uint64, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, errorf(ledger.CodeInvalid, "%s: %q is not a non-negative integer", name, v)
	}
	return n, nil
}

// notFound is the 404 for a record that does not exist or that the caller
// may not see; the two are indistinguishable on purpose.
func notFound(kind, id string) error {
	return errorf(ledger.CodeNotFound, "no %s %q", kind, id)
}
