package ledger_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// benchEnvelope and benchPayload mirror the envelope and payload as they
// appear on the wire, so that the benchmark decodes the same shapes as
// DecodeEnvelope and DecodePayload.
type benchEnvelope struct {
	PayloadType string `json:"payloadType"`
	Payload     string `json:"payload"`
	Signatures  []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

type benchPayload struct {
	V          *int            `json:"v"`
	Consortium string          `json:"consortium"`
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Signer     string          `json:"signer"`
	IssuedAt   string          `json:"issued_at"`
	Body       json.RawMessage `json:"body"`
}

// BenchmarkDecodeStrict measures DecodeStrict on the three documents a
// grant.offer goes through on the write path: the signed envelope (composite
// signature), its payload and its body.
func BenchmarkDecodeStrict(b *testing.B) {
	na := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	body := ledger.GrantOffer{
		ID: "grant-0001", Licensors: []string{"alpha"}, Licensees: []string{"beta", "gamma"},
		Terms: ledger.Terms{
			Assets: []string{"model-weights-7b", "eval-suite"},
			Rights: []ledger.Right{ledger.RightUse, ledger.RightReproduce, ledger.RightModify},
			Constraints: ledger.Constraints{
				NotAfter:  &na,
				Territory: ledger.Territory{Allow: []string{"FR", "DE", "NL"}},
				Purposes:  []string{"research", "evaluation"},
			},
		},
	}
	e := ledgertest.Propose(ledger.Hash{1}.String(), "alpha", "grant.offer", "offer-0001", t0, body,
		ledgertest.Signer("alpha", ledger.SchemeComposite))
	env := e.Encode()
	var w benchEnvelope
	if err := ledger.DecodeStrict(env, &w); err != nil {
		b.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(w.Payload)
	if err != nil {
		b.Fatal(err)
	}
	var p benchPayload
	if err := ledger.DecodeStrict(payload, &p); err != nil {
		b.Fatal(err)
	}
	docs := []struct {
		name string
		data []byte
		new  func() any
	}{
		{"envelope", env, func() any { return new(benchEnvelope) }},
		{"payload", payload, func() any { return new(benchPayload) }},
		{"body", p.Body, func() any { return new(ledger.GrantOffer) }},
	}
	for _, d := range docs {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(d.data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := ledger.DecodeStrict(d.data, d.new()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
