package ledger_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// FuzzDecodeRecord: the record framing never panics, and what decodes
// re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(ledger.EncodeRecord(t0, []byte(`{"payloadType":"x"}`)))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{2})
	f.Add(ledger.EncodeTimeRecord([]byte(`{"attestations":[]}`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ledger.DecodeRecord(b)
		if err != nil {
			return
		}
		got := ledger.EncodeRecord(r.Stamp, r.Envelope)
		if r.Time {
			got = ledger.EncodeTimeRecord(r.Envelope)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("round trip changed the record")
		}
	})
}

// FuzzApply feeds arbitrary envelope bytes, in well-framed records, to two
// fresh ledgers: Apply must not panic (only undecodable framing may), the
// entry must be journaled, and both ledgers must agree.
func FuzzApply(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.envelope("alpha", "asset.register", "a1", map[string]any{
		"id": "m1", "kind": "model", "digest": digestA, "owners": []map[string]any{{"member": "alpha", "share_bp": 10000}}}))
	f.Add(fx.envelope("alpha", "token.register", "t1", map[string]any{"hash": ledger.HashToken("x"), "scopes": []string{"read"}, "expires_at": t0.Add(time.Hour * 24)}))
	f.Add(fx.envelope("beta", "ballot.open", "b1", admitBody("delta")))
	f.Add(fx.envelope("beta", "asset.register", "a2", map[string]any{
		"id": "m2", "kind": "output", "digest": digestA, "owners": []map[string]any{{"member": "alpha", "share_bp": 5000}, {"member": "beta", "share_bp": 5000}},
		"parents": []map[string]any{{"asset": "m1", "grant": "g1"}}}, "alpha"))
	for i, p := range []map[string]any{
		{"action": "member.remove", "params": map[string]any{"member": "gamma", "licensor_grants": "end"}},
		{"action": "member.suspend", "params": map[string]any{"member": "gamma", "licensor_grants": "suspend"}},
		{"action": "member.suspend", "params": map[string]any{"member": "gamma", "licensor_grants": "end"}},
		{"action": "member.reinstate", "params": map[string]any{"member": "gamma"}},
	} {
		p["id"], p["deadline"] = "m"+string(rune('0'+i)), t0.Add(time.Hour)
		f.Add(fx.envelope("alpha", "ballot.open", "mb"+string(rune('0'+i)), p))
	}
	f.Add([]byte(`{"payloadType":"application/vnd.charta.proposal.v1+json","payload":"e30=","signatures":[{"keyid":"a/0","sig":"AA=="}]}`))
	// The clauses of issue 16: exclusivity, export control, data terms,
	// deletion attestations and the charter's export policy.
	f.Add(fx.envelope("alpha", "grant.offer", "g1", offer("g-1", "alpha", "beta", "m1", []ledger.Right{"use"}, func(t *ledger.Terms) {
		t.Exclusivity = ledger.ExclusivityExclusive
		t.Clauses.ExportControl = "5D002.c.1"
		t.Clauses.Data = &ledger.DataTerms{RetentionDays: 30}
	})))
	f.Add(fx.envelope("alpha", "grant.offer", "g2", offer("g-2", "alpha", "beta", "m1", []ledger.Right{"use"}, func(t *ledger.Terms) {
		t.Exclusive, t.Exclusivity = true, "partly"
		t.Clauses.ExportControl = "anything goes ~~ not a class"
	})))
	f.Add(fx.envelope("beta", "retention.attest", "r1", ledger.RetentionAttest{Grant: "g-1", Asset: "m1", Evidence: digestA, URI: "https://x/y"}))
	charter := testGenesis(f).Charter
	charter.ExportPolicy = exportPolicy
	f.Add(fx.envelope("alpha", "ballot.open", "c1", map[string]any{"id": "c1", "action": "charter.amend", "deadline": t0.Add(24 * time.Hour),
		"params": map[string]any{"charter": charter}}))
	f.Add([]byte(`null`))
	// Responsible-AI duties, their attestations and open licences.
	f.Add(fx.envelope("alpha", "grant.offer", "o1", offer("g1", "alpha", "beta", "m1", []ledger.Right{"use", "commercialize"}, func(t *ledger.Terms) {
		t.Duties = []ledger.Duty{{Kind: "fairness_audit", Period: "day", Assessor: "gamma", RequiredFor: []ledger.Right{"commercialize"}}}
	})))
	f.Add(fx.envelope("beta", "duty.attest", "d1", attestBody("g1", 1)))
	f.Add(fx.envelope("beta", "duty.attest", "d2", map[string]any{"grant": "g1", "kind": "fairness_audit", "period": -1, "digest": digestA, "statement": "\u0000"}))
	f.Add(fx.envelope("alpha", "asset.register", "a2", ledger.AssetRegister{ID: "m2", Kind: "model", Digest: digestA,
		Owners: []ledger.Owner{{Member: "alpha", ShareBP: 10000}}, SPDX: "(MIT OR GPL-3.0-only) AND Apache-2.0", Open: true}))
	f.Add(fx.envelope("alpha", "asset.register", "a3", ledger.AssetRegister{ID: "m3", Kind: "model", Digest: digestA,
		Owners: []ledger.Owner{{Member: "alpha", ShareBP: 10000}}, SPDX: "MIT WITH ((", Open: true}))
	// Delegated keys, observed infractions and consumption on behalf.
	f.Add(fx.envelope("beta", "key.delegate", "k1", delegation(gatewayScope())))
	f.Add(fx.envelope("beta", "key.delegate", "k2", ledger.KeyDelegate{Key: gateway().Key.Public(),
		Scope: ledger.KeyScope{Types: []string{"infraction.observe", "key.rotate"}, Assets: []string{"m1", "m1"}, NotAfter: t0}}))
	f.Add(fx.envelope("beta", "key.revoke", "k3", ledger.KeyRevoke{Key: gateway().KeyID}))
	f.Add(fx.envelope("alpha", "infraction.observe", "o1", observation("", "m1")))
	f.Add(fx.envelope("alpha", "pool.consume", "p1", ledger.PoolConsume{Pool: "gpu", Amount: 1, Member: "gamma"}))
	f.Add(ledgertest.Propose(fx.g.ID(), "beta", "usage.report", "u1", fx.now, usageReport("r1", mq("gpu_hours", 1)), gateway()).Encode())
	f.Fuzz(func(t *testing.T, env []byte) {
		a, b := newFixture(t), newFixture(t)
		ra := a.raw(env)
		rb := b.raw(env)
		if ra.EntryHash != rb.EntryHash || a.digest() != b.digest() {
			t.Fatalf("ledgers diverged on %q", env)
		}
		if ra.Seq != 1 {
			t.Fatalf("entry not journaled: %+v", ra)
		}
	})
}
