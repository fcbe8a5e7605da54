package ledger

import (
	"strings"
	"testing"
)

// TestUseLen_MatchesWriteUse keeps the size Check reserves for a reason in
// step with what writeUse writes, for every combination of the optional
// parts.
func TestUseLen_MatchesWriteUse(t *testing.T) {
	for mask := range 8 {
		r := CheckRequest{Member: "beta", Asset: "atlas-7b", Action: RightTrain}
		if mask&1 != 0 {
			r.Territory = "DE"
		}
		if mask&2 != 0 {
			r.Purpose = "research"
		}
		if mask&4 != 0 {
			r.Industry = "health"
		}
		var b strings.Builder
		writeUse(&b, &r)
		if got := useLen(&r); got != b.Len() {
			t.Errorf("%+v: useLen %d, writeUse wrote %d bytes (%q)", r, got, b.Len(), b.String())
		}
	}
	for _, list := range [][]string{nil, {"alpha"}, {"alpha", "gamma", "delta"}} {
		if got, want := joinedLen(list, ", "), len(strings.Join(list, ", ")); got != want {
			t.Errorf("joinedLen(%q) = %d, want %d", list, got, want)
		}
	}
}
