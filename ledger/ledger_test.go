package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

func TestGenesis_IDIsStableAndSignaturesRequired(t *testing.T) {
	g := testGenesis(t)
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	id := g.ID()
	g2 := testGenesis(t)
	if g2.ID() != id {
		t.Fatalf("genesis ID is not deterministic: %s vs %s", g2.ID(), id)
	}
	g2.Signatures = g2.Signatures[1:]
	if err := g2.Verify(); err == nil || !strings.Contains(err.Error(), "has not signed") {
		t.Fatalf("want a missing founder signature refused, got %v", err)
	}
	g3 := testGenesis(t)
	g3.Name = "Another"
	if g3.ID() == id {
		t.Fatal("a different document has the same ID")
	}
	if err := g3.Verify(); err == nil {
		t.Fatal("signatures over the old document verified the new one")
	}
}

func TestOpen_RefusesAnotherConsortium(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	l, err := ledger.Open(path, testGenesis(t), ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	g := testGenesis(t)
	g.Name = "Other"
	for _, m := range g.Members {
		g.Sign(ledgertest.Signer(m.ID, scheme))
	}
	if _, err := ledger.Open(path, g, ledger.Options{}); err == nil || !strings.Contains(err.Error(), "belongs to consortium") {
		t.Fatalf("want refusal, got %v", err)
	}
}

func TestApply_AdmissionRejections(t *testing.T) {
	f := newFixture(t)
	body := map[string]any{"hash": strings.Repeat("ab", 32), "scopes": []string{"read"}, "expires_at": t0.Add(48 * time.Hour)}
	good := ledgertest.Proposal(f.g.ID(), "alpha", "token.register", "p1", f.now, body)
	sign := func(p *ledger.Proposal, signers ...ledger.Signer) []byte {
		e, err := ledger.Sign(p, signers...)
		if err != nil {
			t.Fatal(err)
		}
		return e.Encode()
	}
	alpha := ledgertest.Signer("alpha", scheme)
	tests := []struct {
		name string
		env  []byte
		code ledger.Code
		msg  string
	}{
		{"not JSON", []byte("{nope"), ledger.CodeInvalid, ""},
		{"oversized", bytes.Repeat([]byte("x"), 2<<20), ledger.CodeTooLarge, "over the charter's limit"},
		{"wrong consortium", sign(func() *ledger.Proposal { p := *good; p.Consortium = ledgertest.Consortium; return &p }(), alpha), ledger.CodeInvalid, "consortium"},
		{"unknown type", sign(func() *ledger.Proposal { p := *good; p.Type = "grant.steal"; return &p }(), alpha), ledger.CodeInvalid, "unknown proposal type"},
		{"signed by someone else", sign(good, ledgertest.Signer("beta", scheme)), ledger.CodeUnauthorized, "no valid signature by alpha"},
		{"unknown key", sign(good, ledgertest.Signer("alpha", ledger.SchemeMLDSA44)), ledger.CodeUnauthorized, ""},
		{"forged signature", func() []byte {
			e, _ := ledger.Sign(good, alpha)
			e.Signatures[0].Sig[3] ^= 1
			return e.Encode()
		}(), ledger.CodeUnauthorized, ""},
		{"issued too early", sign(func() *ledger.Proposal { p := *good; p.ID = "p2"; p.IssuedAt = f.now.Add(-time.Hour); return &p }(), alpha), ledger.CodeRejected, "issued_at"},
		{"issued in the future", sign(func() *ledger.Proposal { p := *good; p.ID = "p3"; p.IssuedAt = f.now.Add(time.Hour); return &p }(), alpha), ledger.CodeRejected, "issued_at"},
		{"auditor proposes", sign(func() *ledger.Proposal {
			p := *ledgertest.Proposal(f.g.ID(), "audit", "asset.register", "p4", f.now, map[string]any{})
			return &p
		}(), ledgertest.Signer("audit", scheme)), ledger.CodeForbidden, "auditor"},
	}
	before := f.digest()
	var head ledger.Head
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.raw(tc.env)
			if r.Outcome.Status != ledger.StatusRejected || r.Outcome.Code != tc.code || !strings.Contains(r.Outcome.Message, tc.msg) {
				t.Fatalf("want rejected %s containing %q, got %+v", tc.code, tc.msg, r.Outcome)
			}
		})
	}
	f.view(func(v *ledger.View) { head = v.Head() })
	if head.Size != uint64(1+len(tests)) {
		t.Fatalf("every rejection is journaled: want %d entries, got %d", 1+len(tests), head.Size)
	}
	// Rejections change nothing but the journal: the proposal that was
	// refused for bad signatures can still be applied when honest.
	_ = before
	r := f.raw(sign(good, alpha))
	if r.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("honest proposal after forgeries: %+v", r.Outcome)
	}
}

func TestApply_ReplayReturnsOriginalOutcome(t *testing.T) {
	f := newFixture(t)
	body := map[string]any{"hash": strings.Repeat("cd", 32), "scopes": []string{"read", "write"}, "expires_at": t0.Add(48 * time.Hour)}
	env := f.envelope("alpha", "token.register", "tok-1", body)
	first := f.raw(env)
	if first.Outcome.Status != ledger.StatusAccepted {
		t.Fatal(first.Outcome)
	}
	d := f.digest()
	// Identical resubmission, even much later and re-signed: the original
	// outcome, no second entry.
	f.now = f.now.Add(2 * time.Hour)
	again := f.raw(env)
	if !again.Duplicate || again.Seq != first.Seq || again.EntryHash != first.EntryHash {
		t.Fatalf("want the original result marked duplicate, got %+v", again)
	}
	var head ledger.Head
	f.view(func(v *ledger.View) { head = v.Head() })
	if head.Size != 2 {
		t.Fatalf("a replay must not be journaled: %d entries", head.Size)
	}
	_ = d
	// Same (signer, id), different content: conflict.
	f.now = t0.Add(2 * time.Minute)
	body["scopes"] = []string{"read"}
	r := f.raw(f.envelope("alpha", "token.register", "tok-1", body))
	if r.Outcome.Code != ledger.CodeConflict {
		t.Fatalf("want conflict for a reused ID, got %+v", r.Outcome)
	}
}

func TestApply_UndecodableRecordPanics(t *testing.T) {
	f := newFixture(t)
	defer func() {
		p := recover()
		if p == nil || !strings.Contains(p.(string), "cannot be decoded") {
			t.Fatalf("want a panic naming the undecodable entry, got %v", p)
		}
	}()
	f.l.Apply([]ledger.LogEntry{{Index: 1, Data: []byte{9, 9}}})
}

func TestApply_SkipsAppliedEntries(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "m1")
	d := f.digest()
	// Raft replays index 1 after a restart: nothing happens.
	rs := f.l.Apply([]ledger.LogEntry{{Index: 1, Data: ledger.EncodeRecord(f.now, f.envelope("alpha", "asset.register", "x", map[string]any{}))}})
	if rs[0] != nil || f.digest() != d {
		t.Fatal("an already-applied index was applied again")
	}
}

func TestLedgerTime_NeverRunsBackwards(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "m1")
	var t1 time.Time
	f.view(func(v *ledger.View) { t1 = v.LedgerTime() })
	f.now = f.now.Add(-30 * time.Second) // a new leader with a slow clock
	f.register("alpha", "m2")
	f.view(func(v *ledger.View) {
		if !v.LedgerTime().Equal(t1) {
			t.Fatalf("ledger time moved from %s to %s", t1, v.LedgerTime())
		}
	})
}

func TestTokens(t *testing.T) {
	f := newFixture(t)
	h := ledger.HashToken("secret-1")
	f.reject(ledger.CodeInvalid, "alpha", "token.register", map[string]any{"hash": "zz", "scopes": []string{"read"}, "expires_at": t0.Add(time.Hour * 48)})
	f.reject(ledger.CodeInvalid, "alpha", "token.register", map[string]any{"hash": h, "scopes": []string{"root"}, "expires_at": t0.Add(time.Hour * 48)})
	f.reject(ledger.CodeInvalid, "alpha", "token.register", map[string]any{"hash": h, "scopes": []string{"read"}, "expires_at": t0})
	// Year 9999 at UTC-5 is year 10000 in UTC, which a token's record and
	// the state digest cannot hold: refused, and the digest still works.
	f.reject(ledger.CodeInvalid, "alpha", "token.register", map[string]any{"hash": h, "scopes": []string{"read"}, "expires_at": "9999-12-31T23:00:00-05:00"})
	f.view(func(v *ledger.View) { v.Digest() })
	f.accept("alpha", "token.register", map[string]any{"hash": h, "scopes": []string{"write", "read"}, "expires_at": t0.Add(time.Hour * 48)})
	f.view(func(v *ledger.View) {
		tok, ok := v.Token(h)
		if !ok || tok.Member != "alpha" || !tok.HasScope("read") || !tok.HasScope("write") {
			t.Fatalf("token: %+v %v", tok, ok)
		}
	})
	f.reject(ledger.CodeForbidden, "beta", "token.revoke", map[string]any{"hash": h})
	f.accept("alpha", "token.revoke", map[string]any{"hash": h})
	f.view(func(v *ledger.View) {
		if _, ok := v.Token(h); ok {
			t.Fatal("revoked token still there")
		}
	})
}

func admitBody(member string) map[string]any {
	return map[string]any{
		"id": "admit-" + member, "action": "member.admit", "deadline": t0.Add(7 * 24 * time.Hour),
		"params": map[string]any{"member": member, "role": "member", "keys": []ledger.PublicKey{ledgertest.Key(member, scheme).Public()},
			"node": map[string]any{"raft_addr": "127.0.0.1:7004", "api_addr": "127.0.0.1:8084"}},
	}
}

func TestGovernance_AdmitSuspendRemove(t *testing.T) {
	f := newFixture(t)
	// 3 voters, threshold 2/3: the proposer's own vote is 1 of the 2 needed.
	r := f.accept("alpha", "ballot.open", admitBody("delta"))
	if len(r.Outcome.Events) != 1 {
		t.Fatalf("opening alone must not pass: %+v", r.Outcome.Events)
	}
	f.reject(ledger.CodeConflict, "alpha", "ballot.vote", map[string]any{"ballot": "admit-delta", "approve": true})
	f.reject(ledger.CodeForbidden, "audit", "ballot.vote", map[string]any{"ballot": "admit-delta", "approve": true})
	r = f.accept("beta", "ballot.vote", map[string]any{"ballot": "admit-delta", "approve": true})
	if !hasEvent(r, "member.admitted", "delta") {
		t.Fatalf("want delta admitted, events %+v", r.Outcome.Events)
	}
	f.view(func(v *ledger.View) {
		m, ok := v.Member("delta")
		b, _ := v.Ballot("admit-delta")
		if !ok || m.Status != ledger.MemberActive || b.Status != ledger.BallotPassed {
			t.Fatalf("member %+v ballot %+v", m, b)
		}
	})
	f.register("delta", "d-model") // the new member can propose
	f.reject(ledger.CodeRejected, "gamma", "ballot.vote", map[string]any{"ballot": "admit-delta", "approve": true})

	// Remove delta: 4 voters now, 2/3 needs 3 approvals.
	rm := map[string]any{"id": "rm-delta", "action": "member.remove", "deadline": t0.Add(24 * time.Hour), "params": map[string]any{"member": "delta"}}
	f.accept("alpha", "ballot.open", rm)
	f.accept("beta", "ballot.vote", map[string]any{"ballot": "rm-delta", "approve": true})
	r = f.accept("gamma", "ballot.vote", map[string]any{"ballot": "rm-delta", "approve": true})
	if !hasEvent(r, "member.removed", "delta") {
		t.Fatalf("want delta removed, events %+v", r.Outcome.Events)
	}
	r = f.submit("delta", "asset.register", map[string]any{})
	if r.Outcome.Code != ledger.CodeForbidden {
		t.Fatalf("a removed member must not propose: %+v", r.Outcome)
	}
}

func TestGovernance_RejectedAndExpired(t *testing.T) {
	f := newFixture(t)
	f.accept("alpha", "ballot.open", admitBody("delta"))
	f.accept("beta", "ballot.vote", map[string]any{"ballot": "admit-delta", "approve": false})
	r := f.accept("gamma", "ballot.vote", map[string]any{"ballot": "admit-delta", "approve": false})
	if !hasEvent(r, "ballot.rejected", "admit-delta") {
		t.Fatalf("two of three against must reject: %+v", r.Outcome.Events)
	}
	b := admitBody("echo")
	b["deadline"] = f.now.Add(time.Hour)
	f.accept("alpha", "ballot.open", b)
	f.now = f.now.Add(2 * time.Hour)
	f.reject(ledger.CodeRejected, "beta", "ballot.vote", map[string]any{"ballot": "admit-echo", "approve": true})
	f.view(func(v *ledger.View) {
		if b, _ := v.Ballot("admit-echo"); b.Status != ledger.BallotExpired {
			t.Fatalf("want expired, got %s", b.Status)
		}
	})
}

func TestGovernance_CharterAmendAndKeyRevoke(t *testing.T) {
	f := newFixture(t)
	c := ledgertest.StampedCharter()
	c.Threshold = ledger.Fraction{Num: 1, Den: 3}
	f.accept("alpha", "ballot.open", map[string]any{"id": "c1", "action": "charter.amend", "deadline": t0.Add(time.Hour * 24), "params": map[string]any{"charter": c}})
	f.accept("beta", "ballot.vote", map[string]any{"ballot": "c1", "approve": true})
	f.view(func(v *ledger.View) {
		if v.Charter().Threshold.Num != 1 {
			t.Fatalf("charter not amended: %+v", v.Charter())
		}
	})
	// With 1/3 the proposer alone passes a ballot.
	kid := ledgertest.KeyID("gamma", scheme)
	r := f.accept("alpha", "ballot.open", map[string]any{"id": "k1", "action": "key.revoke", "deadline": t0.Add(time.Hour * 24), "params": map[string]any{"key": kid}})
	if !hasEvent(r, "key.revoked", kid) {
		t.Fatalf("want key revoked: %+v", r.Outcome.Events)
	}
	r = f.submit("gamma", "asset.register", map[string]any{})
	if r.Outcome.Code != ledger.CodeUnauthorized {
		t.Fatalf("a revoked key must not sign: %+v", r.Outcome)
	}
	// Bad charter: rejected when the ballot opens.
	c.Threshold = ledger.Fraction{Num: 4, Den: 3}
	f.reject(ledger.CodeInvalid, "alpha", "ballot.open", map[string]any{"id": "c2", "action": "charter.amend", "deadline": t0.Add(time.Hour * 24), "params": map[string]any{"charter": c}})
}

func TestKeyRotate_NeedsBothKeys(t *testing.T) {
	f := newFixture(t)
	old := ledgertest.Signer("alpha", scheme)
	nk := ledgertest.Key("alpha", ledger.SchemeMLDSA65)
	ns := ledger.NewSigner("alpha", nk)
	body := map[string]any{"old": old.KeyID, "new": nk.Public()}
	e := ledgertest.Propose(f.g.ID(), "alpha", "key.rotate", "rot-1", f.now, body, old)
	if r := f.raw(e.Encode()); r.Outcome.Code != ledger.CodeUnauthorized {
		t.Fatalf("rotation signed by the old key alone: %+v", r.Outcome)
	}
	e = ledgertest.Propose(f.g.ID(), "alpha", "key.rotate", "rot-2", f.now, body, old, ns)
	if r := f.raw(e.Encode()); r.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("rotation: %+v", r.Outcome)
	}
	// Now only the new key signs for alpha.
	if r := f.submit("alpha", "asset.register", map[string]any{}); r.Outcome.Code != ledger.CodeUnauthorized {
		t.Fatalf("old key after rotation: %+v", r.Outcome)
	}
	e = ledgertest.Propose(f.g.ID(), "alpha", "asset.register", "a-1", f.now, map[string]any{
		"id": "m1", "kind": "model", "digest": digestA, "owners": []map[string]any{{"member": "alpha", "share_bp": 10000}}}, ns)
	if r := f.raw(e.Encode()); r.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("new key: %+v", r.Outcome)
	}
	f.view(func(v *ledger.View) {
		k, _ := v.Key(old.KeyID)
		if k.EndedBy != "rotated" || k.ValidAt(k.ValidUntil) || !k.ValidAt(k.ValidUntil-1) {
			t.Fatalf("old key history: %+v", k)
		}
	})
}

// TestKeyRotate_ResubmissionAfterRotation is a regression test: a
// resubmission of an accepted proposal whose signing key has since been
// retired was journaled as a rejection (unauthorized) instead of answered
// with its original result. A key.rotate retires its own signing key, so a
// client that lost the answer to a rotation could never learn that it
// passed (found by the chaos suite's W3).
func TestKeyRotate_ResubmissionAfterRotation(t *testing.T) {
	f := newFixture(t)
	old := ledgertest.Signer("alpha", scheme)
	ns := ledger.NewSigner("alpha", ledgertest.Key("alpha-next", scheme))
	write := f.envelope("alpha", "token.register", "tok-1", ledger.TokenRegister{
		Hash: ledger.HashToken("one"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	w := f.raw(write)
	rotate := ledgertest.Propose(f.g.ID(), "alpha", "key.rotate", "rot-1", f.now,
		ledger.KeyRotate{Old: old.KeyID, New: ns.Key.Public()}, old, ns).Encode()
	r := f.raw(rotate)
	if w.Outcome.Status != ledger.StatusAccepted || r.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("write %+v, rotation %+v", w.Outcome, r.Outcome)
	}
	var before, after ledger.Head
	f.view(func(v *ledger.View) { before = v.Head() })
	for _, c := range []struct {
		name string
		env  []byte
		want *ledger.Result
	}{{"the rotation", rotate, r}, {"a write signed by the retired key", write, w}} {
		got := f.raw(c.env)
		if !got.Duplicate || got.Index != c.want.Index || got.EntryHash != c.want.EntryHash || got.Outcome.Status != ledger.StatusAccepted {
			t.Errorf("resubmitting %s: %+v, want the original result at index %d", c.name, got, c.want.Index)
		}
	}
	f.view(func(v *ledger.View) { after = v.Head() })
	if after != before {
		t.Fatalf("a resubmission added to the journal: head %+v, before %+v", after, before)
	}
	// A new proposal by the retired key is still refused.
	if got := f.submit("alpha", "token.register", ledger.TokenRegister{
		Hash: ledger.HashToken("two"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)}); got.Outcome.Code != ledger.CodeUnauthorized {
		t.Fatalf("retired key: %+v", got.Outcome)
	}
}

func TestAssets(t *testing.T) {
	f := newFixture(t)
	owners := []map[string]any{{"member": "alpha", "share_bp": 6000}, {"member": "beta", "share_bp": 4000}}
	base := func() map[string]any {
		return map[string]any{"id": "m1", "kind": "model", "digest": digestA, "owners": owners}
	}
	with := func(k string, v any) map[string]any { b := base(); b[k] = v; return b }
	f.reject(ledger.CodeInvalid, "alpha", "asset.register", with("kind", "car"), "beta")
	f.reject(ledger.CodeInvalid, "alpha", "asset.register", with("digest", "md5:00"), "beta")
	f.reject(ledger.CodeInvalid, "alpha", "asset.register", with("id", "bad id"), "beta")
	f.reject(ledger.CodeInvalid, "alpha", "asset.register", with("owners", []map[string]any{{"member": "alpha", "share_bp": 9000}}))
	f.reject(ledger.CodeInvalid, "alpha", "asset.register", with("owners", []map[string]any{{"member": "beta", "share_bp": 5000}, {"member": "alpha", "share_bp": 5000}}), "beta")
	f.reject(ledger.CodeNotFound, "alpha", "asset.register", with("owners", []map[string]any{{"member": "alpha", "share_bp": 5000}, {"member": "zed", "share_bp": 5000}}))
	f.reject(ledger.CodeUnauthorized, "alpha", "asset.register", base())
	f.reject(ledger.CodeInvalid, "alpha", "asset.register", with("unknown", 1), "beta")
	f.accept("alpha", "asset.register", base(), "beta")
	f.reject(ledger.CodeConflict, "alpha", "asset.register", base(), "beta")

	f.reject(ledger.CodeUnauthorized, "alpha", "asset.transfer", map[string]any{"asset": "m1", "from": "alpha", "to": "gamma", "share_bp": 1000})
	f.reject(ledger.CodeInvalid, "alpha", "asset.transfer", map[string]any{"asset": "m1", "from": "alpha", "to": "gamma", "share_bp": 7000}, "gamma")
	f.accept("alpha", "asset.transfer", map[string]any{"asset": "m1", "from": "alpha", "to": "gamma", "share_bp": 6000}, "gamma")
	f.view(func(v *ledger.View) {
		a, _ := v.Asset("m1")
		if len(a.Owners) != 2 || a.Owners[0].Member != "beta" || a.Owners[1].Member != "gamma" || a.Owners[1].ShareBP != 6000 {
			t.Fatalf("owners after transfer: %+v", a.Owners)
		}
	})
	// A derived asset needs ownership of its parents or a derive grant.
	f.reject(ledger.CodeForbidden, "alpha", "asset.register", map[string]any{
		"id": "m2", "kind": "model", "digest": digestA, "owners": []map[string]any{{"member": "alpha", "share_bp": 10000}},
		"parents": []map[string]any{{"asset": "m1"}}})
	f.accept("gamma", "asset.register", map[string]any{
		"id": "m2", "kind": "model", "digest": digestA, "owners": []map[string]any{{"member": "gamma", "share_bp": 10000}},
		"parents": []map[string]any{{"asset": "m1"}}})
}

func hasEvent(r *ledger.Result, kind, subject string) bool {
	for _, e := range r.Outcome.Events {
		if e.Kind == kind && e.Subject == subject {
			return true
		}
	}
	return false
}

// TestDeterminism_RandomSequences applies the same random mix of valid and
// invalid proposals to two fresh ledgers, in different batch sizes, and
// requires identical journal heads and state digests.
func TestDeterminism_RandomSequences(t *testing.T) {
	seeds := 20
	if testing.Short() {
		seeds = 5
	}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		a, b := newFixture(t), newFixture(t)
		var entries []ledger.LogEntry
		for i := range 60 {
			env := randomProposal(a, rng, i)
			a.now = a.now.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)
			entries = append(entries, ledger.LogEntry{Index: uint64(i + 1), Data: ledger.EncodeRecord(a.now, env)})
		}
		a.l.Apply(entries)
		for len(entries) > 0 { // the other node sees different batch boundaries
			n := min(len(entries), 1+rng.IntN(7))
			b.l.Apply(entries[:n])
			entries = entries[n:]
		}
		var ha, hb ledger.Head
		a.view(func(v *ledger.View) { ha = v.Head() })
		b.view(func(v *ledger.View) { hb = v.Head() })
		if ha != hb || a.digest() != b.digest() {
			t.Fatalf("seed %d: nodes diverged: heads %+v / %+v", seed, ha, hb)
		}
		if ha.Size < 10 {
			t.Fatalf("seed %d: only %d entries journaled", seed, ha.Size)
		}
	}
}

func randomProposal(f *fixture, rng *rand.Rand, i int) []byte {
	members := []string{"alpha", "beta", "gamma"}
	m := members[rng.IntN(3)]
	o := members[rng.IntN(3)]
	id := "p" + strconv.Itoa(i)
	switch rng.IntN(11) {
	case 0:
		return f.envelope(m, "asset.register", id, map[string]any{"id": "a" + strconv.Itoa(rng.IntN(10)), "kind": "dataset", "digest": digestA,
			"owners": []map[string]any{{"member": m, "share_bp": 10000}}})
	case 1:
		return f.envelope(m, "token.register", id, map[string]any{"hash": ledger.HashToken(strconv.Itoa(rng.IntN(5))), "scopes": []string{"read"}, "expires_at": t0.Add(time.Hour * 24 * 30)})
	case 2:
		return f.envelope(m, "ballot.open", id, admitBody("new"+strconv.Itoa(rng.IntN(3))))
	case 3:
		return f.envelope(m, "ballot.vote", id, map[string]any{"ballot": "admit-new" + strconv.Itoa(rng.IntN(3)), "approve": rng.IntN(2) == 0})
	case 4:
		return f.envelope(m, "asset.transfer", id, map[string]any{"asset": "a" + strconv.Itoa(rng.IntN(10)), "from": m, "to": o, "share_bp": 1 + rng.IntN(10000)}, o)
	case 5:
		b := []byte(string(f.envelope(m, "token.register", id, map[string]any{})))
		b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255)) // corrupted in flight
		return b
	case 6:
		return f.envelope(m, "token.register", "p"+strconv.Itoa(rng.IntN(i+1)), map[string]any{"hash": ledger.HashToken("x"), "scopes": []string{"read"}, "expires_at": t0.Add(time.Hour * 24 * 30)})
	case 8:
		return f.envelope(m, "pool.create", id, ledger.PoolCreate{ID: "pool" + strconv.Itoa(rng.IntN(2)), Resource: "gpu-hours", Unit: "hour",
			Period: ledger.PeriodDay, Capacity: 50, Mode: ledger.QuotaWeighted, Owners: []string{m},
			Quotas: []ledger.QuotaSpec{{Member: "alpha", Weight: 1}, {Member: "beta", Weight: 2}, {Member: "gamma", Weight: 3}}})
	case 9:
		return f.envelope(m, "pool.consume", id, ledger.PoolConsume{Pool: "pool" + strconv.Itoa(rng.IntN(2)), Amount: int64(1 + rng.IntN(20))})
	case 10:
		if rng.IntN(2) == 0 {
			return f.envelope(m, "pool.transfer", id, ledger.PoolTransfer{Pool: "pool" + strconv.Itoa(rng.IntN(2)), To: o, Amount: int64(1 + rng.IntN(10))})
		}
		return f.envelope(m, "pool.hold", id, ledger.PoolHold{Pool: "pool" + strconv.Itoa(rng.IntN(2)), Hold: "h" + strconv.Itoa(rng.IntN(3)),
			Amount: int64(1 + rng.IntN(10)), Deadline: f.now.Add(time.Duration(1+rng.IntN(20)) * time.Second)})
	default:
		e := ledgertest.Propose(f.g.ID(), m, "asset.register", id, f.now, map[string]any{"id": "forged"}, ledgertest.Signer(o, scheme))
		return e.Encode()
	}
}

func TestSnapshot_RestoreRoundTripAndTamper(t *testing.T) {
	f := newFixture(t)
	for i := range 20 {
		f.register("alpha", "m"+strconv.Itoa(i))
	}
	buf := snapshotOf(t, f.l)
	want := f.digest()

	g := newFixture(t)
	g.register("beta", "other") // Restore replaces, it does not merge
	woken := g.l.Applied()
	if err := g.l.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woken:
	default:
		t.Fatal("a waiter on Applied was not woken by Restore")
	}
	if g.digest() != want || g.l.AppliedIndex() != f.l.AppliedIndex() {
		t.Fatalf("restored state differs: %s vs %s", g.digest(), want)
	}
	g.view(func(v *ledger.View) {
		if _, ok := v.Asset("other"); ok {
			t.Fatal("restore merged instead of replacing")
		}
	})

	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"truncated", buf.Bytes()[:buf.Len()/2]},
		{"flipped byte", func() []byte { b := bytes.Clone(buf.Bytes()); b[len(b)/2] ^= 0x40; return b }()},
		{"not a snapshot", []byte("hello")},
	} {
		h := newFixture(t)
		h.register("beta", "keep")
		d := h.digest()
		if err := h.l.Restore(bytes.NewReader(tc.b)); err == nil {
			t.Fatalf("%s: restore accepted a bad snapshot", tc.name)
		}
		if h.digest() != d {
			t.Fatalf("%s: a refused restore changed the state", tc.name)
		}
	}
	_ = errors.New
}

// CheckSnapshot is what a node runs on a snapshot a peer offers, before
// Raft keeps it: it must refuse what Restore refuses, leave the state
// alone either way, and leave no file behind.
func TestSnapshot_CheckRefusesWhatRestoreRefuses(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.register("alpha", "m"+strconv.Itoa(i))
	}
	buf := snapshotOf(t, f.l)

	other := testGenesis(t)
	other.Name, other.Signatures = "Another consortium", nil
	for _, m := range other.Members {
		if err := other.Sign(ledgertest.Signer(m.ID, scheme)); err != nil {
			t.Fatal(err)
		}
	}
	ol, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), other, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	obuf := snapshotOf(t, ol)
	ol.Close()

	dir := t.TempDir()
	l, err := ledger.Open(filepath.Join(dir, "state.db"), testGenesis(t), ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	h := &fixture{t: t, l: l, g: testGenesis(t), now: t0.Add(time.Minute)}
	h.register("beta", "keep")
	files := func() []string {
		t.Helper()
		m, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	want, d, applied := files(), h.digest(), h.l.AppliedIndex()
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"good", buf.Bytes(), true},
		{"empty", nil, false},
		{"not a snapshot", []byte("hello"), false},
		{"truncated", buf.Bytes()[:buf.Len()/2], false},
		{"flipped byte", func() []byte { b := bytes.Clone(buf.Bytes()); b[len(b)/2] ^= 0x40; return b }(), false},
		{"another consortium", obuf.Bytes(), false},
		{"root page past the end", rootPastEnd(t, buf.Bytes()), false},
	} {
		checked, err := h.l.CheckSnapshot(bytes.NewReader(tc.b), nil)
		if tc.ok != (err == nil) {
			t.Fatalf("%s: CheckSnapshot = %v", tc.name, err)
		}
		if err == nil {
			// The checked copy reads back as the stream that was offered.
			back, rerr := io.ReadAll(checked)
			if rerr != nil || !bytes.Equal(back, tc.b) {
				t.Fatalf("%s: the checked snapshot reads back %d bytes (%v), offered %d", tc.name, len(back), rerr, len(tc.b))
			}
			if err := checked.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if rerr := newFixture(t).l.Restore(bytes.NewReader(tc.b)); tc.ok != (rerr == nil) {
			t.Fatalf("%s: CheckSnapshot = %v but Restore = %v", tc.name, err, rerr)
		}
		if h.digest() != d || h.l.AppliedIndex() != applied {
			t.Fatalf("%s: CheckSnapshot changed the state", tc.name)
		}
		if got := files(); !slices.Equal(got, want) {
			t.Fatalf("%s: files %v after the check, want %v", tc.name, got, want)
		}
	}
}

// rootPastEnd rewrites a snapshot so that both bbolt meta pages, with
// valid checksums, name a root page far past the end of the file, and
// recomputes the snapshot's trailing checksum: reading it faults outside
// the file's mapping, which must be a refusal, not a crash.
func rootPastEnd(t *testing.T, snap []byte) []byte {
	t.Helper()
	b := bytes.Clone(snap)
	db := b[len(snapshotMagic) : len(b)-sha256.Size]
	const pageHeader, boltMagic = 16, 0xED0CDAED
	pageSize := int(binary.LittleEndian.Uint32(db[pageHeader+8:]))
	for _, page := range []int{0, 1} {
		m := db[page*pageSize+pageHeader:]
		if binary.LittleEndian.Uint32(m) != boltMagic {
			t.Fatalf("page %d is not a bbolt meta page", page)
		}
		binary.LittleEndian.PutUint64(m[16:], 1<<30) // root bucket's page
		binary.LittleEndian.PutUint64(m[40:], 1<<31) // high-water mark
		h := fnv.New64a()
		h.Write(m[:56])
		binary.LittleEndian.PutUint64(m[56:], h.Sum64())
	}
	sum := sha256.Sum256(b[:len(b)-sha256.Size])
	copy(b[len(b)-sha256.Size:], sum[:])
	return b
}

// TestDuplicate_LeavesNoTrace: a duplicate takes a Raft index but leaves
// no journal entry, so it must not change the state either, not even the
// ledger time: a replay of the journal, which does not hold it, must
// reproduce the state digest (what charta audit and the chaos suite check).
func TestDuplicate_LeavesNoTrace(t *testing.T) {
	g := testGenesis(t)
	issued := t0.Add(time.Minute)
	env := ledgertest.Propose(g.ID(), "alpha", "token.register", "tok-1", issued,
		ledger.TokenRegister{Hash: ledger.HashToken("one"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)},
		ledgertest.Signer("alpha", scheme)).Encode()
	live := openLedger(t, g)
	first := live.Apply([]ledger.LogEntry{{Index: 5, Data: ledger.EncodeRecord(issued, env)}})[0]
	dup := live.Apply([]ledger.LogEntry{{Index: 6, Data: ledger.EncodeRecord(issued.Add(time.Minute), env)}})[0]
	if first.Outcome.Status != ledger.StatusAccepted || !dup.Duplicate || dup.Seq != first.Seq {
		t.Fatalf("first %+v, resubmission %+v", first, dup)
	}
	replay := openLedger(t, g)
	var entries []*ledger.Entry
	live.View(func(v *ledger.View) error { entries = v.Entries(1, 10); return nil })
	for _, e := range entries {
		replay.Apply([]ledger.LogEntry{{Index: e.Index, Data: ledger.EncodeRecord(e.LedgerTime, e.Envelope)}})
	}
	var liveDigest, replayDigest ledger.Hash
	var liveTime, replayTime time.Time
	live.View(func(v *ledger.View) error { liveDigest, liveTime = v.Digest(), v.LedgerTime(); return nil })
	replay.View(func(v *ledger.View) error { replayDigest, replayTime = v.Digest(), v.LedgerTime(); return nil })
	if live.AppliedIndex() != 6 || replay.AppliedIndex() != 5 {
		t.Fatalf("applied %d and %d", live.AppliedIndex(), replay.AppliedIndex())
	}
	if liveDigest != replayDigest || !liveTime.Equal(replayTime) {
		t.Fatalf("after a trailing duplicate: digest %s, ledger time %v; the journal's replay: %s, %v", liveDigest, liveTime, replayDigest, replayTime)
	}
}

// snapshotOf writes l's snapshot into a buffer.
func snapshotOf(t *testing.T, l *ledger.Ledger) *bytes.Buffer {
	t.Helper()
	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// TestRestore_DoesNotWaitForOpenSnapshots: Raft can hold a snapshot of the
// state (persisting it) while it waits for a Restore to finish; Restore
// must not wait for that snapshot to be released, or the node deadlocks.
// The open snapshot still streams the state it was taken of.
func TestRestore_DoesNotWaitForOpenSnapshots(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.register("alpha", "m"+strconv.Itoa(i))
	}
	buf := snapshotOf(t, f.l)
	held, err := f.l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.l.Restore(bytes.NewReader(buf.Bytes())) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		held.Release()
		t.Fatal("Restore waited for a snapshot that was still open")
	}
	var again bytes.Buffer
	if _, err := held.WriteTo(&again); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatalf("the open snapshot after Restore: %v, %d bytes, want %d", err, again.Len(), buf.Len())
	}
	held.Release()
	f.register("alpha", "after-restore")
}
