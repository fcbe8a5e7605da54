package client

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
)

// TestSealUsage_ToTheListedKeys seals a report's metrics to the keys the
// node lists: each party opens them under the report's binding, and the
// report keeps nothing else but its public fields. A member with no key,
// or a key that is not the one its fingerprint names, is refused.
func TestSealUsage_ToTheListedKeys(t *testing.T) {
	f := newFake(t)
	members := map[string]ledger.Member{}
	for _, m := range []string{"alpha", "beta"} {
		k := ledgertest.EncryptionKey(m)
		members[m] = ledger.Member{ID: m, EncryptionKeys: []ledger.EncryptionKeyRecord{{Fingerprint: k.Fingerprint(), Public: k}}}
	}
	members["gamma"] = ledger.Member{ID: "gamma"}
	misnamed := ledgertest.EncryptionKey("delta")
	members["delta"] = ledger.Member{ID: "delta", EncryptionKeys: []ledger.EncryptionKeyRecord{{Fingerprint: ledgertest.EncryptionKey("alpha").Fingerprint(), Public: misnamed}}}
	f.handle("GET /v1/members/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 7, members[r.PathValue("id")])
	})
	c := f.client()

	rs, err := c.SealRecipients(ctxT(t), []string{"alpha", "beta"})
	if err != nil {
		t.Fatal(err)
	}
	const consortium = "00000000000000000000000000000000000000000000000000000000000000aa"
	b := ledger.UsageReportBody{Grant: "g-c", ReportID: "r-1", Period: "2026-01",
		Metrics: []ledger.MetricQuantity{{Metric: "requests", Quantity: 41}, {Metric: "tokens", Quantity: 9000}}}
	if err := SealUsage(consortium, rs, &b); err != nil {
		t.Fatal(err)
	}
	if b.Metrics != nil || b.Confidential == nil || b.Confidential.Commitment != b.Confidential.Sealed.Commitment {
		t.Fatalf("sealed report: %+v", b)
	}
	if got := b.Confidential.Sealed.Recipients(); !slices.Equal(got, []string{"alpha", "beta"}) {
		t.Errorf("recipients %v", got)
	}
	bind := seal.Binding{Consortium: consortium, Kind: ledger.SealedUsageKind, ID: ledger.SealedUsageID("g-c", "r-1")}
	for _, m := range []string{"alpha", "beta"} {
		k, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed(m))
		if err != nil {
			t.Fatal(err)
		}
		pt, _, err := seal.Open(seal.FromLedger(b.Confidential.Sealed), m, k, bind)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		su, err := ledger.ParseSealedUsage(pt)
		if err != nil || len(su.Metrics) != 2 || su.Metrics[0].Quantity != 41 || su.Metrics[1].Quantity != 9000 {
			t.Errorf("%s opened %+v, %v", m, su, err)
		}
		other := bind
		other.ID = ledger.SealedUsageID("g-c", "r-2")
		if _, _, err := seal.Open(seal.FromLedger(b.Confidential.Sealed), m, k, other); err == nil {
			t.Errorf("%s opened the sealed metrics under another report's binding", m)
		}
	}

	var ke *SealKeyError
	if _, err := c.SealRecipients(ctxT(t), []string{"alpha", "gamma"}); !errors.As(err, &ke) || !ke.None || ke.Member != "gamma" {
		t.Errorf("a member without a key: %v", err)
	}
	if _, err := c.SealRecipients(ctxT(t), []string{"delta"}); !errors.As(err, &ke) || ke.None || ke.Member != "delta" {
		t.Errorf("a misnamed key: %v", err)
	}
}

// TestSealSLA_UnderTheReportBinding seals an SLA report's measurements:
// each recipient opens them under the SLA report's binding, not under a
// usage report's with the same ID, and the report keeps only its public
// fields.
func TestSealSLA_UnderTheReportBinding(t *testing.T) {
	var rs []seal.Recipient
	for _, m := range []string{"alpha", "beta"} {
		pk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey(m))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	const consortium = "00000000000000000000000000000000000000000000000000000000000000aa"
	b := ledger.SLAReportBody{Grant: "g-c", ReportID: "s-1", Period: "2026-01",
		Measurements: []ledger.SLAMeasurement{{Metric: "availability_bp", Value: 9950}}}
	if err := SealSLA(consortium, rs, &b); err != nil {
		t.Fatal(err)
	}
	if b.Measurements != nil || b.Confidential == nil || b.Grant != "g-c" || b.ReportID != "s-1" || b.Period != "2026-01" {
		t.Fatalf("sealed report: %+v", b)
	}
	k, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed("beta"))
	if err != nil {
		t.Fatal(err)
	}
	bind := seal.Binding{Consortium: consortium, Kind: ledger.SealedSLAKind, ID: ledger.SealedSLAID("g-c", "s-1")}
	pt, _, err := seal.Open(seal.FromLedger(b.Confidential.Sealed), "beta", k, bind)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := ledger.ParseSealedSLA(pt)
	if err != nil || len(sm.Measurements) != 1 || sm.Measurements[0].Value != 9950 {
		t.Fatalf("opened %+v, %v", sm, err)
	}
	bind.Kind = ledger.SealedUsageKind
	if _, _, err := seal.Open(seal.FromLedger(b.Confidential.Sealed), "beta", k, bind); err == nil {
		t.Fatal("the sealed measurements opened as a usage report's")
	}
}
