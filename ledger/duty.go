package ledger

import (
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Responsible-AI duties are met by signed attestations. Each such duty has
// a period and due days: the grant's duty periods run back to back from the
// start of its window (constraints.not_before, or its first activation if
// it has none), and the attestation for each period that the grant was
// active in falls due DueDays after that period ends. A period left
// unattested at its due date is a duty_overdue infraction. Unlike usage
// reports, duty periods are counted from the grant's start, not the
// calendar, so that a grant's first audit falls one period after it starts.

// The responsible-AI duty kinds.
const (
	DutyTransparency       = "transparency"        // a model card or training-data summary
	DutyFairnessAudit      = "fairness_audit"      // a fairness or bias audit
	DutyPrivacyAssessment  = "privacy_assessment"  // a privacy or data-protection assessment, e.g. a DPIA
	DutySecurityAssessment = "security_assessment" // a security assessment or red-team report
)

// AttestedDutyKinds lists the duty kinds that are met by duty.attest.
var AttestedDutyKinds = []string{DutyFairnessAudit, DutyPrivacyAssessment, DutySecurityAssessment, DutyTransparency}

// IsAttestedDuty reports whether kind is a duty met by attestations.
func IsAttestedDuty(kind string) bool { return slices.Contains(AttestedDutyKinds, kind) }

const (
	// maxDutyPeriods bounds the periods of one duty that are ever counted:
	// more than ten years of daily attestations.
	maxDutyPeriods = 4000
	// maxDueDays bounds how long after a period its attestation may fall due.
	maxDueDays = 366
	// maxStatement bounds an attestation's statement, in bytes.
	maxStatement = 500
)

// DutyAttestBody is the body of duty.attest: the evidence that an
// attested duty of a grant was met for one of its periods. It is signed by
// a licensee of the grant or by the assessor the duty names.
type DutyAttestBody struct {
	Grant  string `json:"grant"`
	Kind   string `json:"kind"`   // the duty's kind, e.g. fairness_audit
	Period int    `json:"period"` // the duty period, counted from 1 at the grant's start
	Digest string `json:"digest"` // sha256:<hex> of the evidence (the report, the model card)
	URI    string `json:"uri,omitempty"`
	// Statement is a short plain-words summary of the evidence.
	Statement string `json:"statement"`
}

// DutyAttestation is an accepted attestation, kept in the grant's history.
type DutyAttestation struct {
	DutyAttestBody
	Signer string `json:"signer"`
	Late   bool   `json:"late,omitempty"` // recorded after its due date
}

// DutyAttested summarises the attestations of one duty kind of a grant,
// so that Check can answer from the grant alone.
type DutyAttested struct {
	Kind    string    `json:"kind"`
	First   time.Time `json:"first"`   // ledger time of the first attestation
	Periods []int     `json:"periods"` // the attested periods, ascending
}

// validateAttestedDuty checks an attested duty's fields against the terms
// it belongs to.
func validateAttestedDuty(f string, i int, t *Terms) error {
	d := &t.Duties[i]
	switch {
	case !d.Period.valid():
		return Errorf(CodeInvalid, "%s.period: %s needs a period (day, week, month, quarter, year)", f, d.Kind)
	case d.DueDays < 0 || d.DueDays > maxDueDays:
		return Errorf(CodeInvalid, "%s.due_days: %d is not between 0 and %d", f, d.DueDays, maxDueDays)
	case d.Metric != "":
		return Errorf(CodeInvalid, "%s.metric: only report_usage names a metric", f)
	case d.Assessor != "" && !ValidMemberID(d.Assessor):
		return Errorf(CodeInvalid, "%s.assessor: %q is not a member ID", f, d.Assessor)
	case len(d.Text) > maxStatement:
		return Errorf(CodeInvalid, "%s.text: longer than %d bytes", f, maxStatement)
	}
	for j, r := range d.RequiredFor {
		if !r.Valid() {
			return Errorf(CodeInvalid, "%s.required_for[%d]: %q is not a right (one of %s)", f, j, r, rightList())
		}
		if !slices.Contains(t.Rights, r) {
			return Errorf(CodeInvalid, "%s.required_for[%d]: the grant does not give the right %s", f, j, r)
		}
	}
	if slices.ContainsFunc(t.Duties[:i], func(o Duty) bool { return o.Kind == d.Kind }) {
		return Errorf(CodeInvalid, "%s.kind: the grant already has a %s duty; one of each kind", f, d.Kind)
	}
	return nil
}

// checkAssessors checks that the assessors the duties name are active
// members, at offer and amendment.
func (a *applyCtx) checkAssessors(field string, t *Terms) error {
	for i, d := range t.Duties {
		if d.Assessor == "" {
			continue
		}
		if _, err := a.activeMember(field+".duties["+itoa(i)+"].assessor", d.Assessor); err != nil {
			return err
		}
	}
	return nil
}

// shiftPeriods moves t forward by n periods of kind p. Every time in the
// ledger is UTC, so a day is always 24 hours.
func shiftPeriods(p Period, t time.Time, n int) time.Time {
	switch p {
	case PeriodDay:
		return t.AddDate(0, 0, n)
	case PeriodWeek:
		return t.AddDate(0, 0, 7*n)
	case PeriodMonth:
		return t.AddDate(0, n, 0)
	case PeriodQuarter:
		return t.AddDate(0, 3*n, 0)
	default:
		return t.AddDate(n, 0, 0)
	}
}

// dutyPeriod returns the bounds of duty period n (from 1) of a duty with
// period p whose grant starts at start.
func dutyPeriod(p Period, start time.Time, n int) (time.Time, time.Time) {
	return shiftPeriods(p, start, n-1), shiftPeriods(p, start, n)
}

// periodNumber returns the duty period that holds t ≥ start.
func periodNumber(p Period, start, t time.Time) int {
	var est int
	switch p {
	case PeriodDay:
		est = int(t.Sub(start) / (24 * time.Hour))
	case PeriodWeek:
		est = int(t.Sub(start) / (7 * 24 * time.Hour))
	default:
		months := (t.Year()-start.Year())*12 + int(t.Month()) - int(start.Month())
		switch p {
		case PeriodMonth:
			est = months
		case PeriodQuarter:
			est = months / 3
		default:
			est = months / 12
		}
	}
	n := max(est-1, 0) + 1
	for n > 1 && shiftPeriods(p, start, n-1).After(t) {
		n--
	}
	for !shiftPeriods(p, start, n).After(t) {
		n++
	}
	return n
}

// dutyStart is when a grant's duty periods begin: the start of its
// window, or its first activation. It is zero for a grant never accepted.
func dutyStart(g *Grant) time.Time {
	if g.ActivatedAt.IsZero() {
		return time.Time{}
	}
	if nb := g.Terms.Constraints.NotBefore; nb != nil {
		return *nb
	}
	return g.ActivatedAt
}

// activeSpan is when a grant's duties run: from its first active instant
// to its end (zero while it has not ended), suspensions included.
type activeSpan struct{ from, to time.Time }

func (s activeSpan) overlaps(a, b time.Time) bool {
	return b.After(s.from) && (s.to.IsZero() || a.Before(s.to))
}

// spanOf reads g's active span from its history.
func spanOf(t *tx, g *Grant) (activeSpan, bool) {
	ivs := activeIntervals(t, g)
	if len(ivs) == 0 {
		return activeSpan{}, false
	}
	return activeSpan{from: ivs[0].from, to: ivs[len(ivs)-1].to}, true
}

// checkSpan is g's active span as Check sees it, from the grant alone: it
// is asked only about grants that are active at the time asked.
func checkSpan(g *Grant) activeSpan {
	from := g.ActivatedAt
	if nb := g.Terms.Constraints.NotBefore; nb != nil && nb.After(from) {
		from = *nb
	}
	return activeSpan{from: from}
}

// noteAttested adds period n of kind, attested at at, to g's summary.
func (g *Grant) noteAttested(kind string, n int, at time.Time) {
	s := g.attested(kind)
	if s == nil {
		i, _ := slices.BinarySearchFunc(g.Attested, kind, func(x DutyAttested, k string) int { return strings.Compare(x.Kind, k) })
		g.Attested = slices.Insert(g.Attested, i, DutyAttested{Kind: kind, First: at})
		s = &g.Attested[i]
	}
	j, _ := slices.BinarySearch(s.Periods, n)
	s.Periods = slices.Insert(s.Periods, j, n)
}

// attested returns g's summary of attestations of kind, if any.
func (g *Grant) attested(kind string) *DutyAttested {
	for i := range g.Attested {
		if g.Attested[i].Kind == kind {
			return &g.Attested[i]
		}
	}
	return nil
}

func (g *Grant) attestedPeriod(kind string, n int) bool {
	s := g.attested(kind)
	if s == nil {
		return false
	}
	_, found := slices.BinarySearch(s.Periods, n)
	return found
}

// dutyPeriods calls fn for each period n of attested duty d that overlaps
// span and has begun by until, in order, until fn returns false.
func dutyPeriods(g *Grant, d *Duty, span activeSpan, until time.Time, fn func(n int, s, e, due time.Time) bool) {
	start := dutyStart(g)
	if start.IsZero() || until.Before(span.from) {
		return
	}
	from := span.from
	if from.Before(start) {
		from = start
	}
	for n, i := periodNumber(d.Period, start, from), 0; i < maxDutyPeriods; n, i = n+1, i+1 {
		s, e := dutyPeriod(d.Period, start, n)
		if s.After(until) || (!span.to.IsZero() && !s.Before(span.to)) {
			return
		}
		if span.overlaps(s, e) && !fn(n, s, e, e.AddDate(0, 0, d.DueDays)) {
			return
		}
	}
}

// overdueDuties computes g's overdue attested duties at ledger time now:
// each period the grant was active in whose due date has passed without
// an attestation. A late attestation does not clear the infraction: the
// entry that records it records the infraction first.
func overdueDuties(g *Grant, span activeSpan, now time.Time) []Infraction {
	var out []Infraction
	for i := range g.Terms.Duties {
		d := &g.Terms.Duties[i]
		if !IsAttestedDuty(d.Kind) {
			continue
		}
		dutyPeriods(g, d, span, now, func(n int, s, e, due time.Time) bool {
			if now.Before(due) {
				return false
			}
			if !g.attestedPeriod(d.Kind, n) {
				out = append(out, overdueInfraction(g, d.Kind, n, s, e, due))
			}
			return true
		})
	}
	slices.SortFunc(out, func(x, y Infraction) int { return strings.Compare(x.ID, y.ID) })
	return out
}

func overdueInfraction(g *Grant, kind string, n int, s, e, due time.Time) Infraction {
	in := Infraction{
		Kind: InfractionDutyOverdue, Grant: g.ID, Members: g.Licensees, Duty: kind, Period: itoa(n), At: due,
		Detail: kind + " for duty period " + itoa(n) + " [" + s.Format(time.RFC3339) + ", " + e.Format(time.RFC3339) +
			") was not attested by its due date " + due.Format(time.RFC3339),
	}
	in.ID = infractionID(g.ID, in.Kind, infractionCause(&in))
	return in
}

// recordOverdueDuties records g's overdue attested duties for good.
func (a *applyCtx) recordOverdueDuties(g *Grant) {
	span, ok := spanOf(a.tx, g)
	if !ok {
		return
	}
	for _, in := range overdueDuties(g, span, a.now) {
		in.Index = a.index
		a.recordInfraction(in)
	}
}

// dutyDeadlines passes consider the next due date after after of each of
// g's attested duties, so that an idle consortium writes a time entry when
// one falls due and the overdue duty shows at once.
func dutyDeadlines(g *Grant, after time.Time, consider func(time.Time)) {
	start := dutyStart(g)
	if start.IsZero() {
		return
	}
	for i := range g.Terms.Duties {
		d := &g.Terms.Duties[i]
		if !IsAttestedDuty(d.Kind) {
			continue
		}
		// The period whose due date is the first after after ends in
		// (after - due days, after].
		ref := after.AddDate(0, 0, -d.DueDays)
		n := 1
		if ref.After(start) {
			n = periodNumber(d.Period, start, ref)
		}
		for range 3 {
			_, e := dutyPeriod(d.Period, start, n)
			if due := e.AddDate(0, 0, d.DueDays); due.After(after) {
				consider(due)
				break
			}
			n++
		}
	}
}

// requiredAttestation says why g does not yet allow action at at because a
// duty it is conditional on has no attestation by then, or "".
func requiredAttestation(g *Grant, action Right, at time.Time) string {
	for _, d := range g.Terms.Duties {
		if !slices.Contains(d.RequiredFor, action) {
			continue
		}
		if s := g.attested(d.Kind); s == nil || s.First.After(at) {
			return "allows " + string(action) + " only once its " + d.Kind + " duty is attested, and it has not been yet"
		}
	}
	return ""
}

// The states of an attested duty in Check's answer.
const (
	DutyStatusDue      = "due"      // the current period's attestation is not yet due
	DutyStatusOverdue  = "overdue"  // a period's attestation is past its due date
	DutyStatusAttested = "attested" // every period begun so far is attested
)

// dutyStatus says where attested duty d of g stands at at: the earliest
// period begun by at and not attested, with its due date, or attested.
func dutyStatus(g *Grant, d *Duty, at time.Time) PendingDuty {
	pd := PendingDuty{Grant: g.ID, Duty: *d, Status: DutyStatusAttested}
	dutyPeriods(g, d, checkSpan(g), at, func(n int, _, _, due time.Time) bool {
		if g.attestedPeriod(d.Kind, n) {
			return true
		}
		pd.PeriodNumber, pd.Due, pd.Status = n, &due, DutyStatusDue
		if !at.Before(due) {
			pd.Status = DutyStatusOverdue
		}
		return false
	})
	return pd
}

// pendingWords describes the attested duties still to be met, for Check's
// reason, as "; duties pending: fairness_audit for period 1 is due by …".
func pendingWords(ds []PendingDuty) string {
	var parts []string
	for _, d := range ds {
		switch d.Status {
		case DutyStatusDue:
			parts = append(parts, d.Kind+" for period "+itoa(d.PeriodNumber)+" is due by "+d.Due.Format(time.RFC3339))
		case DutyStatusOverdue:
			parts = append(parts, d.Kind+" for period "+itoa(d.PeriodNumber)+" is overdue since "+d.Due.Format(time.RFC3339))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; duties pending: " + strings.Join(parts, ", ")
}

func init() {
	register("duty.attest", handler{apply: applyDutyAttest, auditors: true})
}

// validStatement reports whether s is a short line of printable text.
func validStatement(s string) bool {
	if s == "" || len(s) > maxStatement || !utf8.ValidString(s) || strings.TrimSpace(s) == "" {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// ValidURI reports whether s is an absolute URI of at most 2048 bytes.
func ValidURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && len(s) <= 2048 && u.Scheme != "" && (u.Host != "" || u.Opaque != "")
}

func applyDutyAttest(a *applyCtx) error {
	var b DutyAttestBody
	if err := a.body(&b); err != nil {
		return err
	}
	g, err := a.grant("body.grant", b.Grant)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(g.Terms.Duties, func(d Duty) bool { return d.Kind == b.Kind })
	switch {
	case !IsAttestedDuty(b.Kind):
		return Errorf(CodeInvalid, "body.kind: %q is not an attested duty (one of %s)", b.Kind, strings.Join(AttestedDutyKinds, ", "))
	case !ValidDigest(b.Digest):
		return Errorf(CodeInvalid, "body.digest: want sha256:<64 lower-case hex digits> of the evidence")
	case b.URI != "" && !ValidURI(b.URI):
		return Errorf(CodeInvalid, "body.uri: want an absolute URI of at most 2048 characters")
	case !validStatement(b.Statement):
		return Errorf(CodeInvalid, "body.statement: want 1 to %d bytes of printable text", maxStatement)
	case b.Period < 1 || b.Period > maxDutyPeriods:
		return Errorf(CodeInvalid, "body.period: %d is not between 1 and %d", b.Period, maxDutyPeriods)
	case i < 0:
		return Errorf(CodeRejected, "body.kind: grant %s has no %s duty", g.ID, b.Kind)
	}
	d := &g.Terms.Duties[i]
	if !slices.Contains(g.Licensees, a.p.Signer) && a.p.Signer != d.Assessor {
		who := "a licensee"
		if d.Assessor != "" {
			who += " or the assessor " + d.Assessor
		}
		return Errorf(CodeForbidden, "signer: %s may not attest the %s duty of grant %s; only %s may", a.p.Signer, b.Kind, g.ID, who)
	}
	span, ok := spanOf(a.tx, g)
	if !ok {
		return Errorf(CodeRejected, "body.grant: grant %s has never been active, so its duties have not begun", g.ID)
	}
	s, e := dutyPeriod(d.Period, dutyStart(g), b.Period)
	if s.After(a.ahead()) {
		return Errorf(CodeInvalid, "body.period: duty period %d begins at %s, after ledger time %s", b.Period, s.Format(time.RFC3339), a.now.Format(time.RFC3339))
	}
	if !span.overlaps(s, e) {
		return Errorf(CodeRejected, "body.period: grant %s was not active in duty period %d [%s, %s)", g.ID, b.Period, s.Format(time.RFC3339), e.Format(time.RFC3339))
	}
	if g.attestedPeriod(b.Kind, b.Period) {
		return Errorf(CodeConflict, "body.period: the %s duty of grant %s is already attested for period %d", b.Kind, g.ID, b.Period)
	}
	a.recordOverdueDuties(g)
	due := e.AddDate(0, 0, d.DueDays)
	g.noteAttested(b.Kind, b.Period, a.now)
	a.putGrant(g)
	a.putHistory(GrantEvent{
		Grant: g.ID, Index: a.index, At: a.now, Kind: "attested", By: a.p.Signer, Version: g.Version, Status: g.Status,
		Attestation: &DutyAttestation{DutyAttestBody: b, Signer: a.p.Signer, Late: !a.now.Before(due)},
	})
	a.event("duty.attested", g.ID)
	return nil
}
