package ledger_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
)

// slaUsageTerms are gpuTerms measured by alpha, with a 10% credit when
// availability falls below 9990 bp and a 2× multiplier when accuracy is
// at least 9500 bp.
func slaUsageTerms() *ledger.UsageTerms {
	u := gpuTerms("graduated")
	u.SLAReporter = "alpha"
	u.SLACredits = []ledger.SLACredit{{Metric: "availability_bp", Below: 9990, DiscountBP: 1000}}
	u.Multipliers = []ledger.Multiplier{{Metric: "accuracy_bp", AtLeast: i64(9500), MultiplierBP: 20000}}
	return u
}

// slaTerms are confidential terms with slaUsageTerms and an SLA target of
// at most 200 ms p99 latency.
func slaTerms() ledger.ConfidentialTerms {
	return ledger.ConfidentialTerms{Usage: slaUsageTerms(), Clauses: ledger.Clauses{
		GoverningLaw: "Law-of-Marker-Q9Z", SLA: []ledger.SLATarget{{Metric: "p99_latency_ms", Target: 200}}}}
}

// sealedSLA is an SLA report of January 2026 for grant g-c whose
// measurements are sealed to alpha and beta under the binding of report
// bindAs.
func sealedSLA(t testing.TB, f *fixture, id, bindAs string, ms ...ledger.SLAMeasurement) ledger.SLAReportBody {
	t.Helper()
	var rs []seal.Recipient
	for _, m := range []string{"alpha", "beta"} {
		pk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey(m))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	sm := ledger.SealedSLA{Measurements: ms}
	s, _, err := seal.Seal(sm.Canonical(), rs, seal.Binding{Consortium: f.g.ID(), Kind: ledger.SealedSLAKind, ID: ledger.SealedSLAID("g-c", bindAs)})
	if err != nil {
		t.Fatal(err)
	}
	return ledger.SLAReportBody{Grant: "g-c", ReportID: id, Period: "2026-01",
		Confidential: &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}}
}

func sm(metric string, v int64) ledger.SLAMeasurement {
	return ledger.SLAMeasurement{Metric: metric, Value: v}
}

// slaPartyAccount is what beta's node derives: every sealed usage and SLA
// report of g-c opened with beta's key and admitted in one pass in log
// order (seal.AdmitUsage, given the reports out of order).
func slaPartyAccount(t testing.TB, f *fixture, ct *ledger.ConfidentialTerms) (*ledger.Grant, *ledger.PrivateUsage) {
	t.Helper()
	k, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed("beta"))
	if err != nil {
		t.Fatal(err)
	}
	var g *ledger.Grant
	var us []*ledger.UsageReport
	var ss []*ledger.SLAReport
	f.view(func(v *ledger.View) {
		g, _ = v.Grant("g-c")
		us, _ = v.UsageReports("g-c", "", 100)
		ss = v.SealedSLAReports("g-c", 0)
	})
	slices.Reverse(us)
	slices.Reverse(ss)
	opened := g.Opened(ct)
	pu := &ledger.PrivateUsage{Grant: "g-c"}
	seal.AdmitUsage(pu, opened, us, ss, f.g.ID(), "beta", []*seal.PrivateKey{k}, nil)
	return opened, pu
}

func TestConfidentialSLA_PublicPartCarriesNoMeasurements(t *testing.T) {
	f, _ := activeConfidentialWith(t, slaTerms())
	r := f.accept("alpha", "sla.report", sealedSLA(t, f, "s1", "s1", sm("availability_bp", 9000), sm("p99_latency_ms", 450)))
	// A breach, but no node records it in public.
	if !hasEvent(r, "sla.reported", "g-c") || len(r.Outcome.Events) != 1 {
		t.Fatalf("events: %+v", r.Outcome.Events)
	}
	var reports []*ledger.SLAReport
	var infractions []*ledger.Infraction
	f.view(func(v *ledger.View) {
		reports = v.SLAReports("g-c", "2026-01")
		infractions, _ = v.Infractions(ledger.InfractionFilter{Grant: "g-c"}, "", 10)
	})
	if len(reports) != 1 || len(reports[0].Measurements) != 0 || reports[0].Confidential == nil || reports[0].Signer != "alpha" {
		t.Fatalf("public reports: %+v", reports)
	}
	if len(infractions) != 0 {
		t.Fatalf("public infractions: %+v", infractions)
	}
	b, _ := json.Marshal(reports[0])
	if strings.Contains(string(b), "availability") || strings.Contains(string(b), "latency") || strings.Contains(string(b), `"measurements"`) {
		t.Fatalf("the public report carries the sealed measurements: %s", b)
	}
	// The same report again changes nothing; the same ID with another
	// sealed part is a conflict.
	if r := f.accept("alpha", "sla.report", reports[0].SLAReportBody); len(r.Outcome.Events) != 0 {
		t.Fatalf("a repeated report: %+v", r.Outcome.Events)
	}
	f.reject(ledger.CodeConflict, "alpha", "sla.report", sealedSLA(t, f, "s1", "s1", sm("availability_bp", 9999)))
	var periods []string
	f.view(func(v *ledger.View) { periods = v.Statements("g-c") })
	if !slices.Equal(periods, []string{"2026-01"}) {
		t.Fatalf("periods: %v", periods)
	}
}

// TestSLAReport_ClearEncodingUnchanged: a report in the clear encodes as
// it did before measurements could be left out and reports sealed.
func TestSLAReport_ClearEncodingUnchanged(t *testing.T) {
	b, err := json.Marshal(ledger.SLAReportBody{Grant: "g-1", ReportID: "s1", Period: "2026-01", Measurements: []ledger.SLAMeasurement{sm("availability_bp", 9950)}})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"grant":"g-1","report_id":"s1","period":"2026-01","measurements":[{"metric":"availability_bp","value":9950}]}`
	if string(b) != want {
		t.Fatalf("encoding %s, want %s", b, want)
	}
}

func TestConfidentialSLA_Rejections(t *testing.T) {
	f, _ := activeConfidentialWith(t, slaTerms())
	clear := sealedSLA(t, f, "c1", "c1")
	clear.Confidential, clear.Measurements = nil, []ledger.SLAMeasurement{sm("availability_bp", 9000)}
	// Refused as before sealed SLA reports existed: its public terms have
	// no usage terms.
	if r := f.reject(ledger.CodeRejected, "alpha", "sla.report", clear); r.Outcome.Message != "body.grant: grant g-c has no usage terms" {
		t.Fatalf("clear report: %s", r.Outcome.Message)
	}
	both := sealedSLA(t, f, "c2", "c2", sm("availability_bp", 9000))
	both.Measurements = []ledger.SLAMeasurement{sm("availability_bp", 9000)}
	if r := f.reject(ledger.CodeInvalid, "alpha", "sla.report", both); !strings.HasPrefix(r.Outcome.Message, "body.measurements: a report of confidential grant g-c carries its measurements only in its sealed part") {
		t.Fatalf("both: %s", r.Outcome.Message)
	}
	f.reject(ledger.CodeForbidden, "gamma", "sla.report", sealedSLA(t, f, "c3", "c3", sm("availability_bp", 9000)))

	wrongTo := sealedSLA(t, f, "c4", "c4")
	gk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey("gamma"))
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := seal.Seal([]byte(`{"measurements":[]}`), []seal.Recipient{{Member: "alpha", Key: gk}, {Member: "gamma", Key: gk}},
		seal.Binding{Consortium: f.g.ID(), Kind: ledger.SealedSLAKind, ID: "g-c/c4"})
	if err != nil {
		t.Fatal(err)
	}
	wrongTo.Confidential = &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}
	if r := f.reject(ledger.CodeInvalid, "alpha", "sla.report", wrongTo); !strings.Contains(r.Outcome.Message, "body.confidential.sealed.wraps") {
		t.Fatalf("wrong recipients: %s", r.Outcome.Message)
	}
	badPeriod := sealedSLA(t, f, "c5", "c5")
	badPeriod.Period = "January"
	f.reject(ledger.CodeInvalid, "alpha", "sla.report", badPeriod)
	future := sealedSLA(t, f, "c6", "c6")
	future.Period = "2027-01"
	f.reject(ledger.CodeInvalid, "alpha", "sla.report", future)
	badID := sealedSLA(t, f, "c7", "c7")
	badID.ReportID = "no spaces"
	f.reject(ledger.CodeInvalid, "alpha", "sla.report", badID)

	// A sealed SLA report of a grant in the clear is refused.
	f.accept("alpha", "grant.offer", offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"use"}, func(tm *ledger.Terms) {
		research(tm)
		tm.Usage = slaUsageTerms()
	}))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-1"})
	onClear := sealedSLA(t, f, "c8", "c8", sm("availability_bp", 9000))
	onClear.Grant = "g-1"
	if r := f.reject(ledger.CodeInvalid, "alpha", "sla.report", onClear); !strings.Contains(r.Outcome.Message, "is not confidential; report its measurements in the clear") {
		t.Fatalf("sealed report of a clear grant: %s", r.Outcome.Message)
	}
	var reports []*ledger.SLAReport
	f.view(func(v *ledger.View) { reports = v.SealedSLAReports("g-c", 0) })
	if len(reports) != 0 {
		t.Fatalf("rejected reports were stored: %+v", reports)
	}
}

func TestConfidentialSLA_PartiesAdmitInLogOrderWithBreaches(t *testing.T) {
	f, ct := activeConfidentialWith(t, slaTerms())
	f.accept("beta", "usage.report", sealedReport(t, f, "r1", "r1", mq("gpu_hours", 40)))
	s1 := f.accept("alpha", "sla.report", sealedSLA(t, f, "s1", "s1", sm("availability_bp", 9950), sm("p99_latency_ms", 450))) // breaches both
	f.accept("beta", "usage.report", sealedReport(t, f, "r2", "r2", mq("gpu_hours", 30)))
	f.accept("beta", "sla.report", sealedSLA(t, f, "s2", "s2", sm("availability_bp", 9999)))   // beta is not the SLA reporter
	f.accept("alpha", "sla.report", sealedSLA(t, f, "s3", "s1", sm("availability_bp", 9999)))  // sealed under s1's binding
	f.accept("alpha", "sla.report", sealedSLA(t, f, "s4", "s4", sm("b", 1), sm("a", 1)))       // not sorted
	f.accept("alpha", "sla.report", sealedSLA(t, f, "s5", "s5", sm("availability_bp", 10000))) // the latest availability
	last := f.accept("alpha", "sla.report", sealedSLA(t, f, "s6", "s6", sm("accuracy_bp", 9600)))

	_, pu := slaPartyAccount(t, f, ct)
	var got []string
	for _, r := range pu.SLAReports {
		got = append(got, r.Report+"="+r.Status)
	}
	if strings.Join(got, " ") != "s1=accepted s2=refused s3=refused s4=refused s5=accepted s6=accepted" {
		t.Fatalf("SLA reports %v", got)
	}
	if pu.SLAReports[0].Index != s1.Index || len(pu.SLAReports[0].Measurements) != 2 {
		t.Fatalf("s1 as admitted: %+v", pu.SLAReports[0])
	}
	if r := pu.SLAReports[1]; r.Reason != `the usage terms of grant g-c name "alpha" to report service levels, not beta` {
		t.Fatalf("s2 refused for %q", r.Reason)
	}
	if r := pu.SLAReports[2]; r.Reason != seal.RefusalClass(seal.ErrCorrupt) || len(r.Measurements) != 0 {
		t.Fatalf("s3: %+v", r)
	}
	if len(pu.Reports) != 2 || pu.Reports[0].Status != ledger.PrivateAccepted || pu.Reports[1].Status != ledger.PrivateAccepted {
		t.Fatalf("usage reports: %+v", pu.Reports)
	}
	if pu.Through != last.Index {
		t.Fatalf("through %d, want %d", pu.Through, last.Index)
	}
	var ins []string
	for _, in := range pu.Infractions {
		ins = append(ins, in.ID+" "+strings.Join(in.Members, ",")+" "+in.Detail)
		if in.Index != s1.Index {
			t.Errorf("infraction %s at index %d, want %d", in.ID, in.Index, s1.Index)
		}
	}
	want := []string{
		"g-c/sla_breach/2026-01:availability_bp alpha availability_bp measured 9950, below the credit level of 9990",
		"g-c/sla_breach/2026-01:p99_latency_ms alpha p99_latency_ms measured 450, above the target of 200",
	}
	if !slices.Equal(ins, want) {
		t.Fatalf("private infractions:\n%s", strings.Join(ins, "\n"))
	}

	// Admitting again, as a node rebuilt from the log does, gives the same
	// account, byte for byte; so does admitting in two steps, as a node
	// does that follows the log.
	_, again := slaPartyAccount(t, f, ct)
	if again.Digest() != pu.Digest() {
		t.Fatal("the account differs when rebuilt")
	}
	k, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed("beta"))
	if err != nil {
		t.Fatal(err)
	}
	var g *ledger.Grant
	var us []*ledger.UsageReport
	f.view(func(v *ledger.View) { g, _ = v.Grant("g-c"); us, _ = v.UsageReports("g-c", "", 100) })
	var first, rest []*ledger.SLAReport
	f.view(func(v *ledger.View) {
		first, rest = v.SealedSLAReports("g-c", 0)[:2], v.SealedSLAReports("g-c", s1.Index+2)
	})
	stepped := &ledger.PrivateUsage{Grant: "g-c"}
	seal.AdmitUsage(stepped, g.Opened(ct), us, first, f.g.ID(), "beta", []*seal.PrivateKey{k}, nil)
	seal.AdmitUsage(stepped, g.Opened(ct), nil, rest, f.g.ID(), "beta", []*seal.PrivateKey{k}, nil)
	if stepped.Digest() != pu.Digest() {
		t.Fatalf("the account differs when admitted in steps:\n%+v\n%+v", stepped, pu)
	}
	if !slices.Equal(pu.Periods(), []string{"2026-01"}) {
		t.Fatalf("periods %v", pu.Periods())
	}
}

// TestConfidentialSLA_PrivateStatementEqualsTheClearOne: the parties'
// statement of a confidential grant applies its SLA credit and multiplier
// from the sealed SLA reports exactly as the statement of a grant in the
// clear with the same terms and reports does.
func TestConfidentialSLA_PrivateStatementEqualsTheClearOne(t *testing.T) {
	f, ct := activeConfidentialWith(t, slaTerms())
	f.accept("beta", "usage.report", sealedReport(t, f, "r1", "r1", mq("gpu_hours", 1500)))
	f.accept("alpha", "sla.report", sealedSLA(t, f, "s1", "s1", sm("accuracy_bp", 9700), sm("availability_bp", 9950)))
	f.accept("alpha", "sla.report", sealedSLA(t, f, "s2", "s2", sm("availability_bp", 9900)))
	g, pu := slaPartyAccount(t, f, ct)
	var st *ledger.Statement
	f.view(func(v *ledger.View) {
		var err error
		if st, err = v.PrivateStatement(g, pu, "2026-01"); err != nil {
			t.Fatal(err)
		}
	})

	clear := metered(t, slaUsageTerms(), func(tm *ledger.Terms) {
		research(tm)
		tm.Clauses.SLA = []ledger.SLATarget{{Metric: "p99_latency_ms", Target: 200}}
	})
	clear.accept("beta", "usage.report", usageReport("r1", mq("gpu_hours", 1500)))
	clear.accept("alpha", "sla.report", ledger.SLAReportBody{Grant: "g-1", ReportID: "s1", Period: "2026-01", Measurements: []ledger.SLAMeasurement{sm("accuracy_bp", 9700), sm("availability_bp", 9950)}})
	clear.accept("alpha", "sla.report", ledger.SLAReportBody{Grant: "g-1", ReportID: "s2", Period: "2026-01", Measurements: []ledger.SLAMeasurement{sm("availability_bp", 9900)}})
	want := clear.statement("g-1", "2026-01")

	kinds := func(s *ledger.Statement) (out []string) {
		for _, a := range s.Adjustments {
			out = append(out, a.Kind)
		}
		return out
	}
	if st.SLAReports != 2 || len(st.Measurements) != 2 || st.Measurements[1].Value != 9900 || st.Measurements[1].Report != "s2" ||
		!slices.Equal(kinds(st), []string{ledger.AdjustMultiplier, ledger.AdjustSLACredit}) {
		t.Fatalf("private statement: %+v", st)
	}
	st.Grant = "g-1"
	if got, w := st.Encode(), want.Encode(); !bytes.Equal(got, w) {
		t.Fatalf("private statement\n%s\nthe clear one\n%s", got, w)
	}
}
