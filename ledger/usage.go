package ledger

import (
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Window is a span of time [start, end).
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// MetricQuantity is a quantity of one metric.
type MetricQuantity struct {
	Metric   string `json:"metric"`
	Quantity int64  `json:"quantity"`
}

// UsageReportBody is the body of usage.report, signed by a licensee of the
// grant or by one of the meters its usage terms name.
//
// Reports are idempotent by report ID: a report ID already accepted for
// the grant with the same content is answered with acceptance and changes
// nothing; with different content it is a conflict. A quantity of zero is
// allowed: it says nothing was used and satisfies a reporting duty.
type UsageReportBody struct {
	Grant    string `json:"grant"`
	ReportID string `json:"report_id"`
	Period   string `json:"period"` // a key of the terms' usage period, e.g. 2026-01
	// Window is when the usage took place; it lies within the period and
	// must have begun by ledger time.
	Window Window `json:"window"`
	// Metrics are sorted by metric, with no duplicates. A report of a
	// confidential grant leaves them out: they are in its sealed part.
	Metrics []MetricQuantity `json:"metrics,omitempty"`
	// The scope of the use, checked against the grant's constraints when
	// stated.
	Territory string `json:"territory,omitempty"`
	Purpose   string `json:"purpose,omitempty"`
	Industry  string `json:"industry,omitempty"`
	// Confidential is the sealed part of a confidential grant's report:
	// its metrics (SealedUsage) sealed to the grant's parties.
	Confidential *Confidential `json:"confidential,omitempty"`
}

// UsageReport is an accepted usage report as stored.
type UsageReport struct {
	UsageReportBody
	Hash   Hash      `json:"hash"` // SHA-256 of the canonical body, for idempotency
	Signer string    `json:"signer"`
	Index  uint64    `json:"index"`
	At     time.Time `json:"at"`
}

// UsageTotals is a grant's reported quantities in one period, kept so that
// hard caps are enforced atomically and Check can see what is left.
type UsageTotals struct {
	Grant   string           `json:"grant"`
	Period  string           `json:"period"`
	Metrics []MetricQuantity `json:"metrics"` // sorted by metric
	Reports int              `json:"reports"`
}

func (u *UsageTotals) get(metric string) int64 {
	for _, m := range u.Metrics {
		if m.Metric == metric {
			return m.Quantity
		}
	}
	return 0
}

func (u *UsageTotals) set(metric string, q int64) {
	i, found := slices.BinarySearchFunc(u.Metrics, metric, func(m MetricQuantity, s string) int { return strings.Compare(m.Metric, s) })
	if found {
		u.Metrics[i].Quantity = q
		return
	}
	u.Metrics = slices.Insert(u.Metrics, i, MetricQuantity{Metric: metric, Quantity: q})
}

// SLAReportBody is the body of sla.report, signed by the SLA reporter the
// grant's usage terms name. Idempotent by report ID like usage reports.
type SLAReportBody struct {
	Grant    string `json:"grant"`
	ReportID string `json:"report_id"`
	Period   string `json:"period"`
	// Measurements are sorted by metric, with no duplicates. A report of
	// a confidential grant leaves them out: they are in its sealed part.
	// (A report in the clear is accepted only with at least one, so its
	// encoding is the same as before they could be left out.)
	Measurements []SLAMeasurement `json:"measurements,omitempty"`
	// Confidential is the sealed part of a confidential grant's SLA
	// report: its measurements (SealedSLA) sealed to the grant's parties.
	Confidential *Confidential `json:"confidential,omitempty"`
}

// SLAMeasurement is one measured service level.
type SLAMeasurement struct {
	Metric string `json:"metric"`
	Value  int64  `json:"value"`
}

// SLAReport is an accepted SLA report as stored.
type SLAReport struct {
	SLAReportBody
	Hash   Hash      `json:"hash"`
	Signer string    `json:"signer"`
	Index  uint64    `json:"index"`
	At     time.Time `json:"at"`
}

// reportRef is what the ID index keeps for a report: its period and hash.
type reportRef struct {
	Period string `json:"period"`
	Hash   Hash   `json:"hash"`
	Index  uint64 `json:"index"`
}

// meteredGrant loads a grant with usage terms and checks the report's
// period: not in the future, and not past its grace.
func (a *applyCtx) meteredGrant(grantID, reportID, period string) (*Grant, time.Time, time.Time, error) {
	g, err := a.grant("body.grant", grantID)
	if err != nil {
		return nil, time.Time{}, time.Time{}, err
	}
	u := g.Terms.Usage
	// A confidential grant's public terms have no usage terms, so a report
	// in the clear (or an SLA report) of one is refused here, as it was
	// before sealed reports existed: the outcome, which the entry hash
	// covers, stays the same for old journals.
	if u == nil {
		return nil, time.Time{}, time.Time{}, Errorf(CodeRejected, "body.grant: grant %s has no usage terms", g.ID)
	}
	if !ValidID(reportID) {
		return nil, time.Time{}, time.Time{}, Errorf(CodeInvalid, "body.report_id: %q is not a valid ID (1-128 of A-Z a-z 0-9 . _ : -)", reportID)
	}
	start, end, err := ParsePeriod(u.Period, period)
	if err != nil {
		return nil, time.Time{}, time.Time{}, prefixed("body.period", err)
	}
	if start.After(a.ahead()) {
		return nil, time.Time{}, time.Time{}, Errorf(CodeInvalid, "body.period: period %s has not begun by %s", period, a.ahead().Format(time.RFC3339))
	}
	if grace := end.AddDate(0, 0, u.GraceDays); !a.now.Before(grace) {
		return nil, time.Time{}, time.Time{}, Errorf(CodeRejected, "body.period: the grace for period %s ended at %s; its statement is final", period, grace.Format(time.RFC3339))
	}
	return g, start, end, nil
}

// seenReport applies idempotency by report ID: it returns true if the
// same report was accepted before, and a conflict if the ID was used for
// different content.
func (a *applyCtx) seenReport(bucket []byte, grant, reportID string, h Hash) (bool, error) {
	var ref reportRef
	if !a.tx.getJSON(bucket, key(grant, reportID), &ref) {
		return false, nil
	}
	if ref.Hash != h {
		return false, Errorf(CodeConflict, "body.report_id: report %s of grant %s was accepted at index %d with different content", reportID, grant, ref.Index)
	}
	return true, nil
}

func init() {
	register("usage.report", handler{apply: applyUsageReport, target: usageReportTarget})
}

// usageReportTarget is the grant a usage report is about.
func usageReportTarget(body json.RawMessage) (Target, error) {
	var b UsageReportBody
	err := decodeTarget(body, &b)
	return Target{Kind: TargetGrant, ID: b.Grant}, err
}

func applyUsageReport(a *applyCtx) error {
	var b UsageReportBody
	if err := a.body(&b); err != nil {
		return err
	}
	if b.Confidential != nil {
		return applySealedUsageReport(a, &b)
	}
	g, pStart, pEnd, err := a.meteredGrant(b.Grant, b.ReportID, b.Period)
	if err != nil {
		return err
	}
	u := g.Terms.Usage
	if !slices.Contains(g.Licensees, a.p.Signer) && !slices.Contains(u.Meters, a.p.Signer) {
		return Errorf(CodeForbidden, "signer: %s is neither a licensee of grant %s nor one of its meters", a.p.Signer, g.ID)
	}
	if err := checkWindow(&b, pStart, pEnd, a.ahead()); err != nil {
		return err
	}
	if err := checkMetrics(u, g.ID, b.Metrics); err != nil {
		return err
	}
	if err := checkReportScope(&b); err != nil {
		return err
	}
	h := Hash(sha256.Sum256(mustMarshal(b)))
	if dup, err := a.seenReport(bucketUsageIDs, g.ID, b.ReportID, h); err != nil || dup {
		return err
	}

	if err := a.usageInGrant(g, &b); err != nil {
		return err
	}
	var sum UsageTotals
	if !a.tx.getJSON(bucketUsageSum, key(g.ID, b.Period), &sum) {
		sum = UsageTotals{Grant: g.ID, Period: b.Period}
	}
	soft, capped, cerr := addUsage(u, &sum, b.Metrics, b.Period)
	if capped != "" {
		return a.rejectWith(InfractionHardCap, g, &b, capped, cerr)
	}
	if cerr != nil {
		return cerr
	}
	sum.Reports++
	a.tx.putJSON(bucketUsageSum, key(g.ID, b.Period), sum)
	a.tx.putJSON(bucketUsage, key(g.ID, b.Period, b.ReportID), UsageReport{UsageReportBody: b, Hash: h, Signer: a.p.Signer, Index: a.index, At: a.now})
	a.tx.putJSON(bucketUsageIDs, key(g.ID, b.ReportID), reportRef{Period: b.Period, Hash: h, Index: a.index})
	a.event("usage.reported", g.ID)
	for _, c := range soft {
		a.recordInfraction(c.infraction(g, b.Period, b.ReportID))
	}
	a.recordMissingReports(g)
	a.recordOverdueDuties(g)
	return nil
}

// checkWindow normalises b's window to UTC and checks it: start before
// end, within the period [pStart, pEnd), and begun before ahead.
func checkWindow(b *UsageReportBody, pStart, pEnd, ahead time.Time) error {
	b.Window.Start, b.Window.End = b.Window.Start.UTC(), b.Window.End.UTC()
	w := b.Window
	if !w.Start.Before(w.End) {
		return Errorf(CodeInvalid, "body.window: start %s is not before end %s", w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
	}
	if w.Start.Before(pStart) || w.End.After(pEnd) {
		return Errorf(CodeInvalid, "body.window: [%s, %s) is not within period %s", w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339), b.Period)
	}
	if !w.Start.Before(ahead) {
		return Errorf(CodeInvalid, "body.window: starts at %s, not before %s", w.Start.Format(time.RFC3339), ahead.Format(time.RFC3339))
	}
	return nil
}

// checkReportScope checks the shape of the scope a report states.
func checkReportScope(b *UsageReportBody) error {
	req := CheckRequest{Member: "x", Asset: "x", Action: RightUse, Territory: b.Territory, Purpose: b.Purpose, Industry: b.Industry}
	if err := req.Validate(); err != nil {
		return prefixed("body", err)
	}
	return nil
}

// rejectWith refuses report b of grant g with err, and records an
// infraction of kind against g's licensees when the refusal is journaled.
func (a *applyCtx) rejectWith(kind string, g *Grant, b *UsageReportBody, metric string, err *Error) error {
	a.onReject = func() {
		a.recordInfraction(Infraction{Kind: kind, Grant: g.ID, Members: g.Licensees, Period: b.Period, Metric: metric, Report: b.ReportID, Detail: err.Message})
	}
	return err
}

// usageInGrant checks that g was active for the whole of report b's
// window and that the use it states is in g's scope; a report outside
// them is refused with an infraction.
func (a *applyCtx) usageInGrant(g *Grant, b *UsageReportBody) error {
	w := b.Window
	// Was the grant active, and the use in scope, for the whole window?
	ivs := activeIntervals(a.tx, g)
	inside := slices.ContainsFunc(ivs, func(iv interval) bool { return iv.contains(w.Start, w.End) })
	if !inside {
		ended := g.Terms.Constraints.NotAfter
		st := g.StatusAt(a.now)
		if (ended != nil && w.End.After(*ended)) || ((st == StatusRevoked || st == StatusTerminated) && len(ivs) > 0 && !ivs[len(ivs)-1].to.IsZero() && w.End.After(ivs[len(ivs)-1].to)) {
			return a.rejectWith(InfractionAfterExpiry, g, b, "", Errorf(CodeRejected, "body.window: usage until %s is after grant %s ended", w.End.Format(time.RFC3339), g.ID))
		}
		return a.rejectWith(InfractionOutOfScope, g, b, "", Errorf(CodeRejected, "body.window: grant %s was not active for the whole window [%s, %s)", g.ID, w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339)))
	}
	if why := reportScope(g, b); why != "" {
		return a.rejectWith(InfractionOutOfScope, g, b, "", Errorf(CodeRejected, "body: the reported use is outside grant %s: %s", g.ID, why))
	}

	return nil
}

// checkMetrics checks a report's metrics against usage terms u of grant:
// between 1 and maxMetrics, sorted without duplicates, each a metric of
// the terms with a quantity in range.
func checkMetrics(u *UsageTerms, grant string, metrics []MetricQuantity) error {
	if len(metrics) == 0 || len(metrics) > maxMetrics {
		return Errorf(CodeInvalid, "body.metrics: between 1 and %d metrics are required", maxMetrics)
	}
	for i, m := range metrics {
		f := "body.metrics[" + itoa(i) + "]"
		if i > 0 && metrics[i-1].Metric >= m.Metric {
			return Errorf(CodeInvalid, "%s.metric: metrics must be sorted without duplicates", f)
		}
		if _, ok := u.metric(m.Metric); !ok {
			return Errorf(CodeInvalid, "%s.metric: %q is not a metric of grant %s", f, m.Metric, grant)
		}
		if m.Quantity < 0 || m.Quantity > MaxQuantity {
			return Errorf(CodeInvalid, "%s.quantity: %d is not between 0 and %d", f, m.Quantity, MaxQuantity)
		}
	}
	return nil
}

// capCrossing is a soft cap that a report made the period's use cross.
type capCrossing struct {
	metric   string
	old, new int64
	cap      int64
}

// infraction is the soft-cap infraction c records against g's licensees.
func (c capCrossing) infraction(g *Grant, period, report string) Infraction {
	return Infraction{Kind: InfractionSoftCap, Grant: g.ID, Members: g.Licensees, Period: period, Metric: c.metric, Report: report,
		Detail: c.metric + " reached " + strconv.FormatInt(c.new, 10) + " in period " + period + ", over the soft cap of " + strconv.FormatInt(c.cap, 10)}
}

// addUsage adds checked metrics to the period's totals sum under usage
// terms u, and returns the soft caps the report crosses. A report that
// would pass a hard cap is refused with the metric it passes (capped);
// one that would bring a total or the period's fee over the largest
// amount is refused too. sum is changed only when the report is
// accepted. Apply and the parties' nodes (for a confidential grant's
// sealed reports) admit usage with this one function.
func addUsage(u *UsageTerms, sum *UsageTotals, metrics []MetricQuantity, period string) (soft []capCrossing, capped string, err *Error) {
	next := UsageTotals{Grant: sum.Grant, Period: sum.Period, Metrics: slices.Clone(sum.Metrics), Reports: sum.Reports}
	for _, mq := range metrics {
		m, _ := u.metric(mq.Metric)
		old := next.get(mq.Metric)
		n := old + mq.Quantity // both ≤ 1e15: no overflow
		if n > MaxQuantity {
			return nil, "", Errorf(CodeTooLarge, "body.metrics: the period's total of %s would be %d, over the largest quantity %d", mq.Metric, n, MaxQuantity)
		}
		if m.HardCap > 0 && n > m.HardCap {
			return nil, mq.Metric, Errorf(CodeRejected,
				"body.metrics: %s of %d %s would bring period %s to %d, over the hard cap of %d (used %d, remaining %d)",
				mq.Metric, mq.Quantity, m.Unit, period, n, m.HardCap, old, m.HardCap-old)
		}
		if m.SoftCap > 0 && old <= m.SoftCap && n > m.SoftCap {
			soft = append(soft, capCrossing{mq.Metric, old, n, m.SoftCap})
		}
		next.set(mq.Metric, n)
	}
	var base int64
	for _, m := range u.Metrics {
		_, amt, ok := m.Pricing.price(next.get(m.Name))
		if ok {
			base, ok = addChecked(base, amt)
		}
		if !ok || base > MaxMicros {
			return nil, "", Errorf(CodeTooLarge, "body.metrics: the period's fee would be over the largest amount, %d micro-units", MaxMicros)
		}
	}
	*sum = next
	return soft, "", nil
}

// reportScope says why the scope a report states is outside g, or "".
func reportScope(g *Grant, b *UsageReportBody) string {
	c := &g.Terms.Constraints
	if b.Territory != "" && (len(c.Territory.Allow) > 0 || len(c.Territory.Deny) > 0) && !c.Territory.set().has(b.Territory) {
		return "territory " + b.Territory + " is not in " + c.Territory.String()
	}
	if b.Purpose != "" && len(c.Purposes) > 0 && !slices.Contains(c.Purposes, b.Purpose) {
		return "purpose " + b.Purpose + " is not in " + strings.Join(c.Purposes, ", ")
	}
	if b.Industry != "" && len(c.Industries) > 0 && !slices.Contains(c.Industries, b.Industry) {
		return "industry " + b.Industry + " is not in " + strings.Join(c.Industries, ", ")
	}
	for _, p := range g.Terms.Prohibitions {
		if p.matches(RightUse, b.Purpose, b.Industry) && (b.Purpose != "" || b.Industry != "") {
			return "prohibited: " + p.String()
		}
	}
	return ""
}

func init() {
	register("sla.report", handler{apply: applySLAReport})
}

func applySLAReport(a *applyCtx) error {
	var b SLAReportBody
	if err := a.body(&b); err != nil {
		return err
	}
	if b.Confidential != nil {
		return applySealedSLAReport(a, &b)
	}
	g, _, _, err := a.meteredGrant(b.Grant, b.ReportID, b.Period)
	if err != nil {
		return err
	}
	u := g.Terms.Usage
	if u.SLAReporter == "" || a.p.Signer != u.SLAReporter {
		return Errorf(CodeForbidden, "signer: the usage terms of grant %s name %q to report service levels, not %s", g.ID, u.SLAReporter, a.p.Signer)
	}
	if err := checkMeasurements(b.Measurements); err != nil {
		return err
	}
	h := Hash(sha256.Sum256(mustMarshal(b)))
	if dup, err := a.seenReport(bucketSLAIDs, g.ID, b.ReportID, h); err != nil || dup {
		return err
	}
	a.tx.putJSON(bucketSLA, key(g.ID, b.Period, b.ReportID), SLAReport{SLAReportBody: b, Hash: h, Signer: a.p.Signer, Index: a.index, At: a.now})
	a.tx.putJSON(bucketSLAIDs, key(g.ID, b.ReportID), reportRef{Period: b.Period, Hash: h, Index: a.index})
	a.event("sla.reported", g.ID)
	for _, m := range b.Measurements {
		if in, ok := slaBreachInfraction(g, b.Period, b.ReportID, m); ok {
			a.recordInfraction(in)
		}
	}
	return nil
}

// checkMeasurements checks an SLA report's measurements: between 1 and
// maxMetrics, sorted without duplicates, each a metric tag with a value
// in range. Apply and the parties' nodes (for a confidential grant's
// sealed SLA reports) check them with this one function.
func checkMeasurements(ms []SLAMeasurement) error {
	if len(ms) == 0 || len(ms) > maxMetrics {
		return Errorf(CodeInvalid, "body.measurements: between 1 and %d measurements are required", maxMetrics)
	}
	for i, m := range ms {
		f := "body.measurements[" + itoa(i) + "]"
		if !validTag(m.Metric) {
			return Errorf(CodeInvalid, "%s.metric: %q must be 1-64 of a-z 0-9 - _", f, m.Metric)
		}
		if i > 0 && ms[i-1].Metric >= m.Metric {
			return Errorf(CodeInvalid, "%s.metric: measurements must be sorted without duplicates", f)
		}
		if m.Value < 0 || m.Value > MaxQuantity {
			return Errorf(CodeInvalid, "%s.value: %d is not between 0 and %d", f, m.Value, MaxQuantity)
		}
	}
	return nil
}

// slaBreachInfraction is the SLA-breach infraction measurement m of
// report of g in period records against g's licensors, if m misses a
// target or triggers a credit.
func slaBreachInfraction(g *Grant, period, report string, m SLAMeasurement) (Infraction, bool) {
	why := slaBreach(g, m)
	return Infraction{Kind: InfractionSLABreach, Grant: g.ID, Members: g.Licensors, Period: period, Metric: m.Metric, Report: report, Detail: why}, why != ""
}

// slaBreach says how measurement m misses g's SLA targets or triggers an
// SLA credit, or "".
func slaBreach(g *Grant, m SLAMeasurement) string {
	v := strconv.FormatInt(m.Value, 10)
	for _, t := range g.Terms.Clauses.SLA {
		if t.Metric != m.Metric {
			continue
		}
		if t.Higher && m.Value < t.Target {
			return m.Metric + " measured " + v + ", below the target of " + strconv.FormatInt(t.Target, 10)
		}
		if !t.Higher && m.Value > t.Target {
			return m.Metric + " measured " + v + ", above the target of " + strconv.FormatInt(t.Target, 10)
		}
	}
	for _, c := range g.Terms.Usage.SLACredits {
		if c.Metric == m.Metric && m.Value < c.Below {
			return m.Metric + " measured " + v + ", below the credit level of " + strconv.FormatInt(c.Below, 10)
		}
	}
	return ""
}

// UsageReports lists grant's accepted usage reports by period and report
// ID, up to limit after the cursor after ("" to start), and the cursor of
// the next page ("" at the end). A cursor is "period/report_id".
func (v *View) UsageReports(grant, after string, limit int) ([]*UsageReport, string) {
	var out []*UsageReport
	next := ""
	prefix := append([]byte(grant), 0)
	after = strings.Replace(after, "/", "\x00", 1)
	v.seek(bucketUsage, prefix, append(slices.Clone(prefix), after...), func(k, val []byte) bool {
		if string(k[len(prefix):]) <= after {
			return true
		}
		if len(out) == limit {
			next = out[len(out)-1].Period + "/" + out[len(out)-1].ReportID
			return false
		}
		r := new(UsageReport)
		mustUnmarshal(bucketUsage, k, val, r)
		out = append(out, r)
		return true
	})
	return out, next
}

// SLAReports lists grant's SLA reports for period in report ID order.
func (v *View) SLAReports(grant, period string) []*SLAReport {
	var out []*SLAReport
	prefix := append(key(grant, period), 0)
	v.seek(bucketSLA, prefix, prefix, func(k, val []byte) bool {
		r := new(SLAReport)
		mustUnmarshal(bucketSLA, k, val, r)
		out = append(out, r)
		return true
	})
	return out
}

// UsageTotal returns grant's reported totals for period.
func (v *View) UsageTotal(grant, period string) (*UsageTotals, bool) {
	var u UsageTotals
	return &u, v.t.getJSON(bucketUsageSum, key(grant, period), &u)
}
