package ledger

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"
)

// oneMemberLedger opens a ledger whose one member, alpha, signs with an
// Ed25519 key derived from name; its charter moves ledger time by the
// records' stamps. The ledger is closed when the test ends.
func oneMemberLedger(t *testing.T, name string) (*Ledger, *Genesis, *PrivateKey, time.Time) {
	t.Helper()
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	seed := sha256.Sum256([]byte(name))
	key, err := NewKeyFromSeed(SchemeEd25519, seed[:])
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultCharter()
	c.AttestedTime = false
	g := &Genesis{Format: GenesisFormat, Name: name, CreatedAt: t0, Charter: c,
		Members: []GenesisMember{{ID: "alpha", Role: RoleMember, Keys: []PublicKey{key.Public()}}}}
	if err := g.Sign(NewSigner("alpha", key)); err != nil {
		t.Fatal(err)
	}
	l, err := Open(t.TempDir()+"/state.db", g, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, g, key, t0
}

// TestPreverify_LeavesEnvelopesForApply checks that Preverify hands Apply
// the envelopes it decoded, each in its own entry, and none for a record
// whose envelope does not decode.
func TestPreverify_LeavesEnvelopesForApply(t *testing.T) {
	l, g, key, t0 := oneMemberLedger(t, "preverify")
	var envs []*Envelope
	for _, id := range []string{"one", "two"} {
		p := &Proposal{V: 1, Consortium: g.ID(), ID: id, Type: "asset.register", Signer: "alpha", IssuedAt: t0, Body: []byte(`{}`)}
		e, err := SignDeterministic(p, NewSigner("alpha", key))
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, e)
	}
	entries := []LogEntry{
		{Index: 1, Data: EncodeRecord(t0, envs[0].Encode())},
		{Index: 2, Data: EncodeRecord(t0, []byte(`{"payloadType":`))},
		{Index: 3, Data: EncodeRecord(t0, envs[1].Encode())},
	}
	l.Preverify(entries)
	if entries[1].Decoded != nil {
		t.Errorf("entry 2 (no envelope) got %+v", entries[1].Decoded)
	}
	for i, want := range map[int]*Envelope{0: envs[0], 2: envs[1]} {
		var got *Envelope
		if d := entries[i].Decoded; d != nil {
			got = d.env
		}
		if got == nil || string(got.Payload) != string(want.Payload) || got.Signatures[0].KeyID != want.Signatures[0].KeyID {
			t.Errorf("entry %d: Preverify left %+v, want the envelope of its own record", i+1, got)
		}
	}
}

// TestApply_DecodedFromOtherBytesIsIgnored checks that Apply does not take
// a decoded envelope on trust: one decoded from other bytes than the
// entry's is ignored, and the entry is applied as its own record says.
func TestApply_DecodedFromOtherBytesIsIgnored(t *testing.T) {
	l, g, key, t0 := oneMemberLedger(t, "decoded")
	sign := func(id string) []byte {
		p := &Proposal{V: 1, Consortium: g.ID(), ID: id, Type: "token.register", Signer: "alpha", IssuedAt: t0,
			Body: []byte(`{"hash":"` + HashToken(id) + `","scopes":["read"],"expires_at":"2026-02-01T00:00:00Z"}`)}
		e, err := SignDeterministic(p, NewSigner("alpha", key))
		if err != nil {
			t.Fatal(err)
		}
		return e.Encode()
	}
	mine, other := sign("mine"), sign("other")
	var decoded *Decoded
	l.View(func(v *View) error {
		adm, err := v.Admit(other, t0)
		if err != nil {
			t.Fatal(err)
		}
		decoded = adm.Decoded
		return nil
	})
	r := l.Apply([]LogEntry{{Index: 1, Data: EncodeRecord(t0, mine), Decoded: decoded}})[0]
	if r.Outcome.Status != StatusAccepted || r.Outcome.ID != "mine" {
		t.Fatalf("applied %+v, want proposal mine accepted", r.Outcome)
	}
	// The same decoded envelope with its own bytes is used as is.
	r = l.Apply([]LogEntry{{Index: 2, Data: EncodeRecord(t0, other), Decoded: decoded}})[0]
	if r.Outcome.Status != StatusAccepted || r.Outcome.ID != "other" {
		t.Fatalf("applied %+v, want proposal other accepted", r.Outcome)
	}

	// A caller that changes its bytes after admission and proposes them
	// gets what the changed bytes say, as a node without the decoded
	// envelope would: the admission kept its own copy.
	third := sign("third")
	l.View(func(v *View) error {
		adm, err := v.Admit(third, t0)
		if err != nil {
			t.Fatal(err)
		}
		decoded = adm.Decoded
		return nil
	})
	i := bytes.Index(third, []byte(`"sig":"`)) + len(`"sig":"`)
	third[i] ^= 0x01 // another base64 digit: the signature no longer verifies
	r = l.Apply([]LogEntry{{Index: 3, Data: EncodeRecord(t0, third), Decoded: decoded}})[0]
	if r.Outcome.Status != StatusRejected || r.Outcome.Code != CodeUnauthorized {
		t.Fatalf("changed bytes applied as %+v, want rejected as unsigned", r.Outcome)
	}
}
