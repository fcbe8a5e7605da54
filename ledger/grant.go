package ledger

import (
	"slices"
	"strings"
	"time"
)

// Status is where a grant is in its lifecycle.
type Status string

// The grant statuses. Expired is never stored: it is computed lazily from
// the grant's window, its offer deadline and the time of the question.
const (
	StatusOffered    Status = "offered"
	StatusActive     Status = "active"
	StatusSuspended  Status = "suspended"
	StatusRevoked    Status = "revoked"
	StatusTerminated Status = "terminated"
	StatusExpired    Status = "expired"
)

// final reports whether no transition leaves s.
func (s Status) final() bool {
	return s == StatusRevoked || s == StatusTerminated || s == StatusExpired
}

// Terms are what a grant permits, forbids and requires. Every list is kept
// sorted and free of duplicates (Normalize), so equal terms encode to equal
// bytes on every node.
type Terms struct {
	Assets       []string      `json:"assets"`
	Rights       []Right       `json:"rights"`
	Constraints  Constraints   `json:"constraints"`
	Prohibitions []Prohibition `json:"prohibitions,omitempty"`
	Duties       []Duty        `json:"duties,omitempty"`
	Clauses      Clauses       `json:"clauses"`
	// Exclusive is the old form of Exclusivity, kept so that existing
	// journals keep their meaning: true is a sole licence (see
	// Terms.ExclusivityKind). New grants state Exclusivity instead.
	Exclusive bool `json:"exclusive,omitempty"`
	// Exclusivity is exclusive, sole or none (the default); see
	// exclusivity.go for what each binds.
	Exclusivity Exclusivity `json:"exclusivity,omitempty"`
	Termination Termination `json:"termination"`
	// Parent is the grant this one sublicenses, if any; the licensors must
	// be its licensees and it must carry the sublicense right.
	Parent string `json:"parent,omitempty"`
	// Usage, if set, makes the grant metered: usage reports, pricing,
	// caps, SLA credits and revenue share.
	Usage *UsageTerms `json:"usage,omitempty"`
}

// Constraints narrow where, when, why and how much a grant applies. An
// empty list or zero value leaves its axis unconstrained.
type Constraints struct {
	NotBefore  *time.Time `json:"not_before,omitempty"` // inclusive
	NotAfter   *time.Time `json:"not_after,omitempty"`  // exclusive: the grant expires at this instant
	Territory  Territory  `json:"territory"`
	Purposes   []string   `json:"purposes,omitempty"`   // fields of use, e.g. research, internal-evaluation
	Industries []string   `json:"industries,omitempty"` // e.g. healthcare, finance
	MaxSeats   int64      `json:"max_seats,omitempty"`  // most seats or deployments; 0 = unlimited
}

// The kinds of duty a grant can impose on its licensees.
const (
	DutyAttribution = "attribution"
	DutyReportUsage = "report_usage"
	DutyAuditAccess = "audit_access"
)

// Duty is an obligation on the licensees.
type Duty struct {
	// Kind is attribution, report_usage, audit_access, or one of the
	// attested responsible-AI kinds (duty.go).
	Kind   string `json:"kind"`
	Text   string `json:"text,omitempty"`   // the attribution notice, what the auditor may inspect, what the assessment covers
	Metric string `json:"metric,omitempty"` // report_usage: the metric to report
	// Period is report_usage's reporting period, or an attested duty's:
	// one report or attestation per period.
	Period Period `json:"period,omitempty"`
	// DueDays is how many days after each period ends the report or the
	// attestation is due.
	DueDays int `json:"due_days,omitempty"`
	// Assessor is the member, besides the licensees, who may attest an
	// attested duty (an independent auditor, say).
	Assessor string `json:"assessor,omitempty"`
	// RequiredFor lists rights the grant allows only once the duty has
	// been attested: "no commercialize until the fairness audit".
	RequiredFor []Right `json:"required_for,omitempty"`
}

// Period is a reporting or quota period.
type Period string

// The periods.
const (
	PeriodDay     Period = "day"
	PeriodWeek    Period = "week"
	PeriodMonth   Period = "month"
	PeriodQuarter Period = "quarter"
	PeriodYear    Period = "year"
)

func (p Period) valid() bool {
	switch p {
	case PeriodDay, PeriodWeek, PeriodMonth, PeriodQuarter, PeriodYear:
		return true
	}
	return false
}

// Clauses are contract terms the ledger records and answers questions
// about. Check enforces the data terms on datasets (dataterms.go) and the
// export-control classification against the charter's policy
// (export.go); a retention limit gives the licensee a deletion duty
// (retention.go). The others are recorded only.
type Clauses struct {
	OutputsOwner      string      `json:"outputs_owner,omitempty"`      // licensee, licensor or joint
	ImprovementsOwner string      `json:"improvements_owner,omitempty"` // licensee, licensor or joint
	Data              *DataTerms  `json:"data,omitempty"`
	SLA               []SLATarget `json:"sla,omitempty"`
	IndemnityCap      *Money      `json:"indemnity_cap,omitempty"`
	Liability         string      `json:"liability,omitempty"`      // e.g. "capped", "excluded", free text
	GoverningLaw      string      `json:"governing_law,omitempty"`  // e.g. "DE", "England and Wales"
	ExportControl     string      `json:"export_control,omitempty"` // an ECCN such as "5D002" or "3A090.a", "EAR99" or "none"
	ContractHash      string      `json:"contract_hash,omitempty"`  // sha256:<hex> of the prose contract
}

// DataTerms say what the licensee may do with licensed data.
type DataTerms struct {
	MayShare      bool `json:"may_share"`
	MaySell       bool `json:"may_sell"`
	RetentionDays int  `json:"retention_days,omitempty"` // 0 = no limit stated
}

// SLATarget is a service level the licensor commits to.
type SLATarget struct {
	Metric string `json:"metric"` // e.g. availability_bp, p99_latency_ms
	Target int64  `json:"target"`
	// Higher says whether higher measurements are better (availability)
	// or worse (latency).
	Higher bool `json:"higher"`
}

// Money is an amount in micro-units of a currency: 1 EUR = 1,000,000.
type Money struct {
	Micros   int64  `json:"micros"`
	Currency string `json:"currency"` // ISO 4217, e.g. EUR
}

// Termination says who may end a grant early. Without it a grant runs
// until it expires or the parties amend it.
type Termination struct {
	// LicensorMayRevoke lets a licensor revoke the grant at any time.
	LicensorMayRevoke bool `json:"licensor_may_revoke,omitempty"`
	// LicenseeMayTerminate lets a licensee end the grant at any time.
	LicenseeMayTerminate bool `json:"licensee_may_terminate,omitempty"`
	// MayTerminateForCause lets either party terminate a suspended grant,
	// i.e. once a breach has been flagged by suspension.
	MayTerminateForCause bool `json:"may_terminate_for_cause,omitempty"`
}

// Grant is a licence from licensors to licensees.
type Grant struct {
	ID           string     `json:"id"`
	Version      uint32     `json:"version"` // 1, then one more per amendment
	Licensors    []string   `json:"licensors"`
	Licensees    []string   `json:"licensees"`
	Terms        Terms      `json:"terms"`
	Status       Status     `json:"status"`
	Bundle       string     `json:"bundle,omitempty"`
	OfferedAt    time.Time  `json:"offered_at"`
	ActivatedAt  time.Time  `json:"activated_at,omitzero"`
	OfferExpires *time.Time `json:"offer_expires,omitempty"`
	// SuspendedBy is the member that suspended the grant, or
	// "parent:<id>" / "bundle:<id>" for a knock-on suspension.
	SuspendedBy string `json:"suspended_by,omitempty"`
	Index       uint64 `json:"index"` // the log index of the offer
	// Attested summarises the attestations of its attested duties, by
	// kind; the evidence is in its history.
	Attested []DutyAttested `json:"attested,omitempty"`
	// Confidential is the sealed part of a confidential grant, as offered:
	// every node holds the ciphertext and the commitment, only the parties
	// can open it.
	Confidential *Confidential `json:"confidential,omitempty"`
	// opened says that Terms hold the opened confidential terms (Opened):
	// a party's node's copy, never stored or replicated.
	opened bool
}

// StatusAt is the grant's status at time t: its stored status, unless its
// window or its offer has run out by then.
func (g *Grant) StatusAt(t time.Time) Status {
	switch g.Status {
	case StatusOffered:
		if g.OfferExpires != nil && !t.Before(*g.OfferExpires) {
			return StatusExpired
		}
	case StatusActive, StatusSuspended:
		if na := g.Terms.Constraints.NotAfter; na != nil && !t.Before(*na) {
			return StatusExpired
		}
	}
	return g.Status
}

// IsParty reports whether m is a licensor or a licensee of g.
func (g *Grant) IsParty(m string) bool {
	return slices.Contains(g.Licensors, m) || slices.Contains(g.Licensees, m)
}

// Parties returns g's licensors and licensees, sorted, each once: the
// recipients of its sealed part.
func (g *Grant) Parties() []string {
	return sortedSet(append(slices.Clone(g.Licensors), g.Licensees...))
}

// CanTransition reports whether member by may move the grant from its
// current status to to, under its termination terms:
//
//   - suspend: a licensor, while active;
//   - resume (to active): whoever suspended it, while suspended;
//   - revoke: a licensor, while offered (withdrawing the offer), or while
//     active or suspended if the terms let licensors revoke;
//   - terminate: a licensee if the terms allow it, or either party on a
//     suspended grant if the terms allow termination for cause.
func (g *Grant) CanTransition(to Status, by string) error {
	from := g.Status
	licensor, licensee := slices.Contains(g.Licensors, by), slices.Contains(g.Licensees, by)
	if from.final() {
		return Errorf(CodeRejected, "grant %s is %s; no further change is possible", g.ID, from)
	}
	tt := g.Terms.Termination
	switch to {
	case StatusSuspended:
		if from != StatusActive {
			return Errorf(CodeRejected, "grant %s is %s; only an active grant can be suspended", g.ID, from)
		}
		if !licensor {
			return Errorf(CodeForbidden, "only a licensor may suspend grant %s", g.ID)
		}
	case StatusActive:
		if from != StatusSuspended {
			return Errorf(CodeRejected, "grant %s is %s; only a suspended grant can be resumed", g.ID, from)
		}
		if g.SuspendedBy != by {
			who := g.SuspendedBy
			if p, ok := strings.CutPrefix(who, "parent:"); ok {
				who = "its parent grant " + p + " (it resumes with the parent)"
			} else if b, ok := strings.CutPrefix(who, "bundle:"); ok {
				who = "linked termination in bundle " + b
			}
			return Errorf(CodeForbidden, "grant %s was suspended by %s; only that party may resume it", g.ID, who)
		}
	case StatusRevoked:
		if !licensor {
			return Errorf(CodeForbidden, "only a licensor may revoke grant %s", g.ID)
		}
		if from != StatusOffered && !tt.LicensorMayRevoke {
			return Errorf(CodeForbidden, "the termination terms of grant %s do not let the licensor revoke it", g.ID)
		}
	case StatusTerminated:
		switch {
		case from == StatusOffered:
			return Errorf(CodeRejected, "grant %s is only offered; the licensor withdraws an offer with grant.revoke", g.ID)
		case licensee && tt.LicenseeMayTerminate:
		case (licensor || licensee) && from == StatusSuspended && tt.MayTerminateForCause:
		default:
			return Errorf(CodeForbidden, "the termination terms of grant %s do not let %s terminate it now", g.ID, by)
		}
	default:
		return Errorf(CodeInvalid, "no transition to %s", to)
	}
	return nil
}

// Normalize sorts and deduplicates every list in the terms, and puts
// times in UTC, so that equal terms have equal encodings.
func (t *Terms) Normalize() {
	t.Assets = sortedSet(t.Assets)
	t.Rights = sortedSet(t.Rights)
	c := &t.Constraints
	c.Territory.Allow = sortedSet(c.Territory.Allow)
	c.Territory.Deny = sortedSet(c.Territory.Deny)
	c.Purposes = sortedSet(c.Purposes)
	c.Industries = sortedSet(c.Industries)
	if c.NotBefore != nil {
		u := c.NotBefore.UTC()
		c.NotBefore = &u
	}
	if c.NotAfter != nil {
		u := c.NotAfter.UTC()
		c.NotAfter = &u
	}
	for i := range t.Prohibitions {
		p := &t.Prohibitions[i]
		p.Purposes, p.Industries, p.Actions = sortedSet(p.Purposes), sortedSet(p.Industries), sortedSet(p.Actions)
	}
	t.Prohibitions = normalizeProhibitions(t.Prohibitions)
	for i := range t.Duties {
		t.Duties[i].RequiredFor = sortedSet(t.Duties[i].RequiredFor)
	}
	if t.Usage != nil {
		t.Usage.normalize()
	}
}

func sortedSet[S ~[]E, E ~string](s S) S {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// Validate checks the terms on their own, without the state. Call
// Normalize first.
func (t *Terms) Validate() error {
	if len(t.Assets) == 0 {
		return Errorf(CodeInvalid, "assets: at least one asset is required")
	}
	for i, a := range t.Assets {
		if !ValidID(a) {
			return Errorf(CodeInvalid, "assets[%d]: %q is not a valid asset ID", i, a)
		}
	}
	if len(t.Rights) == 0 {
		return Errorf(CodeInvalid, "rights: at least one right is required")
	}
	for i, r := range t.Rights {
		if !r.Valid() {
			return Errorf(CodeInvalid, "rights[%d]: %q is not a right (one of %s)", i, r, rightList())
		}
	}
	c := &t.Constraints
	if c.NotBefore != nil && c.NotAfter != nil && !c.NotBefore.Before(*c.NotAfter) {
		return Errorf(CodeInvalid, "constraints.not_after: %s is not after not_before %s",
			c.NotAfter.Format(time.RFC3339), c.NotBefore.Format(time.RFC3339))
	}
	for _, l := range []struct {
		name  string
		codes []string
	}{{"constraints.territory.allow", c.Territory.Allow}, {"constraints.territory.deny", c.Territory.Deny}} {
		for i, code := range l.codes {
			if !ValidTerritory(code) {
				return Errorf(CodeInvalid, "%s[%d]: %q is not an ISO 3166-1 alpha-2 country code (or EU, EEA)", l.name, i, code)
			}
		}
	}
	if c.Territory.set().empty() {
		return Errorf(CodeInvalid, "constraints.territory: the deny list removes every allowed country")
	}
	for _, l := range []struct {
		name string
		v    []string
	}{{"constraints.purposes", c.Purposes}, {"constraints.industries", c.Industries}} {
		for i, v := range l.v {
			if !validTag(v) {
				return Errorf(CodeInvalid, "%s[%d]: %q must be 1-64 of a-z 0-9 - _", l.name, i, v)
			}
		}
	}
	if c.MaxSeats < 0 {
		return Errorf(CodeInvalid, "constraints.max_seats: %d is negative", c.MaxSeats)
	}
	for i, p := range t.Prohibitions {
		for j, a := range p.Actions {
			if !a.Valid() {
				return Errorf(CodeInvalid, "prohibitions[%d].actions[%d]: %q is not a right", i, j, a)
			}
		}
		if len(p.Purposes)+len(p.Industries)+len(p.Actions) == 0 {
			return Errorf(CodeInvalid, "prohibitions[%d]: names no purpose, industry or action, so it would forbid everything", i)
		}
	}
	for i, d := range t.Duties {
		f := "duties[" + itoa(i) + "]"
		if !IsAttestedDuty(d.Kind) && (d.Assessor != "" || len(d.RequiredFor) > 0) {
			return Errorf(CodeInvalid, "%s: only an attested duty (%s) names an assessor or required_for", f, strings.Join(AttestedDutyKinds, ", "))
		}
		switch {
		case d.Kind == DutyAttribution, d.Kind == DutyAuditAccess:
		case d.Kind == DutyReportUsage:
			if d.Metric == "" || !d.Period.valid() || d.DueDays < 0 {
				return Errorf(CodeInvalid, "%s: report_usage needs a metric, a period (day, week, month, quarter, year) and due_days ≥ 0", f)
			}
		case IsAttestedDuty(d.Kind):
			if err := validateAttestedDuty(f, i, t); err != nil {
				return err
			}
		default:
			return Errorf(CodeInvalid, "%s.kind: %q is not attribution, report_usage, audit_access, %s", f, d.Kind, strings.Join(AttestedDutyKinds, ", "))
		}
	}
	cl := &t.Clauses
	for _, o := range []struct{ name, v string }{{"clauses.outputs_owner", cl.OutputsOwner}, {"clauses.improvements_owner", cl.ImprovementsOwner}} {
		switch o.v {
		case "", "licensee", "licensor", "joint":
		default:
			return Errorf(CodeInvalid, "%s: %q is not licensee, licensor or joint", o.name, o.v)
		}
	}
	if cl.IndemnityCap != nil && (cl.IndemnityCap.Micros < 0 || !validCurrency(cl.IndemnityCap.Currency)) {
		return Errorf(CodeInvalid, "clauses.indemnity_cap: needs micros ≥ 0 and a three-letter currency code")
	}
	if cl.ContractHash != "" && !ValidDigest(cl.ContractHash) {
		return Errorf(CodeInvalid, "clauses.contract_hash: %q is not sha256:<64 lowercase hex>", cl.ContractHash)
	}
	if cl.Data != nil && cl.Data.RetentionDays < 0 {
		return Errorf(CodeInvalid, "clauses.data.retention_days: %d is negative", cl.Data.RetentionDays)
	}
	if cl.ExportControl != "" {
		if err := ValidateExportClass(cl.ExportControl); err != nil {
			return prefixed("clauses.export_control", err)
		}
	}
	if err := t.validateExclusivity(); err != nil {
		return err
	}
	for i, s := range cl.SLA {
		if !validTag(s.Metric) {
			return Errorf(CodeInvalid, "clauses.sla[%d].metric: %q must be 1-64 of a-z 0-9 - _", i, s.Metric)
		}
	}
	if t.Parent != "" && !ValidID(t.Parent) {
		return Errorf(CodeInvalid, "parent: %q is not a valid grant ID", t.Parent)
	}
	if t.Usage != nil {
		if err := t.Usage.Validate(); err != nil {
			return err
		}
		for i, d := range t.Duties {
			if d.Kind != DutyReportUsage {
				continue
			}
			if _, ok := t.Usage.metric(d.Metric); !ok {
				return Errorf(CodeInvalid, "duties[%d].metric: %q is not a metric of the usage terms", i, d.Metric)
			}
			if d.Period != t.Usage.Period {
				return Errorf(CodeInvalid, "duties[%d].period: %s must be the usage period, %s", i, d.Period, t.Usage.Period)
			}
		}
	}
	return nil
}

func rightList() string {
	s := make([]string, len(Rights))
	for i, r := range Rights {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

func validCurrency(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z'
}
