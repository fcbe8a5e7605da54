package ledger_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// gateway is the signer of beta's delegated gateway key.
func gateway() ledger.Signer {
	return ledger.NewSigner("beta", ledgertest.Key("beta-gateway", scheme))
}

// delegation is a key.delegate body for the gateway key with scope s.
func delegation(s ledger.KeyScope) ledger.KeyDelegate {
	return ledger.KeyDelegate{Key: gateway().Key.Public(), Scope: s}
}

// gatewayScope lets the key report usage of g-1 and consume from pool gpu
// until t0+30d.
func gatewayScope() ledger.KeyScope {
	return ledger.KeyScope{Types: []string{"usage.report", "pool.consume"}, Grants: []string{"g-1"}, Pools: []string{"gpu"}, NotAfter: t0.Add(30 * 24 * time.Hour)}
}

// delegated is a metered fixture (grant g-1 from alpha to beta over
// model-x, grant g-2 over model-y), with pools gpu and cpu, in which beta
// has delegated the gateway key with gatewayScope.
func delegated(t *testing.T) *fixture {
	t.Helper()
	f := metered(t, gpuTerms(ledger.PricingGraduated), nil)
	f.register("alpha", "model-y")
	f.accept("alpha", "grant.offer", offer("g-2", "alpha", "beta", "model-y", []ledger.Right{"use"}, func(tm *ledger.Terms) { tm.Usage = gpuTerms(ledger.PricingGraduated) }))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-2"})
	f.accept("alpha", "pool.create", gpuPool(), "beta")
	cpu := gpuPool()
	cpu.ID = "cpu"
	f.accept("alpha", "pool.create", cpu, "beta")
	r := f.accept("beta", "key.delegate", delegation(gatewayScope()))
	if !hasEvent(r, "key.delegated", gateway().KeyID) {
		t.Fatalf("want key.delegated %s, got %+v", gateway().KeyID, r.Outcome.Events)
	}
	return f
}

// byGateway applies a proposal by beta signed with the gateway key only.
func (f *fixture) byGateway(typ string, body any) *ledger.Result {
	f.t.Helper()
	f.seq++
	return f.raw(ledgertest.Propose(f.g.ID(), "beta", typ, typ+"-gw-"+strconv.Itoa(f.seq), f.now, body, gateway()).Encode())
}

// wantOutcome fails unless r has the status and code wanted and its message
// holds every part.
func wantOutcome(t *testing.T, r *ledger.Result, status string, code ledger.Code, parts ...string) {
	t.Helper()
	o := r.Outcome
	if o.Status != status || o.Code != code {
		t.Fatalf("got %s %s: %s; want %s %s", o.Status, o.Code, o.Message, status, code)
	}
	for _, p := range parts {
		if !strings.Contains(o.Message, p) {
			t.Errorf("message %q does not say %q", o.Message, p)
		}
	}
}

func TestKeyDelegate_ScopeEnforced(t *testing.T) {
	f := delegated(t)
	gw := gateway().KeyID
	var k *ledger.KeyRecord
	f.view(func(v *ledger.View) { k, _ = v.Key(gw) })
	if k == nil || k.Scope == nil || k.Member != "beta" || strings.Join(k.Scope.Types, ",") != "pool.consume,usage.report" {
		t.Fatalf("key table holds %+v", k)
	}
	var m *ledger.Member
	f.view(func(v *ledger.View) { m, _ = v.Member("beta") })
	if m.Keys[len(m.Keys)-1] != gw {
		t.Fatalf("beta's keys %v do not end with %s", m.Keys, gw)
	}

	// In scope.
	wantOutcome(t, f.byGateway("usage.report", usageReport("r-1", mq("gpu_hours", 10))), ledger.StatusAccepted, "")
	wantOutcome(t, f.byGateway("pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 3}), ledger.StatusAccepted, "")
	if u := f.usage("gpu", "2026-01")["beta"]; u.Used != 3 {
		t.Fatalf("beta used %d of gpu, want 3", u.Used)
	}

	bound := "key " + gw + " is a delegated key; "
	other := usageReport("r-2", mq("gpu_hours", 1))
	other.Grant = "g-2"
	cases := []struct {
		name string
		typ  string
		body any
		want string
	}{
		{"wrong type", "pool.transfer", ledger.PoolTransfer{Pool: "gpu", To: "alpha", Amount: 1}, "it may not sign pool.transfer"},
		{"wrong grant", "usage.report", other, "it may not sign usage.report for grant g-2"},
		{"wrong pool", "pool.consume", ledger.PoolConsume{Pool: "cpu", Amount: 1}, "it may not sign pool.consume for pool cpu"},
		{"key.delegate", "key.delegate", ledger.KeyDelegate{Key: ledgertest.Key("beta-other", scheme).Public(), Scope: gatewayScope()}, "it may not sign key.delegate"},
		{"key.revoke", "key.revoke", ledger.KeyRevoke{Key: gw}, "it may not sign key.revoke"},
		{"grant.offer", "grant.offer", offer("g-9", "beta", "alpha", "model-x", []ledger.Right{"use"}, nil), "it may not sign grant.offer"},
		{"ballot.vote", "ballot.vote", ledger.BallotVoteBody{Ballot: "b-1", Approve: true}, "it may not sign ballot.vote"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.byGateway(c.typ, c.body)
			wantOutcome(t, r, ledger.StatusRejected, ledger.CodeForbidden, bound, c.want)
			// The entry is public: it names no grant or pool of the
			// scope that the proposal does not name itself.
			if strings.Contains(r.Outcome.Message, "g-1") || (c.name != "wrong type" && strings.Contains(r.Outcome.Message, "gpu")) {
				t.Errorf("the rejection lists the scope: %s", r.Outcome.Message)
			}
			if f.usage("gpu", "2026-01")["beta"].Used != 3 {
				t.Errorf("the rejected %s changed the pool", c.typ)
			}
		})
	}

	// key.rotate of the delegated key, signed by it and the new key.
	next := ledger.NewSigner("beta", ledgertest.Key("beta-next", scheme))
	f.seq++
	r := f.raw(ledgertest.Propose(f.g.ID(), "beta", "key.rotate", "rot-gw", f.now, ledger.KeyRotate{Old: gw, New: next.Key.Public()}, gateway(), next).Encode())
	wantOutcome(t, r, ledger.StatusRejected, ledger.CodeForbidden, bound, "it may not sign key.rotate")

	// The main key and the gateway key together: the gateway's signature
	// is out of scope, so the whole proposal is refused.
	f.seq++
	r = f.raw(ledgertest.Propose(f.g.ID(), "beta", "pool.transfer", "both", f.now, ledger.PoolTransfer{Pool: "gpu", To: "alpha", Amount: 1},
		ledgertest.Signer("beta", scheme), gateway()).Encode())
	wantOutcome(t, r, ledger.StatusRejected, ledger.CodeForbidden, "it may not sign pool.transfer")

	// After not_after.
	f.now = t0.Add(31 * 24 * time.Hour)
	late := usageReport("r-3", mq("gpu_hours", 1))
	late.Period, late.Window = "2026-02", ledger.Window{Start: t0.Add(30 * 24 * time.Hour), End: t0.Add(30*24*time.Hour + time.Hour)}
	wantOutcome(t, f.byGateway("usage.report", late), ledger.StatusRejected, ledger.CodeForbidden, bound, "its delegation ended at 2026-02-04T09:00:00Z (ledger time is 2026-02-05T09:00:00Z)")
}

func TestKeyDelegate_Revoke(t *testing.T) {
	f := delegated(t)
	gw := gateway().KeyID
	// Only beta revokes beta's delegated keys, and only its delegated ones
	// by itself.
	f.reject(ledger.CodeForbidden, "alpha", "key.revoke", ledger.KeyRevoke{Key: gw})
	r := f.reject(ledger.CodeForbidden, "beta", "key.revoke", ledger.KeyRevoke{Key: ledgertest.KeyID("beta", scheme)})
	if !strings.Contains(r.Outcome.Message, "key.revoke ballot") {
		t.Errorf("message %q", r.Outcome.Message)
	}
	r = f.accept("beta", "key.revoke", ledger.KeyRevoke{Key: gw})
	if !hasEvent(r, "key.revoked", gw) {
		t.Fatalf("events %+v", r.Outcome.Events)
	}
	var k *ledger.KeyRecord
	f.view(func(v *ledger.View) { k, _ = v.Key(gw) })
	if k.EndedBy != "revoked" || k.ValidUntil != r.Index {
		t.Fatalf("key record after revocation: %+v", k)
	}
	wantOutcome(t, f.byGateway("usage.report", usageReport("r-1", mq("gpu_hours", 1))), ledger.StatusRejected, ledger.CodeUnauthorized, gw)
	f.reject(ledger.CodeRejected, "beta", "key.revoke", ledger.KeyRevoke{Key: gw})
}

func TestKeyDelegate_Validation(t *testing.T) {
	f := delegated(t)
	f.register("gamma", "model-g")
	n := 0
	body := func(mod func(*ledger.KeyScope)) ledger.KeyDelegate {
		n++
		s := gatewayScope()
		mod(&s)
		return ledger.KeyDelegate{Key: ledgertest.Key("beta-v"+strconv.Itoa(n), scheme).Public(), Scope: s}
	}
	cases := []struct {
		name   string
		signer string
		mod    func(*ledger.KeyScope)
		code   ledger.Code
		want   string
	}{
		{"no types", "beta", func(s *ledger.KeyScope) { s.Types = nil }, ledger.CodeInvalid, "body.scope.types: at least one"},
		{"undelegable type", "beta", func(s *ledger.KeyScope) { s.Types = append(s.Types, "pool.transfer") }, ledger.CodeInvalid, `"pool.transfer" cannot be delegated`},
		{"key type", "beta", func(s *ledger.KeyScope) { s.Types = []string{"key.rotate"} }, ledger.CodeInvalid, `"key.rotate" cannot be delegated`},
		{"twice", "beta", func(s *ledger.KeyScope) { s.Grants = []string{"g-1", "g-1"} }, ledger.CodeInvalid, "listed twice"},
		{"no not_after", "beta", func(s *ledger.KeyScope) { s.NotAfter = time.Time{} }, ledger.CodeInvalid, "body.scope.not_after: required"},
		{"past not_after", "beta", func(s *ledger.KeyScope) { s.NotAfter = t0 }, ledger.CodeInvalid, "is not after ledger time"},
		{"usage.report without grants", "beta", func(s *ledger.KeyScope) { s.Grants = nil }, ledger.CodeInvalid, "usage.report needs the grants"},
		{"pool.consume without pools", "beta", func(s *ledger.KeyScope) { s.Pools = nil }, ledger.CodeInvalid, "pool.consume needs the pools"},
		{"pools without pool.consume", "beta", func(s *ledger.KeyScope) { s.Types = []string{"usage.report"} }, ledger.CodeInvalid, "only pool.consume acts on pools"},
		{"assets without observe", "beta", func(s *ledger.KeyScope) { s.Assets = []string{"model-x"} }, ledger.CodeInvalid, "only infraction.observe acts on assets"},
		{"unknown grant", "beta", func(s *ledger.KeyScope) { s.Grants = []string{"g-nope"} }, ledger.CodeNotFound, "body.scope.grants[0]"},
		{"not a party", "gamma", func(s *ledger.KeyScope) { s.Pools = nil; s.Types = []string{"usage.report"} }, ledger.CodeForbidden, "neither a licensee nor a licensor of grant g-1"},
		{"unknown pool", "beta", func(s *ledger.KeyScope) { s.Pools = []string{"nope"} }, ledger.CodeNotFound, "body.scope.pools[0]"},
		{"asset not owned", "beta", func(s *ledger.KeyScope) {
			s.Types, s.Grants, s.Pools, s.Assets = []string{"infraction.observe"}, nil, nil, []string{"model-g"}
		}, ledger.CodeForbidden, "beta does not own asset model-g"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.reject(c.code, c.signer, "key.delegate", body(c.mod))
			if !strings.Contains(r.Outcome.Message, c.want) {
				t.Errorf("message %q does not say %q", r.Outcome.Message, c.want)
			}
		})
	}
	f.reject(ledger.CodeConflict, "beta", "key.delegate", delegation(gatewayScope()))
	// An owner of the pool that is no member of it may delegate for it.
	cpu := gpuPool()
	cpu.ID, cpu.Owners = "shared", []string{"alpha", "beta"}
	cpu.Quotas = []ledger.QuotaSpec{{Member: "beta", Amount: 40}, {Member: "gamma", Amount: 20}}
	f.accept("alpha", "pool.create", cpu, "beta")
	f.accept("alpha", "key.delegate", ledger.KeyDelegate{Key: ledgertest.Key("alpha-gw", scheme).Public(),
		Scope: ledger.KeyScope{Types: []string{"pool.consume"}, Pools: []string{"shared"}, NotAfter: t0.Add(24 * time.Hour)}})
}

// TestKeyDelegate_ReplayKeepsDigest replays the journal of a ledger that
// delegated, used and revoked a key, and observed an infraction, into a
// fresh ledger: the state digest and journal head must be the same.
func TestKeyDelegate_ReplayKeepsDigest(t *testing.T) {
	f := delegated(t)
	f.byGateway("usage.report", usageReport("r-1", mq("gpu_hours", 10)))
	f.byGateway("pool.transfer", ledger.PoolTransfer{Pool: "gpu", To: "alpha", Amount: 1})
	f.accept("alpha", "infraction.observe", observation("g-1", "model-x"))
	f.accept("beta", "key.revoke", ledger.KeyRevoke{Key: gateway().KeyID})
	f.byGateway("pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 1})

	replay := openLedger(t, f.g)
	var entries []*ledger.Entry
	f.view(func(v *ledger.View) { entries = v.Entries(1, 1000) })
	for _, e := range entries {
		replay.Apply([]ledger.LogEntry{{Index: e.Index, Data: ledger.EncodeRecord(e.LedgerTime, e.Envelope)}})
	}
	var d ledger.Hash
	var head, head2 ledger.Head
	replay.View(func(v *ledger.View) error { d, head2 = v.Digest(), v.Head(); return nil })
	f.view(func(v *ledger.View) { head = v.Head() })
	if d != f.digest() || head != head2 {
		t.Fatalf("replay digest %s head %+v; live %s %+v", d, head2, f.digest(), head)
	}
}

// observation is alpha's observation of beta on asset under grant (none
// if "").
func observation(grant, asset string) ledger.InfractionObserve {
	return ledger.InfractionObserve{Grant: grant, Licensee: "beta", Asset: asset, Action: ledger.RightTrain, Attempts: 12,
		WindowStart: t0.Add(10 * time.Minute), WindowEnd: t0.Add(40 * time.Minute), Reason: "12 denied train calls through the gateway"}
}

func TestInfractionObserve_VisibleInCheck(t *testing.T) {
	f := delegated(t)
	f.register("alpha", "model-z") // beta holds no grant over it
	before := f.wantCheck(useOf("beta", "model-x"), true, "grant g-1 from alpha allows beta")
	if len(before.Observed) != 0 {
		t.Fatalf("observed before any observation: %+v", before.Observed)
	}

	r := f.accept("alpha", "infraction.observe", observation("g-1", "model-x"))
	id := "g-1/observed_infraction/alpha:" + r.Outcome.ID
	if !hasEvent(r, "infraction.recorded", id) {
		t.Fatalf("events %+v, want infraction.recorded %s", r.Outcome.Events, id)
	}
	d := f.wantCheck(useOf("beta", "model-x"), true, "; warning: 1 open observed infraction(s) against beta on model-x: "+id)
	if len(d.Observed) != 1 || d.Observed[0].ID != id || d.Observed[0].Attempts != 12 || d.Observed[0].Observer != "alpha" || d.Observed[0].Grant != "g-1" {
		t.Fatalf("observed %+v", d.Observed)
	}
	// Answered for a time before it was recorded, it is not there.
	past := useOf("beta", "model-x")
	past.At = t0.Add(30 * time.Minute)
	if d := f.check(past); len(d.Observed) != 0 {
		t.Fatalf("observed at %s: %+v", past.At, d.Observed)
	}
	// Another member on the same asset is not concerned.
	if d := f.check(useOf("gamma", "model-x")); len(d.Observed) != 0 {
		t.Fatalf("gamma: %+v", d.Observed)
	}

	// With no grant: about the asset; the check still denies for want of
	// a grant, and warns.
	r = f.accept("alpha", "infraction.observe", observation("", "model-z"))
	zid := "model-z/observed_infraction/alpha:" + r.Outcome.ID
	d = f.wantCheck(useOf("beta", "model-z"), false, "beta holds no grant over model-z; warning: 1 open observed infraction(s) against beta on model-z: "+zid)
	if len(d.Observed) != 1 || d.Observed[0].Grant != "" {
		t.Fatalf("observed %+v", d.Observed)
	}
	ins := f.infractions(ledger.InfractionFilter{Kind: ledger.InfractionObserved, Member: "beta"})
	if len(ins) != 2 || ins[0].ID != id || ins[1].ID != zid || ins[1].Asset != "model-z" || ins[0].Window == nil {
		t.Fatalf("infractions %+v", ins)
	}

	// Who may observe, and what.
	obs := observation("g-1", "model-x")
	obs.ID = "same"
	f.accept("alpha", "infraction.observe", obs)
	f.reject(ledger.CodeConflict, "alpha", "infraction.observe", obs)
	f.reject(ledger.CodeForbidden, "gamma", "infraction.observe", observation("g-1", "model-x"))
	f.reject(ledger.CodeForbidden, "gamma", "infraction.observe", observation("", "model-z"))
	bad := observation("g-1", "model-x")
	bad.Licensee = "gamma"
	f.reject(ledger.CodeInvalid, "alpha", "infraction.observe", bad)
	bad = observation("g-1", "model-y")
	f.reject(ledger.CodeInvalid, "alpha", "infraction.observe", bad)
	bad = observation("g-1", "model-x")
	bad.Attempts = 0
	f.reject(ledger.CodeInvalid, "alpha", "infraction.observe", bad)
	bad = observation("g-1", "model-x")
	bad.WindowEnd = f.now.Add(time.Hour)
	f.reject(ledger.CodeInvalid, "alpha", "infraction.observe", bad)
	bad = observation("g-1", "model-x")
	bad.Reason = " "
	f.reject(ledger.CodeInvalid, "alpha", "infraction.observe", bad)
}

func TestInfractionObserve_ByDelegatedKey(t *testing.T) {
	f := delegated(t)
	f.register("alpha", "model-z")
	gw := ledger.NewSigner("alpha", ledgertest.Key("alpha-gateway", scheme))
	f.accept("alpha", "key.delegate", ledger.KeyDelegate{Key: gw.Key.Public(), Scope: ledger.KeyScope{
		Types: []string{"infraction.observe"}, Grants: []string{"g-1"}, Assets: []string{"model-z"}, NotAfter: t0.Add(24 * time.Hour)}})
	sign := func(id string, body any) *ledger.Result {
		return f.raw(ledgertest.Propose(f.g.ID(), "alpha", "infraction.observe", id, f.now, body, gw).Encode())
	}
	wantOutcome(t, sign("o-1", observation("g-1", "model-x")), ledger.StatusAccepted, "")
	wantOutcome(t, sign("o-2", observation("", "model-z")), ledger.StatusAccepted, "")
	wantOutcome(t, sign("o-3", observation("g-2", "model-y")), ledger.StatusRejected, ledger.CodeForbidden, "it may not sign infraction.observe for grant g-2")
	wantOutcome(t, sign("o-4", observation("", "model-x")), ledger.StatusRejected, ledger.CodeForbidden, "it may not sign infraction.observe for asset model-x")
}

func TestPoolConsume_OnBehalf(t *testing.T) {
	f := newFixture(t)
	f.accept("alpha", "pool.create", gpuPool(), "beta") // owners alpha and beta; gamma a member
	r := f.accept("alpha", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 5, Member: "gamma", Ref: "job-1"})
	if !hasEvent(r, "pool.consumed", "gpu") {
		t.Fatalf("events %+v", r.Outcome.Events)
	}
	u := f.usage("gpu", "2026-01")
	if u["gamma"].Used != 5 || u["alpha"].Used != 0 {
		t.Fatalf("usage %+v", u)
	}
	var h []*ledger.PoolEvent
	f.view(func(v *ledger.View) { h, _ = v.PoolHistory("gpu", 0, 100) })
	last := h[len(h)-1]
	if last.Kind != "consumed" || last.Member != "gamma" || last.By != "alpha" || last.Amount != 5 {
		t.Fatalf("history ends with %+v", last)
	}
	// Consuming for oneself names no one else.
	f.accept("gamma", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 1, Member: "gamma"})
	f.view(func(v *ledger.View) { h, _ = v.PoolHistory("gpu", 0, 100) })
	if last := h[len(h)-1]; last.Member != "gamma" || last.By != "" {
		t.Fatalf("history ends with %+v", last)
	}
	r = f.reject(ledger.CodeForbidden, "gamma", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 1, Member: "beta"})
	if !strings.Contains(r.Outcome.Message, "only an owner of pool gpu") {
		t.Errorf("message %q", r.Outcome.Message)
	}
	f.reject(ledger.CodeForbidden, "alpha", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 1, Member: "audit"})
	f.reject(ledger.CodeRejected, "alpha", "pool.consume", ledger.PoolConsume{Pool: "gpu", Amount: 15, Member: "gamma"})
}
