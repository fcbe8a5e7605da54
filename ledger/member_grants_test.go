package ledger_test

import (
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// memberBallot opens a ballot by alpha that beta's vote passes (2 of the 3
// founding voters) and returns the passing vote's result.
func (f *fixture) memberBallot(id, action string, params map[string]any) *ledger.Result {
	f.t.Helper()
	f.accept("alpha", "ballot.open", map[string]any{"id": id, "action": action, "deadline": f.now.Add(24 * time.Hour), "params": params})
	return f.accept("beta", "ballot.vote", map[string]any{"ballot": id, "approve": true})
}

func (f *fixture) grantStatus(id string) (ledger.Status, string) {
	f.t.Helper()
	var st ledger.Status
	var by string
	f.view(func(v *ledger.View) {
		g, ok := v.Grant(id)
		if !ok {
			f.t.Fatalf("no grant %s", id)
		}
		st, by = g.StatusAt(v.LedgerTime()), g.SuspendedBy
	})
	return st, by
}

func (f *fixture) grantTo(id, from, to, asset string, licensees ...string) {
	f.t.Helper()
	o := offer(id, from, to, asset, []ledger.Right{"use"}, nil)
	if len(licensees) > 0 {
		o.Licensees = licensees
	}
	f.accept(from, "grant.offer", o)
	f.accept(o.Licensees[0], "grant.accept", ledger.GrantRef{Grant: id}, o.Licensees...)
}

func useOf(member, asset string) ledger.CheckRequest {
	return ledger.CheckRequest{Member: member, Asset: asset, Action: ledger.RightUse}
}

// TestMember_RemovedMemberLosesLicences reproduces "a member removed by
// ballot keeps active licences (check --member ... ALLOWED)".
func TestMember_RemovedMemberLosesLicences(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "m-a")
	f.register("gamma", "m-g")
	f.grantTo("g-lic", "alpha", "gamma", "m-a") // gamma as licensee
	f.grantTo("g-gave", "gamma", "beta", "m-g") // gamma as licensor
	f.accept("alpha", "grant.offer", offer("g-offer", "alpha", "gamma", "m-a", []ledger.Right{"train"}, nil))
	f.wantCheck(useOf("gamma", "m-a"), true, "grant g-lic from alpha allows gamma")

	r := f.memberBallot("rm-gamma", "member.remove", map[string]any{"member": "gamma"})
	for _, ev := range [][2]string{{"member.removed", "gamma"}, {"grant.terminated", "g-lic"}, {"grant.revoked", "g-offer"}} {
		if !hasEvent(r, ev[0], ev[1]) {
			t.Errorf("want event %s %s in %+v", ev[0], ev[1], r.Outcome.Events)
		}
	}
	if st, _ := f.grantStatus("g-lic"); st != ledger.StatusTerminated {
		t.Fatalf("g-lic: want terminated, got %s", st)
	}
	if st, _ := f.grantStatus("g-offer"); st != ledger.StatusRevoked {
		t.Fatalf("g-offer: want revoked, got %s", st)
	}
	f.wantCheck(useOf("gamma", "m-a"), false, "gamma is removed from the consortium")
	// By default the grants it gave continue: beta paid for them.
	if st, _ := f.grantStatus("g-gave"); st != ledger.StatusActive {
		t.Fatalf("g-gave: want active by default, got %s", st)
	}
	f.wantCheck(useOf("beta", "m-g"), true, "grant g-gave from gamma allows beta")
	f.view(func(v *ledger.View) {
		h := v.GrantHistory("g-lic")
		last := h[len(h)-1]
		if last.Kind != "terminated" || last.By != "member:gamma" || last.Reason != "licensee gamma was removed from the consortium" {
			t.Fatalf("history %+v", last)
		}
	})
}

// TestMember_RemoveLicensorGrants covers what the member.remove ballot
// says about the grants the member gave.
func TestMember_RemoveLicensorGrants(t *testing.T) {
	for _, tc := range []struct {
		choice string
		want   ledger.Status
		allow  bool
	}{
		{"continue", ledger.StatusActive, true},
		{"suspend", ledger.StatusSuspended, false},
		{"end", ledger.StatusTerminated, false},
	} {
		t.Run(tc.choice, func(t *testing.T) {
			f := newFixture(t)
			f.register("gamma", "m-g")
			f.grantTo("g-gave", "gamma", "beta", "m-g")
			f.memberBallot("rm", "member.remove", map[string]any{"member": "gamma", "licensor_grants": tc.choice})
			if st, _ := f.grantStatus("g-gave"); st != tc.want {
				t.Fatalf("want %s, got %s", tc.want, st)
			}
			d := f.check(useOf("beta", "m-g"))
			if d.Allowed != tc.allow {
				t.Fatalf("beta use m-g: allowed=%v %s", d.Allowed, d.Reason)
			}
		})
	}
}

// TestMember_SuspendAndReinstate: a suspended member's licences are
// suspended and come back when it is reinstated; a grant it shares with
// another licensee goes on for that one.
func TestMember_SuspendAndReinstate(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "m-a")
	f.register("gamma", "m-g")
	f.grantTo("g-lic", "alpha", "gamma", "m-a")
	f.grantTo("g-both", "alpha", "beta", "m-a", "beta", "gamma")
	f.grantTo("g-gave", "gamma", "beta", "m-g")

	r := f.memberBallot("susp", "member.suspend", map[string]any{"member": "gamma", "licensor_grants": "suspend"})
	if !hasEvent(r, "grant.suspended", "g-lic") || !hasEvent(r, "grant.suspended", "g-gave") || hasEvent(r, "grant.suspended", "g-both") {
		t.Fatalf("events %+v", r.Outcome.Events)
	}
	if st, by := f.grantStatus("g-lic"); st != ledger.StatusSuspended || by != "member:gamma" {
		t.Fatalf("g-lic: %s by %q", st, by)
	}
	f.wantCheck(useOf("gamma", "m-a"), false, "gamma is suspended from the consortium")
	f.wantCheck(useOf("beta", "m-a"), true, "grant g-both from alpha allows beta")
	f.wantCheck(useOf("beta", "m-g"), false, "g-gave: is suspended")
	// Nobody but the reinstatement brings it back.
	f.reject(ledger.CodeForbidden, "alpha", "grant.resume", ledger.GrantRef{Grant: "g-lic"})

	// gamma is suspended, so alpha's ballot needs beta's vote: 2 of 2.
	r = f.memberBallot("back", "member.reinstate", map[string]any{"member": "gamma"})
	if !hasEvent(r, "member.reinstated", "gamma") || !hasEvent(r, "grant.resumed", "g-lic") || !hasEvent(r, "grant.resumed", "g-gave") {
		t.Fatalf("events %+v", r.Outcome.Events)
	}
	if st, by := f.grantStatus("g-lic"); st != ledger.StatusActive || by != "" {
		t.Fatalf("g-lic: %s by %q", st, by)
	}
	d := f.wantCheck(useOf("gamma", "m-a"), true, "allows gamma to use m-a")
	if len(d.Candidates) != 2 || !d.Candidates[1].Allowed || d.Candidates[1].Grant != "g-lic" {
		t.Fatalf("candidates %+v", d.Candidates)
	}
	f.wantCheck(useOf("beta", "m-g"), true, "grant g-gave from gamma allows beta")
}

// TestMember_StatusBallotRejections is every new rejection of the
// member.suspend, member.reinstate and member.remove parameters.
func TestMember_StatusBallotRejections(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name   string
		code   ledger.Code
		action string
		params map[string]any
	}{
		{"unknown choice", ledger.CodeInvalid, "member.remove", map[string]any{"member": "gamma", "licensor_grants": "pause"}},
		{"end on suspension", ledger.CodeInvalid, "member.suspend", map[string]any{"member": "gamma", "licensor_grants": "end"}},
		{"reinstate an active member", ledger.CodeRejected, "member.reinstate", map[string]any{"member": "gamma"}},
		{"reinstate unknown", ledger.CodeNotFound, "member.reinstate", map[string]any{"member": "zulu"}},
		{"unknown field", ledger.CodeInvalid, "member.remove", map[string]any{"member": "gamma", "licensee_grants": "end"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.reject(tc.code, "alpha", "ballot.open", map[string]any{"id": "b-" + tc.action, "action": tc.action, "deadline": f.now.Add(time.Hour), "params": tc.params})
		})
	}
	f.memberBallot("susp", "member.suspend", map[string]any{"member": "gamma"})
	f.reject(ledger.CodeInvalid, "alpha", "ballot.open", map[string]any{"id": "b-r", "action": "member.reinstate", "deadline": f.now.Add(time.Hour),
		"params": map[string]any{"member": "gamma", "licensor_grants": "continue"}})
}
