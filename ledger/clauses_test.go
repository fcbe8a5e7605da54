package ledger_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// registerKind registers an asset of the given kind owned by owner alone.
func (f *fixture) registerKind(owner, id string, kind ledger.AssetKind) {
	f.t.Helper()
	f.accept(owner, "asset.register", map[string]any{
		"id": id, "kind": kind, "digest": digestA,
		"owners": []map[string]any{{"member": owner, "share_bp": 10000}},
	})
}

// grant offers g and has its licensee accept it.
func (f *fixture) grant(o ledger.GrantOffer) {
	f.t.Helper()
	f.accept(o.Licensors[0], "grant.offer", o)
	f.accept(o.Licensees[0], "grant.accept", ledger.GrantRef{Grant: o.ID})
}

func use(member, asset string, action ledger.Right, territory string) ledger.CheckRequest {
	return ledger.CheckRequest{Member: member, Asset: asset, Action: action, Territory: territory}
}

var allRights = []ledger.Right{"use", "distribute", "sublicense", "commercialize", "train", "derive"}

func dataTerms(share, sell bool, days int) func(*ledger.Terms) {
	return func(t *ledger.Terms) {
		t.Clauses.Data = &ledger.DataTerms{MayShare: share, MaySell: sell, RetentionDays: days}
	}
}

// Issue 16: may_share=false and may_sell=false were stored, yet check
// allowed distribute and commercialize under the same grant.
func TestCheck_DataTermsDenyShareAndSell(t *testing.T) {
	f := newFixture(t)
	f.registerKind("alpha", "ds-1", ledger.AssetDataset)
	f.registerKind("alpha", "model-1", ledger.AssetModel)
	f.grant(offer("g-ds", "alpha", "beta", "ds-1", allRights, dataTerms(false, false, 0)))
	f.grant(offer("g-m", "alpha", "beta", "model-1", allRights, dataTerms(false, false, 0)))

	for _, c := range []struct {
		action ledger.Right
		allow  bool
		reason string
	}{
		{"distribute", false, "g-ds: data terms: may_share is false, so the dataset may not be passed on (distribute)"},
		{"sublicense", false, "g-ds: data terms: may_share is false, so the dataset may not be passed on (sublicense)"},
		{"commercialize", false, "g-ds: data terms: may_sell is false, so the dataset may not be commercialized"},
		{"train", true, "grant g-ds from alpha allows beta to train ds-1"},
		{"use", true, "allows beta to use ds-1"},
	} {
		f.wantCheck(use("beta", "ds-1", c.action, ""), c.allow, c.reason)
	}
	// On a model the data terms are recorded, not enforced.
	f.wantCheck(use("beta", "model-1", "distribute", ""), true, "grant g-m from alpha allows beta to distribute model-1")
	f.wantCheck(use("beta", "model-1", "commercialize", ""), true, "allows beta to commercialize model-1")
	// Sublicensing passes the data on, so no sublicence can be offered.
	f.reject(ledger.CodeForbidden, "beta", "grant.offer", ledger.GrantOffer{ID: "g-sub", Licensors: []string{"beta"}, Licensees: []string{"gamma"},
		Terms: ledger.Terms{Assets: []string{"ds-1"}, Rights: []ledger.Right{"use"}, Parent: "g-ds"}})
	// may_share alone leaves selling forbidden.
	f.grant(offer("g-ds2", "alpha", "gamma", "ds-1", allRights, dataTerms(true, false, 0)))
	f.wantCheck(use("gamma", "ds-1", "distribute", ""), true, "grant g-ds2")
	f.wantCheck(use("gamma", "ds-1", "commercialize", ""), false, "may_sell is false")
}

func TestRetention_DeletionDutyAndInfraction(t *testing.T) {
	f := newFixture(t)
	f.registerKind("alpha", "ds-1", ledger.AssetDataset)
	f.grant(offer("g-r", "alpha", "beta", "ds-1", []ledger.Right{"use", "train"}, dataTerms(false, false, 30)))
	due := f.now.AddDate(0, 0, 30)

	d := f.wantCheck(use("beta", "ds-1", "train", ""), true, "grant g-r")
	if len(d.Duties) != 1 || d.Duties[0].Kind != ledger.DutyDeletion || d.Duties[0].DueDays != 30 ||
		!strings.Contains(d.Duties[0].Text, due.Format(time.RFC3339)) {
		t.Fatalf("want a deletion duty due %s, got %+v", due, d.Duties)
	}
	infractions := func() []*ledger.Infraction {
		var ins []*ledger.Infraction
		f.view(func(v *ledger.View) {
			ins, _ = v.Infractions(ledger.InfractionFilter{Kind: ledger.InfractionDeletion}, "", 10)
		})
		return ins
	}
	if ins := infractions(); len(ins) != 0 {
		t.Fatalf("infraction before the due date: %+v", ins[0])
	}
	// After the retention limit the grant allows nothing, and the missing
	// attestation is an infraction of the licensee.
	f.now = due.Add(time.Hour)
	f.tick()
	f.wantCheck(use("beta", "ds-1", "train", ""), false, "g-r: data terms: the retention limit of 30 days ended at "+due.Format(time.RFC3339))
	ins := infractions()
	if len(ins) != 1 || ins[0].ID != "g-r/deletion_not_attested/ds-1" || ins[0].Members[0] != "beta" || !ins[0].At.Equal(due) || ins[0].Index != 0 {
		t.Fatalf("want one computed deletion infraction, got %+v", ins)
	}
	// A late attestation is accepted and records the infraction for good.
	att := ledger.RetentionAttest{Grant: "g-r", Asset: "ds-1", Evidence: digestA, Statement: "wiped from every bucket"}
	r := f.accept("beta", "retention.attest", att)
	if !hasEvent(r, "infraction.recorded", "g-r/deletion_not_attested/ds-1") || !hasEvent(r, "retention.attested", "g-r") {
		t.Fatalf("events %+v", r.Outcome.Events)
	}
	if ins := infractions(); len(ins) != 1 || ins[0].Index != r.Index {
		t.Fatalf("want the infraction recorded at %d, got %+v", r.Index, ins)
	}
	f.reject(ledger.CodeConflict, "beta", "retention.attest", att)
}

func TestRetention_AttestInTimeAndRejections(t *testing.T) {
	f := newFixture(t)
	f.registerKind("alpha", "ds-1", ledger.AssetDataset)
	f.registerKind("alpha", "ds-2", ledger.AssetDataset)
	f.register("alpha", "model-1")
	f.grant(offer("g-r", "alpha", "beta", "ds-1", []ledger.Right{"use"}, dataTerms(false, false, 30)))
	f.grant(offer("g-m", "alpha", "beta", "model-1", []ledger.Right{"use"}, dataTerms(false, false, 30)))
	f.grant(offer("g-n", "alpha", "beta", "ds-2", []ledger.Right{"use"}, nil))
	ok := ledger.RetentionAttest{Grant: "g-r", Asset: "ds-1", Evidence: digestA}
	for _, c := range []struct {
		name   string
		signer string
		body   ledger.RetentionAttest
		code   ledger.Code
	}{
		{"not a licensee", "gamma", ok, ledger.CodeForbidden},
		{"licensor", "alpha", ok, ledger.CodeForbidden},
		{"unknown grant", "beta", ledger.RetentionAttest{Grant: "nope", Asset: "ds-1", Evidence: digestA}, ledger.CodeNotFound},
		{"asset not of grant", "beta", ledger.RetentionAttest{Grant: "g-r", Asset: "ds-2", Evidence: digestA}, ledger.CodeInvalid},
		{"bad evidence", "beta", ledger.RetentionAttest{Grant: "g-r", Asset: "ds-1", Evidence: "sha256:xyz"}, ledger.CodeInvalid},
		{"relative uri", "beta", ledger.RetentionAttest{Grant: "g-r", Asset: "ds-1", Evidence: digestA, URI: "evidence.pdf"}, ledger.CodeInvalid},
		{"long statement", "beta", ledger.RetentionAttest{Grant: "g-r", Asset: "ds-1", Evidence: digestA, Statement: strings.Repeat("x", 501)}, ledger.CodeInvalid},
		{"not a dataset", "beta", ledger.RetentionAttest{Grant: "g-m", Asset: "model-1", Evidence: digestA}, ledger.CodeInvalid},
		{"no retention limit", "beta", ledger.RetentionAttest{Grant: "g-n", Asset: "ds-2", Evidence: digestA}, ledger.CodeRejected},
	} {
		t.Run(c.name, func(t *testing.T) { f.reject(c.code, c.signer, "retention.attest", c.body) })
	}
	r := f.accept("beta", "retention.attest", ok)
	if hasEvent(r, "infraction.recorded", "g-r/deletion_not_attested/ds-1") {
		t.Fatal("an attestation in time recorded an infraction")
	}
	f.now = f.now.AddDate(0, 0, 31)
	f.tick()
	f.view(func(v *ledger.View) {
		if ins, _ := v.Infractions(ledger.InfractionFilter{Grant: "g-r"}, "", 10); len(ins) != 0 {
			t.Fatalf("attested in time, yet %+v", ins[0])
		}
	})
}

func TestValidate_ExportClass(t *testing.T) {
	for _, s := range []string{"5D002", "3A090.a", "5A992.c", "0Y521", "4E091", "5D002.c.1", "EAR99", "none"} {
		if err := ledger.ValidateExportClass(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "anything goes ~~ not a class", "5d002", "5F002", "5D02", "5D0021", "5D002.", "5D002..a", "5D002.A",
		"5D002.abcd", "EAR-99", "ear99", "None", "5D002 ", strings.Repeat("5D002.a", 6)} {
		err := ledger.ValidateExportClass(s)
		var e *ledger.Error
		if !errors.As(err, &e) || e.Code != ledger.CodeInvalid {
			t.Errorf("%q: want invalid, got %v", s, err)
		}
	}
}

// exportPolicy is the example policy of the tests: encryption items (5D002)
// may not go to KP or IR, and EAR99 items need an audit_access duty.
var exportPolicy = []ledger.ExportRule{
	{Classification: "5D002", Deny: []string{"CU", "IR", "KP", "SY"}, Note: "example"},
	{Classification: "EAR99", RequireDuties: []string{"audit_access"}},
}

// amendCharter passes a charter.amend ballot with alpha's and beta's votes.
func (f *fixture) amendCharter(id string, mod func(*ledger.Charter)) {
	f.t.Helper()
	var c ledger.Charter
	f.view(func(v *ledger.View) { c = v.Charter() })
	mod(&c)
	f.accept("alpha", "ballot.open", map[string]any{"id": id, "action": "charter.amend", "deadline": f.now.Add(24 * time.Hour), "params": map[string]any{"charter": c}})
	f.accept("beta", "ballot.vote", map[string]any{"ballot": id, "approve": true})
}

// Issue 16: export control was free text, and a 5D002 grant was allowed in
// KP and IR.
func TestCheck_ExportControlPolicy(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	classified := func(c string) func(*ledger.Terms) {
		return func(t *ledger.Terms) { t.Clauses.ExportControl = c }
	}
	f.reject(ledger.CodeInvalid, "alpha", "grant.offer", offer("g-bad", "alpha", "beta", "model-x", []ledger.Right{"use"}, classified("anything goes ~~ not a class")))
	f.grant(offer("g-5", "alpha", "beta", "model-x", []ledger.Right{"use"}, classified("5D002.c.1")))
	f.grant(offer("g-e", "alpha", "gamma", "model-x", []ledger.Right{"use"}, classified("EAR99")))

	// Without a policy every territory is open.
	f.wantCheck(use("beta", "model-x", "use", "KP"), true, "grant g-5")
	f.amendCharter("export-1", func(c *ledger.Charter) { c.ExportPolicy = exportPolicy })
	// The amendment changed every affected grant at once.
	f.wantCheck(use("beta", "model-x", "use", "KP"), false, "g-5: export control: charter rule 5D002 denies use of 5D002.c.1 items in KP")
	f.wantCheck(use("beta", "model-x", "use", "IR"), false, "charter rule 5D002 denies use of 5D002.c.1 items in IR")
	f.wantCheck(use("beta", "model-x", "use", "DE"), true, "grant g-5 from alpha allows beta to use model-x in DE")
	f.wantCheck(use("beta", "model-x", "use", ""), false, "charter rule 5D002 denies use in CU, IR, KP, SY and the request names no territory")
	f.wantCheck(use("gamma", "model-x", "use", "DE"), false, "g-e: export control: charter rule EAR99 requires a audit_access duty, which the grant lacks")
	f.wantCheck(use("alpha", "model-x", "use", "KP"), true, "alpha owns model-x")
	// A grant that carries the duty passes.
	f.accept("alpha", "grant.amend", ledger.GrantAmend{Grant: "g-e", Terms: ledger.Terms{Assets: []string{"model-x"}, Rights: []ledger.Right{"use"},
		Duties:  []ledger.Duty{{Kind: "audit_access", Text: "logs"}},
		Clauses: ledger.Clauses{ExportControl: "EAR99"}}}, "gamma")
	f.wantCheck(use("gamma", "model-x", "use", "DE"), true, "grant g-e")
	// Lifting the rule lifts the denial.
	f.amendCharter("export-2", func(c *ledger.Charter) { c.ExportPolicy = nil })
	f.wantCheck(use("beta", "model-x", "use", "KP"), true, "grant g-5")
}

func TestValidate_ExportPolicy(t *testing.T) {
	for _, c := range []struct {
		name   string
		policy []ledger.ExportRule
		want   string
	}{
		{"bad class", []ledger.ExportRule{{Classification: "5D02", Deny: []string{"KP"}}}, "export_policy[0].classification"},
		{"none class", []ledger.ExportRule{{Classification: "none", Deny: []string{"KP"}}}, "export_policy[0].classification"},
		{"unsorted", []ledger.ExportRule{{Classification: "5D002", Deny: []string{"KP"}}, {Classification: "3A090", Deny: []string{"KP"}}}, "sorted"},
		{"duplicate", []ledger.ExportRule{{Classification: "5D002", Deny: []string{"KP"}}, {Classification: "5D002", Deny: []string{"IR"}}}, "sorted"},
		{"does nothing", []ledger.ExportRule{{Classification: "5D002"}}, "would do nothing"},
		{"bad territory", []ledger.ExportRule{{Classification: "5D002", Deny: []string{"XX"}}}, "deny[0]"},
		{"unsorted deny", []ledger.ExportRule{{Classification: "5D002", Deny: []string{"KP", "IR"}}}, "deny: territories must be sorted"},
		{"bad duty", []ledger.ExportRule{{Classification: "5D002", RequireDuties: []string{"pray"}}}, "require_duties[0]"},
		{"long note", []ledger.ExportRule{{Classification: "5D002", Deny: []string{"KP"}, Note: strings.Repeat("n", 201)}}, "note"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := ledger.DefaultCharter()
			ch.ExportPolicy = c.policy
			err := ch.Validate()
			var e *ledger.Error
			if !errors.As(err, &e) || e.Code != ledger.CodeInvalid || !strings.Contains(e.Message, c.want) {
				t.Fatalf("want invalid containing %q, got %v", c.want, err)
			}
		})
	}
	ch := ledger.DefaultCharter()
	ch.ExportPolicy = exportPolicy
	if err := ch.Validate(); err != nil {
		t.Fatal(err)
	}
}

func exclusively(k ledger.Exclusivity) func(*ledger.Terms) {
	return func(t *ledger.Terms) {
		research(t)
		t.Exclusivity = k
	}
}

// Issue 16: an exclusive grant did not bind the licensor, so it behaved as
// a sole licence, and nobody could say which of the two was agreed.
func TestCheck_ExclusiveBindsLicensor(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "acc-m1")
	f.grant(offer("g-ex", "alpha", "beta", "acc-m1", []ledger.Right{"use", "train", "derive"}, exclusively(ledger.ExclusivityExclusive)))

	d := f.wantCheck(train("alpha", "acc-m1", "DE", "research"), false,
		"exclusive grant g-ex to beta binds alpha: it covers train of acc-m1 in DE, FR until 2030-01-01T00:00:00Z")
	if d.BoundBy != "g-ex" {
		t.Fatalf("bound_by %q, want g-ex", d.BoundBy)
	}
	f.wantCheck(train("alpha", "acc-m1", "", ""), false, "exclusive grant g-ex")
	// Outside its scope the owner keeps its use.
	f.wantCheck(train("alpha", "acc-m1", "US", "research"), true, "alpha owns acc-m1")
	f.wantCheck(train("alpha", "acc-m1", "DE", "commercial"), true, "alpha owns acc-m1")
	f.wantCheck(use("alpha", "acc-m1", "host", "DE"), true, "alpha owns acc-m1")
	f.wantCheck(at(train("alpha", "acc-m1", "DE", "research"), t2030), true, "alpha owns acc-m1")
	// The licensee is not bound by its own grant.
	f.wantCheck(train("beta", "acc-m1", "DE", "research"), true, "grant g-ex")
	// Nor can the owner derive in scope.
	f.reject(ledger.CodeForbidden, "alpha", "asset.register", map[string]any{
		"id": "acc-m2", "kind": "model", "digest": digestA, "owners": []map[string]any{{"member": "alpha", "share_bp": 10000}},
		"parents": []map[string]any{{"asset": "acc-m1", "territory": "DE", "purpose": "research"}}})
	// Conflict detection applies as before.
	r := f.reject(ledger.CodeConflict, "alpha", "grant.offer", offer("g-2", "alpha", "gamma", "acc-m1", []ledger.Right{"train"}, research))
	if !strings.Contains(r.Outcome.Message, "grant g-2 overlaps exclusive grant g-ex over acc-m1") {
		t.Fatalf("message %q", r.Outcome.Message)
	}
	// Suspended, it binds no one.
	f.accept("alpha", "grant.suspend", ledger.GrantRef{Grant: "g-ex"})
	f.wantCheck(train("alpha", "acc-m1", "DE", "research"), true, "alpha owns acc-m1")
}

func at(r ledger.CheckRequest, t time.Time) ledger.CheckRequest { r.At = t; return r }

func TestCheck_SoleAndOldExclusiveDoNotBindLicensor(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*ledger.Terms)
		kind string
	}{
		{"sole", exclusively(ledger.ExclusivitySole), "sole"},
		{"old boolean", func(t *ledger.Terms) { research(t); t.Exclusive = true }, "sole"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.register("alpha", "acc-m1")
			f.grant(offer("g-1", "alpha", "beta", "acc-m1", []ledger.Right{"train"}, c.mod))
			f.wantCheck(train("alpha", "acc-m1", "DE", "research"), true, "alpha owns acc-m1")
			r := f.reject(ledger.CodeConflict, "alpha", "grant.offer", offer("g-2", "alpha", "gamma", "acc-m1", []ledger.Right{"train"}, research))
			if !strings.Contains(r.Outcome.Message, "overlaps "+c.kind+" grant g-1") {
				t.Fatalf("message %q", r.Outcome.Message)
			}
		})
	}
}

// Issue 16 (item 9): the conflict message called a non-exclusive grant
// "exclusive" when the new grant was the exclusive one.
func TestConflict_MessageNamesTheExclusiveGrant(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.grant(offer("g-plain", "alpha", "beta", "model-x", []ledger.Right{"train"}, research))
	r := f.reject(ledger.CodeConflict, "alpha", "grant.offer", offer("g-ex", "alpha", "gamma", "model-x", []ledger.Right{"train"},
		exclusively(ledger.ExclusivityExclusive)))
	if want := "exclusive grant g-ex overlaps active grant g-plain over model-x"; !strings.Contains(r.Outcome.Message, want) {
		t.Fatalf("message %q, want %q", r.Outcome.Message, want)
	}
	if strings.Contains(r.Outcome.Message, "exclusive grant terms of g-plain") {
		t.Fatalf("message calls g-plain exclusive: %q", r.Outcome.Message)
	}
}

func TestCheck_ExclusiveBindsCoOwnersAndSublicensor(t *testing.T) {
	f := newFixture(t)
	f.accept("alpha", "asset.register", map[string]any{
		"id": "model-j", "kind": "model", "digest": digestA,
		"owners": []map[string]any{{"member": "alpha", "share_bp": 6000}, {"member": "gamma", "share_bp": 4000}},
	}, "gamma")
	o := offer("g-ex", "alpha", "beta", "model-j", []ledger.Right{"train", "sublicense"}, nil)
	o.Licensors = []string{"alpha", "gamma"}
	o.Terms.Exclusivity = ledger.ExclusivityExclusive
	f.accept("alpha", "grant.offer", o, "gamma")
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-ex"})
	f.wantCheck(use("gamma", "model-j", "train", "DE"), false, "exclusive grant g-ex to beta binds gamma")
	f.wantCheck(use("alpha", "model-j", "train", "DE"), false, "exclusive grant g-ex to beta binds alpha")

	// An exclusive sublicence binds its licensor (the parent's licensee)
	// within its scope.
	f.accept("alpha", "ballot.open", admitBody("delta"))
	f.accept("beta", "ballot.vote", map[string]any{"ballot": "admit-delta", "approve": true})
	f.accept("beta", "grant.offer", ledger.GrantOffer{ID: "g-sub", Licensors: []string{"beta"}, Licensees: []string{"delta"},
		Terms: ledger.Terms{Assets: []string{"model-j"}, Rights: []ledger.Right{"train"}, Parent: "g-ex", Exclusivity: ledger.ExclusivityExclusive,
			Constraints: ledger.Constraints{Territory: ledger.Territory{Allow: []string{"FR"}}}}})
	f.accept("delta", "grant.accept", ledger.GrantRef{Grant: "g-sub"})
	f.wantCheck(use("beta", "model-j", "train", "FR"), false, "exclusive grant g-sub to delta binds beta")
	f.wantCheck(use("beta", "model-j", "train", "DE"), true, "grant g-ex")
	f.wantCheck(use("delta", "model-j", "train", "FR"), true, "grant g-sub")
}

func TestValidate_Exclusivity(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*ledger.Terms)
		want string
	}{
		{"unknown", func(t *ledger.Terms) { t.Exclusivity = "partly" }, `exclusivity: "partly" is not exclusive, sole or none`},
		{"both forms", func(t *ledger.Terms) { t.Exclusive, t.Exclusivity = true, ledger.ExclusivitySole }, "state exclusivity alone"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.register("alpha", "model-x")
			r := f.reject(ledger.CodeInvalid, "alpha", "grant.offer", offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"use"}, c.mod))
			if !strings.Contains(r.Outcome.Message, c.want) {
				t.Fatalf("message %q, want %q", r.Outcome.Message, c.want)
			}
		})
	}
}

// Issue 16 (item 9): parents[].industry was an unknown field, so a grant
// limited to an industry could never be used to derive.
func TestDerive_ParentIndustry(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "base")
	f.grant(offer("g-d", "alpha", "beta", "base", []ledger.Right{"derive"}, func(t *ledger.Terms) {
		t.Constraints.Industries = []string{"healthcare"}
	}))
	derived := func(id, industry string) map[string]any {
		return map[string]any{"id": id, "kind": "model", "digest": digestA,
			"owners":  []map[string]any{{"member": "beta", "share_bp": 10000}},
			"parents": []map[string]any{{"asset": "base", "grant": "g-d", "industry": industry}}}
	}
	r := f.reject(ledger.CodeForbidden, "beta", "asset.register", derived("d-0", "finance"))
	if !strings.Contains(r.Outcome.Message, "industry finance is not in healthcare") {
		t.Fatalf("message %q", r.Outcome.Message)
	}
	f.accept("beta", "asset.register", derived("d-1", "healthcare"))
	f.view(func(v *ledger.View) {
		if a, _ := v.Asset("d-1"); len(a.Parents) != 1 || a.Parents[0].Industry != "healthcare" {
			t.Fatalf("parents %+v", a.Parents)
		}
	})
}
