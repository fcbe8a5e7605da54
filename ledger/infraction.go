package ledger

import (
	"slices"
	"strings"
	"time"
)

// Infraction kinds.
const (
	InfractionAfterExpiry    = "usage_after_expiry" // usage reported for a time after the grant expired or ended
	InfractionOutOfScope     = "usage_out_of_scope" // usage outside the grant's active spans or its territory, purposes or industries
	InfractionHardCap        = "hard_cap_exceeded"  // a report that would pass a hard cap (the report is rejected)
	InfractionSoftCap        = "soft_cap_exceeded"  // the period's use crossed a soft cap
	InfractionMissingReport  = "missing_report"     // no report of a duty's metric by its due date
	InfractionSLABreach      = "sla_breach"         // a measurement missed an SLA target or triggered a credit
	InfractionDutyOverdue    = "duty_overdue"       // an attested duty's period was not attested by its due date
	maxMissingPeriodsChecked = 400
)

// Infraction is a breach of a grant's terms that the ledger detected. Its
// ID is derived from what caused it: grant/kind/cause, where cause is a
// report ID or a period (and metric), so the same breach is recorded once
// however often it is reported.
//
// Infractions are recorded when an entry reveals them. A usage report
// refused for a hard cap, after expiry or out of scope is rejected, and
// its writes are discarded; the infraction alone is kept (applyCtx.onReject)
// and its "infraction.recorded" event travels in the rejected outcome. A
// missing report has no entry to reveal it: it is computed on read by
// View.Infractions as soon as the due date has passed at the view's ledger
// time, and recorded for good by the next usage report for the grant.
type Infraction struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Grant   string    `json:"grant"`   // empty for an observed infraction that names no grant
	Members []string  `json:"members"` // who is in breach: the licensees, or the licensors for an SLA breach
	Period  string    `json:"period,omitempty"`
	Metric  string    `json:"metric,omitempty"`
	Asset   string    `json:"asset,omitempty"`  // the dataset of a deletion_not_attested; the asset of an observed infraction
	Duty    string    `json:"duty,omitempty"`   // the attested duty's kind, for duty_overdue
	Report  string    `json:"report,omitempty"` // the report that revealed it; observer:observation for an observed one
	Index   uint64    `json:"index,omitempty"`  // the log index of the entry that revealed it; 0 if only computed
	At      time.Time `json:"at"`               // ledger time it was recorded, or the due date of a missing report
	Detail  string    `json:"detail"`
	// Observer, Action, Attempts and Window describe an observed
	// infraction (infraction.observe): who observed what, how often, when.
	Observer string  `json:"observer,omitempty"`
	Action   Right   `json:"action,omitempty"`
	Attempts int64   `json:"attempts,omitempty"`
	Window   *Window `json:"window,omitempty"`
}

// InfractionFilter selects infractions; empty fields match everything.
type InfractionFilter struct {
	Member string `json:"member,omitempty"`
	Grant  string `json:"grant,omitempty"`
	Kind   string `json:"kind,omitempty"`
}

func (f *InfractionFilter) match(in *Infraction) bool {
	return (f.Grant == "" || in.Grant == f.Grant) && (f.Kind == "" || in.Kind == f.Kind) &&
		(f.Member == "" || slices.Contains(in.Members, f.Member))
}

func infractionID(grant, kind, cause string) string { return grant + "/" + kind + "/" + cause }

// recordInfraction stores in unless an infraction with its ID exists, and
// emits "infraction.recorded" if it was new.
func (a *applyCtx) recordInfraction(in Infraction) {
	in.ID = infractionID(in.Grant, in.Kind, infractionCause(&in))
	if in.Kind == InfractionObserved {
		in.ID = observedID(&in)
	}
	if a.tx.get(bucketInfract, []byte(in.ID)) != nil {
		return
	}
	if in.Index == 0 {
		in.Index = a.index
	}
	if in.At.IsZero() {
		in.At = a.now
	}
	a.tx.putJSON(bucketInfract, []byte(in.ID), in)
	a.event("infraction.recorded", in.ID)
}

func infractionCause(in *Infraction) string {
	switch in.Kind {
	case InfractionDutyOverdue:
		return in.Duty + ":" + in.Period
	case InfractionSoftCap, InfractionSLABreach, InfractionMissingReport:
		if in.Metric != "" {
			return in.Period + ":" + in.Metric
		}
		return in.Period
	case InfractionDeletion:
		return in.Asset
	}
	return in.Report
}

// missingReports computes the missing-report infractions of g at ledger
// time now: for each report_usage duty, each period of the grant's active
// spans whose due date (end + due_days) has passed without a report that
// carries the duty's metric.
func missingReports(t *tx, g *Grant, now time.Time) []Infraction {
	u := g.Terms.Usage
	if u == nil {
		return nil
	}
	var out []Infraction
	ivs := activeIntervals(t, g)
	if len(ivs) == 0 {
		return nil
	}
	for _, d := range g.Terms.Duties {
		if d.Kind != DutyReportUsage {
			continue
		}
		start, _ := PeriodBounds(u.Period, ivs[0].from)
		for n := 0; n < maxMissingPeriodsChecked; n++ {
			ps, pe := PeriodBounds(u.Period, start)
			due := pe.AddDate(0, 0, d.DueDays)
			if now.Before(due) {
				break
			}
			active := false
			for _, iv := range ivs {
				active = active || iv.overlaps(ps, pe)
			}
			period := PeriodKey(u.Period, ps)
			if active && !periodHasMetric(t, g.ID, period, d.Metric) {
				out = append(out, Infraction{
					ID: infractionID(g.ID, InfractionMissingReport, period+":"+d.Metric), Kind: InfractionMissingReport,
					Grant: g.ID, Members: g.Licensees, Period: period, Metric: d.Metric, At: due,
					Detail: "no usage report of " + d.Metric + " for period " + period + " by its due date " + due.Format(time.RFC3339),
				})
			}
			start = pe
		}
	}
	slices.SortFunc(out, func(x, y Infraction) int { return strings.Compare(x.ID, y.ID) })
	return out
}

func periodHasMetric(t *tx, grant, period, metric string) bool {
	var sum UsageTotals
	if !t.getJSON(bucketUsageSum, key(grant, period), &sum) {
		return false
	}
	return slices.ContainsFunc(sum.Metrics, func(m MetricQuantity) bool { return m.Metric == metric })
}

// recordMissingReports records g's overdue missing reports.
func (a *applyCtx) recordMissingReports(g *Grant) {
	for _, in := range missingReports(a.tx, g, a.now) {
		in.Index = a.index
		a.recordInfraction(in)
	}
}

// computedInfractions are g's infractions that need no entry to reveal
// them: missing reports and overdue attested duties at ledger time now.
func computedInfractions(t *tx, g *Grant, now time.Time) []Infraction {
	out := missingReports(t, g, now)
	if span, ok := spanOf(t, g); ok && slices.ContainsFunc(g.Terms.Duties, func(d Duty) bool { return IsAttestedDuty(d.Kind) }) {
		out = append(out, overdueDuties(g, span, now)...)
	}
	return out
}

// Infractions lists the infractions that match filter in ID order (grant,
// kind, cause), up to limit after the ID after, and the cursor of the next
// page ("" at the end). Missing reports and overdue attested duties whose
// due date has passed at the view's ledger time are included even before
// an entry records them.
func (v *View) Infractions(filter InfractionFilter, after string, limit int) ([]*Infraction, string) {
	now := v.LedgerTime()
	var all []*Infraction
	prefix := []byte{}
	if filter.Grant != "" {
		prefix = []byte(filter.Grant + "/")
	}
	seen := map[string]bool{}
	v.seek(bucketInfract, prefix, prefix, func(k, val []byte) bool {
		in := new(Infraction)
		mustUnmarshal(bucketInfract, k, val, in)
		seen[in.ID] = true
		if filter.match(in) && in.ID > after {
			all = append(all, in)
		}
		return true
	})
	if filter.Kind == "" || filter.Kind == InfractionMissingReport || filter.Kind == InfractionDutyOverdue {
		grants := []string{filter.Grant}
		if filter.Grant == "" {
			grants = nil
			c := v.t.btx.Bucket(bucketGrants).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				grants = append(grants, string(k))
			}
		}
		for _, id := range grants {
			g, ok := v.Grant(id)
			if !ok {
				continue
			}
			for _, in := range computedInfractions(v.t, g, now) {
				if !seen[in.ID] && filter.match(&in) && in.ID > after {
					all = append(all, &in)
				}
			}
		}
		slices.SortFunc(all, func(x, y *Infraction) int { return strings.Compare(x.ID, y.ID) })
	}
	if more := computedDeletions(v.t, filter, after, seen, now); len(more) > 0 {
		all = append(all, more...)
		slices.SortFunc(all, func(x, y *Infraction) int { return strings.Compare(x.ID, y.ID) })
	}
	if limit > 0 && len(all) > limit {
		return all[:limit], all[limit-1].ID
	}
	return all, ""
}
