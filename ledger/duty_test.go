package ledger_test

import (
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// fairness gives a grant a daily fairness audit due at each period's end,
// in a window that began 23 hours before the fixture's clock, so that its
// first period ends an hour from now.
func fairness(f *fixture, mod func(*ledger.Duty)) func(*ledger.Terms) {
	return func(t *ledger.Terms) {
		nb := f.now.Add(-23 * time.Hour)
		t.Constraints.NotBefore = &nb
		d := ledger.Duty{Kind: ledger.DutyFairnessAudit, Period: ledger.PeriodDay, Text: "bias audit of the scoring model"}
		if mod != nil {
			mod(&d)
		}
		t.Duties = append(t.Duties, d)
	}
}

func attestBody(grant string, period int) ledger.DutyAttestBody {
	return ledger.DutyAttestBody{Grant: grant, Kind: ledger.DutyFairnessAudit, Period: period, Digest: digestA,
		URI: "https://audits.example/fa-1.pdf", Statement: "no disparate impact above 0.8 on the protected attributes"}
}

func (f *fixture) infractions(filter ledger.InfractionFilter) []*ledger.Infraction {
	f.t.Helper()
	var out []*ledger.Infraction
	f.view(func(v *ledger.View) { out, _ = v.Infractions(filter, "", 100) })
	return out
}

// Responsible-AI duties could not be expressed, and nothing became of an
// unmet one. A fairness audit not attested by its due date is now a
// duty_overdue infraction, computed as soon as ledger time passes the due
// date, and NextDeadline names that date so an idle consortium gets there.
func TestDuty_OverdueFairnessAuditBecomesInfraction(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-fa", "alpha", "beta", "model-x", []ledger.Right{"use", "commercialize"}, fairness(f, nil)))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-fa"})
	due := f.now.Add(time.Hour)

	if got := f.infractions(ledger.InfractionFilter{Grant: "g-fa"}); len(got) != 0 {
		t.Fatalf("infractions before the due date: %+v", got)
	}
	var next time.Time
	f.view(func(v *ledger.View) { next, _ = v.NextDeadline(v.LedgerTime()) })
	if !next.Equal(due) {
		t.Fatalf("next deadline %s, want the audit's due date %s", next, due)
	}

	f.now = due.Add(time.Minute)
	f.tick()
	got := f.infractions(ledger.InfractionFilter{Kind: ledger.InfractionDutyOverdue})
	if len(got) != 1 {
		t.Fatalf("want one overdue duty, got %+v", got)
	}
	in := got[0]
	if in.ID != "g-fa/duty_overdue/fairness_audit:1" || in.Duty != "fairness_audit" || in.Period != "1" ||
		!in.At.Equal(due) || in.Index != 0 || len(in.Members) != 1 || in.Members[0] != "beta" {
		t.Fatalf("infraction %+v", in)
	}
	if !strings.Contains(in.Detail, "was not attested by its due date "+due.Format(time.RFC3339)) {
		t.Fatalf("detail %q", in.Detail)
	}

	// A late attestation is accepted, but the breach stays on record: the
	// attestation's entry records it.
	r := f.accept("beta", "duty.attest", attestBody("g-fa", 1))
	if !hasEvent(r, "infraction.recorded", "g-fa/duty_overdue/fairness_audit:1") || !hasEvent(r, "duty.attested", "g-fa") {
		t.Fatalf("events %+v", r.Outcome.Events)
	}
	got = f.infractions(ledger.InfractionFilter{Grant: "g-fa"})
	if len(got) != 1 || got[0].Index != r.Index {
		t.Fatalf("after the late attestation: %+v", got)
	}
	var hist []*ledger.GrantEvent
	f.view(func(v *ledger.View) { hist = v.GrantHistory("g-fa") })
	last := hist[len(hist)-1]
	if last.Kind != "attested" || last.Attestation == nil || !last.Attestation.Late || last.Attestation.Signer != "beta" ||
		last.Attestation.Digest != digestA {
		t.Fatalf("history %+v", last)
	}

	// Period 2 attested in time leaves no infraction when it falls due.
	f.now = due.Add(2 * time.Hour)
	f.accept("beta", "duty.attest", attestBody("g-fa", 2))
	f.now = due.Add(25 * time.Hour)
	f.tick()
	if got := f.infractions(ledger.InfractionFilter{Grant: "g-fa"}); len(got) != 1 {
		t.Fatalf("period 2 was attested in time, got %+v", got)
	}
}

// A grant can make an attestation a condition: no commercialize until the
// fairness audit is attested. Check lists pending duties in its reason.
func TestCheck_AttestationIsACondition(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-fa", "alpha", "beta", "model-x", []ledger.Right{"commercialize", "use"},
		fairness(f, func(d *ledger.Duty) { d.RequiredFor = []ledger.Right{"commercialize"}; d.Assessor = "gamma" })))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-fa"})

	use := ledger.CheckRequest{Member: "beta", Asset: "model-x", Action: ledger.RightUse}
	d := f.wantCheck(use, true, "duties pending: fairness_audit for period 1 is due by "+f.now.Add(time.Hour).Format(time.RFC3339))
	if len(d.Duties) != 1 || d.Duties[0].Status != ledger.DutyStatusDue || d.Duties[0].PeriodNumber != 1 {
		t.Fatalf("duties %+v", d.Duties)
	}
	sell := ledger.CheckRequest{Member: "beta", Asset: "model-x", Action: ledger.RightCommercialize}
	f.wantCheck(sell, false, "allows commercialize only once its fairness_audit duty is attested")

	f.now = f.now.Add(2 * time.Hour)
	f.tick()
	f.wantCheck(use, true, "fairness_audit for period 1 is overdue since")

	// The named assessor attests; commercialize is allowed from then on.
	f.accept("gamma", "duty.attest", attestBody("g-fa", 1))
	// Period 1 is met; period 2 has begun and is due at its end.
	d = f.wantCheck(sell, true, "grant g-fa from alpha allows beta to commercialize model-x; duties pending: fairness_audit for period 2 is due by")
	if d.Duties[0].Status != ledger.DutyStatusDue || d.Duties[0].PeriodNumber != 2 {
		t.Fatalf("after the attestation: %+v", d.Duties)
	}
	f.accept("beta", "duty.attest", attestBody("g-fa", 2))
	d = f.wantCheck(use, true, "allows beta to use model-x")
	if strings.Contains(d.Reason, "pending") || d.Duties[0].Status != ledger.DutyStatusAttested {
		t.Fatalf("with every period attested: %q %+v", d.Reason, d.Duties)
	}
	// Asked for a time before the attestation, the condition was unmet.
	sell.At = f.now.Add(-time.Minute)
	f.wantCheck(sell, false, "only once its fairness_audit duty is attested")
}

func TestDuty_OfferRejections(t *testing.T) {
	for _, c := range []struct {
		name string
		code ledger.Code
		duty ledger.Duty
		want string
	}{
		{"unknown kind", ledger.CodeInvalid, ledger.Duty{Kind: "ethics_review", Period: "day"}, `"ethics_review" is not attribution`},
		{"no period", ledger.CodeInvalid, ledger.Duty{Kind: "transparency"}, "transparency needs a period"},
		{"negative due days", ledger.CodeInvalid, ledger.Duty{Kind: "privacy_assessment", Period: "year", DueDays: -1}, "due_days: -1 is not between 0 and 366"},
		{"due days too long", ledger.CodeInvalid, ledger.Duty{Kind: "privacy_assessment", Period: "year", DueDays: 400}, "due_days: 400"},
		{"metric", ledger.CodeInvalid, ledger.Duty{Kind: "security_assessment", Period: "quarter", Metric: "tokens"}, "only report_usage names a metric"},
		{"bad assessor", ledger.CodeInvalid, ledger.Duty{Kind: "fairness_audit", Period: "day", Assessor: "Not A Member"}, "is not a member ID"},
		{"unknown assessor", ledger.CodeNotFound, ledger.Duty{Kind: "fairness_audit", Period: "day", Assessor: "zeta"}, "assessor"},
		{"required_for not a right", ledger.CodeInvalid, ledger.Duty{Kind: "fairness_audit", Period: "day", RequiredFor: []ledger.Right{"sell"}}, `"sell" is not a right`},
		{"required_for outside the grant", ledger.CodeInvalid, ledger.Duty{Kind: "fairness_audit", Period: "day", RequiredFor: []ledger.Right{"host"}}, "does not give the right host"},
		{"assessor on attribution", ledger.CodeInvalid, ledger.Duty{Kind: "attribution", Assessor: "gamma"}, "only an attested duty"},
		{"long text", ledger.CodeInvalid, ledger.Duty{Kind: "transparency", Period: "year", Text: strings.Repeat("x", 501)}, "text: longer than 500"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.register("alpha", "model-x")
			before := f.digest()
			r := f.reject(c.code, "alpha", "grant.offer", offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"use"},
				func(t *ledger.Terms) { t.Duties = []ledger.Duty{c.duty} }))
			if !strings.Contains(r.Outcome.Message, c.want) {
				t.Fatalf("message %q, want %q", r.Outcome.Message, c.want)
			}
			if f.digest() == before {
				return // the rejection is journaled; the state is otherwise unchanged
			}
		})
	}
	t.Run("two of a kind", func(t *testing.T) {
		f := newFixture(t)
		f.register("alpha", "model-x")
		r := f.reject(ledger.CodeInvalid, "alpha", "grant.offer", offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"use"}, func(t *ledger.Terms) {
			t.Duties = []ledger.Duty{{Kind: "transparency", Period: "year"}, {Kind: "transparency", Period: "month"}}
		}))
		if !strings.Contains(r.Outcome.Message, "already has a transparency duty") {
			t.Fatalf("message %q", r.Outcome.Message)
		}
	})
}

func TestDuty_AttestRejections(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-off", "alpha", "beta", "model-x", []ledger.Right{"use"}, fairness(f, nil)))
	f.accept("alpha", "grant.offer", offer("g-fa", "alpha", "beta", "model-x", []ledger.Right{"use"}, fairness(f, nil)))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-fa"})
	f.accept("beta", "duty.attest", attestBody("g-fa", 1))
	with := func(mod func(*ledger.DutyAttestBody)) ledger.DutyAttestBody {
		b := attestBody("g-fa", 2)
		mod(&b)
		return b
	}
	for _, c := range []struct {
		name string
		by   string
		code ledger.Code
		body any
		want string
	}{
		{"no such grant", "beta", ledger.CodeNotFound, with(func(b *ledger.DutyAttestBody) { b.Grant = "g-none" }), `no grant "g-none"`},
		{"not an attested kind", "beta", ledger.CodeInvalid, with(func(b *ledger.DutyAttestBody) { b.Kind = "attribution" }), "is not an attested duty"},
		{"kind not on the grant", "beta", ledger.CodeRejected, with(func(b *ledger.DutyAttestBody) { b.Kind = "transparency" }), "has no transparency duty"},
		{"bad digest", "beta", ledger.CodeInvalid, with(func(b *ledger.DutyAttestBody) { b.Digest = "md5:00" }), "body.digest"},
		{"relative uri", "beta", ledger.CodeInvalid, with(func(b *ledger.DutyAttestBody) { b.URI = "reports/fa.pdf" }), "body.uri"},
		{"empty statement", "beta", ledger.CodeInvalid, with(func(b *ledger.DutyAttestBody) { b.Statement = " " }), "body.statement"},
		{"control characters", "beta", ledger.CodeInvalid, with(func(b *ledger.DutyAttestBody) { b.Statement = "ok\x1b[2J" }), "body.statement"},
		{"long statement", "beta", ledger.CodeInvalid, with(func(b *ledger.DutyAttestBody) { b.Statement = strings.Repeat("a", 501) }), "body.statement"},
		{"period zero", "beta", ledger.CodeInvalid, with(func(b *ledger.DutyAttestBody) { b.Period = 0 }), "body.period: 0"},
		{"period not begun", "beta", ledger.CodeInvalid, with(func(b *ledger.DutyAttestBody) { b.Period = 3 }), "duty period 3 begins at"},
		{"not a party", "gamma", ledger.CodeForbidden, with(func(b *ledger.DutyAttestBody) {}), "only a licensee may"},
		{"licensor", "alpha", ledger.CodeForbidden, with(func(b *ledger.DutyAttestBody) {}), "alpha may not attest"},
		{"offered only", "beta", ledger.CodeRejected, with(func(b *ledger.DutyAttestBody) { b.Grant = "g-off"; b.Period = 1 }), "has never been active"},
		{"twice", "beta", ledger.CodeConflict, attestBody("g-fa", 1), "already attested for period 1"},
		{"unknown field", "beta", ledger.CodeInvalid, map[string]any{"grant": "g-fa", "kind": "fairness_audit", "period": 2, "digest": digestA, "statement": "s", "score": 1}, "score"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := f.digest()
			r := f.reject(c.code, c.by, "duty.attest", c.body)
			if !strings.Contains(r.Outcome.Message, c.want) {
				t.Fatalf("message %q, want %q", r.Outcome.Message, c.want)
			}
			var g *ledger.Grant
			f.view(func(v *ledger.View) { g, _ = v.Grant("g-fa") })
			if len(g.Attested) != 1 || len(g.Attested[0].Periods) != 1 {
				t.Fatalf("a rejected attestation changed the grant: %+v", g.Attested)
			}
			_ = before
		})
	}
}

// Duty periods run from the window start; the next due date NextDeadline
// reports walks from one period to the next for every period kind.
func TestDuty_PeriodsAndDeadlines(t *testing.T) {
	for _, c := range []struct {
		period ledger.Period
		due    int
		want   time.Duration // from the window start to the first due date
	}{
		{ledger.PeriodDay, 0, 24 * time.Hour},
		{ledger.PeriodWeek, 2, 9 * 24 * time.Hour},
		{ledger.PeriodMonth, 0, 31 * 24 * time.Hour}, // from 5 January
		{ledger.PeriodQuarter, 1, (31 + 28 + 31 + 1) * 24 * time.Hour},
		{ledger.PeriodYear, 0, 365 * 24 * time.Hour},
	} {
		t.Run(string(c.period), func(t *testing.T) {
			f := newFixture(t)
			f.register("alpha", "model-x")
			start := f.now
			f.accept("alpha", "grant.offer", offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"use"}, func(t *ledger.Terms) {
				t.Constraints.NotBefore = &start
				t.Duties = []ledger.Duty{{Kind: ledger.DutySecurityAssessment, Period: c.period, DueDays: c.due}}
			}))
			f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-1"})
			var next time.Time
			f.view(func(v *ledger.View) { next, _ = v.NextDeadline(v.LedgerTime()) })
			if want := start.Add(c.want); !next.Equal(want) {
				t.Fatalf("first due date %s, want %s", next, want)
			}
			f.view(func(v *ledger.View) { next, _ = v.NextDeadline(start.Add(c.want)) })
			if !next.After(start.Add(c.want)) {
				t.Fatalf("second due date %s is not after the first", next)
			}
		})
	}
}
