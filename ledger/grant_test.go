package ledger_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

var t2030 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// offer is a grant offer from one licensor to one licensee over one asset.
func offer(id, from, to, asset string, rights []ledger.Right, mod func(*ledger.Terms)) ledger.GrantOffer {
	t := ledger.Terms{Assets: []string{asset}, Rights: rights}
	if mod != nil {
		mod(&t)
	}
	return ledger.GrantOffer{ID: id, Licensors: []string{from}, Licensees: []string{to}, Terms: t}
}

func research(t *ledger.Terms) {
	na := t2030
	t.Constraints = ledger.Constraints{
		NotAfter:  &na,
		Territory: ledger.Territory{Allow: []string{"FR", "DE"}},
		Purposes:  []string{"research"},
	}
}

// check asks both the lock-free index and a read transaction, which must
// agree, and returns the decision.
func (f *fixture) check(req ledger.CheckRequest) ledger.Decision {
	f.t.Helper()
	d, idx, err := f.l.Check(req)
	if err != nil {
		f.t.Fatalf("check %+v: %v", req, err)
	}
	if idx != f.l.AppliedIndex() {
		f.t.Fatalf("check answered at index %d, applied is %d", idx, f.l.AppliedIndex())
	}
	f.view(func(v *ledger.View) {
		if req.At.IsZero() {
			req.At = v.LedgerTime()
		}
		d2, err := ledger.Check(v, req)
		if err != nil {
			f.t.Fatal(err)
		}
		if d.Allowed != d2.Allowed || d.Reason != d2.Reason {
			f.t.Fatalf("index and store disagree:\n index: %v %s\n store: %v %s", d.Allowed, d.Reason, d2.Allowed, d2.Reason)
		}
	})
	return d
}

func (f *fixture) wantCheck(req ledger.CheckRequest, allowed bool, reason string) ledger.Decision {
	f.t.Helper()
	d := f.check(req)
	if d.Allowed != allowed || !strings.Contains(d.Reason, reason) {
		f.t.Fatalf("check %s %s %s %s/%s: got allowed=%v %q, want allowed=%v containing %q",
			req.Member, req.Action, req.Asset, req.Territory, req.Purpose, d.Allowed, d.Reason, allowed, reason)
	}
	return d
}

func train(member, asset, territory, purpose string) ledger.CheckRequest {
	return ledger.CheckRequest{Member: member, Asset: asset, Action: ledger.RightTrain, Territory: territory, Purpose: purpose}
}

func TestCheck_Walkthrough(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"use", "train"}, research))

	f.wantCheck(train("beta", "model-x", "DE", "research"), false, "g-1: is offered but not yet accepted")
	f.reject(ledger.CodeForbidden, "gamma", "grant.accept", ledger.GrantRef{Grant: "g-1"})
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-1"})

	d := f.wantCheck(train("beta", "model-x", "DE", "research"), true, "grant g-1 from alpha allows beta to train model-x in DE for research")
	if d.Basis != "grant" || len(d.Chain) != 1 || d.Chain[0] != "g-1" {
		t.Fatalf("basis %s chain %v", d.Basis, d.Chain)
	}
	f.wantCheck(train("beta", "model-x", "US", "research"), false, "grant g-1: territory US is not in DE, FR")
	f.wantCheck(train("beta", "model-x", "DE", "commercial"), false, "purpose commercial is not in research")
	f.wantCheck(train("beta", "model-x", "", "research"), false, "is limited to DE, FR and the request names no territory")
	f.wantCheck(ledger.CheckRequest{Member: "beta", Asset: "model-x", Action: "host", Territory: "DE", Purpose: "research"},
		false, "right host is not among train, use")
	f.wantCheck(train("gamma", "model-x", "DE", "research"), false, "gamma holds no grant over model-x")
	f.wantCheck(train("alpha", "model-x", "US", ""), true, "alpha owns model-x")
	f.wantCheck(ledger.CheckRequest{Member: "beta", Asset: "model-x", Action: "train", Territory: "DE", Purpose: "research", At: t2030},
		false, "expired at 2030-01-01T00:00:00Z")

	for _, bad := range []ledger.CheckRequest{
		{Member: "beta", Asset: "model-x", Action: "fly"},
		{Member: "beta", Asset: "model-x", Action: "use", Territory: "XX"},
		{Member: "beta", Asset: "model-x", Action: "use", Purpose: "Research!"},
	} {
		if _, _, err := f.l.Check(bad); ledger.CodeOf(err) != ledger.CodeInvalid {
			t.Errorf("check %+v: want invalid, got %v", bad, err)
		}
	}
	if _, _, err := f.l.Check(train("beta", "nope", "DE", "research")); ledger.CodeOf(err) != ledger.CodeNotFound {
		t.Errorf("unknown asset: want not_found, got %v", err)
	}
}

func TestGrant_OfferValidation(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.register("gamma", "data-z")
	cases := []struct {
		name string
		code ledger.Code
		by   string
		o    ledger.GrantOffer
	}{
		{"unknown right", ledger.CodeInvalid, "alpha", offer("b1", "alpha", "beta", "model-x", []ledger.Right{"fly"}, nil)},
		{"bad territory", ledger.CodeInvalid, "alpha", offer("b2", "alpha", "beta", "model-x", []ledger.Right{"use"}, func(t *ledger.Terms) {
			t.Constraints.Territory.Allow = []string{"XX"}
		})},
		{"deny removes all", ledger.CodeInvalid, "alpha", offer("b3", "alpha", "beta", "model-x", []ledger.Right{"use"}, func(t *ledger.Terms) {
			t.Constraints.Territory = ledger.Territory{Allow: []string{"DE"}, Deny: []string{"EU"}}
		})},
		{"window backwards", ledger.CodeInvalid, "alpha", offer("b4", "alpha", "beta", "model-x", []ledger.Right{"use"}, func(t *ledger.Terms) {
			nb := t2030
			na := t2030.Add(-time.Hour)
			t.Constraints.NotBefore, t.Constraints.NotAfter = &nb, &na
		})},
		{"not the owner", ledger.CodeForbidden, "alpha", offer("b5", "alpha", "beta", "data-z", []ledger.Right{"use"}, nil)},
		{"signer not licensor", ledger.CodeForbidden, "beta", offer("b6", "alpha", "gamma", "model-x", []ledger.Right{"use"}, nil)},
		{"unknown asset", ledger.CodeNotFound, "alpha", offer("b7", "alpha", "beta", "nope", []ledger.Right{"use"}, nil)},
		{"self licence", ledger.CodeInvalid, "alpha", offer("b8", "alpha", "alpha", "model-x", []ledger.Right{"use"}, nil)},
		{"bad duty", ledger.CodeInvalid, "alpha", offer("b9", "alpha", "beta", "model-x", []ledger.Right{"use"}, func(t *ledger.Terms) {
			t.Duties = []ledger.Duty{{Kind: "report_usage"}}
		})},
		{"empty prohibition", ledger.CodeInvalid, "alpha", offer("b10", "alpha", "beta", "model-x", []ledger.Right{"use"}, func(t *ledger.Terms) {
			t.Prohibitions = []ledger.Prohibition{{Note: "everything"}}
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.reject(c.code, c.by, "grant.offer", c.o)
			if !strings.Contains(r.Outcome.Message, "body") {
				t.Errorf("message does not name the field: %s", r.Outcome.Message)
			}
		})
	}
	// Rejections are journaled, but they leave no grant behind.
	f.view(func(v *ledger.View) {
		if gs, _ := v.Grants("", 10, nil); len(gs) != 0 {
			t.Fatalf("rejected offers left grants: %v", gs)
		}
	})
}

func TestCheck_ProhibitionWins(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"train"}, func(t *ledger.Terms) {
		t.Prohibitions = []ledger.Prohibition{{Purposes: []string{"military", "surveillance"}, Note: "RAIL use restriction"}}
	}))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-1"})
	f.wantCheck(train("beta", "model-x", "US", "research"), true, "allows")
	d := f.wantCheck(train("beta", "model-x", "US", "military"), false, "prohibited: grant g-1 prohibits it: no use for military/surveillance purposes (RAIL use restriction)")
	if d.Candidates[0].Allowed {
		t.Fatal("a candidate stays allowed under a prohibition")
	}
}

func TestGrant_ExclusivityConflict(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-ex", "alpha", "beta", "model-x", []ledger.Right{"train"}, func(t *ledger.Terms) {
		t.Exclusive = true
		t.Constraints.Territory.Allow = []string{"EU"}
	}))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-ex"})

	r := f.reject(ledger.CodeConflict, "alpha", "grant.offer", offer("g-2", "alpha", "gamma", "model-x", []ledger.Right{"train", "use"}, func(t *ledger.Terms) {
		t.Constraints.Territory.Allow = []string{"DE"}
	}))
	if !strings.Contains(r.Outcome.Message, "g-ex") {
		t.Fatalf("conflict does not name the clashing grant: %s", r.Outcome.Message)
	}
	// Outside the exclusive territory, or another right, is fine.
	f.accept("alpha", "grant.offer", offer("g-3", "alpha", "gamma", "model-x", []ledger.Right{"train"}, func(t *ledger.Terms) {
		t.Constraints.Territory.Allow = []string{"US"}
	}))
	f.accept("alpha", "grant.offer", offer("g-4", "alpha", "gamma", "model-x", []ledger.Right{"use"}, nil))
	// The same licensee can hold more.
	f.accept("alpha", "grant.offer", offer("g-5", "alpha", "beta", "model-x", []ledger.Right{"train"}, nil))
}

// TestConflict_OutcomeWith: a conflict's outcome names the clashing grant
// in With, as well as in its message; the entry hash covers With, which
// must also name what the message names, and a resubmission of the
// rejected proposal gets With back. (The JSON format's hash leaves With
// out: TestJournal_OldDataDir.)
func TestConflict_OutcomeWith(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-ex", "alpha", "beta", "model-x", []ledger.Right{"train"}, func(t *ledger.Terms) { t.Exclusive = true }))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-ex"})
	env := f.envelope("alpha", "grant.offer", "clash", offer("g-2", "alpha", "gamma", "model-x", []ledger.Right{"train"}, nil))
	r := f.raw(env)
	if r.Outcome.Code != ledger.CodeConflict || r.Outcome.With != "g-ex" || !strings.HasSuffix(r.Outcome.Message, " (conflicts with g-ex)") {
		t.Fatalf("outcome: %+v", r.Outcome)
	}
	f.view(func(v *ledger.View) {
		e, ok := v.Entry(r.Seq)
		if !ok || e.Outcome.With != "g-ex" || e.VerifyHash() != nil {
			t.Fatalf("journaled outcome: %+v", e.Outcome)
		}
		without := *e
		without.Outcome.With = ""
		if got, _ := without.ContentHash(); got == e.Hash {
			t.Fatalf("the entry hash leaves With out: %s", got)
		}
		// With must name what the message names, whatever the hash says.
		forged := *e
		forged.Outcome.With = "g-other"
		forged.Hash, _ = forged.ContentHash()
		if err := forged.VerifyHash(); err == nil {
			t.Fatal("an entry whose with contradicts its message verified")
		}
	})
	digest := f.digest()
	dup := f.raw(env)
	if !dup.Duplicate || dup.Outcome.With != "g-ex" || dup.Seq != r.Seq {
		t.Fatalf("resubmission: %+v", dup)
	}
	if f.digest() != digest {
		t.Fatal("a resubmission changed the state")
	}
}

func TestExclusiveClash_ErrorCarriesGrant(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-ex", "alpha", "beta", "model-x", []ledger.Right{"train"}, func(t *ledger.Terms) { t.Exclusive = true }))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-ex"})
	// The typed error is what Apply produces; check it through the
	// exported helper as well.
	a := &ledger.Grant{ID: "a", Licensees: []string{"beta"}, Terms: ledger.Terms{Assets: []string{"m"}, Rights: []ledger.Right{"use"}, Exclusive: true}}
	b := &ledger.Grant{ID: "b", Licensees: []string{"gamma"}, Terms: ledger.Terms{Assets: []string{"m"}, Rights: []ledger.Right{"use"}}}
	if !ledger.ExclusiveClash(a, b) {
		t.Fatal("overlapping exclusive grants do not clash")
	}
	na := t2030
	b.Terms.Constraints.NotBefore = &na
	a.Terms.Constraints.NotAfter = &na
	if ledger.ExclusiveClash(a, b) {
		t.Fatal("adjacent windows [..,2030) and [2030,..) clash")
	}
	var ce *ledger.ConflictError
	err := error(&ledger.ConflictError{Err: ledger.Errorf(ledger.CodeConflict, "x"), With: "g-ex"})
	if !errors.As(err, &ce) || ce.With != "g-ex" {
		t.Fatal("ConflictError does not unwrap")
	}
}

func TestGrant_SublicenceScopeAndKnockOn(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"train", "sublicense"}, research))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-1"})

	sub := func(id string, mod func(*ledger.Terms)) ledger.GrantOffer {
		return offer(id, "beta", "gamma", "model-x", []ledger.Right{"train"}, func(t *ledger.Terms) {
			research(t)
			t.Parent = "g-1"
			if mod != nil {
				mod(t)
			}
		})
	}
	r := f.reject(ledger.CodeForbidden, "beta", "grant.offer", sub("s-bad", func(t *ledger.Terms) { t.Constraints.Territory.Allow = []string{"DE", "US"} }))
	if !strings.Contains(r.Outcome.Message, "US is outside the parent's territory (DE, FR)") {
		t.Fatalf("scope message: %s", r.Outcome.Message)
	}
	f.reject(ledger.CodeForbidden, "beta", "grant.offer", sub("s-bad2", func(t *ledger.Terms) { t.Rights = []ledger.Right{"host"} }))
	f.reject(ledger.CodeForbidden, "beta", "grant.offer", sub("s-bad3", func(t *ledger.Terms) { t.Constraints.Purposes = nil }))
	f.reject(ledger.CodeForbidden, "gamma", "grant.offer", offer("s-bad4", "gamma", "beta", "model-x", []ledger.Right{"train"}, func(t *ledger.Terms) { t.Parent = "g-1" }))

	f.accept("beta", "grant.offer", sub("s-1", func(t *ledger.Terms) { t.Constraints.Territory.Allow = []string{"DE"} }))
	f.accept("gamma", "grant.accept", ledger.GrantRef{Grant: "s-1"})
	d := f.wantCheck(train("gamma", "model-x", "DE", "research"), true, "grant s-1 from beta allows")
	if strings.Join(d.Chain, ",") != "s-1,g-1" {
		t.Fatalf("chain %v", d.Chain)
	}

	// Suspending the parent suspends the child; resuming resumes it.
	f.reject(ledger.CodeForbidden, "beta", "grant.suspend", ledger.GrantRef{Grant: "g-1"})
	f.accept("alpha", "grant.suspend", ledger.GrantRef{Grant: "g-1", Reason: "audit pending"})
	f.wantCheck(train("gamma", "model-x", "DE", "research"), false, "s-1: is suspended (by parent:g-1)")
	f.reject(ledger.CodeForbidden, "beta", "grant.resume", ledger.GrantRef{Grant: "s-1"})
	f.accept("alpha", "grant.resume", ledger.GrantRef{Grant: "g-1"})
	f.wantCheck(train("gamma", "model-x", "DE", "research"), true, "allows")

	// A parent that expires takes the chain down with it, lazily.
	d = f.wantCheck(ledger.CheckRequest{Member: "gamma", Asset: "model-x", Action: "train", Territory: "DE", Purpose: "research", At: t2030.Add(time.Hour)},
		false, "expired")
	if d.Allowed {
		t.Fatal("allowed after expiry")
	}
}

func TestGrant_LifecycleFollowsTerminationTerms(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"use"}, nil))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-1"})
	f.reject(ledger.CodeForbidden, "alpha", "grant.revoke", ledger.GrantRef{Grant: "g-1"})
	f.reject(ledger.CodeForbidden, "beta", "grant.terminate", ledger.GrantRef{Grant: "g-1"})
	f.reject(ledger.CodeForbidden, "gamma", "grant.suspend", ledger.GrantRef{Grant: "g-1"})

	f.accept("alpha", "grant.offer", offer("g-2", "alpha", "beta", "model-x", []ledger.Right{"use"}, func(t *ledger.Terms) {
		t.Termination = ledger.Termination{LicensorMayRevoke: true, LicenseeMayTerminate: true}
	}))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-2"})
	f.accept("beta", "grant.terminate", ledger.GrantRef{Grant: "g-2", Reason: "no longer needed"})
	f.reject(ledger.CodeRejected, "alpha", "grant.revoke", ledger.GrantRef{Grant: "g-2"})

	// A licensor may always withdraw an offer.
	f.accept("alpha", "grant.offer", offer("g-3", "alpha", "beta", "model-x", []ledger.Right{"use"}, nil))
	f.accept("alpha", "grant.revoke", ledger.GrantRef{Grant: "g-3"})
	f.reject(ledger.CodeRejected, "beta", "grant.accept", ledger.GrantRef{Grant: "g-3"})

	// Amendments need both parties and keep the history.
	amend := ledger.GrantAmend{Grant: "g-1", Terms: ledger.Terms{Assets: []string{"model-x"}, Rights: []ledger.Right{"use", "evaluate"}}}
	f.reject(ledger.CodeUnauthorized, "alpha", "grant.amend", amend)
	f.accept("alpha", "grant.amend", amend, "beta")
	f.view(func(v *ledger.View) {
		g, _ := v.Grant("g-1")
		if g.Version != 2 || len(g.Terms.Rights) != 2 {
			t.Fatalf("after amend: version %d rights %v", g.Version, g.Terms.Rights)
		}
	})
	f.wantCheck(ledger.CheckRequest{Member: "beta", Asset: "model-x", Action: "evaluate"}, true, "allows")
}

func TestBundle_ActivatesAtomically(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-a")
	f.register("beta", "data-b")
	b := ledger.BundleOffer{
		ID: "x-1", Deadline: f.now.Add(24 * time.Hour), LinkedTermination: true,
		Grants: []ledger.GrantOffer{
			offer("xa", "alpha", "beta", "model-a", []ledger.Right{"use"}, func(t *ledger.Terms) {
				t.Termination.LicenseeMayTerminate = true
			}),
			offer("xb", "beta", "alpha", "data-b", []ledger.Right{"train"}, nil),
		},
	}
	f.accept("alpha", "bundle.offer", b)
	f.wantCheck(ledger.CheckRequest{Member: "beta", Asset: "model-a", Action: "use"}, false, "not yet accepted")
	f.reject(ledger.CodeRejected, "beta", "grant.accept", ledger.GrantRef{Grant: "xa"})
	f.accept("beta", "bundle.accept", ledger.BundleAccept{Bundle: "x-1"})
	f.wantCheck(ledger.CheckRequest{Member: "beta", Asset: "model-a", Action: "use"}, true, "grant xa")
	f.wantCheck(ledger.CheckRequest{Member: "alpha", Asset: "data-b", Action: "train"}, true, "grant xb")

	// Linked termination: ending one suspends the other.
	f.accept("beta", "grant.terminate", ledger.GrantRef{Grant: "xa"})
	f.wantCheck(ledger.CheckRequest{Member: "alpha", Asset: "data-b", Action: "train"}, false, "suspended (by bundle:x-1)")

	// In one envelope signed by every party, a bundle activates at once.
	f.register("gamma", "model-g")
	f.accept("gamma", "bundle.offer", ledger.BundleOffer{
		ID: "x-2", Deadline: f.now.Add(time.Hour),
		Grants: []ledger.GrantOffer{
			offer("ya", "gamma", "alpha", "model-g", []ledger.Right{"use"}, nil),
			offer("yb", "alpha", "gamma", "model-a", []ledger.Right{"use"}, nil),
		},
	}, "alpha")
	f.wantCheck(ledger.CheckRequest{Member: "alpha", Asset: "model-g", Action: "use"}, true, "grant ya")
}

func TestAsset_DerivedNeedsDeriveRight(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "base")
	reg := func(grant string) map[string]any {
		return map[string]any{
			"id": "derived-" + grant, "kind": "model", "digest": digestA,
			"owners":  []map[string]any{{"member": "beta", "share_bp": 10000}},
			"parents": []map[string]any{{"asset": "base", "grant": grant}},
		}
	}
	f.accept("alpha", "grant.offer", offer("g-use", "alpha", "beta", "base", []ledger.Right{"use"}, nil))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-use"})
	r := f.reject(ledger.CodeForbidden, "beta", "asset.register", reg("g-use"))
	if !strings.Contains(r.Outcome.Message, "right derive is not among use") {
		t.Fatalf("message: %s", r.Outcome.Message)
	}
	f.accept("alpha", "grant.offer", offer("g-derive", "alpha", "beta", "base", []ledger.Right{"derive"}, func(t *ledger.Terms) {
		t.Prohibitions = []ledger.Prohibition{{Purposes: []string{"military"}}}
	}))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-derive"})
	f.accept("beta", "asset.register", reg("g-derive"))

	// The derived asset inherits the prohibition: a grant of it must carry it.
	f.reject(ledger.CodeRejected, "beta", "grant.offer", offer("d-1", "beta", "gamma", "derived-g-derive", []ledger.Right{"use"}, nil))
	f.accept("beta", "grant.offer", offer("d-2", "beta", "gamma", "derived-g-derive", []ledger.Right{"use"}, func(t *ledger.Terms) {
		t.Prohibitions = []ledger.Prohibition{{Purposes: []string{"military"}, Note: "inherited"}}
	}))
}

func TestGrant_ResumeChecksExclusivity(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-ex", "alpha", "beta", "model-x", []ledger.Right{"train"}, func(t *ledger.Terms) { t.Exclusive = true }))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-ex"})
	f.accept("alpha", "grant.suspend", ledger.GrantRef{Grant: "g-ex"})
	// While g-ex is suspended, an overlapping grant to gamma is possible...
	f.accept("alpha", "grant.offer", offer("g-2", "alpha", "gamma", "model-x", []ledger.Right{"train"}, nil))
	f.accept("gamma", "grant.accept", ledger.GrantRef{Grant: "g-2"})
	// ...so g-ex cannot come back while g-2 is active.
	r := f.reject(ledger.CodeConflict, "alpha", "grant.resume", ledger.GrantRef{Grant: "g-ex"})
	if !strings.Contains(r.Outcome.Message, "g-2") {
		t.Fatalf("conflict does not name g-2: %s", r.Outcome.Message)
	}
	f.wantCheck(train("beta", "model-x", "", ""), false, "suspended")
}
