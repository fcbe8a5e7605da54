package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// errJournal wraps a failure to journal a count: the response it was for
// is withheld, since its use could not be recorded.
var errJournal = errors.New("gateway: journal")

// meterPlan is what one meter of a route does for one request: the count
// keys its quantity goes to, and those of them a unit was reserved on.
type meterPlan struct {
	m        *Meter
	keys     []countKey
	reserved []countKey
}

// countsBytes reports whether a meter of the exchange counts bytes.
func (x *exchange) countsBytes() bool {
	for _, p := range x.plans {
		if p.m.Count == CountBytes {
			return true
		}
	}
	return false
}

// release gives back the reservations of an exchange whose use will not
// be counted (the upstream failed, or did not answer).
func (x *exchange) release(pend *pending) {
	x.once.Do(func() {
		for _, p := range x.plans {
			for _, k := range p.reserved {
				pend.add(k, -1)
			}
		}
	})
}

// admitMeters plans the metering of a request by member on rt, allowed by
// d (nil if it was let through unchecked), and refuses it when a hard cap
// of the grant or the member's pool quota would be passed: what the
// ledger says is left, minus what the gateway has counted and the ledger
// does not hold yet. A request counted by requests reserves its unit, so
// that concurrent requests cannot pass a limit together; one counted by
// bytes or a header needs only something left, since its quantity is
// known when the response comes. now is the admission time: it picks the
// usage period, and record stamps the counts with it, so that a report's
// window stays within the period its counts are keyed by.
func (g *Gateway) admitMeters(ctx context.Context, rt *route, member string, d *ledger.Decision, now time.Time) ([]meterPlan, *problem) {
	plans := make([]meterPlan, 0, len(rt.Meters))
	refuse := func(p *problem, current []countKey) ([]meterPlan, *problem) {
		for _, pl := range plans {
			current = append(current, pl.reserved...)
		}
		for _, k := range current {
			g.pend.add(k, -1)
		}
		return nil, p
	}
	for i := range rt.Meters {
		m := &rt.Meters[i]
		pl := meterPlan{m: m}
		need := int64(1)
		limited := func(k countKey, left int64, over func(pending int64) *problem) *problem {
			if m.Count == CountRequests {
				if !g.pend.reserve(k, left, need) {
					return over(g.pend.get(k))
				}
				pl.reserved = append(pl.reserved, k)
				return nil
			}
			if p := g.pend.get(k); left-p < need {
				return over(p)
			}
			return nil
		}
		if m.Usage {
			grant := usageGrant(m, d)
			if d == nil {
				// Let through unchecked (--fail-open): no decision says
				// which grant, if any, allowed the use.
				g.m.unmetered.WithLabelValues(rt.Name, unmeteredNoDecision).Inc()
			}
			if grant != "" {
				kind, err := g.quotas.grantPeriod(ctx, grant)
				switch {
				case errors.Is(err, errNoUsageTerms):
					g.m.unmetered.WithLabelValues(rt.Name, unmeteredNoUsageTerms).Inc()
					g.log.Warn("a usage meter's grant has no usage terms; nothing is reported to it", "route", rt.Name, "grant", grant)
				case errors.Is(err, errNotReporter):
					g.m.unmetered.WithLabelValues(rt.Name, unmeteredNotReporter).Inc()
					g.log.Warn("the gateway's member may not report the usage of the grant that allows this use; nothing is reported to it",
						"route", rt.Name, "grant", grant, "member", member)
				case errors.Is(err, errSealedTerms):
					// The check that allowed it had them open: a node
					// that has not opened them yet answered this.
					return refuse(unavailable("the usage terms of confidential grant "+grant+" are not open to the gateway on its node yet"), pl.reserved)
				case err != nil:
					return refuse(unavailable("no node could give the usage terms of grant "+grant), pl.reserved)
				default:
					period := ledger.PeriodKey(kind, now)
					k := usageKey(grant, period, m.Metric)
					pl.keys = append(pl.keys, k)
					if c := capOf(d, grant, m.Metric, period); c != nil {
						if p := limited(k, c.Remaining, func(pending int64) *problem { return overCap(member, c, pending) }); p != nil {
							return refuse(p, pl.reserved)
						}
					}
				}
			}
		}
		if m.Pool != "" {
			left, ok, err := g.quotas.poolRemaining(ctx, m.Pool, member)
			k := poolKey(m.Pool, member)
			switch {
			case err != nil && d == nil:
				// Let through unchecked (--fail-open), and no node says
				// what is left: the use is counted, the quota not
				// enforced. The ledger refuses a consumption past it.
				pl.keys = append(pl.keys, k)
			case err != nil:
				return refuse(unavailable("no node could say what is left of pool "+m.Pool), pl.reserved)
			case !ok:
				return refuse(newProblem(ledger.CodeForbidden, member+" has no quota in pool "+m.Pool).
					with("limit", map[string]any{"kind": "pool_quota", "pool": m.Pool, "member": member}), pl.reserved)
			default:
				pl.keys = append(pl.keys, k)
				if p := limited(k, left, func(pending int64) *problem { return overQuota(member, m.Pool, left, pending) }); p != nil {
					return refuse(p, pl.reserved)
				}
			}
		}
		if len(pl.keys) > 0 {
			plans = append(plans, pl)
		}
	}
	return plans, nil
}

// usageGrant is the grant a usage meter counts the use allowed by d
// against: its fixed grant, if the chain of grants that allows the use
// holds it (an owner's own use, or one under another grant, is not that
// grant's); otherwise the grant that allows the use. It is "" when there
// is none, or no decision (the request was let through unchecked).
func usageGrant(m *Meter, d *ledger.Decision) string {
	switch {
	case d == nil || d.Basis != "grant" || len(d.Chain) == 0:
		return ""
	case m.Grant == "":
		return d.Chain[0]
	case slices.Contains(d.Chain, m.Grant):
		return m.Grant
	}
	return ""
}

// capOf returns d's hard cap on metric of grant in period, or nil.
func capOf(d *ledger.Decision, grant, metric, period string) *ledger.CapLeft {
	if d == nil {
		return nil
	}
	for i := range d.Caps {
		c := &d.Caps[i]
		if c.Grant == grant && c.Metric == metric && c.Period == period {
			return c
		}
	}
	return nil
}

func overCap(member string, c *ledger.CapLeft, pending int64) *problem {
	p := newProblem(api.CodeRateLimited, fmt.Sprintf("%s has reached the hard cap of %d %s of %s under grant %s in period %s (%d used by the ledger, %d counted here and not yet reported)",
		member, c.Cap, c.Unit, c.Metric, c.Grant, c.Period, c.Used, pending))
	return p.with("limit", map[string]any{"kind": "hard_cap", "grant": c.Grant, "metric": c.Metric, "period": c.Period,
		"cap": c.Cap, "used": c.Used, "pending": pending})
}

func overQuota(member, pool string, left, pending int64) *problem {
	p := newProblem(api.CodeRateLimited, fmt.Sprintf("%s has used its quota of pool %s for this period (%d left by the ledger, %d counted here and not yet reported)",
		member, pool, left, pending))
	return p.with("limit", map[string]any{"kind": "pool_quota", "pool": pool, "member": member, "remaining": left, "pending": pending})
}

// meterResponse journals the exchange's counts before the upstream's
// response goes to the caller. A response the upstream failed (5xx) is
// not counted. When a byte count needs a body of unknown length, the
// counts are journaled when the body ends instead.
func (g *Gateway) meterResponse(x *exchange, resp *http.Response) error {
	if len(x.plans) == 0 {
		return nil
	}
	if resp.StatusCode >= 500 {
		x.release(g.pend)
		return nil
	}
	if x.countsBytes() && resp.ContentLength < 0 {
		resp.Body = &meteredBody{rc: resp.Body, done: func(n int64) error { return g.record(x, resp.Header, n) }, log: g.log}
		return nil
	}
	return g.record(x, resp.Header, max(resp.ContentLength, 0))
}

// record journals the exchange's quantities (respBytes is the response
// body's length) and adds them to pending. It runs once per exchange. The
// counts are stamped with the admission time, not the response's: their
// period keys were chosen then, and a call that spans a period's end
// must not stretch its report's window past it.
func (g *Gateway) record(x *exchange, h http.Header, respBytes int64) error {
	var err error
	x.once.Do(func() {
		cs := make([]count, 0, 2*len(x.plans))
		qs := make([]int64, len(x.plans))
		for i, p := range x.plans {
			q := g.quantity(x, p.m, h, respBytes)
			qs[i] = q
			if q == 0 {
				continue
			}
			for _, k := range p.keys {
				cs = append(cs, count{key: k, q: q})
			}
		}
		if len(cs) > 0 {
			if jerr := g.j.add(cs, x.admitted); jerr != nil {
				err = fmt.Errorf("%w: %v", errJournal, jerr)
				for _, p := range x.plans {
					for _, k := range p.reserved {
						g.pend.add(k, -1)
					}
				}
				return
			}
		}
		for i, p := range x.plans {
			for _, k := range p.keys {
				g.pend.add(k, qs[i])
			}
			for _, k := range p.reserved {
				g.pend.add(k, -1)
			}
			if qs[i] > 0 {
				g.m.metered.WithLabelValues(x.member, p.m.Metric).Add(float64(qs[i]))
			}
		}
	})
	return err
}

// quantity is what meter m counts for the exchange.
func (g *Gateway) quantity(x *exchange, m *Meter, h http.Header, respBytes int64) int64 {
	switch m.Count {
	case CountRequests:
		return 1
	case CountBytes:
		return x.reqBytes.Load() + respBytes
	}
	v := h.Get(m.Header)
	q, ok := ParseQuantity(v)
	if !ok {
		g.m.malformed.WithLabelValues(x.rt.Name).Inc()
		g.log.Warn("metering header missing or malformed; counted as zero", "route", x.rt.Name, "header", m.Header,
			"value", strconv.Quote(truncate(v, 64)), "member", x.member)
	}
	return q
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// meteredBody counts a response body of unknown length and journals the
// exchange's counts when it ends. If they cannot be journaled, the body
// ends in an error instead, so the caller never gets a complete response
// whose use is unrecorded. A body closed before its end (the caller went
// away) is counted as far as it was delivered, with every other meter of
// the route: the upstream did the work.
type meteredBody struct {
	rc    io.ReadCloser
	n     int64
	done  func(n int64) error
	log   *slog.Logger
	ended bool
}

func (b *meteredBody) Read(p []byte) (int, error) {
	k, err := b.rc.Read(p)
	b.n += int64(k)
	if err == io.EOF && !b.ended {
		b.ended = true
		if jerr := b.done(b.n); jerr != nil {
			return k, jerr
		}
	}
	return k, err
}

func (b *meteredBody) Close() error {
	if !b.ended {
		b.ended = true
		if err := b.done(b.n); err != nil {
			b.log.Error("the use of a response cut short could not be journaled", "bytes", b.n, "err", err)
		}
	}
	return b.rc.Close()
}
