package ledger_test

import (
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
)

// cappedTerms are markerTerms with a soft cap of 50 and a hard cap of
// 100 GPU hours a month.
func cappedTerms() ledger.ConfidentialTerms {
	ct := markerTerms()
	ct.Usage.Metrics[0].SoftCap = 50
	ct.Usage.Metrics[0].HardCap = 100
	return ct
}

// activeConfidential is confidentialFixture with g-c (cappedTerms) offered
// by alpha and accepted by beta; the clock is then at t0+1h.
func activeConfidential(t testing.TB) (*fixture, *ledger.ConfidentialTerms) {
	t.Helper()
	return activeConfidentialWith(t, cappedTerms())
}

// activeConfidentialWith is activeConfidential with terms ct.
func activeConfidentialWith(t testing.TB, ct ledger.ConfidentialTerms) (*fixture, *ledger.ConfidentialTerms) {
	t.Helper()
	f := confidentialFixture(t)
	o := offer("g-c", "alpha", "beta", "model-x", []ledger.Right{"use"}, research)
	o.Confidential = sealTo(t, f, "g-c", ct, []string{"alpha", "beta"}, nil)
	f.accept("alpha", "grant.offer", o)
	c := o.Confidential.Commitment
	f.accept("beta", "grant.accept", ledger.GrantAccept{Grant: "g-c", Commitment: &c})
	f.now = t0.Add(time.Hour)
	return f, &ct
}

// sealedReport is a report of January 2026 for grant g-c whose metrics
// are sealed to alpha and beta under the binding of report bindAs.
func sealedReport(t testing.TB, f *fixture, id, bindAs string, ms ...ledger.MetricQuantity) ledger.UsageReportBody {
	t.Helper()
	var rs []seal.Recipient
	for _, m := range []string{"alpha", "beta"} {
		pk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey(m))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	su := ledger.SealedUsage{Metrics: ms}
	s, _, err := seal.Seal(su.Canonical(), rs, seal.Binding{Consortium: f.g.ID(), Kind: ledger.SealedUsageKind, ID: ledger.SealedUsageID("g-c", bindAs)})
	if err != nil {
		t.Fatal(err)
	}
	return ledger.UsageReportBody{Grant: "g-c", ReportID: id, Period: "2026-01",
		Window:       ledger.Window{Start: t0.Add(2 * time.Minute), End: t0.Add(50 * time.Minute)},
		Confidential: &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}}
}

// partyAccount is what beta's node derives: every sealed report of g-c
// opened with beta's key and admitted in log order.
func partyAccount(t testing.TB, f *fixture, ct *ledger.ConfidentialTerms) (*ledger.Grant, *ledger.PrivateUsage) {
	t.Helper()
	k, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed("beta"))
	if err != nil {
		t.Fatal(err)
	}
	var g *ledger.Grant
	var reports []*ledger.UsageReport
	f.view(func(v *ledger.View) {
		g, _ = v.Grant("g-c")
		reports, _ = v.UsageReports("g-c", "", 100)
	})
	slices.SortFunc(reports, func(x, y *ledger.UsageReport) int { return int(x.Index) - int(y.Index) })
	opened := g.Opened(ct)
	pu := &ledger.PrivateUsage{Grant: "g-c"}
	for _, r := range reports {
		pt, _, err := seal.Open(seal.FromLedger(r.Confidential.Sealed), "beta", k,
			seal.Binding{Consortium: f.g.ID(), Kind: ledger.SealedUsageKind, ID: ledger.SealedUsageID("g-c", r.ReportID)})
		if err != nil {
			pu.Admit(opened, r, nil, err.Error())
			continue
		}
		su, err := ledger.ParseSealedUsage(pt)
		if err != nil {
			t.Fatal(err)
		}
		pu.Admit(opened, r, su, "")
	}
	return opened, pu
}

func TestConfidentialUsage_PublicPartCarriesNoQuantities(t *testing.T) {
	f, _ := activeConfidential(t)
	r := sealedReport(t, f, "r1", "r1", mq("gpu_hours", 40))
	f.accept("beta", "usage.report", r)

	var reports []*ledger.UsageReport
	var sum *ledger.UsageTotals
	f.view(func(v *ledger.View) {
		reports, _ = v.UsageReports("g-c", "", 10)
		sum, _ = v.UsageTotal("g-c", "2026-01")
	})
	if len(reports) != 1 || len(reports[0].Metrics) != 0 || reports[0].Confidential == nil {
		t.Fatalf("public reports: %+v", reports)
	}
	if sum == nil || sum.Reports != 1 || len(sum.Metrics) != 0 {
		t.Fatalf("public totals: %+v", sum)
	}
	b, _ := json.Marshal(reports[0])
	if strings.Contains(string(b), "gpu_hours") {
		t.Fatalf("the public report names the sealed metric: %s", b)
	}
}

func TestConfidentialUsage_Rejections(t *testing.T) {
	f, _ := activeConfidential(t)
	clear := sealedReport(t, f, "c1", "c1")
	clear.Confidential, clear.Metrics = nil, []ledger.MetricQuantity{mq("gpu_hours", 1)}
	// Refused as before sealed reports existed: its public terms have no
	// usage terms.
	if r := f.reject(ledger.CodeRejected, "beta", "usage.report", clear); !strings.Contains(r.Outcome.Message, "has no usage terms") {
		t.Fatalf("clear report: %s", r.Outcome.Message)
	}
	both := sealedReport(t, f, "c2", "c2", mq("gpu_hours", 1))
	both.Metrics = []ledger.MetricQuantity{mq("gpu_hours", 1)}
	f.reject(ledger.CodeInvalid, "beta", "usage.report", both)
	f.reject(ledger.CodeForbidden, "gamma", "usage.report", sealedReport(t, f, "c3", "c3", mq("gpu_hours", 1)))

	wrongTo := sealedReport(t, f, "c4", "c4", mq("gpu_hours", 1))
	gk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey("gamma"))
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := seal.Seal([]byte(`{"metrics":[]}`), []seal.Recipient{{Member: "beta", Key: gk}, {Member: "gamma", Key: gk}},
		seal.Binding{Consortium: f.g.ID(), Kind: ledger.SealedUsageKind, ID: "g-c/c4"})
	if err != nil {
		t.Fatal(err)
	}
	wrongTo.Confidential = &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}
	f.reject(ledger.CodeInvalid, "beta", "usage.report", wrongTo)

	badPeriod := sealedReport(t, f, "c5", "c5", mq("gpu_hours", 1))
	badPeriod.Period = "January"
	f.reject(ledger.CodeInvalid, "beta", "usage.report", badPeriod)

	// A sealed report of a grant in the clear is refused.
	f.accept("alpha", "grant.offer", offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"use"}, func(tm *ledger.Terms) {
		research(tm)
		tm.Usage = gpuTerms("graduated")
	}))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-1"})
	onClear := sealedReport(t, f, "c6", "c6", mq("gpu_hours", 1))
	onClear.Grant = "g-1"
	f.reject(ledger.CodeInvalid, "beta", "usage.report", onClear)
}

func TestConfidentialUsage_PartiesAdmitCapsAndPriceInLogOrder(t *testing.T) {
	f, ct := activeConfidential(t)
	f.accept("beta", "usage.report", sealedReport(t, f, "r1", "r1", mq("gpu_hours", 40)))
	f.accept("beta", "usage.report", sealedReport(t, f, "r2", "r2", mq("gpu_hours", 30))) // crosses the soft cap of 50
	f.accept("beta", "usage.report", sealedReport(t, f, "r3", "r3", mq("gpu_hours", 50))) // would pass the hard cap of 100
	f.accept("beta", "usage.report", sealedReport(t, f, "r4", "r1", mq("gpu_hours", 5)))  // sealed under r1's binding
	f.accept("alpha", "usage.report", sealedReport(t, f, "r5", "r5", mq("gpu_hours", 1))) // alpha is not a meter
	f.accept("beta", "usage.report", sealedReport(t, f, "r6", "r6", mq("cpu_hours", 1)))  // not a metric of the terms

	g, pu := partyAccount(t, f, ct)
	status := map[string]string{}
	for _, r := range pu.Reports {
		status[r.Report] = r.Status
	}
	want := map[string]string{"r1": "accepted", "r2": "accepted", "r3": "refused", "r4": "refused", "r5": "refused", "r6": "refused"}
	for id, st := range want {
		if status[id] != st {
			t.Errorf("report %s: %s, want %s (%+v)", id, status[id], st, pu.Reports)
		}
	}
	sum, ok := pu.Total("2026-01")
	if !ok || sum.Reports != 2 || len(sum.Metrics) != 1 || sum.Metrics[0].Quantity != 70 {
		t.Fatalf("private totals: %+v", sum)
	}
	var kinds []string
	for _, in := range pu.Infractions {
		kinds = append(kinds, in.Kind+":"+in.Report)
	}
	if !slices.Equal(kinds, []string{ledger.InfractionSoftCap + ":r2", ledger.InfractionHardCap + ":r3"}) {
		t.Fatalf("private infractions: %v", kinds)
	}

	// Admitting again, as a node rebuilt from the log does, gives the same
	// account, byte for byte.
	_, again := partyAccount(t, f, ct)
	if again.Digest() != pu.Digest() {
		t.Fatal("the account differs when rebuilt")
	}

	// The statement is the one the same terms give to the same reports in
	// the clear.
	var st *ledger.Statement
	f.view(func(v *ledger.View) {
		var err error
		if st, err = v.PrivateStatement(g, pu, "2026-01"); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Statement("g-c", "2026-01"); ledger.CodeOf(err) != ledger.CodeForbidden {
			t.Fatalf("public statement of a confidential grant: %v", err)
		}
	})
	clear := metered(t, cappedTerms().Usage, research)
	clear.accept("beta", "usage.report", usageReport("r1", mq("gpu_hours", 40)))
	clear.accept("beta", "usage.report", usageReport("r2", mq("gpu_hours", 30)))
	want2 := clear.statement("g-1", "2026-01")
	if st.TotalMicros != want2.TotalMicros || st.TotalMicros != 70_000_000 || st.Reports != 2 || st.Metrics[0].Quantity != 70 {
		t.Fatalf("private statement %+v, the clear one %+v", st, want2)
	}
}

// partyOpener is what beta's node opens: g-c's terms and its account.
type partyOpener struct {
	ct *ledger.ConfidentialTerms
	pu *ledger.PrivateUsage
}

func (o partyOpener) OpenedTerms(g *ledger.Grant) (*ledger.ConfidentialTerms, bool) {
	return o.ct, g.ID == "g-c"
}

func (o partyOpener) SealedTotal(grant, period string) (*ledger.UsageTotals, bool) {
	if grant != "g-c" {
		return nil, false
	}
	return o.pu.Total(period)
}

func TestConfidentialCheck_SealedFromNonPartiesCappedForParties(t *testing.T) {
	f, ct := activeConfidential(t)
	f.accept("beta", "usage.report", sealedReport(t, f, "r1", "r1", mq("gpu_hours", 70)))
	req := ledger.CheckRequest{Member: "beta", Asset: "model-x", Action: "use", At: f.now, Territory: "DE", Purpose: "research"}

	// A node without the opened terms does not guess.
	var d ledger.Decision
	f.view(func(v *ledger.View) {
		var err error
		if d, err = ledger.Check(v, req); err != nil {
			t.Fatal(err)
		}
	})
	if d.Allowed || d.Basis != "confidential" || !slices.Equal(d.Sealed, []string{"g-c"}) ||
		d.Reason != "confidential: grant g-c allows it by its public terms, but its usage terms are sealed to its parties alpha, beta: ask a party's node" {
		t.Fatalf("non-party decision: %+v", d)
	}

	// A party's node applies the sealed hard cap.
	_, pu := partyAccount(t, f, ct)
	f.view(func(v *ledger.View) {
		var err error
		if d, err = ledger.Check(ledger.WithOpened(v, partyOpener{ct, pu}), req); err != nil {
			t.Fatal(err)
		}
	})
	if !d.Allowed || d.Basis != "grant" || len(d.Sealed) != 0 || len(d.Caps) != 1 || d.Caps[0].Remaining != 30 {
		t.Fatalf("party decision: %+v", d)
	}
	f.accept("beta", "usage.report", sealedReport(t, f, "r2", "r2", mq("gpu_hours", 30)))
	_, pu = partyAccount(t, f, ct)
	f.view(func(v *ledger.View) { d, _ = ledger.Check(ledger.WithOpened(v, partyOpener{ct, pu}), req) })
	if d.Allowed || !strings.Contains(d.Reason, "hard cap of 100 hour of gpu_hours") {
		t.Fatalf("party decision at the cap: %+v", d)
	}
}

func TestStatementAttest_AgreedWhenEveryPartyAttestsTheSameHash(t *testing.T) {
	f, _ := activeConfidential(t)
	h1, h2 := ledger.Hash(sha256.Sum256([]byte("one"))), ledger.Hash(sha256.Sum256([]byte("two")))
	body := func(h ledger.Hash) ledger.StatementAttestBody {
		return ledger.StatementAttestBody{Grant: "g-c", Period: "2026-01", Tag: h}
	}
	r := f.accept("beta", "statement.attest", body(h1))
	if !hasEvent(r, "statement.attested", "g-c") || hasEvent(r, "statement.agreed", "g-c") {
		t.Fatalf("first attestation events: %+v", r.Outcome.Events)
	}
	f.accept("alpha", "statement.attest", body(h2))
	r = f.accept("alpha", "statement.attest", body(h1))
	if !hasEvent(r, "statement.agreed", "g-c") {
		t.Fatalf("agreement events: %+v", r.Outcome.Events)
	}
	var as []ledger.StatementAttestation
	f.view(func(v *ledger.View) { as = v.StatementAttestations("g-c") })
	if len(as) != 1 || as[0].Agreed == nil || *as[0].Agreed != h1 || as[0].AgreedIndex != r.Index || len(as[0].By) != 2 {
		t.Fatalf("attestations: %+v", as)
	}
	f.accept("beta", "statement.attest", body(h1)) // the same tag again changes nothing
	// The parties move on to another statement (the final one): the
	// earlier agreement stands until they all attest the new tag.
	r = f.accept("beta", "statement.attest", body(h2))
	if hasEvent(r, "statement.agreed", "g-c") {
		t.Fatalf("agreed with only beta on the new tag: %+v", r.Outcome.Events)
	}
	f.view(func(v *ledger.View) { as = v.StatementAttestations("g-c") })
	if *as[0].Agreed != h1 {
		t.Fatalf("the earlier agreement was lost: %+v", as)
	}
	r = f.accept("alpha", "statement.attest", body(h2))
	f.view(func(v *ledger.View) { as = v.StatementAttestations("g-c") })
	if !hasEvent(r, "statement.agreed", "g-c") || *as[0].Agreed != h2 || as[0].AgreedIndex != r.Index {
		t.Fatalf("the new agreement: %+v", as)
	}
	f.reject(ledger.CodeForbidden, "gamma", "statement.attest", body(h1))
	f.reject(ledger.CodeInvalid, "beta", "statement.attest", ledger.StatementAttestBody{Grant: "g-c", Period: "2026-01"})
	f.reject(ledger.CodeInvalid, "beta", "statement.attest", ledger.StatementAttestBody{Grant: "g-c", Period: "2027-01", Tag: h1})
}
