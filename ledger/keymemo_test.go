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
