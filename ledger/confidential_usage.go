package ledger

import (
	"cmp"
	"crypto/sha256"
	"slices"
	"strings"
	"time"
)

// SealedUsageKind is the kind of object in the binding a confidential
// grant's usage report is sealed under; the binding's ID is
// SealedUsageID(grant, report). A sealed part copied into another report
// or grant does not open there.
const SealedUsageKind = "usage.report"

// SealedUsageID is the binding ID of report of grant: "grant/report".
func SealedUsageID(grant, report string) string { return grant + "/" + report }

// maxBindingField is the longest field of a seal binding, in bytes.
const maxBindingField = 256

// SealedUsage is the plaintext of a confidential grant's usage report's
// sealed part: the quantities, which only the parties may read. The
// report's grant, ID, period, window and scope stay public: every node
// checks that the grant was active and the use in scope, and the parties'
// nodes admit the quantities (PrivateUsage.Admit).
type SealedUsage struct {
	Metrics []MetricQuantity `json:"metrics"` // sorted by metric, no duplicates
}

// ParseSealedUsage decodes a sealed report's plaintext strictly.
func ParseSealedUsage(plaintext []byte) (*SealedUsage, error) {
	var su SealedUsage
	if err := DecodeStrict(plaintext, &su); err != nil {
		return nil, err
	}
	return &su, nil
}

// Canonical returns su's encoding, the plaintext a sealer seals.
func (su *SealedUsage) Canonical() []byte { return mustMarshal(su) }

// periodAnyKind parses a period key in whichever kind it is written: a
// day (2026-01-05), an ISO week (2026-W02), a month (2026-01), a quarter
// (2026-Q1) or a year (2026). The forms do not overlap. Apply uses it for
// a confidential grant, whose period kind is sealed with its usage terms.
func periodAnyKind(k string) (time.Time, time.Time, error) {
	for _, p := range []Period{PeriodDay, PeriodWeek, PeriodMonth, PeriodQuarter, PeriodYear} {
		if s, e, err := ParsePeriod(p, k); err == nil {
			return s, e, nil
		}
	}
	return time.Time{}, time.Time{}, Errorf(CodeInvalid, "%q is not a period (want e.g. 2026-01-05, 2026-W02, 2026-01, 2026-Q1 or 2026)", k)
}

// applySealedUsageReport applies a usage report of a confidential grant.
// Every node checks what is public — the signer a party, the period and
// window, the grant active and the stated scope in it, the sealed part
// sealed to exactly the parties' current keys — and records the report
// with its sealed metrics, counting it in the period's totals without
// quantities. The quantities, the metrics' names, the hard and soft caps
// and the grace are the parties' nodes' to check, in log order, with the
// same code (PrivateUsage.Admit).
func applySealedUsageReport(a *applyCtx, b *UsageReportBody) error {
	g, pStart, pEnd, err := a.sealedReportGrant(b.Grant, b.ReportID, b.Period, "metrics", len(b.Metrics) > 0)
	if err != nil {
		return err
	}
	if err := checkWindow(b, pStart, pEnd, a.ahead()); err != nil {
		return err
	}
	if err := checkReportScope(b); err != nil {
		return err
	}
	if err := a.checkSealedReport(b.Confidential, g); err != nil {
		return err
	}
	h := Hash(sha256.Sum256(mustMarshal(b)))
	if dup, err := a.seenReport(bucketUsageIDs, g.ID, b.ReportID, h); err != nil || dup {
		return err
	}
	if err := a.usageInGrant(g, b); err != nil {
		return err
	}
	var sum UsageTotals
	if !a.tx.getJSON(bucketUsageSum, key(g.ID, b.Period), &sum) {
		sum = UsageTotals{Grant: g.ID, Period: b.Period}
	}
	sum.Reports++
	a.tx.putJSON(bucketUsageSum, key(g.ID, b.Period), sum)
	a.tx.putJSON(bucketUsage, key(g.ID, b.Period, b.ReportID), UsageReport{UsageReportBody: *b, Hash: h, Signer: a.p.Signer, Index: a.index, At: a.now})
	a.tx.putJSON(bucketUsageIDs, key(g.ID, b.ReportID), reportRef{Period: b.Period, Hash: h, Index: a.index})
	a.event("usage.reported", g.ID)
	return nil
}

// sealedReportGrant loads the confidential grant of a sealed report
// (usage or SLA) and checks what every node checks of the report before
// its window and its sealed part: the grant confidential, the report's
// quantities (what, "metrics" or "measurements"; inClear when the public
// body carries some) only in the sealed part, the signer a party, the
// report ID valid and short enough to bind, and the period, of any kind,
// begun by ledger time. It returns the grant and the period's span.
func (a *applyCtx) sealedReportGrant(grantID, reportID, period, what string, inClear bool) (*Grant, time.Time, time.Time, error) {
	g, err := a.grant("body.grant", grantID)
	if err != nil {
		return nil, time.Time{}, time.Time{}, err
	}
	if g.Confidential == nil {
		return nil, time.Time{}, time.Time{}, Errorf(CodeInvalid, "body.confidential: grant %s is not confidential; report its %s in the clear", g.ID, what)
	}
	if inClear {
		return nil, time.Time{}, time.Time{}, Errorf(CodeInvalid, "body.%s: a report of confidential grant %s carries its %s only in its sealed part", what, g.ID, what)
	}
	if !g.IsParty(a.p.Signer) {
		return nil, time.Time{}, time.Time{}, Errorf(CodeForbidden, "signer: %s is not a party to confidential grant %s", a.p.Signer, g.ID)
	}
	if !ValidID(reportID) {
		return nil, time.Time{}, time.Time{}, Errorf(CodeInvalid, "body.report_id: %q is not a valid ID (1-128 of A-Z a-z 0-9 . _ : -)", reportID)
	}
	if len(SealedUsageID(g.ID, reportID)) > maxBindingField {
		return nil, time.Time{}, time.Time{}, Errorf(CodeInvalid, "body.report_id: grant ID, slash and report ID together must be at most %d bytes to seal under", maxBindingField)
	}
	pStart, pEnd, err := periodAnyKind(period)
	if err != nil {
		return nil, time.Time{}, time.Time{}, prefixed("body.period", err)
	}
	if pStart.After(a.ahead()) {
		return nil, time.Time{}, time.Time{}, Errorf(CodeInvalid, "body.period: period %s has not begun by %s", period, a.ahead().Format(time.RFC3339))
	}
	return g, pStart, pEnd, nil
}

// checkSealedReport checks the sealed part c of a report (usage or SLA)
// of confidential grant g without opening it: every sealed report of a
// grant is sealed to the recipients of its terms (reportRecipients).
func (a *applyCtx) checkSealedReport(c *Confidential, g *Grant) error {
	return a.checkSealedTo("body.confidential", c, reportRecipients(a.tx, g))
}

// SealedUsageReports lists the usage reports of confidential grant grant
// in period, in log order: what a party's node admits (PrivateUsage.Admit)
// to compute the period's totals. It reads them through the view's record
// getters, so a traced question (View.Trace) records them, and a proof of
// a decision that rests on the totals carries every report they rest on.
func (v *View) SealedUsageReports(grant, period string) []*UsageReport {
	var out []*UsageReport
	v.t.scan(bucketUsage, append(key(grant, period), 0), func(k, val []byte) bool {
		r := new(UsageReport)
		mustUnmarshal(bucketUsage, k, val, r)
		if r.Confidential != nil {
			out = append(out, r)
		}
		return true
	})
	slices.SortFunc(out, func(x, y *UsageReport) int { return cmp.Compare(x.Index, y.Index) })
	return out
}

// Statuses of a report in a PrivateUsage.
const (
	PrivateAccepted = "accepted"
	PrivateRefused  = "refused"
)

// PrivateReport is a confidential grant's usage report as its parties'
// nodes admitted it: the public record with the opened metrics, and
// whether the sealed quantities were accepted.
type PrivateReport struct {
	Report  string           `json:"report"`
	Period  string           `json:"period"`
	Signer  string           `json:"signer"`
	Index   uint64           `json:"index"`
	At      time.Time        `json:"at"`
	Metrics []MetricQuantity `json:"metrics,omitempty"`
	Status  string           `json:"status"`
	Reason  string           `json:"reason,omitempty"`
}

// PrivateUsage is a party's node's account of a confidential grant's
// usage: every sealed usage and SLA report in log order, with what it
// admitted, the period totals, and the cap and SLA-breach infractions. It
// is derived from the public reports and the opened terms alone, in log
// order, with the code Apply uses for reports in the clear (checkMetrics,
// addUsage, checkMeasurements, slaBreach), so two parties' nodes hold
// equal accounts (Digest) and a node rebuilt from the log rebuilds the
// same one.
type PrivateUsage struct {
	Grant       string             `json:"grant"`
	Through     uint64             `json:"through"` // the log index of the last report admitted, usage or SLA
	Reports     []PrivateReport    `json:"reports"`
	Totals      []UsageTotals      `json:"totals"` // by period
	Infractions []Infraction       `json:"infractions,omitempty"`
	SLAReports  []PrivateSLAReport `json:"sla_reports,omitempty"`
}

// Digest is SHA-256 of pu's canonical encoding, equal on both parties'
// nodes.
func (pu *PrivateUsage) Digest() Hash { return sha256.Sum256(mustMarshal(pu)) }

// Total returns the period's totals of the accepted reports.
func (pu *PrivateUsage) Total(period string) (*UsageTotals, bool) {
	for i := range pu.Totals {
		if pu.Totals[i].Period == period {
			return &pu.Totals[i], true
		}
	}
	return nil, false
}

// sealedReportTerms returns the usage terms a sealed report of grant g
// is admitted under, or why it is refused before its content is read:
// g's terms are not open on this node, its sealed part did not open
// (opened false; why says how), or the terms have no usage terms.
func sealedReportTerms(g *Grant, opened bool, why string) (*UsageTerms, string) {
	switch {
	case g.Sealed():
		return nil, "the grant's sealed terms are not open on this node"
	case !opened:
		return nil, why
	case g.Terms.Usage == nil:
		return nil, "the grant's sealed terms have no usage terms"
	}
	return g.Terms.Usage, ""
}

// periodOpenAt says why a report of period applied at ledger time at
// falls outside usage terms u — the period is not of u's kind, or its
// grace had ended — or "".
func periodOpenAt(u *UsageTerms, period string, at time.Time) string {
	_, end, err := ParsePeriod(u.Period, period)
	if err != nil {
		return "period: " + err.Error()
	}
	if grace := end.AddDate(0, 0, u.GraceDays); !at.Before(grace) {
		return "the grace for period " + period + " ended at " + grace.Format(time.RFC3339) + "; its statement is final"
	}
	return ""
}

// Admit admits report r of grant g, as the public state holds it, whose
// sealed metrics opened to su; su is nil, and why says what went wrong,
// when they did not open. g must be opened (Grant.Opened). Reports are
// admitted in log order; one at or before Through is ignored.
//
// It checks what Apply checks for a report in the clear and could not
// check publicly: the signer a licensee or a meter of the usage terms,
// the period of the terms' kind and its grace not over when the report
// was applied, the metrics, and the hard caps and the period's fee. A
// report that fails is refused, and one that would pass a hard cap adds
// a hard-cap infraction; crossing a soft cap adds a soft-cap infraction.
func (pu *PrivateUsage) Admit(g *Grant, r *UsageReport, su *SealedUsage, why string) {
	if r.Index <= pu.Through {
		return
	}
	pu.Through = r.Index
	rep := PrivateReport{Report: r.ReportID, Period: r.Period, Signer: r.Signer, Index: r.Index, At: r.At, Status: PrivateRefused}
	infraction := func(kind, metric, detail string) {
		pu.infraction(Infraction{Kind: kind, Grant: g.ID, Members: g.Licensees, Period: r.Period, Metric: metric, Report: r.ReportID, Detail: detail}, r.Index, r.At)
	}
	defer func() { pu.Reports = append(pu.Reports, rep) }()
	u, reason := sealedReportTerms(g, su != nil, why)
	if reason != "" {
		rep.Reason = reason
		return
	}
	rep.Metrics = su.Metrics
	if !slices.Contains(g.Licensees, r.Signer) && !slices.Contains(u.Meters, r.Signer) {
		rep.Reason = "signer " + r.Signer + " is neither a licensee of grant " + g.ID + " nor one of its meters"
		return
	}
	if rep.Reason = periodOpenAt(u, r.Period, r.At); rep.Reason != "" {
		return
	}
	if err := checkMetrics(u, g.ID, su.Metrics); err != nil {
		rep.Reason = err.Error()
		return
	}
	sum, found := pu.Total(r.Period)
	if !found {
		sum = &UsageTotals{Grant: g.ID, Period: r.Period}
	}
	soft, capped, cerr := addUsage(u, sum, su.Metrics, r.Period)
	if cerr != nil {
		rep.Reason = cerr.Message
		if capped != "" {
			infraction(InfractionHardCap, capped, cerr.Message)
		}
		return
	}
	sum.Reports++
	if !found {
		pu.Totals = append(pu.Totals, *sum)
		slices.SortFunc(pu.Totals, func(x, y UsageTotals) int { return strings.Compare(x.Period, y.Period) })
	}
	rep.Status = PrivateAccepted
	for _, c := range soft {
		in := c.infraction(g, r.Period, r.ReportID)
		infraction(in.Kind, in.Metric, in.Detail)
	}
}

// infraction records in, caused by the report at index and time at,
// unless the account holds an infraction with its ID, as Apply records
// one in the public state (recordInfraction).
func (pu *PrivateUsage) infraction(in Infraction, index uint64, at time.Time) {
	in.ID = infractionID(in.Grant, in.Kind, infractionCause(&in))
	in.Index, in.At = index, at
	for _, old := range pu.Infractions {
		if old.ID == in.ID {
			return
		}
	}
	pu.Infractions = append(pu.Infractions, in)
}

// Periods lists the periods in which pu accepted a usage or an SLA
// report, oldest first: those with a statement.
func (pu *PrivateUsage) Periods() []string {
	var out []string
	add := func(p string) {
		if i, found := slices.BinarySearch(out, p); !found {
			out = slices.Insert(out, i, p)
		}
	}
	for _, t := range pu.Totals {
		add(t.Period)
	}
	for _, r := range pu.SLAReports {
		if r.Status == PrivateAccepted {
			add(r.Period)
		}
	}
	return out
}

// PrivateStatement computes the statement of opened confidential grant g
// for period from its parties' node's account pu, with the statement code
// every node uses for grants in the clear: the opened usage terms, the
// usage and SLA reports pu accepted, and the public history (activity, lineage) from v.
// Revenue share follows only derive grants whose usage terms are public.
func (v *View) PrivateStatement(g *Grant, pu *PrivateUsage, period string) (*Statement, error) {
	if g.Sealed() {
		return nil, Errorf(CodeForbidden, "grant: the terms of confidential grant %s are not open here", g.ID)
	}
	return computeStatementFrom(v.t, g, period, v.LedgerTime(), pu)
}
