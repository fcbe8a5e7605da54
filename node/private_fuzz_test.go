package node

import (
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
)

// fuzzConsortium is the binding's consortium of the fuzz target's seeds.
const fuzzConsortium = "fuzz-consortium"

// fuzzGrant is the public part the fuzzed sealed objects are opened
// against: a grant from alpha to beta.
func fuzzGrant(s *ledger.Sealed) *ledger.Grant {
	g := &ledger.Grant{ID: "g-f", Licensors: []string{"alpha"}, Licensees: []string{"beta"},
		Terms: ledger.Terms{Assets: []string{"m"}, Rights: []ledger.Right{"use"}}}
	g.Confidential = &ledger.Confidential{Sealed: s}
	if s != nil {
		g.Confidential.Commitment = s.Commitment
	}
	return g
}

// fuzzSeed seals plaintext to alpha and beta for grant g-f and returns the
// sealed object's JSON.
func fuzzSeed(f *testing.F, plaintext []byte, tamper bool) []byte {
	f.Helper()
	var rs []seal.Recipient
	for _, m := range []string{"alpha", "beta"} {
		pk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey(m))
		if err != nil {
			f.Fatal(err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	s, _, err := seal.Seal(plaintext, rs, seal.Binding{Consortium: fuzzConsortium, Kind: ledger.ConfidentialKind, ID: "g-f"})
	if err != nil {
		f.Fatal(err)
	}
	if tamper {
		s.Ciphertext[len(s.Ciphertext)-1] ^= 1
	}
	b, err := json.Marshal(s)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzOpenConfidential feeds hostile sealed objects to the node's opening
// path, as beta's node: it never panics, and it records terms only when
// they opened, matched the commitment and are valid, with the digest of
// their canonical bytes.
func FuzzOpenConfidential(f *testing.F) {
	ok, _ := json.Marshal(ledger.ConfidentialTerms{Clauses: ledger.Clauses{GoverningLaw: "DE"}})
	f.Add(fuzzSeed(f, ok, false))
	f.Add(fuzzSeed(f, ok, true))
	f.Add(fuzzSeed(f, []byte(`{"clauses":{"data":{"may_share":true,"may_sell":false}}}`), false))
	f.Add(fuzzSeed(f, []byte(`not json`), false))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	key, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed("beta"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var s *ledger.Sealed
		if err := ledger.DecodeStrict(doc, &s); err != nil {
			s = nil
		}
		g := fuzzGrant(s)
		rec := openConfidential(g, fuzzConsortium, "beta", []*seal.PrivateKey{key})
		switch rec.Status {
		case privateOpened:
			if rec.Terms == nil || rec.Digest == nil || *rec.Digest != ledger.Hash(sha256.Sum256(rec.Terms.Canonical())) {
				t.Fatalf("opened record without matching terms and digest: %+v", rec)
			}
		case privateRefused:
			if rec.Terms != nil || rec.Reason == "" {
				t.Fatalf("refused record: %+v", rec)
			}
		default:
			t.Fatalf("status %q", rec.Status)
		}
		if rec.Grant != "g-f" {
			t.Fatalf("record of %q", rec.Grant)
		}
	})
}

// fuzzReportSeed seals plaintext as report r-f of grant g-f, a report of
// kind (ledger.SealedUsageKind or ledger.SealedSLAKind), to alpha and
// beta, or to alpha and gamma (posing as beta) when wrongKey is set, and
// returns the sealed object's JSON, truncated to cut bytes of ciphertext
// when cut > 0.
func fuzzReportSeed(f *testing.F, kind string, plaintext []byte, wrongKey bool, cut int) []byte {
	f.Helper()
	var rs []seal.Recipient
	for _, m := range []string{"alpha", "beta"} {
		owner := m
		if wrongKey && m == "beta" {
			owner = "gamma"
		}
		pk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey(owner))
		if err != nil {
			f.Fatal(err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	s, _, err := seal.Seal(plaintext, rs, seal.Binding{Consortium: fuzzConsortium, Kind: kind, ID: ledger.SealedUsageID("g-f", "r-f")})
	if err != nil {
		f.Fatal(err)
	}
	if cut > 0 {
		s.Ciphertext = s.Ciphertext[:len(s.Ciphertext)-cut]
	}
	b, err := json.Marshal(s)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzAdmitSealedUsage feeds hostile sealed usage reports to the opening
// and admission path of beta's node (seal.OpenUsage, PrivateUsage.Admit): it never panics; a report is accepted only
// when its metrics opened, matched the commitment and fit the terms (a
// hard cap of 100), and the totals are then exactly the sum of the
// accepted quantities; everything else is refused with a reason.
func FuzzAdmitSealedUsage(f *testing.F) {
	ok := (&ledger.SealedUsage{Metrics: []ledger.MetricQuantity{{Metric: "tokens", Quantity: 7}}}).Canonical()
	f.Add(fuzzReportSeed(f, ledger.SealedUsageKind, ok, false, 0))
	f.Add(fuzzReportSeed(f, ledger.SealedUsageKind, ok, true, 0))
	f.Add(fuzzReportSeed(f, ledger.SealedUsageKind, ok, false, 3))
	f.Add(fuzzReportSeed(f, ledger.SealedUsageKind, []byte(`{"metrics":[{"metric":"tokens","quantity":101}]}`), false, 0))
	f.Add(fuzzReportSeed(f, ledger.SealedUsageKind, []byte(`{"metrics":[{"metric":"other","quantity":1}]}`), false, 0))
	f.Add(fuzzReportSeed(f, ledger.SealedUsageKind, []byte(`{"metrics":[{"metric":"tokens","quantity":-1}]}`), false, 0))
	f.Add(fuzzReportSeed(f, ledger.SealedUsageKind, []byte(`{"metrics":[],"extra":1}`), false, 0))
	f.Add([]byte(`{}`))
	key, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed("beta"))
	if err != nil {
		f.Fatal(err)
	}
	g := fuzzGrant(nil).Opened(&ledger.ConfidentialTerms{Usage: &ledger.UsageTerms{Period: ledger.PeriodMonth, GraceDays: 7,
		Metrics: []ledger.UsageMetric{{Name: "tokens", Unit: "token", HardCap: 100,
			Pricing: ledger.Pricing{Model: "graduated", Currency: "EUR", Tiers: []ledger.Tier{{UnitMicros: 1}}}}}}})
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, doc []byte) {
		var s *ledger.Sealed
		if err := ledger.DecodeStrict(doc, &s); err != nil || s == nil {
			return
		}
		r := &ledger.UsageReport{UsageReportBody: ledger.UsageReportBody{Grant: "g-f", ReportID: "r-f", Period: "2026-12",
			Confidential: &ledger.Confidential{Commitment: s.Commitment, Sealed: s}}, Signer: "beta", Index: 9, At: at}
		su, err := seal.OpenUsage(r, fuzzConsortium, "beta", key)
		why := ""
		if err != nil {
			why = err.Error()
		}
		if (su == nil) == (err == nil) {
			t.Fatalf("opened %v with error %v", su, err)
		}
		pu := &ledger.PrivateUsage{Grant: "g-f"}
		pu.Admit(g, r, su, why)
		if len(pu.Reports) != 1 || pu.Through != 9 {
			t.Fatalf("account: %+v", pu)
		}
		rep := pu.Reports[0]
		sum, has := pu.Total("2026-12")
		switch rep.Status {
		case ledger.PrivateAccepted:
			if su == nil || !has || sum.Reports != 1 {
				t.Fatalf("accepted without opened metrics or totals: %+v %+v", rep, sum)
			}
			for _, m := range su.Metrics {
				if m.Metric != "tokens" || m.Quantity < 0 || m.Quantity > 100 || sum.Metrics[0].Quantity != m.Quantity {
					t.Fatalf("accepted %+v into totals %+v", m, sum)
				}
			}
		case ledger.PrivateRefused:
			if rep.Reason == "" || has {
				t.Fatalf("refused report: %+v, totals %+v", rep, sum)
			}
		default:
			t.Fatalf("status %q", rep.Status)
		}
	})
}

// FuzzAdmitSealedSLA feeds hostile sealed SLA reports to the opening and
// admission path of beta's node (seal.OpenSLA, PrivateUsage.AdmitSLA): it
// never panics; a report is accepted only when its measurements opened,
// matched the commitment and are valid and signed by the SLA reporter,
// and an SLA-breach infraction is recorded exactly for each accepted
// measurement below the credit level; everything else is refused with a
// reason and records nothing.
func FuzzAdmitSealedSLA(f *testing.F) {
	ok := (&ledger.SealedSLA{Measurements: []ledger.SLAMeasurement{{Metric: "availability_bp", Value: 9900}}}).Canonical()
	f.Add(fuzzReportSeed(f, ledger.SealedSLAKind, ok, false, 0))
	f.Add(fuzzReportSeed(f, ledger.SealedSLAKind, ok, true, 0))
	f.Add(fuzzReportSeed(f, ledger.SealedSLAKind, ok, false, 3))
	f.Add(fuzzReportSeed(f, ledger.SealedUsageKind, ok, false, 0))
	f.Add(fuzzReportSeed(f, ledger.SealedSLAKind, []byte(`{"measurements":[{"metric":"b","value":1},{"metric":"a","value":1}]}`), false, 0))
	f.Add(fuzzReportSeed(f, ledger.SealedSLAKind, []byte(`{"measurements":[{"metric":"availability_bp","value":-1}]}`), false, 0))
	f.Add(fuzzReportSeed(f, ledger.SealedSLAKind, []byte(`{"measurements":[]}`), false, 0))
	f.Add(fuzzReportSeed(f, ledger.SealedSLAKind, []byte(`{"metrics":[]}`), false, 0))
	f.Add([]byte(`{}`))
	key, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed("beta"))
	if err != nil {
		f.Fatal(err)
	}
	const below = 9990
	g := fuzzGrant(nil).Opened(&ledger.ConfidentialTerms{Usage: &ledger.UsageTerms{Period: ledger.PeriodMonth, GraceDays: 7, SLAReporter: "alpha",
		SLACredits: []ledger.SLACredit{{Metric: "availability_bp", Below: below, DiscountBP: 1000}},
		Metrics: []ledger.UsageMetric{{Name: "tokens", Unit: "token",
			Pricing: ledger.Pricing{Model: "graduated", Currency: "EUR", Tiers: []ledger.Tier{{UnitMicros: 1}}}}}}})
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, doc []byte) {
		var s *ledger.Sealed
		if err := ledger.DecodeStrict(doc, &s); err != nil || s == nil {
			return
		}
		r := &ledger.SLAReport{SLAReportBody: ledger.SLAReportBody{Grant: "g-f", ReportID: "r-f", Period: "2026-12",
			Confidential: &ledger.Confidential{Commitment: s.Commitment, Sealed: s}}, Signer: "alpha", Index: 9, At: at}
		sm, err := seal.OpenSLA(r, fuzzConsortium, "beta", key)
		why := ""
		if err != nil {
			why = seal.RefusalClass(err)
		}
		if (sm == nil) == (err == nil) {
			t.Fatalf("opened %v with error %v", sm, err)
		}
		pu := &ledger.PrivateUsage{Grant: "g-f"}
		pu.AdmitSLA(g, r, sm, why)
		if len(pu.SLAReports) != 1 || pu.Through != 9 || len(pu.Reports) != 0 || len(pu.Totals) != 0 {
			t.Fatalf("account: %+v", pu)
		}
		rep := pu.SLAReports[0]
		switch rep.Status {
		case ledger.PrivateAccepted:
			if sm == nil || len(sm.Measurements) == 0 {
				t.Fatalf("accepted without opened measurements: %+v", rep)
			}
			breaches := 0
			for i, m := range sm.Measurements {
				if m.Value < 0 || m.Value > ledger.MaxQuantity || i > 0 && sm.Measurements[i-1].Metric >= m.Metric {
					t.Fatalf("accepted %+v", sm.Measurements)
				}
				if m.Metric == "availability_bp" && m.Value < below {
					breaches++
				}
			}
			if len(pu.Infractions) != breaches {
				t.Fatalf("%d infractions for %+v", len(pu.Infractions), sm.Measurements)
			}
		case ledger.PrivateRefused:
			if rep.Reason == "" || len(pu.Infractions) != 0 {
				t.Fatalf("refused report: %+v, infractions %+v", rep, pu.Infractions)
			}
		default:
			t.Fatalf("status %q", rep.Status)
		}
	})
}
