package node

import (
	"bytes"
	"testing"

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
