package ledger_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// encGenesis is testGenesis with encryption keys for the given founders.
func encGenesis(t testing.TB, founders ...string) *ledger.Genesis {
	t.Helper()
	g := testGenesis(t)
	g.Signatures = nil
	for i, m := range g.Members {
		for _, f := range founders {
			if m.ID == f {
				k := ledgertest.EncryptionKey(f)
				g.Members[i].EncryptionKey = &k
			}
		}
	}
	for _, m := range g.Members {
		if err := g.Sign(ledgertest.Signer(m.ID, scheme)); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// encKeys returns member's encryption key records and current key.
func (f *fixture) encKeys(member string) ([]ledger.EncryptionKeyRecord, ledger.EncryptionKey, bool) {
	f.t.Helper()
	var recs []ledger.EncryptionKeyRecord
	var cur ledger.EncryptionKey
	var ok bool
	f.view(func(v *ledger.View) {
		recs = v.EncryptionKeys(member)
		cur, ok = v.EncryptionKey(member)
	})
	return recs, cur, ok
}

// TestGenesis_WithoutEncryptionKeysUnchanged: a genesis document with no
// encryption key encodes as it did before they existed, so its consortium
// ID is the one the journal vectors pin, and its members have none.
func TestGenesis_WithoutEncryptionKeysUnchanged(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "vectors", "journal-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pinned struct{ Consortium string }
	if err := json.Unmarshal(b, &pinned); err != nil {
		t.Fatal(err)
	}
	f := newJournalFixture(t, ledger.JournalBinary)
	if id := f.g.ID(); id != pinned.Consortium {
		t.Fatalf("consortium ID %s, pinned %s", id, pinned.Consortium)
	}
	if bytes.Contains(f.g.Encode(), []byte("encryption")) {
		t.Fatal("a genesis without encryption keys mentions them")
	}
	for _, m := range []string{"alpha", "beta", "audit"} {
		if recs, _, ok := f.encKeys(m); ok || recs != nil {
			t.Fatalf("%s has encryption keys %+v", m, recs)
		}
	}
	f.view(func(v *ledger.View) {
		m, _ := v.Member("alpha")
		if b, _ := json.Marshal(m); bytes.Contains(b, []byte("encryption")) {
			t.Fatalf("member record mentions encryption keys: %s", b)
		}
	})
}

// TestGenesis_EncryptionKeys: founders' encryption keys change the
// consortium ID, round-trip through the document, and become their
// current keys from index 0.
func TestGenesis_EncryptionKeys(t *testing.T) {
	g := encGenesis(t, "alpha", "audit")
	if g.ID() == testGenesis(t).ID() {
		t.Fatal("the encryption keys are not part of the consortium ID")
	}
	again, err := ledger.DecodeGenesis(g.Encode())
	if err != nil || again.ID() != g.ID() || again.Verify() != nil {
		t.Fatalf("decoded: %v, ID %s, want %s", err, again.ID(), g.ID())
	}
	f := newFixtureGenesis(t, g)
	for _, m := range []string{"alpha", "audit"} {
		want := ledgertest.EncryptionKey(m)
		recs, cur, ok := f.encKeys(m)
		if !ok || !cur.Equal(want) || len(recs) != 1 {
			t.Fatalf("%s: current %v %v, records %+v", m, ok, cur.Fingerprint(), recs)
		}
		if r := recs[0]; r.Fingerprint != want.Fingerprint() || r.ValidFrom != 0 || r.ValidUntil != 0 || r.EndedBy != "" {
			t.Fatalf("%s: record %+v", m, r)
		}
	}
	if _, _, ok := f.encKeys("beta"); ok {
		t.Fatal("beta has an encryption key")
	}
}

// TestGenesis_RejectsBadEncryptionKeys: each bad key is refused with a
// reason that names the founder's field.
func TestGenesis_RejectsBadEncryptionKeys(t *testing.T) {
	alpha := ledgertest.EncryptionKey("alpha")
	overModulus := bytes.Clone(alpha.Key)
	overModulus[0], overModulus[1] = 0xff, 0x0f // a coefficient above q = 3329
	for _, c := range []struct {
		name string
		keys map[string]ledger.EncryptionKey
		want string
	}{
		{"other scheme", map[string]ledger.EncryptionKey{"alpha": {Scheme: "ml-kem-768", Key: alpha.Key}}, `genesis.members[0].encryption_key.scheme: must be "x-wing", got "ml-kem-768"`},
		{"short key", map[string]ledger.EncryptionKey{"alpha": {Scheme: "x-wing", Key: alpha.Key[:32]}}, "genesis.members[0].encryption_key.key: an x-wing key is 1216 bytes, got 32"},
		{"over the modulus", map[string]ledger.EncryptionKey{"beta": {Scheme: "x-wing", Key: overModulus}}, "genesis.members[2].encryption_key.key: not an x-wing key"},
		{"one key, two founders", map[string]ledger.EncryptionKey{"alpha": alpha, "gamma": alpha}, "genesis.members[3].encryption_key: the same key as alpha's"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := testGenesis(t)
			for i, m := range g.Members {
				if k, ok := c.keys[m.ID]; ok {
					g.Members[i].EncryptionKey = &k
				}
			}
			err := g.Validate()
			if ledger.CodeOf(err) != ledger.CodeInvalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// admitWithKey is admitBody with an encryption key in the parameters.
func admitWithKey(member string, k ledger.EncryptionKey) map[string]any {
	b := admitBody(member)
	b["params"].(map[string]any)["encryption_key"] = k
	return b
}

// TestAdmit_EncryptionKey: a member admitted with an encryption key has it
// from the index of the passing vote; a key already registered or a bad
// one is refused when the ballot opens.
func TestAdmit_EncryptionKey(t *testing.T) {
	f := newFixtureGenesis(t, encGenesis(t, "alpha"))
	r := f.reject(ledger.CodeConflict, "alpha", "ballot.open", admitWithKey("delta", ledgertest.EncryptionKey("alpha")))
	if want := "body.params.encryption_key: encryption key " + ledgertest.EncryptionKey("alpha").Fingerprint() + " is already registered to alpha"; r.Outcome.Message != want {
		t.Fatalf("message %q, want %q", r.Outcome.Message, want)
	}
	r = f.reject(ledger.CodeInvalid, "alpha", "ballot.open", admitWithKey("delta", ledger.EncryptionKey{Scheme: "x-wing", Key: []byte{1, 2, 3}}))
	if want := "body.params.encryption_key.key: an x-wing key is 1216 bytes, got 3"; r.Outcome.Message != want {
		t.Fatalf("message %q, want %q", r.Outcome.Message, want)
	}

	delta := ledgertest.EncryptionKey("delta")
	f.accept("alpha", "ballot.open", admitWithKey("delta", delta))
	r = f.accept("beta", "ballot.vote", map[string]any{"ballot": "admit-delta", "approve": true})
	if !hasEvent(r, "member.admitted", "delta") {
		t.Fatalf("delta not admitted: %+v", r.Outcome)
	}
	recs, cur, ok := f.encKeys("delta")
	if !ok || !cur.Equal(delta) || len(recs) != 1 || recs[0].ValidFrom != r.Index || recs[0].Fingerprint != delta.Fingerprint() {
		t.Fatalf("delta: current %v, records %+v, admitted at %d", ok, recs, r.Index)
	}

	// Admitted without one, as before: no key, and the member can add one.
	f.accept("alpha", "ballot.open", admitBody("epsilon"))
	f.accept("beta", "ballot.vote", map[string]any{"ballot": "admit-epsilon", "approve": true})
	if _, _, ok := f.encKeys("epsilon"); ok {
		t.Fatal("epsilon has an encryption key")
	}
}

// TestEncryptionKeyRotate_KeepsHistory: a rotation ends the current key
// at its index and keeps it in the history; a member without a key
// registers its first one; the stale, wrong or missing old fingerprint,
// a reused key and a bad key are refused with reasons.
func TestEncryptionKeyRotate_KeepsHistory(t *testing.T) {
	f := newFixtureGenesis(t, encGenesis(t, "alpha"))
	a1, a2, a3 := ledgertest.EncryptionKey("alpha"), ledgertest.EncryptionKey("alpha-2"), ledgertest.EncryptionKey("alpha-3")
	rotate := func(old string, k ledger.EncryptionKey) ledger.EncryptionKeyRotate {
		return ledger.EncryptionKeyRotate{Old: old, New: k}
	}

	for _, c := range []struct {
		name   string
		signer string
		body   any
		code   ledger.Code
		want   string
	}{
		{"no old", "alpha", rotate("", a2), ledger.CodeConflict, "body.old: the current encryption key of alpha is " + a1.Fingerprint() + `, not ""`},
		{"wrong old", "alpha", rotate(a2.Fingerprint(), a2), ledger.CodeConflict, "not \"" + a2.Fingerprint() + `"`},
		{"old without a key", "beta", rotate(a1.Fingerprint(), a2), ledger.CodeConflict, "body.old: beta has no encryption key to replace; leave old out"},
		{"another member's key", "beta", rotate("", a1), ledger.CodeConflict, "body.new: encryption key " + a1.Fingerprint() + " is already registered to alpha"},
		{"the same key again", "alpha", rotate(a1.Fingerprint(), a1), ledger.CodeConflict, "already registered to alpha"},
		{"short key", "beta", rotate("", ledger.EncryptionKey{Scheme: "x-wing", Key: a2.Key[:100]}), ledger.CodeInvalid, "body.new.key: an x-wing key is 1216 bytes, got 100"},
		{"other scheme", "beta", rotate("", ledger.EncryptionKey{Scheme: "X-Wing", Key: a2.Key}), ledger.CodeInvalid, `body.new.scheme: must be "x-wing", got "X-Wing"`},
		{"unknown field", "beta", map[string]any{"new": a2, "seed": "x"}, ledger.CodeInvalid, "seed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := f.reject(c.code, c.signer, "key.encryption.rotate", c.body)
			if !strings.Contains(r.Outcome.Message, c.want) {
				t.Fatalf("message %q, want %q", r.Outcome.Message, c.want)
			}
			if _, _, ok := f.encKeys("beta"); ok {
				t.Fatal("a rejected rotation registered a key")
			}
		})
	}

	r2 := f.accept("alpha", "key.encryption.rotate", rotate(a1.Fingerprint(), a2))
	if !hasEvent(r2, "key.encryption.rotated", "alpha") {
		t.Fatalf("events %+v", r2.Outcome.Events)
	}
	r3 := f.accept("alpha", "key.encryption.rotate", rotate(a2.Fingerprint(), a3))
	// A retired key cannot come back, for its owner or anyone else.
	f.reject(ledger.CodeConflict, "alpha", "key.encryption.rotate", rotate(a3.Fingerprint(), a1))
	f.reject(ledger.CodeConflict, "gamma", "key.encryption.rotate", rotate("", a2))

	recs, cur, ok := f.encKeys("alpha")
	if !ok || !cur.Equal(a3) {
		t.Fatalf("current %v %s, want %s", ok, cur.Fingerprint(), a3.Fingerprint())
	}
	want := []ledger.EncryptionKeyRecord{
		{Fingerprint: a1.Fingerprint(), Public: a1, ValidFrom: 0, ValidUntil: r2.Index, EndedBy: "rotated"},
		{Fingerprint: a2.Fingerprint(), Public: a2, ValidFrom: r2.Index, ValidUntil: r3.Index, EndedBy: "rotated"},
		{Fingerprint: a3.Fingerprint(), Public: a3, ValidFrom: r3.Index},
	}
	gotJSON, _ := json.Marshal(recs)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("history\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	if !recs[0].ValidAt(r2.Index-1) || recs[0].ValidAt(r2.Index) || !recs[1].ValidAt(r2.Index) || !recs[2].ValidAt(r3.Index+100) {
		t.Fatal("ValidAt does not follow the spans")
	}
	f.view(func(v *ledger.View) {
		m, _ := v.Member("alpha")
		if m.UpdatedAt != r3.Index {
			t.Fatalf("updated_at %d, want %d", m.UpdatedAt, r3.Index)
		}
	})

	// A member without a key (beta) and an auditor register their first.
	f.accept("beta", "key.encryption.rotate", rotate("", ledgertest.EncryptionKey("beta")))
	f.accept("audit", "key.encryption.rotate", rotate("", ledgertest.EncryptionKey("audit")))
	if _, cur, ok := f.encKeys("audit"); !ok || !cur.Equal(ledgertest.EncryptionKey("audit")) {
		t.Fatal("the auditor's key is not current")
	}
}

// TestEncryptionKeys_Deterministic: the same admissions and rotations on
// two fresh ledgers give the same journal heads and state digests, a
// snapshot restores them, and a ledger without any keeps the digest of one
// that never heard of encryption keys.
func TestEncryptionKeys_Deterministic(t *testing.T) {
	run := func() *fixture {
		f := newFixtureGenesis(t, encGenesis(t, "alpha", "beta"))
		f.accept("alpha", "ballot.open", admitWithKey("delta", ledgertest.EncryptionKey("delta")))
		f.accept("beta", "ballot.vote", map[string]any{"ballot": "admit-delta", "approve": true})
		f.now = f.now.Add(time.Minute)
		f.accept("alpha", "key.encryption.rotate", ledger.EncryptionKeyRotate{Old: ledgertest.EncryptionKey("alpha").Fingerprint(), New: ledgertest.EncryptionKey("alpha-2")})
		f.accept("gamma", "key.encryption.rotate", ledger.EncryptionKeyRotate{New: ledgertest.EncryptionKey("gamma")})
		f.reject(ledger.CodeConflict, "delta", "key.encryption.rotate", ledger.EncryptionKeyRotate{New: ledgertest.EncryptionKey("gamma")})
		return f
	}
	a, b := run(), run()
	var ha, hb ledger.Head
	a.view(func(v *ledger.View) { ha = v.Head() })
	b.view(func(v *ledger.View) { hb = v.Head() })
	if ha != hb || a.digest() != b.digest() {
		t.Fatalf("diverged: heads %+v / %+v", ha, hb)
	}

	c := newFixtureGenesis(t, encGenesis(t, "alpha", "beta"))
	if err := c.l.Restore(bytes.NewReader(snapshotOf(t, a.l).Bytes())); err != nil {
		t.Fatal(err)
	}
	if c.digest() != a.digest() {
		t.Fatal("the restored state has another digest")
	}
	recs, cur, ok := c.encKeys("alpha")
	if !ok || !cur.Equal(ledgertest.EncryptionKey("alpha-2")) || len(recs) != 2 || recs[0].EndedBy != "rotated" {
		t.Fatalf("restored alpha: %v %+v", ok, recs)
	}
}
