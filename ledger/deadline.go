package ledger

import "time"

// NextDeadline returns the earliest instant after after at which some
// record's status changes with time alone: a grant offer lapsing, a grant
// starting or expiring, a bundle offer or ballot reaching its deadline, a
// pool hold lapsing, a pool period ending, or a usage report falling due.
// A node uses it to write a time entry only when one is due.
func (v *View) NextDeadline(after time.Time) (time.Time, bool) {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(after) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	v.t.scan(bucketGrants, nil, func(k, val []byte) bool {
		var g Grant
		mustUnmarshal(bucketGrants, k, val, &g)
		grantDeadlines(&g, after, consider)
		return true
	})
	v.t.scan(bucketBundles, nil, func(k, val []byte) bool {
		var b Bundle
		mustUnmarshal(bucketBundles, k, val, &b)
		if b.Status == BundleOffered {
			consider(b.Deadline)
		}
		return true
	})
	v.t.scan(bucketBallots, nil, func(k, val []byte) bool {
		var b Ballot
		mustUnmarshal(bucketBallots, k, val, &b)
		if b.Status == BallotOpen {
			consider(b.Deadline)
		}
		return true
	})
	v.t.scan(bucketPools, nil, func(k, val []byte) bool {
		var p Pool
		mustUnmarshal(bucketPools, k, val, &p)
		_, end := PeriodBounds(p.Period, after)
		consider(end)
		return true
	})
	v.t.scan(bucketPoolHolds, nil, func(k, val []byte) bool {
		var h Hold
		mustUnmarshal(bucketPoolHolds, k, val, &h)
		if h.Status == HoldOpen {
			consider(h.Deadline)
		}
		return true
	})
	return next, !next.IsZero()
}

// grantDeadlines passes consider each instant after after at which g's
// status or duties change with time, each attested duty's next due date
// and its retention limit included.
func grantDeadlines(g *Grant, after time.Time, consider func(time.Time)) {
	switch g.Status {
	case StatusOffered:
		if g.OfferExpires != nil {
			consider(*g.OfferExpires)
		}
	case StatusActive, StatusSuspended:
	default:
		return
	}
	if due, ok := retentionDue(g); ok {
		consider(due)
	}
	c := g.Terms.Constraints
	if c.NotBefore != nil {
		consider(*c.NotBefore)
	}
	if c.NotAfter != nil {
		consider(*c.NotAfter)
	}
	dutyDeadlines(g, after, consider)
	u := g.Terms.Usage
	if u == nil {
		return
	}
	// A period's statement turns final GraceDays after it ends, and each
	// report_usage duty's report falls due DueDays after it ends.
	considerAfterEnd(u.Period, u.GraceDays, after, consider)
	for _, d := range g.Terms.Duties {
		if d.Kind == DutyReportUsage {
			considerAfterEnd(u.Period, d.DueDays, after, consider)
		}
	}
}

// considerAfterEnd passes consider the first instant after after that lies
// days after the end of some period of kind p.
func considerAfterEnd(p Period, days int, after time.Time, consider func(time.Time)) {
	start, _ := PeriodBounds(p, after.AddDate(0, 0, -days))
	for range 3 {
		_, end := PeriodBounds(p, start)
		if due := end.AddDate(0, 0, days); due.After(after) {
			consider(due)
			return
		}
		start = end
	}
}
