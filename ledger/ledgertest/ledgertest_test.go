package ledgertest_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

var issued = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestKey_Deterministic(t *testing.T) {
	for _, s := range []ledger.Scheme{ledger.SchemeEd25519, ledger.SchemeMLDSA44, ledger.SchemeMLDSA65, ledger.SchemeComposite} {
		a, b := ledgertest.Key("acme", s), ledgertest.Key("acme", s)
		if a.Scheme() != s || !bytes.Equal(a.Public().Key, b.Public().Key) {
			t.Errorf("%s: keys differ between calls", s)
		}
		if bytes.Equal(a.Public().Key, ledgertest.Key("globex", s).Public().Key) {
			t.Errorf("%s: two members share a key", s)
		}
		if got, want := ledgertest.Signer("acme", s).KeyID, ledger.KeyID("acme", a.Public()); got != want {
			t.Errorf("%s: signer key ID = %s, want %s", s, got, want)
		}
	}
	if !ledger.ValidConsortiumID(ledgertest.Consortium) {
		t.Error("Consortium is not a valid consortium ID")
	}
}

func TestPropose(t *testing.T) {
	body := map[string]any{"asset": "llm-7b", "rights": []string{"train"}}
	e := ledgertest.Propose(ledgertest.Consortium, "acme", "grant.offer", "offer-1", issued, body)
	again := ledgertest.Propose(ledgertest.Consortium, "acme", "grant.offer", "offer-1", issued, body)
	if !bytes.Equal(e.Encode(), again.Encode()) {
		t.Error("Propose is not deterministic")
	}
	dec, err := ledger.DecodeEnvelope(e.Encode())
	if err != nil {
		t.Fatal(err)
	}
	def := ledgertest.Signer("acme", ledger.DefaultScheme)
	ids, err := dec.Verify(ledgertest.Lookup(def))
	if err != nil || len(ids) != 1 || ids[0] != def.KeyID {
		t.Fatalf("Verify = %v, %v; want [%s]", ids, err, def.KeyID)
	}
	p, err := ledger.DecodePayload(dec.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if p.Signer != "acme" || p.Type != "grant.offer" || p.ID != "offer-1" || !p.IssuedAt.Equal(issued) || p.Consortium != ledgertest.Consortium {
		t.Errorf("payload = %+v", p)
	}
	var got struct {
		Asset  string   `json:"asset"`
		Rights []string `json:"rights"`
	}
	if err := p.DecodeBody(&got); err != nil || got.Asset != "llm-7b" || len(got.Rights) != 1 {
		t.Errorf("body = %+v, %v", got, err)
	}
}

func TestPropose_ExplicitSigners(t *testing.T) {
	a := ledgertest.Signer("acme", ledger.SchemeEd25519)
	g := ledgertest.Signer("globex", ledger.SchemeMLDSA65)
	e := ledgertest.Propose(ledgertest.Consortium, "acme", "bundle.offer", "b-1", issued, json.RawMessage(`{"grants":[]}`), a, g)
	ids, err := e.Verify(ledgertest.Lookup(a, g))
	if err != nil || len(ids) != 2 || ids[0] != a.KeyID || ids[1] != g.KeyID {
		t.Fatalf("Verify = %v, %v", ids, err)
	}
	if _, err := e.Verify(ledgertest.Lookup(a)); ledger.CodeOf(err) != ledger.CodeUnauthorized {
		t.Errorf("Verify without globex's key = %v, want unauthorized", err)
	}
}

func TestPropose_PanicsOnMalformedProposal(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for an invalid member ID")
		}
	}()
	ledgertest.Propose(ledgertest.Consortium, "ACME", "grant.offer", "x", issued, struct{}{})
}
