package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// list reads one page of path.
func list[T any](ctx context.Context, c *Client, path string, q url.Values, opts []ReadOption) ([]T, string, uint64, error) {
	var p api.List[T]
	idx, err := c.get(ctx, path, q, opts, &p)
	if err != nil {
		return nil, "", idx, err
	}
	return p.Items, p.Next, idx, nil
}

// listAll iterates over every item of path, page by page. Later pages are
// read with min_index at least the index of the first, so that a
// pagination that moves between nodes never goes back in time.
func listAll[T any](ctx context.Context, c *Client, path string, q url.Values, opts []ReadOption) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var (
			cursor string
			floor  uint64
		)
		for {
			o := append([]ReadOption(nil), opts...)
			if cursor != "" {
				o = append(o, Cursor(cursor))
			}
			if floor > 0 {
				o = append(o, MinIndex(floor))
			}
			items, next, idx, err := list[T](ctx, c, path, cloneQuery(q), o)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			floor = max(floor, idx)
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" || next == cursor || len(items) == 0 {
				return
			}
			cursor = next
		}
	}
}

func cloneQuery(q url.Values) url.Values {
	if q == nil {
		return nil
	}
	return url.Values(http.Header(q).Clone())
}

// one reads a single record of path into a new T.
func one[T any](ctx context.Context, c *Client, path string, opts []ReadOption) (*T, error) {
	v := new(T)
	if _, err := c.get(ctx, path, nil, opts, v); err != nil {
		return nil, err
	}
	return v, nil
}

// Members lists members in ID order: one page, and the cursor of the next
// ("" after the last). See Limit and Cursor.
func (c *Client) Members(ctx context.Context, opts ...ReadOption) ([]api.Member, string, error) {
	items, next, _, err := list[api.Member](ctx, c, "/v1/members", nil, opts)
	return items, next, err
}

// AllMembers iterates over every member, following the cursors.
func (c *Client) AllMembers(ctx context.Context, opts ...ReadOption) iter.Seq2[api.Member, error] {
	return listAll[api.Member](ctx, c, "/v1/members", nil, opts)
}

// Member returns one member, with its keys and its node's checkpoint verifier keys.
func (c *Client) Member(ctx context.Context, id string, opts ...ReadOption) (*api.Member, error) {
	return one[api.Member](ctx, c, "/v1/members/"+escape(id), opts)
}

// Assets lists assets in ID order; see Members.
func (c *Client) Assets(ctx context.Context, opts ...ReadOption) ([]ledger.Asset, string, error) {
	items, next, _, err := list[ledger.Asset](ctx, c, "/v1/assets", nil, opts)
	return items, next, err
}

// AllAssets iterates over every asset.
func (c *Client) AllAssets(ctx context.Context, opts ...ReadOption) iter.Seq2[ledger.Asset, error] {
	return listAll[ledger.Asset](ctx, c, "/v1/assets", nil, opts)
}

// Asset returns one asset.
func (c *Client) Asset(ctx context.Context, id string, opts ...ReadOption) (*ledger.Asset, error) {
	return one[ledger.Asset](ctx, c, "/v1/assets/"+escape(id), opts)
}

// Lineage returns the assets an asset derives from and those derived from
// it.
func (c *Client) Lineage(ctx context.Context, id string, opts ...ReadOption) (*Lineage, error) {
	return one[Lineage](ctx, c, "/v1/assets/"+escape(id)+"/lineage", opts)
}

func (f GrantFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"licensee": f.Licensee, "licensor": f.Licensor, "asset": f.Asset, "status": string(f.Status)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// Grants lists the grants that match f and that the token may see; see
// Members.
func (c *Client) Grants(ctx context.Context, f GrantFilter, opts ...ReadOption) ([]api.Grant, string, error) {
	items, next, _, err := list[api.Grant](ctx, c, "/v1/grants", f.query(), opts)
	return items, next, err
}

// AllGrants iterates over every grant that matches f.
func (c *Client) AllGrants(ctx context.Context, f GrantFilter, opts ...ReadOption) iter.Seq2[api.Grant, error] {
	return listAll[api.Grant](ctx, c, "/v1/grants", f.query(), opts)
}

// Grant returns one grant. A grant the token may not see is ErrNotFound.
func (c *Client) Grant(ctx context.Context, id string, opts ...ReadOption) (*api.Grant, error) {
	return one[api.Grant](ctx, c, "/v1/grants/"+escape(id), opts)
}

// GrantSealed returns a confidential grant's sealed object, which the
// caller opens with its own encryption key (ledger/seal.OpenWith).
func (c *Client) GrantSealed(ctx context.Context, id string, opts ...ReadOption) (*ledger.Sealed, error) {
	return one[ledger.Sealed](ctx, c, "/v1/grants/"+escape(id)+"/sealed", opts)
}

// GrantHistory lists a grant's history: its offer, acceptance, amendments
// and changes of status, oldest first; see Members.
func (c *Client) GrantHistory(ctx context.Context, id string, opts ...ReadOption) ([]ledger.GrantEvent, string, error) {
	items, next, _, err := list[ledger.GrantEvent](ctx, c, "/v1/grants/"+escape(id)+"/history", nil, opts)
	return items, next, err
}

// AllGrantHistory iterates over a grant's whole history.
func (c *Client) AllGrantHistory(ctx context.Context, id string, opts ...ReadOption) iter.Seq2[ledger.GrantEvent, error] {
	return listAll[ledger.GrantEvent](ctx, c, "/v1/grants/"+escape(id)+"/history", nil, opts)
}

// GrantStatements lists a grant's statements. The items are raw JSON until
// the ledger defines its statement type.
func (c *Client) GrantStatements(ctx context.Context, id string, opts ...ReadOption) ([]json.RawMessage, string, error) {
	items, next, _, err := list[json.RawMessage](ctx, c, "/v1/grants/"+escape(id)+"/statements", nil, opts)
	return items, next, err
}

// GrantAttestations lists where the parties' attestations of confidential
// grant id's statements stand, period by period.
func (c *Client) GrantAttestations(ctx context.Context, id string, opts ...ReadOption) ([]ledger.StatementAttestation, error) {
	items, _, _, err := list[ledger.StatementAttestation](ctx, c, "/v1/grants/"+escape(id)+"/attestations", nil, opts)
	return items, err
}

// Bundles lists the bundles the token may see; see Members.
func (c *Client) Bundles(ctx context.Context, opts ...ReadOption) ([]ledger.Bundle, string, error) {
	items, next, _, err := list[ledger.Bundle](ctx, c, "/v1/bundles", nil, opts)
	return items, next, err
}

// AllBundles iterates over every bundle the token may see.
func (c *Client) AllBundles(ctx context.Context, opts ...ReadOption) iter.Seq2[ledger.Bundle, error] {
	return listAll[ledger.Bundle](ctx, c, "/v1/bundles", nil, opts)
}

// Bundle returns one bundle.
func (c *Client) Bundle(ctx context.Context, id string, opts ...ReadOption) (*ledger.Bundle, error) {
	return one[ledger.Bundle](ctx, c, "/v1/bundles/"+escape(id), opts)
}

// Pools lists the shared-resource pools. The items are raw JSON until the
// ledger defines its pool type.
func (c *Client) Pools(ctx context.Context, opts ...ReadOption) ([]json.RawMessage, string, error) {
	items, next, _, err := list[json.RawMessage](ctx, c, "/v1/pools", nil, opts)
	return items, next, err
}

// AllPools iterates over every pool, as raw JSON.
func (c *Client) AllPools(ctx context.Context, opts ...ReadOption) iter.Seq2[json.RawMessage, error] {
	return listAll[json.RawMessage](ctx, c, "/v1/pools", nil, opts)
}

// Pool returns one pool as raw JSON, until the ledger defines its pool
// type.
func (c *Client) Pool(ctx context.Context, id string, opts ...ReadOption) (json.RawMessage, error) {
	var raw json.RawMessage
	if _, err := c.get(ctx, "/v1/pools/"+escape(id), nil, opts, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// PoolUsage returns each member's quota, use and remaining amount of a pool
// in the period holding ledger time (choose another with Param("period", ...)).
func (c *Client) PoolUsage(ctx context.Context, id string, opts ...ReadOption) (*PoolUsage, error) {
	return one[PoolUsage](ctx, c, "/v1/pools/"+escape(id)+"/usage", opts)
}

// Statements lists the statements the token may see, as raw JSON until the
// ledger defines its statement type. Filter with Param.
func (c *Client) Statements(ctx context.Context, opts ...ReadOption) ([]json.RawMessage, string, error) {
	items, next, _, err := list[json.RawMessage](ctx, c, "/v1/statements", nil, opts)
	return items, next, err
}

// AllStatements iterates over every statement the token may see.
func (c *Client) AllStatements(ctx context.Context, opts ...ReadOption) iter.Seq2[json.RawMessage, error] {
	return listAll[json.RawMessage](ctx, c, "/v1/statements", nil, opts)
}

// Infractions lists the infractions the token may see, as raw JSON until
// the ledger defines its infraction type. Filter with Param.
func (c *Client) Infractions(ctx context.Context, opts ...ReadOption) ([]json.RawMessage, string, error) {
	items, next, _, err := list[json.RawMessage](ctx, c, "/v1/infractions", nil, opts)
	return items, next, err
}

// AllInfractions iterates over every infraction the token may see.
func (c *Client) AllInfractions(ctx context.Context, opts ...ReadOption) iter.Seq2[json.RawMessage, error] {
	return listAll[json.RawMessage](ctx, c, "/v1/infractions", nil, opts)
}

// Ballots lists governance ballots in ID order; see Members.
func (c *Client) Ballots(ctx context.Context, opts ...ReadOption) ([]ledger.Ballot, string, error) {
	items, next, _, err := list[ledger.Ballot](ctx, c, "/v1/ballots", nil, opts)
	return items, next, err
}

// AllBallots iterates over every ballot.
func (c *Client) AllBallots(ctx context.Context, opts ...ReadOption) iter.Seq2[ledger.Ballot, error] {
	return listAll[ledger.Ballot](ctx, c, "/v1/ballots", nil, opts)
}

// Ballot returns one ballot, with its status as of the ledger time.
func (c *Client) Ballot(ctx context.Context, id string, opts ...ReadOption) (*ledger.Ballot, error) {
	return one[ledger.Ballot](ctx, c, "/v1/ballots/"+escape(id), opts)
}

// checkParams are the query parameters of GET /v1/check.
var checkParams = map[string]bool{
	"member": true, "asset": true, "action": true, "territory": true,
	"purpose": true, "industry": true, "at": true, "quantity": true,
}

// checkQuery turns a request into GET /v1/check parameters through its JSON
// form, so that it follows ledger.CheckRequest's field names. ok is false
// when the request has a set field that the query cannot carry.
func checkQuery(r ledger.CheckRequest) (q url.Values, ok bool, err error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, false, fmt.Errorf("client: check request: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, false, fmt.Errorf("client: check request: %w", err)
	}
	q = url.Values{}
	for k, raw := range fields {
		v, set := scalar(raw)
		if !set {
			continue
		}
		name := strings.ToLower(k)
		if !checkParams[name] || v == "" {
			return nil, false, nil
		}
		q.Set(name, v)
	}
	return q, true, nil
}

// scalar returns a JSON string or number as query text; set is false for
// zero values (null, "", 0, false, the zero time, empty arrays and
// objects). An array or object that is not empty returns "" and set.
func scalar(raw json.RawMessage) (v string, set bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return "", false
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.IsZero() {
			return "", false
		}
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if f, err := n.Float64(); err == nil && f == 0 {
			return "", false
		}
		return n.String(), true
	}
	switch t := string(bytes.TrimSpace(raw)); t {
	case "null", "false", "[]", "{}":
		return "", false
	case "true":
		return "true", true
	}
	return "", true
}

// Check asks whether a member may perform an action on an asset, and why:
// GET /v1/check. A request with fields that the query does not carry is
// sent as a batch of one instead.
func (c *Client) Check(ctx context.Context, r ledger.CheckRequest, opts ...ReadOption) (*ledger.Decision, error) {
	q, ok, err := checkQuery(r)
	if err != nil {
		return nil, err
	}
	if !ok {
		ds, err := c.CheckBatch(ctx, []ledger.CheckRequest{r}, opts...)
		if err != nil {
			return nil, err
		}
		return &ds[0], nil
	}
	var d ledger.Decision
	if _, err := c.get(ctx, "/v1/check", q, opts, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// CheckBatch answers several checks at once: POST /v1/check. The decisions
// are in the order of the requests. The charter bounds the batch size.
func (c *Client) CheckBatch(ctx context.Context, reqs []ledger.CheckRequest, opts ...ReadOption) ([]ledger.Decision, error) {
	q, err := c.readQuery(nil, opts)
	if err != nil {
		return nil, err
	}
	in := api.CheckBatch{Requests: make([]api.CheckQuery, len(reqs))}
	for i, r := range reqs {
		if r.Quantity < 0 {
			return nil, fmt.Errorf("client: check request %d: quantity %d is negative", i, r.Quantity)
		}
		in.Requests[i] = api.CheckQuery{Member: r.Member, Asset: r.Asset, Action: string(r.Action), Territory: r.Territory,
			Purpose: r.Purpose, Industry: r.Industry, At: r.At, Quantity: uint64(r.Quantity)}
	}
	var out api.CheckBatchResponse
	if _, err := c.postJSON(ctx, "/v1/check", q, in, true, &out); err != nil {
		return nil, err
	}
	if len(out.Decisions) != len(reqs) {
		return nil, fmt.Errorf("client: POST /v1/check: %d decisions for %d requests", len(out.Decisions), len(reqs))
	}
	return out.Decisions, nil
}

// Journal returns up to limit journal entries starting at seq from (limit 0
// leaves the page size to the server), and the server's next cursor ("" at
// the head). The journal is visible to every member: it is the audit log.
func (c *Client) Journal(ctx context.Context, from uint64, limit int, opts ...ReadOption) ([]ledger.Entry, string, error) {
	items, next, _, err := list[ledger.Entry](ctx, c, "/v1/journal", journalQuery(from, limit), opts)
	return items, next, err
}

func journalQuery(from uint64, limit int) url.Values {
	q := url.Values{"from": {strconv.FormatUint(from, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

// AllJournal iterates over the journal from seq from to the head as it is
// when each page is read.
func (c *Client) AllJournal(ctx context.Context, from uint64, opts ...ReadOption) iter.Seq2[ledger.Entry, error] {
	return func(yield func(ledger.Entry, error) bool) {
		var floor uint64
		for {
			o := append([]ReadOption(nil), opts...)
			if floor > 0 {
				o = append(o, MinIndex(floor))
			}
			items, next, idx, err := list[ledger.Entry](ctx, c, "/v1/journal", journalQuery(from, 0), o)
			if err != nil {
				yield(ledger.Entry{}, err)
				return
			}
			floor = max(floor, idx)
			for _, e := range items {
				if e.Seq < from {
					continue // already yielded
				}
				if !yield(e, nil) {
					return
				}
				from = e.Seq + 1
			}
			if next == "" || len(items) == 0 {
				return
			}
		}
	}
}

// JournalEntry returns the journal entry at seq.
func (c *Client) JournalEntry(ctx context.Context, seq uint64, opts ...ReadOption) (*ledger.Entry, error) {
	return one[ledger.Entry](ctx, c, "/v1/journal/"+strconv.FormatUint(seq, 10), opts)
}

// Checkpoint returns the journal's current checkpoint.
func (c *Client) Checkpoint(ctx context.Context, opts ...ReadOption) (*Checkpoint, error) {
	var cp Checkpoint
	if _, err := c.get(ctx, "/v1/checkpoint", nil, opts, &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

// InclusionProof returns the proof that the entry at seq index is in the
// journal tree of size entries; verify it with InclusionProof.Verify.
func (c *Client) InclusionProof(ctx context.Context, index, size uint64, opts ...ReadOption) (*InclusionProof, error) {
	q := url.Values{"index": {strconv.FormatUint(index, 10)}, "size": {strconv.FormatUint(size, 10)}}
	var p InclusionProof
	if _, err := c.get(ctx, "/v1/proofs/inclusion", q, opts, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ConsistencyProof returns the proof that the journal tree of size from is
// a prefix of the tree of size to; verify it with ConsistencyProof.Verify.
func (c *Client) ConsistencyProof(ctx context.Context, from, to uint64, opts ...ReadOption) (*ConsistencyProof, error) {
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "to": {strconv.FormatUint(to, 10)}}
	var p ConsistencyProof
	if _, err := c.get(ctx, "/v1/proofs/consistency", q, opts, &p); err != nil {
		return nil, err
	}
	return &p, nil
}
