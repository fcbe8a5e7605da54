package node

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// TestAPIGrant_OpenedTermsOnlyForPartiesAndTheOperator: on a party's node,
// the opened terms of a confidential grant go to the parties' own tokens
// and the node's operator; an auditor, which is not a recipient, gets the
// sealed view, like everyone on a node that is not a party's.
func TestAPIGrant_OpenedTermsOnlyForPartiesAndTheOperator(t *testing.T) {
	store, err := openPrivateStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.close()
	commitment := ledger.Hash{1}
	terms := &ledger.ConfidentialTerms{Clauses: ledger.Clauses{GoverningLaw: "Laws of Ruritania"}}
	digest := terms.Digest()
	if err := store.put(&privateRecord{Grant: "g-c", Commitment: commitment, Status: privateOpened, Terms: terms, Digest: &digest}); err != nil {
		t.Fatal(err)
	}
	g := &ledger.Grant{ID: "g-c", Licensors: []string{"alpha"}, Licensees: []string{"beta"},
		Confidential: &ledger.Confidential{Commitment: commitment}}
	for _, tc := range []struct {
		name   string
		node   string
		p      *principal
		opened bool
	}{
		{"the licensor", "alpha", &principal{member: "alpha", role: ledger.RoleMember}, true},
		{"the licensee", "alpha", &principal{member: "beta", role: ledger.RoleMember}, true},
		{"the operator", "alpha", &principal{operator: true}, true},
		{"an auditor", "alpha", &principal{member: "audit", role: ledger.RoleAuditor}, false},
		{"a non-party member", "alpha", &principal{member: "gamma", role: ledger.RoleMember}, false},
		{"the operator of a non-party node", "gamma", &principal{operator: true}, false},
	} {
		s := &Server{private: store, cfg: ServerConfig{Member: tc.node}}
		c := s.apiGrant(tc.p, g).Confidential
		if c == nil || c.Commitment != commitment || (c.Terms != nil) != tc.opened || c.Sealed == tc.opened {
			t.Errorf("%s on %s's node: %+v", tc.name, tc.node, c)
		}
		if c != nil && c.Terms != nil && c.Terms.Clauses.GoverningLaw != "Laws of Ruritania" {
			t.Errorf("%s: terms %+v", tc.name, c.Terms)
		}
	}
}

// TestAPIGrant_UsageDigestWithoutReports: an opened grant with no sealed
// reports is served the digest of an empty account, whether the node
// stored one (a full scan after a restart does) or not (a node that saw
// the offer arrive does not), so both parties' nodes serve the same; a
// non-party node serves none.
func TestAPIGrant_UsageDigestWithoutReports(t *testing.T) {
	terms := &ledger.ConfidentialTerms{Clauses: ledger.Clauses{GoverningLaw: "Laws of Ruritania"}}
	digest := terms.Digest()
	g := &ledger.Grant{ID: "g-c", Licensors: []string{"alpha"}, Licensees: []string{"beta"},
		Confidential: &ledger.Confidential{Commitment: ledger.Hash{1}}}
	empty := (&ledger.PrivateUsage{Grant: "g-c"}).Digest()
	var served []ledger.Hash
	for _, stored := range []bool{false, true} {
		store, err := openPrivateStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer store.close()
		if err := store.put(&privateRecord{Grant: "g-c", Commitment: ledger.Hash{1}, Status: privateOpened, Terms: terms, Digest: &digest}); err != nil {
			t.Fatal(err)
		}
		if stored {
			if err := store.putUsage(&ledger.PrivateUsage{Grant: "g-c"}); err != nil {
				t.Fatal(err)
			}
		}
		c := (&Server{private: store, cfg: ServerConfig{Member: "alpha"}}).apiGrant(&principal{operator: true}, g).Confidential
		if c.UsageDigest == nil {
			t.Fatalf("stored %v: no usage digest", stored)
		}
		served = append(served, *c.UsageDigest)
		if c := (&Server{private: store, cfg: ServerConfig{Member: "gamma"}}).apiGrant(&principal{operator: true}, g).Confidential; c.UsageDigest != nil {
			t.Errorf("stored %v: a non-party node serves usage digest %s", stored, c.UsageDigest)
		}
	}
	if served[0] != empty || served[1] != empty {
		t.Errorf("usage digests %s (nothing stored) and %s (an empty account stored), want the empty account's %s", served[0], served[1], empty)
	}
}

// TestAPIGrant_SealAuditorsOpenOnTheirNode checks a charter that names the
// auditor "audit" as a seal auditor: its node opens g-c's terms and shows
// them to its own token and operator, and to the parties' tokens; gamma's
// token sees the sealed view on every node.
func TestAPIGrant_SealAuditorsOpenOnTheirNode(t *testing.T) {
	w, _ := confidentialWorldAudited(t, markerTerms(), "audit")
	auditNode := partyNode(t, w, "audit", "audit")
	gammaNode := partyNode(t, w, "gamma", "gamma")
	var g *ledger.Grant
	w.l.View(func(v *ledger.View) error { g, _ = v.Grant("g-c"); return nil })
	for _, tc := range []struct {
		name   string
		node   *Server
		p      *principal
		opened bool
	}{
		{"the auditor on its node", auditNode, &principal{member: "audit", role: ledger.RoleAuditor}, true},
		{"the operator of the auditor's node", auditNode, &principal{operator: true}, true},
		{"the licensee on the auditor's node", auditNode, &principal{member: "beta", role: ledger.RoleMember}, true},
		{"gamma on the auditor's node", auditNode, &principal{member: "gamma", role: ledger.RoleMember}, false},
		{"the auditor on gamma's node", gammaNode, &principal{member: "audit", role: ledger.RoleAuditor}, false},
	} {
		c := tc.node.apiGrant(tc.p, g).Confidential
		if got := c.Terms != nil; got != tc.opened || tc.opened && c.Terms.Clauses.GoverningLaw != "Laws of Marker-Q9Z" {
			t.Errorf("%s: %+v", tc.name, c)
		}
	}
}

// TestProposals_ReportInTheClearOfAConfidentialGrantIsNeverJournaled
// checks that a node refuses, before proposing it, a usage report whose
// quantities are in the clear for a confidential grant: Apply would only
// reject it, and the rejected entry would carry the quantities to every
// node.
func TestProposals_ReportInTheClearOfAConfidentialGrantIsNeverJournaled(t *testing.T) {
	w, _ := confidentialWorld(t)
	ts := startServer(t, w, w.leaderFake("beta"), testConfig(t))
	var size uint64
	w.l.View(func(v *ledger.View) error { size = v.Head().Size; return nil })
	env := w.env("beta", "usage.report", "clear-1", ledger.UsageReportBody{Grant: "g-c", ReportID: "r-clear", Period: "2026-01",
		Window:  ledger.Window{Start: t0.Add(time.Minute), End: t0.Add(time.Hour)},
		Metrics: []ledger.MetricQuantity{{Metric: "marker_q9z_hours", Quantity: 4242}}})
	r := ts.do(http.MethodPost, "/v1/proposals", "beta", env)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "nothing of it was journaled") {
		t.Fatalf("clear report: %d %s", r.status, r.body)
	}
	w.l.View(func(v *ledger.View) error {
		if v.Head().Size != size {
			t.Fatalf("the journal grew from %d to %d entries", size, v.Head().Size)
		}
		return nil
	})
}
