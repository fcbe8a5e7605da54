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
