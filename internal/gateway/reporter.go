package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
	"github.com/charta/charta/node/api"
	"github.com/charta/charta/node/client"
)

// Proposal types the reporter signs.
const (
	typeUsage = "usage.report"
	typePool  = "pool.consume"
)

// reporter turns the journal's counts into signed proposals and submits
// them, at every flush and once more on shutdown.
type reporter struct {
	j      *journal
	nodes  *nodes
	signer ledger.Signer
	member string // the signer's member
	pend   *pending
	m      *metrics
	log    *slog.Logger
	// committed runs after a batch commits at a log index (a floor:
	// the batch is applied at or before it; 0 if unknown), before its
	// counts leave pending: it retires cached answers that do not
	// include the batch.
	committed func(index uint64)
	now       func() time.Time

	mu         sync.Mutex // one flush at a time
	consortium string
	// grants holds, by grant ID, each confidential grant reported to, and
	// nil for each grant in the clear: whether a grant is confidential and
	// whom its terms are sealed to never change once it is offered (a
	// confidential grant cannot be amended), so each grant is read once.
	grants map[string]*api.Grant
}

// flush signs batches for every count in the journal and submits every
// batch not yet committed, oldest first. It returns the first error that
// left a batch uncommitted, or counts unbatched; they stay in the journal
// for the next flush.
func (r *reporter) flush(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.consortium == "" {
		err := r.nodes.do(ctx, func(ctx context.Context, _ int, c *client.Client) error {
			var err error
			r.consortium, err = c.Consortium(ctx)
			return err
		})
		if err != nil {
			return fmt.Errorf("gateway: consortium ID: %w", err)
		}
	}
	// Counts whose grant's sealing is not known wait; the batches go on.
	first, err := r.cut(ctx)
	if err != nil {
		return err
	}
	_, batches, err := r.j.state()
	if err != nil {
		return err
	}
	for i := range batches {
		if err := r.submit(ctx, &batches[i]); err != nil && first == nil {
			first = err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return first
}

// cut turns the journal's counts into signed batches. It first learns how
// each grant they report to is sealed (sealings), outside the journal's
// transaction, which requests wait on; the counts of a grant it could not
// learn about (unsealed says why), or that were counted since, stay for
// the next flush. err is the journal's.
func (r *reporter) cut(ctx context.Context) (unsealed, err error) {
	tallies, _, err := r.j.state()
	if err != nil || len(tallies) == 0 {
		return nil, err
	}
	seals, unsealed := r.sealings(ctx, tallies)
	if _, err := r.j.cut(r.builder(seals)); err != nil {
		return nil, err
	}
	return unsealed, nil
}

// sealings says how the usage reports of each grant that tallies count
// usage of are sealed, by grant ID: to the grant's parties' current
// encryption keys, as the node lists them, for a confidential grant; nil
// for a grant in the clear (and for one the node does not show the
// gateway's token, which the ledger then judges). A grant whose answer it
// could not get is left out; the error says why.
func (r *reporter) sealings(ctx context.Context, tallies map[countKey]tally) (map[string][]seal.Recipient, error) {
	var grants []string
	for k := range tallies {
		if kind, f := k.parts(); kind == "u" && len(f) == 3 {
			grants = append(grants, f[0])
		}
	}
	slices.Sort(grants)
	out := map[string][]seal.Recipient{}
	var errs []error
	for _, id := range slices.Compact(grants) {
		rs, err := r.recipients(ctx, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("gateway: usage of grant %s, kept for the next flush: %w", id, err))
			continue
		}
		out[id] = rs
	}
	return out, errors.Join(errs...)
}

// recipients returns the keys that reports of grant id are sealed to: the
// current encryption keys of the recipients of its terms, but for seal
// auditors removed since (client.SealReportRecipients), if it is
// confidential, else nil. It is called with r.mu held.
func (r *reporter) recipients(ctx context.Context, id string) ([]seal.Recipient, error) {
	if r.grants == nil {
		r.grants = map[string]*api.Grant{}
	}
	g, known := r.grants[id]
	if known && g == nil {
		return nil, nil
	}
	var rs []seal.Recipient
	var keyErr error
	err := r.nodes.do(ctx, func(ctx context.Context, _ int, c *client.Client) error {
		rs, keyErr = nil, nil
		if !known {
			read, err := c.Grant(ctx, id, r.nodes.readOpts()...)
			switch {
			case errors.Is(err, client.ErrNotFound):
				// Not a grant the gateway's token may see: in the
				// clear, for the ledger to judge. Asked again next
				// time.
				return nil
			case err != nil:
				return err
			case read.Confidential == nil:
				r.grants[id], known = nil, true
				return nil
			}
			g, known = read, true
			r.grants[id] = g
		}
		var err error
		rs, err = c.SealReportRecipients(ctx, g, r.nodes.readOpts()...)
		var ke *client.SealKeyError
		if errors.As(err, &ke) {
			// The node answered; another would list the same keys.
			keyErr = err
			return nil
		}
		return err
	})
	if err == nil {
		err = keyErr
	}
	return rs, err
}

// builder returns the function that makes the batches for tallies: one
// usage.report per grant and period, with every metric counted for it,
// its metrics sealed to seals[grant] when that is not nil, and one
// pool.consume per pool and member. The counts of a grant seals does not
// hold are left as they are.
func (r *reporter) builder(seals map[string][]seal.Recipient) func(map[countKey]tally, func() (uint64, string)) ([]batch, error) {
	return func(tallies map[countKey]tally, next func() (uint64, string)) ([]batch, error) {
		return r.build(tallies, next, seals)
	}
}

// build makes the batches of tallies; see builder.
func (r *reporter) build(tallies map[countKey]tally, next func() (uint64, string), seals map[string][]seal.Recipient) ([]batch, error) {
	type group struct {
		keys        []countKey
		first, last time.Time
	}
	groups := map[string]*group{}
	for k, t := range tallies {
		if t.Q <= 0 {
			continue
		}
		kind, f := k.parts()
		var g string
		switch {
		case kind == "u" && len(f) == 3:
			if _, ok := seals[f[0]]; !ok {
				continue // not known how to seal: the next flush
			}
			g = "u\x00" + f[0] + "\x00" + f[1]
		case kind == "p" && len(f) == 2:
			g = string(k)
		default:
			r.log.Error("journal holds a count key of no known form; left as it is", "key", string(k))
			continue
		}
		gr := groups[g]
		if gr == nil {
			gr = &group{first: t.First, last: t.Last}
			groups[g] = gr
		}
		gr.keys = append(gr.keys, k)
		if t.First.Before(gr.first) {
			gr.first = t.First
		}
		if t.Last.After(gr.last) {
			gr.last = t.Last
		}
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names) // batch numbers follow the keys, not map order
	var out []batch
	for _, name := range names {
		gr := groups[name]
		slices.Sort(gr.keys)
		seq, id := next()
		b := batch{Seq: seq, ID: id, Created: r.now().UTC()}
		var body any
		kind, f := gr.keys[0].parts()
		if kind == "u" {
			rep := ledger.UsageReportBody{Grant: f[0], ReportID: id, Period: f[1],
				// The counts lie within the period, so this window does.
				Window: ledger.Window{Start: gr.first.UTC(), End: gr.last.Add(time.Nanosecond).UTC()}}
			for _, k := range gr.keys {
				_, kf := k.parts()
				rep.Metrics = append(rep.Metrics, ledger.MetricQuantity{Metric: kf[2], Quantity: tallies[k].Q})
				b.Keys, b.Amounts = append(b.Keys, k), append(b.Amounts, tallies[k].Q)
			}
			if rs := seals[f[0]]; rs != nil {
				// Sealed once, here, in the transaction that journals
				// the batch: every submission of it, after a crash
				// too, is this envelope, which the ledger answers as a
				// duplicate once it holds it.
				if err := client.SealUsage(r.consortium, rs, &rep); err != nil {
					return nil, fmt.Errorf("gateway: sealing the usage of grant %s: %w", f[0], err)
				}
			}
			b.Type, body = typeUsage, rep
		} else {
			// Member names whose quota is consumed when that is not the
			// signer's (the ledger takes it from a pool owner's
			// gateway), and is left out for the gateway's own member,
			// which every ledger accepts.
			pc := ledger.PoolConsume{Pool: f[0], Amount: tallies[gr.keys[0]].Q, Ref: id}
			if f[1] != r.member {
				pc.Member = f[1]
			}
			b.Keys, b.Amounts = gr.keys, []int64{pc.Amount}
			b.Type, body = typePool, pc
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		b.Body = raw
		if err := r.sign(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// sign (re-)signs b's proposal, issued now.
func (r *reporter) sign(b *batch) error {
	p := &ledger.Proposal{V: 1, Consortium: r.consortium, ID: b.ID, Type: b.Type, Signer: r.member, IssuedAt: r.now().UTC(), Body: b.Body}
	env, err := ledger.Sign(p, r.signer)
	if err != nil {
		return fmt.Errorf("gateway: sign %s %s: %w", b.Type, b.ID, err)
	}
	b.Envelope = env.Encode()
	return nil
}

// submit sends b and records what became of it.
func (r *reporter) submit(ctx context.Context, b *batch) error {
	var res *ledger.Result
	err := r.nodes.do(ctx, func(ctx context.Context, _ int, c *client.Client) error {
		var err error
		res, err = c.Submit(ctx, b.Envelope)
		return err
	})
	var ce *client.Error
	switch {
	case err == nil:
		return r.commit(b, res.Index)
	case !errors.As(err, &ce):
		r.m.failures.WithLabelValues(b.Type, "unreachable").Inc()
		return fmt.Errorf("gateway: %s %s: %w", b.Type, b.ID, err)
	case ce.Outcome != nil || ce.Index > 0:
		// Journaled as rejected: the ledger will never count it.
		stale, serr := r.staleSeal(ctx, b, ce.Index)
		switch {
		case serr != nil:
			r.m.failures.WithLabelValues(b.Type, "refused").Inc()
			return fmt.Errorf("gateway: %s %s was rejected, and whether a party's encryption key changed since it was sealed is not known (kept for the next flush): %w", b.Type, b.ID, serr)
		case stale:
			// Sealed to a key a party has since replaced: its counts go
			// out again in a new batch, under a new ID, sealed to the
			// current keys. This ID stays with the rejection.
			r.m.failures.WithLabelValues(b.Type, "resealed").Inc()
			r.log.Warn("the ledger rejected a sealed report, and a party's encryption key changed since it was sealed; its counts go into a new report",
				"type", b.Type, "id", b.ID, "code", ce.Code, "detail", ce.Detail, "index", ce.Index)
			return r.requeue(b)
		}
		r.m.failures.WithLabelValues(b.Type, "rejected").Inc()
		r.log.Error("the ledger rejected a report; its counts are kept in the journal's rejected bucket",
			"type", b.Type, "id", b.ID, "code", ce.Code, "detail", ce.Detail, "index", ce.Index)
		return r.drop(b, ce)
	case idTaken(ce):
		// The ID is taken, and only this batch ever used it: an
		// earlier submission of it committed under another envelope
		// (journals of earlier versions re-signed a batch whose
		// answer was lost). The node had applied it by the index it
		// answered at.
		return r.commit(b, ce.AppliedIndex)
	case refusedForGood(ce):
		// Refused before it was journaled, for a reason a retry
		// cannot change (the delegated key expired, a target out of
		// its scope, a malformed body): kept for the operator, and
		// its pending released, so that it does not hold a cap or
		// quota for every caller forever.
		r.m.failures.WithLabelValues(b.Type, "refused_final").Inc()
		r.log.Error("the ledger refused a report for good; its counts are kept in the journal's rejected bucket",
			"type", b.Type, "id", b.ID, "code", ce.Code, "detail", ce.Detail)
		return r.drop(b, ce)
	default:
		r.m.failures.WithLabelValues(b.Type, "refused").Inc()
		return fmt.Errorf("gateway: %s %s refused (kept for the next flush): %w", b.Type, b.ID, err)
	}
}

// commit records that b is in the ledger at index (0 if unknown). The
// journal is updated first: if that fails, the batch is submitted again
// at the next flush, answered as a duplicate, and only then leaves
// pending, once. Pending is reduced only after the cached answers that do
// not include the batch are retired, so that no admission sees the
// ledger's old remaining with the batch already out of pending.
func (r *reporter) commit(b *batch, index uint64) error {
	if err := r.j.done(b.Seq); err != nil {
		return err
	}
	r.committed(index)
	r.pend.settle(b.Keys, b.Amounts)
	r.m.sent.WithLabelValues(b.Type).Inc()
	return nil
}

// drop moves b, which the ledger will never count, to the journal's
// rejected bucket, and then releases its pending.
func (r *reporter) drop(b *batch, ce *client.Error) error {
	if err := r.j.reject(b, string(ce.Code)+": "+ce.Detail); err != nil {
		return err
	}
	for i, k := range b.Keys {
		r.pend.add(k, -b.Amounts[i])
	}
	return nil
}

// staleSeal reports whether b is a sealed usage report that names a key
// of a party other than the party's current one, as a node that has
// applied the rejection at index lists them: the ledger rejects a report
// sealed to a replaced key, and sealing again to the current keys is all
// it takes.
func (r *reporter) staleSeal(ctx context.Context, b *batch, index uint64) (bool, error) {
	if b.Type != typeUsage {
		return false, nil
	}
	var rep ledger.UsageReportBody
	if err := json.Unmarshal(b.Body, &rep); err != nil || rep.Confidential == nil || rep.Confidential.Sealed == nil {
		return false, nil
	}
	wraps := rep.Confidential.Sealed.Wraps
	members := make([]string, len(wraps))
	for i, w := range wraps {
		members[i] = w.Member
	}
	var rs []seal.Recipient
	noKey := false
	err := r.nodes.do(ctx, func(ctx context.Context, _ int, c *client.Client) error {
		var err error
		rs, err = c.SealRecipients(ctx, members, client.MinIndex(max(r.nodes.floor.Load(), index)))
		var ke *client.SealKeyError
		noKey = errors.As(err, &ke)
		if noKey {
			// The node answered; another would list the same keys.
			return nil
		}
		return err
	})
	switch {
	case err != nil:
		return false, err
	case noKey:
		// No current key to seal to: sealing again cannot help.
		return false, nil
	}
	for i, w := range wraps {
		if rs[i].Key.Fingerprint() != w.KeyFingerprint {
			return true, nil
		}
	}
	return false, nil
}

// requeue returns the counts of b, which the ledger rejected without
// counting, to the journal's tallies, to be reported again in a new
// batch. They stay pending.
func (r *reporter) requeue(b *batch) error {
	var rep ledger.UsageReportBody
	if err := json.Unmarshal(b.Body, &rep); err != nil {
		return fmt.Errorf("gateway: batch %s: %w", b.ID, err)
	}
	return r.j.requeue(b, rep.Window.Start, rep.Window.End.Add(-time.Nanosecond))
}

// idTaken reports whether ce refuses a proposal because its signer used
// its ID for another proposal: the node marks it (id_taken).
func idTaken(ce *client.Error) bool {
	return ce.Code == ledger.CodeConflict && ce.IDTaken
}

// refusedForGood reports whether ce refuses a proposal for a reason that
// resubmitting it cannot change.
func refusedForGood(ce *client.Error) bool {
	switch ce.Code {
	case ledger.CodeForbidden, ledger.CodeInvalid, ledger.CodeRejected:
		return true
	}
	return false
}

// propose signs and submits one proposal outside the journal, for
// observed infractions.
func (r *reporter) propose(ctx context.Context, typ, id string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	r.mu.Lock()
	consortium := r.consortium
	r.mu.Unlock()
	if consortium == "" {
		if err := r.nodes.do(ctx, func(ctx context.Context, _ int, c *client.Client) error {
			var err error
			consortium, err = c.Consortium(ctx)
			return err
		}); err != nil {
			return err
		}
	}
	p := &ledger.Proposal{V: 1, Consortium: consortium, ID: id, Type: typ, Signer: r.member, IssuedAt: r.now().UTC(), Body: raw}
	env, err := ledger.Sign(p, r.signer)
	if err != nil {
		return err
	}
	return r.nodes.do(ctx, func(ctx context.Context, _ int, c *client.Client) error {
		_, err := c.Submit(ctx, env.Encode())
		return err
	})
}
