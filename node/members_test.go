package node

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
	"github.com/charta/charta/node/api"
)

// TestMembers_PublishKeysAndVKeys: GET /v1/members/{id} shows every key a
// member ever had with its scheme, public key and validity, and its node's
// checkpoint verifier keys, which follow a rotation.
func TestMembers_PublishKeysAndVKeys(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	old, next := ledgertest.Signer("alpha", scheme), ledger.NewSigner("alpha", ledgertest.Key("alpha-next", scheme))
	rotate := ledgertest.Propose(w.g.ID(), "alpha", "key.rotate", "rotate-1", w.now,
		ledger.KeyRotate{Old: old.KeyID, New: next.Key.Public()}, old, next).Encode()
	r := w.apply(rotate)
	if r.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("rotation: %s: %s", r.Outcome.Code, r.Outcome.Message)
	}
	var m api.Member
	ts.get("/v1/members/alpha", "beta").json(t, &m)
	if len(m.PublicKeys) != 2 {
		t.Fatalf("public_keys: %+v", m.PublicKeys)
	}
	first, second := m.PublicKeys[0], m.PublicKeys[1]
	if first.ID != old.KeyID || first.Scheme != scheme || !bytes.Equal(first.PublicKey, old.Key.Public().Key) ||
		first.ValidFrom != 0 || first.ValidUntil != r.Index || first.EndedBy != "rotated" {
		t.Fatalf("the rotated key: %+v (rotation at index %d)", first, r.Index)
	}
	if second.ID != next.KeyID || !bytes.Equal(second.PublicKey, next.Key.Public().Key) || second.ValidFrom != r.Index || second.ValidUntil != 0 || second.EndedBy != "" {
		t.Fatalf("the new key: %+v (rotation at index %d)", second, r.Index)
	}
	origin := verify.Origin(w.g.ID())
	wantNote, _ := verify.NoteVKey(origin, next.Key.Public())
	wantCosig, _ := verify.CosignatureVKey(origin, "alpha", next.Key.Public())
	if m.Node.NoteVKey != wantNote || m.Node.CosignatureVKey != wantCosig || second.NoteVKey != wantNote {
		t.Fatalf("node vkeys %q %q, want the new key's %q %q", m.Node.NoteVKey, m.Node.CosignatureVKey, wantNote, wantCosig)
	}
	if oldNote, _ := verify.NoteVKey(origin, old.Key.Public()); first.NoteVKey != oldNote || oldNote == wantNote {
		t.Fatalf("the old key's note vkey %q, want %q", first.NoteVKey, oldNote)
	}
	if m.Node.APIAddr == "" || m.Node.RaftAddr == "" {
		t.Fatalf("node addresses lost: %+v", m.Node)
	}
	var list api.List[api.Member]
	ts.get("/v1/members", "beta").json(t, &list)
	if len(list.Items) == 0 || list.Items[0].ID != "alpha" || len(list.Items[0].PublicKeys) != 2 || list.Items[0].Node.NoteVKey != wantNote {
		t.Fatalf("list: %+v", list.Items)
	}
}

// TestMembers_DelegatedKeyScope: a delegated key shows its scope, with the
// grants it names only to its own member (grants are for their parties);
// it never becomes the node's checkpoint verifier key, and a node refuses
// to sign with it.
func TestMembers_DelegatedKeyScope(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	main, gw := ledgertest.Signer("alpha", scheme), ledger.NewSigner("alpha", ledgertest.Key("alpha-gateway", scheme))
	w.accept("alpha", "key.delegate", "delegate-1", ledger.KeyDelegate{Key: gw.Key.Public(), Scope: ledger.KeyScope{
		Types: []string{"infraction.observe"}, Grants: []string{"g-ab"}, Assets: []string{"model-b"}, NotAfter: t0.Add(24 * time.Hour)}})
	origin := verify.Origin(w.g.ID())
	mainNote, _ := verify.NoteVKey(origin, main.Key.Public())
	for _, c := range []struct {
		as     string
		grants []string
	}{{"alpha", []string{"g-ab"}}, {"beta", nil}, {"gamma", nil}, {"audit", []string{"g-ab"}}} {
		var m api.Member
		ts.get("/v1/members/alpha", c.as).json(t, &m)
		last := m.PublicKeys[len(m.PublicKeys)-1]
		if last.ID != gw.KeyID || last.Scope == nil || !slices.Equal(last.Scope.Types, []string{"infraction.observe"}) ||
			!slices.Equal(last.Scope.Assets, []string{"model-b"}) || !slices.Equal(last.Scope.Grants, c.grants) || m.PublicKeys[0].Scope != nil {
			t.Errorf("as %s: keys %+v, want the gateway key last with grants %v", c.as, m.PublicKeys, c.grants)
		}
		if m.Node.NoteVKey != mainNote {
			t.Errorf("as %s: the node's note vkey %q is not the main key's %q", c.as, m.Node.NoteVKey, mainNote)
		}
	}
	if err := ts.s.keyUsable(gw.KeyID); err == nil || !strings.Contains(err.Error(), "delegated key") {
		t.Fatalf("a node may sign with the delegated key: %v", err)
	}
}

// TestMembers_EncryptionKeys: GET /v1/members and /v1/members/{id} show
// each member's encryption keys, public part, fingerprint and validity,
// retired ones included; a member without one shows none.
func TestMembers_EncryptionKeys(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	k1, k2 := ledgertest.EncryptionKey("alpha"), ledgertest.EncryptionKey("alpha-2")
	r1 := w.accept("alpha", "key.encryption.rotate", "enc-1", ledger.EncryptionKeyRotate{New: k1})
	r2 := w.accept("alpha", "key.encryption.rotate", "enc-2", ledger.EncryptionKeyRotate{Old: k1.Fingerprint(), New: k2})

	want := []ledger.EncryptionKeyRecord{
		{Fingerprint: k1.Fingerprint(), Public: k1, ValidFrom: r1.Index, ValidUntil: r2.Index, EndedBy: "rotated"},
		{Fingerprint: k2.Fingerprint(), Public: k2, ValidFrom: r2.Index},
	}
	var m api.Member
	ts.get("/v1/members/alpha", "gamma").json(t, &m)
	if len(m.EncryptionKeys) != 2 {
		t.Fatalf("encryption_keys: %+v", m.EncryptionKeys)
	}
	for i, got := range m.EncryptionKeys {
		if got.Fingerprint != want[i].Fingerprint || !got.Public.Equal(want[i].Public) || got.ValidFrom != want[i].ValidFrom ||
			got.ValidUntil != want[i].ValidUntil || got.EndedBy != want[i].EndedBy {
			t.Fatalf("encryption_keys[%d] = %+v\nwant %+v", i, got, want[i])
		}
	}
	// The wire form: the public part as {"scheme","key"}, the fingerprint
	// in full.
	raw := ts.get("/v1/members/alpha", "gamma").body
	for _, s := range []string{`"encryption_keys":[{"fingerprint":"` + k1.Fingerprint() + `","public":{"scheme":"x-wing","key":"`, `"ended_by":"rotated"`} {
		if !bytes.Contains(raw, []byte(s)) {
			t.Fatalf("response lacks %s: %.400s", s, raw)
		}
	}
	if b := ts.get("/v1/members/beta", "gamma").body; bytes.Contains(b, []byte("encryption_keys")) {
		t.Fatalf("beta has none, yet: %.300s", b)
	}
	var list api.List[api.Member]
	ts.get("/v1/members", "beta").json(t, &list)
	if len(list.Items) == 0 || list.Items[0].ID != "alpha" || len(list.Items[0].EncryptionKeys) != 2 || list.Items[0].EncryptionKeys[1].Fingerprint != k2.Fingerprint() {
		t.Fatalf("list: %+v", list.Items)
	}
	// Every member sees the rotations in the journal, as with signing keys.
	var e ledger.Entry
	ts.get("/v1/journal/"+strconv.FormatUint(r2.Index, 10), "gamma").json(t, &e)
	if e.Envelope == nil || e.Outcome.Type != "key.encryption.rotate" {
		t.Fatalf("the rotation is withheld from gamma: %+v", e.Outcome)
	}
}
