package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// TestRogue_DelegatedKeyOutOfScope plays a rogue holding alpha's delegated
// gateway key, which may only consume from pool gpu, and the leader's Raft
// log: it appends, bypassing the API's precheck, proposals that key signs
// outside its scope. Every node must refuse each one in Apply with the same
// journaled outcome, naming the key and the bound it broke, and reach the
// same state; the in-scope consumption before them is accepted.
func TestRogue_DelegatedKeyOutOfScope(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an in-process cluster")
	}
	c := newInproc(t)
	now := time.Now().UTC()
	alpha := ledgertest.Signer("alpha", rogueScheme)
	gw := ledger.NewSigner("alpha", ledgertest.Key("alpha-gateway", rogueScheme))
	propose := func(id, typ string, body any, by ledger.Signer) *ledger.Result {
		t.Helper()
		env := ledgertest.Propose(c.g.ID(), "alpha", typ, id, now, body, by).Encode()
		res := c.proposeSettled(t, env, c.converged(t, 0))
		c.converged(t, res.Index)
		return res
	}
	setup := []struct {
		id, typ string
		body    any
	}{
		{"pool-1", "pool.create", ledger.PoolCreate{ID: "gpu", Resource: "gpu-hours", Unit: "hour", Period: ledger.PeriodMonth, Capacity: 100,
			Mode: ledger.QuotaFixed, Quotas: []ledger.QuotaSpec{{Member: "alpha", Amount: 50}, {Member: "beta", Amount: 50}}, Owners: []string{"alpha"}}},
		{"delegate-1", "key.delegate", ledger.KeyDelegate{Key: gw.Key.Public(),
			Scope: ledger.KeyScope{Types: []string{"pool.consume"}, Pools: []string{"gpu"}, NotAfter: now.Add(time.Hour)}}},
	}
	for _, s := range setup {
		if res := propose(s.id, s.typ, s.body, alpha); res.Outcome.Status != ledger.StatusAccepted {
			t.Fatalf("%s: %+v", s.typ, res.Outcome)
		}
	}
	if res := propose("consume-1", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 2, Member: "beta"}, gw); res.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("in-scope consumption: %+v", res.Outcome)
	}

	token := ledger.TokenRegister{Hash: ledger.HashToken("rogue"), Scopes: []string{"read", "admin"}, ExpiresAt: now.Add(time.Hour)}
	cases := []struct {
		name, typ string
		body      any
		want      string
	}{
		{"token.register", "token.register", token, "it may not sign token.register"},
		{"key.delegate", "key.delegate", ledger.KeyDelegate{Key: ledgertest.Key("alpha-rogue", rogueScheme).Public(),
			Scope: ledger.KeyScope{Types: []string{"pool.consume"}, Pools: []string{"gpu"}, NotAfter: now.Add(24 * time.Hour)}}, "it may not sign key.delegate"},
		{"pool.transfer", "pool.transfer", ledger.PoolTransfer{Pool: "gpu", To: "gamma", Amount: 1}, "it may not sign pool.transfer"},
	}
	for i, rc := range cases {
		t.Run(rc.name, func(t *testing.T) {
			before := c.converged(t, 0)
			env := ledgertest.Propose(c.g.ID(), "alpha", rc.typ, "rogue-"+string(rune('a'+i)), now, rc.body, gw).Encode()
			res := c.proposeSettled(t, env, before)
			after := c.converged(t, res.Index)
			if after.head.Size != before.head.Size+1 {
				t.Fatalf("journal %d -> %d, want one rejected entry", before.head.Size, after.head.Size)
			}
			for _, n := range c.nodes {
				n.Ledger().View(func(v *ledger.View) error {
					e, ok := v.Entry(before.head.Size)
					if !ok || e.Outcome.Status != ledger.StatusRejected || e.Outcome.Code != ledger.CodeForbidden ||
						!strings.Contains(e.Outcome.Message, "key "+gw.KeyID+" is a delegated key; ") ||
						!strings.Contains(e.Outcome.Message, rc.want) {
						t.Errorf("%s journaled %+v", n.ID(), e)
					}
					if _, ok := v.Token(ledger.HashToken("rogue")); ok {
						t.Errorf("%s registered the rogue's token", n.ID())
					}
					if _, ok := v.Key(ledger.KeyID("alpha", ledgertest.Key("alpha-rogue", rogueScheme).Public())); ok {
						t.Errorf("%s holds the rogue's key", n.ID())
					}
					return nil
				})
			}
		})
	}
}
