package seal_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
)

// partyGrant is grant id from alpha to beta whose sealed part holds
// plaintext, sealed to both under the grant's binding.
func partyGrant(t *testing.T, id string, plaintext []byte) *ledger.Grant {
	t.Helper()
	s, _, err := seal.Seal(plaintext, recipients(t, "alpha", "beta"),
		seal.Binding{Consortium: testBinding.Consortium, Kind: ledger.ConfidentialKind, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return &ledger.Grant{ID: id, Licensors: []string{"alpha"}, Licensees: []string{"beta"},
		Terms:        ledger.Terms{Assets: []string{"m"}, Rights: []ledger.Right{ledger.RightUse}},
		Confidential: &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}}
}

// TestOpenGrant: a party opens valid terms; a non-party, a party with
// another key, and terms that are not valid get errors a node can log
// and serve, which never quote the plaintext.
func TestOpenGrant(t *testing.T) {
	const law = "Law-of-Marker-Q9Z"
	ok := partyGrant(t, "g-1", []byte(`{"clauses":{"governing_law":"`+law+`"}}`))
	ct, err := seal.OpenGrant(ok, testBinding.Consortium, "beta", testKey(t, "beta"))
	if err != nil || ct.Clauses.GoverningLaw != law {
		t.Fatalf("beta opens %+v, %v", ct, err)
	}
	bad := partyGrant(t, "g-2", []byte(`{"clauses":{"governing_law":"`+law+`"},"price":1}`))
	enforced := partyGrant(t, "g-3", []byte(`{"clauses":{"export_control":"`+law+`"}}`))
	for _, c := range []struct {
		name   string
		g      *ledger.Grant
		member string
		key    string
		want   error
		text   string
	}{
		{"a non-party", ok, "gamma", "gamma", seal.ErrNotRecipient, "gamma is not a recipient of grant g-1, whose terms are sealed to alpha, beta"},
		{"a party with another key", ok, "beta", "gamma", seal.ErrNotRecipient, "none of the 1 key(s) given"},
		{"another consortium", ok, "beta", "beta", seal.ErrCorrupt, ""},
		{"an unknown field", bad, "alpha", "alpha", seal.ErrInvalidContent, "the sealed terms of grant g-2 decrypt and match their commitment but are not valid terms"},
		{"an enforced clause", enforced, "alpha", "alpha", seal.ErrInvalidContent, "not valid terms"},
	} {
		t.Run(c.name, func(t *testing.T) {
			consortium := testBinding.Consortium
			if c.want == seal.ErrCorrupt {
				consortium = strings.Repeat("0", 64)
			}
			ct, err := seal.OpenGrant(c.g, consortium, c.member, testKey(t, c.key))
			if ct != nil || !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) || strings.Contains(err.Error(), law) {
				t.Fatalf("got %+v, %v; want %v containing %q", ct, err, c.want, c.text)
			}
		})
	}
}

// TestAdmitUsage: reports are opened and admitted in log order whatever
// the order they are given in; one that does not open is refused, and
// refused hears why.
func TestAdmitUsage(t *testing.T) {
	terms := &ledger.ConfidentialTerms{Usage: &ledger.UsageTerms{Period: ledger.PeriodMonth, GraceDays: 7, Metrics: []ledger.UsageMetric{{
		Name: "gpu_hours", Unit: "hour", HardCap: 100,
		Pricing: ledger.Pricing{Model: "graduated", Currency: "EUR", Tiers: []ledger.Tier{{UnitMicros: 1}}},
	}}}}
	g := partyGrant(t, "g-1", terms.Canonical())
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	report := func(id string, index uint64, hours int64, bindAs string) *ledger.UsageReport {
		su := ledger.SealedUsage{Metrics: []ledger.MetricQuantity{{Metric: "gpu_hours", Quantity: hours}}}
		s, _, err := seal.Seal(su.Canonical(), recipients(t, "alpha", "beta"),
			seal.Binding{Consortium: testBinding.Consortium, Kind: ledger.SealedUsageKind, ID: ledger.SealedUsageID("g-1", bindAs)})
		if err != nil {
			t.Fatal(err)
		}
		return &ledger.UsageReport{UsageReportBody: ledger.UsageReportBody{Grant: "g-1", ReportID: id, Period: "2026-01",
			Confidential: &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}}, Signer: "beta", Index: index, At: at}
	}
	// r3 would pass the cap after r1 and r2; given first, it is still
	// admitted last. r4 is sealed under r1's binding.
	rs := []*ledger.UsageReport{report("r3", 30, 40, "r3"), report("r1", 10, 40, "r1"), report("r4", 40, 1, "r1"), report("r2", 20, 30, "r2")}
	ct, err := seal.OpenGrant(g, testBinding.Consortium, "beta", testKey(t, "beta"))
	if err != nil {
		t.Fatal(err)
	}
	pu := &ledger.PrivateUsage{Grant: "g-1"}
	var refused []string
	seal.AdmitUsage(pu, g.Opened(ct), rs, nil, testBinding.Consortium, "beta", []*seal.PrivateKey{testKey(t, "beta")}, func(_, report, why string) {
		refused = append(refused, report+": "+why)
	})
	var got []string
	for _, r := range pu.Reports {
		got = append(got, r.Report+"="+r.Status)
	}
	if strings.Join(got, " ") != "r1=accepted r2=accepted r3=refused r4=refused" {
		t.Fatalf("admitted %v", got)
	}
	if len(refused) != 1 || !strings.HasPrefix(refused[0], "r4: seal: corrupt") {
		t.Fatalf("refused %q", refused)
	}
	if sum, ok := pu.Total("2026-01"); !ok || sum.Reports != 2 || sum.Metrics[0].Quantity != 70 {
		t.Fatalf("totals %+v", sum)
	}
}

// TestAdmitUsage_SLA: usage and SLA reports are opened and admitted in one
// pass in log order, whichever list they come in and in whatever order; an
// SLA report sealed under another binding, or whose plaintext is not
// measurements, is refused, and refused hears of it with its kind.
func TestAdmitUsage_SLA(t *testing.T) {
	terms := &ledger.ConfidentialTerms{Usage: &ledger.UsageTerms{Period: ledger.PeriodMonth, GraceDays: 7, SLAReporter: "alpha",
		SLACredits: []ledger.SLACredit{{Metric: "availability_bp", Below: 9990, DiscountBP: 1000}},
		Metrics: []ledger.UsageMetric{{Name: "gpu_hours", Unit: "hour",
			Pricing: ledger.Pricing{Model: "graduated", Currency: "EUR", Tiers: []ledger.Tier{{UnitMicros: 1}}}}}}}
	g := partyGrant(t, "g-1", terms.Canonical())
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	sealed := func(plaintext []byte, kind, id string) *ledger.Confidential {
		s, _, err := seal.Seal(plaintext, recipients(t, "alpha", "beta"), seal.Binding{Consortium: testBinding.Consortium, Kind: kind, ID: id})
		if err != nil {
			t.Fatal(err)
		}
		return &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}
	}
	usage := func(id string, index uint64) *ledger.UsageReport {
		su := ledger.SealedUsage{Metrics: []ledger.MetricQuantity{{Metric: "gpu_hours", Quantity: 10}}}
		return &ledger.UsageReport{UsageReportBody: ledger.UsageReportBody{Grant: "g-1", ReportID: id, Period: "2026-01",
			Confidential: sealed(su.Canonical(), ledger.SealedUsageKind, ledger.SealedUsageID("g-1", id))}, Signer: "beta", Index: index, At: at}
	}
	sla := func(id string, index uint64, plaintext []byte, kind, bindAs string) *ledger.SLAReport {
		return &ledger.SLAReport{SLAReportBody: ledger.SLAReportBody{Grant: "g-1", ReportID: id, Period: "2026-01",
			Confidential: sealed(plaintext, kind, ledger.SealedSLAID("g-1", bindAs))}, Signer: "alpha", Index: index, At: at}
	}
	breach := (&ledger.SealedSLA{Measurements: []ledger.SLAMeasurement{{Metric: "availability_bp", Value: 9900}}}).Canonical()
	us := []*ledger.UsageReport{usage("r2", 40), usage("r1", 10)}
	ss := []*ledger.SLAReport{
		sla("s3", 50, []byte(`{"metrics":[]}`), ledger.SealedSLAKind, "s3"), // not measurements
		sla("s1", 20, breach, ledger.SealedSLAKind, "s1"),
		sla("s2", 30, breach, ledger.SealedUsageKind, "s2"), // sealed as a usage report
	}
	ct, err := seal.OpenGrant(g, testBinding.Consortium, "beta", testKey(t, "beta"))
	if err != nil {
		t.Fatal(err)
	}
	pu := &ledger.PrivateUsage{Grant: "g-1"}
	var refused []string
	seal.AdmitUsage(pu, g.Opened(ct), us, ss, testBinding.Consortium, "beta", []*seal.PrivateKey{testKey(t, "beta")}, func(kind, report, why string) {
		refused = append(refused, kind+" "+report+": "+why)
	})
	var got []string
	for _, r := range pu.Reports {
		got = append(got, r.Report+"="+r.Status)
	}
	for _, r := range pu.SLAReports {
		got = append(got, r.Report+"="+r.Status)
	}
	if strings.Join(got, " ") != "r1=accepted r2=accepted s1=accepted s2=refused s3=refused" || pu.Through != 50 {
		t.Fatalf("admitted %v through %d", got, pu.Through)
	}
	if len(refused) != 2 || !strings.HasPrefix(refused[0], "sla.report s2: seal: corrupt") || !strings.HasPrefix(refused[1], "sla.report s3: ") ||
		pu.SLAReports[2].Reason != seal.RefusalClass(seal.ErrInvalidContent) {
		t.Fatalf("refused %q, s3 %+v", refused, pu.SLAReports[2])
	}
	if len(pu.Infractions) != 1 || pu.Infractions[0].Kind != ledger.InfractionSLABreach || pu.Infractions[0].Index != 20 {
		t.Fatalf("infractions %+v", pu.Infractions)
	}

	// Opened as alone, OpenSLA gives the measurements.
	m, err := seal.OpenSLA(ss[1], testBinding.Consortium, "alpha", testKey(t, "alpha"))
	if err != nil || len(m.Measurements) != 1 || m.Measurements[0].Value != 9900 {
		t.Fatalf("OpenSLA: %+v, %v", m, err)
	}
	if _, err := seal.OpenSLA(&ledger.SLAReport{}, testBinding.Consortium, "alpha", testKey(t, "alpha")); !errors.Is(err, seal.ErrMalformed) {
		t.Fatalf("OpenSLA of a report in the clear: %v", err)
	}
}
