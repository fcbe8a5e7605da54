package ledger

import (
	"encoding/json"
	"testing"
)

// TestMemo_FollowsBytesAndHandsOutCopies: a memoised read returns what
// the stored bytes say, even when they change under the same ID, and a
// caller that modifies its record does not change what the next one gets.
func TestMemo_FollowsBytesAndHandsOutCopies(t *testing.T) {
	mm := &newMemos().members
	raw := func(m Member) []byte { b, _ := json.Marshal(m); return b }
	v1 := raw(Member{ID: "alpha", Role: RoleMember, Status: MemberActive, Keys: []string{"alpha/k1"}})
	got := mm.decode("alpha", v1)
	got.Keys[0] = "tampered"
	got.Status = MemberRemoved
	if again := mm.decode("alpha", v1); again.Keys[0] != "alpha/k1" || again.Status != MemberActive {
		t.Fatalf("a caller's change leaked into the memo: %+v", again)
	}
	v2 := raw(Member{ID: "alpha", Role: RoleMember, Status: MemberSuspended, Keys: []string{"alpha/k1", "alpha/k2"}})
	if got := mm.decode("alpha", v2); got.Status != MemberSuspended || len(got.Keys) != 2 {
		t.Fatalf("changed bytes gave %+v", got)
	}
}

// TestMemo_CharterCopiesAndPeekShares: the charter, read by every
// admission, is handed out as a copy down to its export rules; peek, for
// readers that only look, shares the memo's record instead.
func TestMemo_CharterCopiesAndPeekShares(t *testing.T) {
	ms := newMemos()
	c := DefaultCharter()
	c.ExportPolicy = []ExportRule{{Classification: "EAR99", Deny: []string{"KP"}, RequireDuties: []string{"fairness_audit"}}}
	c.SealAuditors = []string{"audit"}
	raw, _ := json.Marshal(c)
	got := ms.charter.decode(string(metaCharter), raw)
	got.ExportPolicy[0].Deny[0], got.ExportPolicy[0].RequireDuties[0], got.SealAuditors[0] = "XX", "none", "mallory"
	again := ms.charter.decode(string(metaCharter), raw)
	if again.ExportPolicy[0].Deny[0] != "KP" || again.ExportPolicy[0].RequireDuties[0] != "fairness_audit" || again.SealAuditors[0] != "audit" {
		t.Fatalf("a caller's change leaked into the charter memo: %+v", again)
	}
	m := Member{ID: "alpha", Keys: []string{"alpha/k1"}}
	mraw, _ := json.Marshal(m)
	ms.members.decode("alpha", mraw) // the first read decodes and remembers
	a, b := ms.members.decodeShared("alpha", mraw, true), ms.members.decodeShared("alpha", mraw, true)
	if &a.Keys[0] != &b.Keys[0] {
		t.Fatal("peek copied the record")
	}
	if c := ms.members.decode("alpha", mraw); &c.Keys[0] == &a.Keys[0] {
		t.Fatal("decode shared the memo's record")
	}
}
