package chaos

import (
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
)

// TestConfExpectations counts the sealed reports the journal accepted,
// acknowledged or ambiguous, and only those, and reports a sealed report
// journaled as rejected.
func TestConfExpectations(t *testing.T) {
	ops := []Op{
		{Kind: "conf.report", Key: "gc-0", ID: "c0-1", Amount: 3, Outcome: OK},
		{Kind: "conf.report", Key: "gc-0", ID: "c1-2", Amount: 4, Outcome: Ambiguous}, // landed
		{Kind: "conf.report", Key: "gc-0", ID: "c2-3", Amount: 2, Outcome: Ambiguous}, // lost
		{Kind: "conf.report", Key: "gc-1", ID: "c3-4", Amount: 1, Outcome: OK},
		{Kind: "conf.accept", Key: "gc-1", ID: "c1-5", Outcome: OK},
		{Kind: "consume", Key: "p-0/alpha", ID: "c4-6", Amount: 9, Outcome: OK},
	}
	accepted := func(id string) ledger.Entry {
		return ledger.Entry{Outcome: ledger.Outcome{ID: id, Status: ledger.StatusAccepted}}
	}
	journal := []ledger.Entry{accepted("c0-1"), accepted("c1-2"), accepted("c3-4"), accepted("c1-5"), accepted("c4-6"),
		{Outcome: ledger.Outcome{ID: "c2-3", Status: ledger.StatusRejected}}}
	want, errs := confExpectations(ops, journal)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if got := want["gc-0"]; got != (confExpect{reports: 2, quantity: 7}) {
		t.Errorf("gc-0: %+v, want 2 reports of 7", got)
	}
	if got := want["gc-1"]; got != (confExpect{reports: 1, quantity: 1}) {
		t.Errorf("gc-1: %+v, want 1 report of 1", got)
	}
	if len(want) != 2 {
		t.Errorf("expectations for %d grants, want 2: %v", len(want), want)
	}

	ops = append(ops, Op{Kind: "conf.report", Key: "gc-1", ID: "c5-7", Amount: 2, Outcome: Failed, Rejected: "invalid", Err: "body.window: …"})
	if _, errs := confExpectations(ops, journal); len(errs) != 1 || !strings.Contains(errs[0].Error(), "c5-7 of gc-1 was rejected") {
		t.Errorf("a rejected sealed report: %v", errs)
	}
}

// TestConfProblems passes two party nodes that agree with each other and
// with the expectations, and names each kind of disagreement.
func TestConfProblems(t *testing.T) {
	private, other, usage, usage2 := ledger.Hash{1}, ledger.Hash{2}, ledger.Hash{3}, ledger.Hash{4}
	e := confExpect{reports: 30, quantity: confSoftCap + 5}
	good := func(node string) partyView {
		return partyView{node: node, private: &private, usage: &usage, reports: 30, quantity: confSoftCap + 5, soft: 1}
	}
	if p := confProblems([]partyView{good("alpha"), good("gamma")}, private, e); len(p) != 0 {
		t.Fatalf("agreeing nodes: %v", p)
	}
	if p := confProblems([]partyView{good("alpha"), good("gamma")}, private, confExpect{reports: 3, quantity: 9}); len(p) != 4 {
		// each node: the counts, and a soft-cap infraction under the cap
		t.Errorf("below the soft cap: %v", p)
	}
	for _, tc := range []struct {
		name   string
		change func(v *partyView)
		want   string
	}{
		{"usage digest", func(v *partyView) { v.usage = &usage2 }, "usage digests differ"},
		{"no usage digest", func(v *partyView) { v.usage = nil }, "gamma serves no usage digest"},
		{"private digest", func(v *partyView) { v.private = &other }, "private digests differ"},
		{"not opened", func(v *partyView) { v.private = nil }, "gamma has not opened the terms"},
		{"refused", func(v *partyView) { v.private, v.refused = nil, "corrupt" }, "gamma refused the terms: corrupt"},
		{"a report missing", func(v *partyView) { v.reports, v.quantity = 29, confSoftCap+3 }, "gamma admitted 29 reports"},
		{"another quantity", func(v *partyView) { v.quantity++ }, "gamma admitted 30 reports of 66 hours"},
		{"no soft-cap infraction", func(v *partyView) { v.soft = 0 }, "gamma records 0 soft-cap infractions, want 1"},
	} {
		g := good("gamma")
		tc.change(&g)
		p := strings.Join(confProblems([]partyView{good("alpha"), g}, private, e), "; ")
		if !strings.Contains(p, tc.want) {
			t.Errorf("%s: %q, want it to say %q", tc.name, p, tc.want)
		}
	}
	// Both nodes' digests equal but not the terms sealed.
	if p := confProblems([]partyView{good("alpha"), good("gamma")}, other, e); len(p) != 2 || !strings.Contains(p[0], "not that of the terms sealed") {
		t.Errorf("the same wrong terms on both: %v", p)
	}
}
