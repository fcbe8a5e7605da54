package node

import (
	"context"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
)

// sealForParties seals plaintext to alpha and beta under the binding
// {w's consortium, kind, id}.
func sealForParties(t *testing.T, w *world, plaintext []byte, kind, id string) *ledger.Confidential {
	t.Helper()
	var rs []seal.Recipient
	for _, m := range []string{"alpha", "beta"} {
		pk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey(m))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	s, _, err := seal.Seal(plaintext, rs, seal.Binding{Consortium: w.g.ID(), Kind: kind, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}
}

// TestSyncPrivate_SealedSLAReports: a party's node that follows the log
// admits a confidential grant's sealed SLA reports with its usage
// reports, in log order, into the account a full rebuild gives, records
// the SLA breach privately, and prices the SLA credit into the statement
// it serves the parties.
func TestSyncPrivate_SealedSLAReports(t *testing.T) {
	terms := markerTerms()
	terms.Usage.SLAReporter = "alpha"
	terms.Usage.SLACredits = []ledger.SLACredit{{Metric: "availability_bp", Below: 9990, DiscountBP: 1000}}
	w, _ := confidentialWorldWith(t, terms)
	s := partyNode(t, w, "beta", "beta")
	var seq uint64
	if err := s.l.View(func(v *ledger.View) error { seq = v.Head().Size; return nil }); err != nil {
		t.Fatal(err)
	}

	w.now = t0.Add(time.Hour)
	su := ledger.SealedUsage{Metrics: []ledger.MetricQuantity{{Metric: "marker_q9z_hours", Quantity: 10}}}
	w.accept("beta", "usage.report", "use-1", ledger.UsageReportBody{Grant: "g-c", ReportID: "r1", Period: "2026-01",
		Window:       ledger.Window{Start: t0.Add(2 * time.Minute), End: t0.Add(50 * time.Minute)},
		Confidential: sealForParties(t, w, su.Canonical(), ledger.SealedUsageKind, ledger.SealedUsageID("g-c", "r1"))})
	sm := ledger.SealedSLA{Measurements: []ledger.SLAMeasurement{{Metric: "availability_bp", Value: 9900}}}
	sla := w.accept("alpha", "sla.report", "sla-1", ledger.SLAReportBody{Grant: "g-c", ReportID: "s1", Period: "2026-01",
		Confidential: sealForParties(t, w, sm.Canonical(), ledger.SealedSLAKind, ledger.SealedSLAID("g-c", "s1"))})

	if _, err := s.syncPrivate(seq, false); err != nil {
		t.Fatal(err)
	}
	s.private.markSynced(s.l.AppliedIndex())
	pu, ok := s.private.usage("g-c")
	if !ok || len(pu.Reports) != 1 || len(pu.SLAReports) != 1 || pu.SLAReports[0].Status != ledger.PrivateAccepted || pu.Through != sla.Index {
		t.Fatalf("account: %+v", pu)
	}
	if len(pu.Infractions) != 1 || pu.Infractions[0].ID != "g-c/sla_breach/2026-01:availability_bp" {
		t.Fatalf("infractions: %+v", pu.Infractions)
	}

	// An entry with only an SLA report is followed too.
	if err := s.l.View(func(v *ledger.View) error { seq = v.Head().Size; return nil }); err != nil {
		t.Fatal(err)
	}
	sm = ledger.SealedSLA{Measurements: []ledger.SLAMeasurement{{Metric: "accuracy_bp", Value: 9000}}}
	w.accept("alpha", "sla.report", "sla-2", ledger.SLAReportBody{Grant: "g-c", ReportID: "s2", Period: "2026-01",
		Confidential: sealForParties(t, w, sm.Canonical(), ledger.SealedSLAKind, ledger.SealedSLAID("g-c", "s2"))})
	if _, err := s.syncPrivate(seq, false); err != nil {
		t.Fatal(err)
	}
	s.private.markSynced(s.l.AppliedIndex())
	if pu, _ = s.private.usage("g-c"); len(pu.SLAReports) != 2 || pu.SLAReports[1].Report != "s2" || pu.SLAReports[1].Status != ledger.PrivateAccepted {
		t.Fatalf("account after an SLA report alone: %+v", pu)
	}
	followed := pu.Digest()
	if _, err := s.syncPrivate(0, true); err != nil {
		t.Fatal(err)
	}
	if pu, _ = s.private.usage("g-c"); pu.Digest() != followed {
		t.Fatalf("a full rebuild gives another account: %+v", pu)
	}

	var sts []*ledger.Statement
	err := s.l.View(func(v *ledger.View) error {
		var err error
		sts, err = s.statements(context.Background(), v, &principal{member: "beta"}, "g-c", "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// 10 hours at 7654321 is 76543210; the credit takes 10% off.
	if len(sts) != 1 || sts[0].SLAReports != 2 || len(sts[0].Adjustments) != 1 ||
		sts[0].Adjustments[0].Kind != ledger.AdjustSLACredit || sts[0].TotalMicros != 76543210-7654321 {
		t.Fatalf("statements: %+v", sts)
	}
}
