package ledger_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
)

// BenchmarkConfidentialOffer measures what sealing costs a grant offer:
// Apply of the same offer, plain (usage terms and clauses public) and
// confidential (sealed to both parties, which Apply checks without
// opening), one entry per call, each over its own asset; and seal, what charta grant offer
// --confidential adds on the client (seal.Seal to two recipients).
func BenchmarkConfidentialOffer(b *testing.B) {
	b.Run("apply/plain", func(b *testing.B) { benchOffer(b, false) })
	b.Run("apply/confidential", func(b *testing.B) { benchOffer(b, true) })
	b.Run("seal", func(b *testing.B) {
		f := confidentialFixture(b)
		pt, _ := json.Marshal(markerTerms())
		rs := benchRecipients(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, _, err := seal.Seal(pt, rs, seal.Binding{Consortium: f.g.ID(), Kind: ledger.ConfidentialKind, ID: "g-" + strconv.Itoa(i)}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchRecipients(b *testing.B) []seal.Recipient {
	var rs []seal.Recipient
	for _, m := range []string{"alpha", "beta"} {
		pk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey(m))
		if err != nil {
			b.Fatal(err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	return rs
}

func benchOffer(b *testing.B, confidential bool) {
	f := confidentialFixture(b)
	envs := make([][]byte, 0, 1024)
	mk := func(i int) []byte {
		id, asset := "g-"+strconv.Itoa(i), "model-"+strconv.Itoa(i)
		f.register("alpha", asset) // an asset per offer: no offer scans the others
		o := offer(id, "alpha", "beta", asset, []ledger.Right{"use"}, research)
		if confidential {
			o.Confidential = sealTo(b, f, id, markerTerms(), []string{"alpha", "beta"}, nil)
		} else {
			ct := markerTerms()
			o.Terms.Usage, o.Terms.Clauses = ct.Usage, ct.Clauses
		}
		return f.envelope("alpha", "grant.offer", "o-"+id, o)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if len(envs) <= i {
			envs = append(envs, mk(i))
		}
		b.StartTimer()
		if r := f.raw(envs[i]); r.Outcome.Status != ledger.StatusAccepted {
			b.Fatalf("offer %d: %s", i, r.Outcome.Message)
		}
	}
}

// BenchmarkConfidentialUsageReport measures what sealing costs a usage
// report: Apply of the same report of the same usage terms, plain (on a
// grant in the clear, metrics public, caps applied in Apply) and sealed (on
// a confidential grant: Apply checks the public part and the sealed
// object's shape and recipients without opening it); and admit, what a
// party's node adds per sealed report (seal.OpenWith with its key, then
// PrivateUsage.Admit). One report per call, each with its own ID.
func BenchmarkConfidentialUsageReport(b *testing.B) {
	b.Run("apply/plain", func(b *testing.B) { benchUsage(b, false) })
	b.Run("apply/sealed", func(b *testing.B) { benchUsage(b, true) })
	b.Run("admit", func(b *testing.B) {
		f, ct := activeConfidential(b)
		r := sealedReport(b, f, "r-0", "r-0", mq("gpu_hours", 1))
		f.accept("beta", "usage.report", r)
		var g *ledger.Grant
		var stored []*ledger.UsageReport
		f.view(func(v *ledger.View) {
			g, _ = v.Grant("g-c")
			stored, _ = v.UsageReports("g-c", "", 1)
		})
		opened := g.Opened(ct)
		k, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed("beta"))
		if err != nil {
			b.Fatal(err)
		}
		bind := seal.Binding{Consortium: f.g.ID(), Kind: ledger.SealedUsageKind, ID: ledger.SealedUsageID("g-c", "r-0")}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			pt, _, err := seal.OpenWith(seal.FromLedger(stored[0].Confidential.Sealed), "beta", bind, k)
			if err != nil {
				b.Fatal(err)
			}
			su, err := ledger.ParseSealedUsage(pt)
			if err != nil {
				b.Fatal(err)
			}
			pu := ledger.PrivateUsage{Grant: "g-c"}
			pu.Admit(opened, stored[0], su, "")
			if pu.Reports[0].Status != ledger.PrivateAccepted {
				b.Fatal(pu.Reports[0].Reason)
			}
		}
	})
}

func benchUsage(b *testing.B, sealed bool) {
	var f *fixture
	grant := "g-1"
	if sealed {
		f, _ = activeConfidential(b)
		grant = "g-c"
	} else {
		f = metered(b, gpuTerms("graduated"), research)
	}
	envs := make([][]byte, 0, 1024)
	mk := func(i int) []byte {
		id := "r-" + strconv.Itoa(i)
		r := usageReport(id, mq("gpu_hours", 1))
		if sealed {
			r = sealedReport(b, f, id, id, mq("gpu_hours", 1))
		}
		r.Grant = grant
		return f.envelope("beta", "usage.report", "u-"+id, r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if len(envs) <= i {
			envs = append(envs, mk(i))
		}
		b.StartTimer()
		if r := f.raw(envs[i]); r.Outcome.Status != ledger.StatusAccepted {
			b.Fatalf("report %d: %s", i, r.Outcome.Message)
		}
	}
}
