package ledger

import (
	"math"
	"testing"
)

func TestMulDivHalfEven(t *testing.T) {
	cases := []struct {
		x, n, d int64
		want    int64
		ok      bool
	}{
		{1, 1, 2, 0, true}, // 0.5 → 0
		{3, 1, 2, 2, true}, // 1.5 → 2
		{5, 1, 2, 2, true}, // 2.5 → 2
		{7, 1, 2, 4, true}, // 3.5 → 4
		{7, 1, 3, 2, true}, // 2.33 → 2
		{8, 1, 3, 3, true}, // 2.67 → 3
		{0, 5, 7, 0, true},
		{MaxQuantity, MaxQuantity, MaxQuantity, MaxQuantity, true},         // 1e30 in 128 bits
		{math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64, true}, // the int64 limit itself
		{math.MaxInt64, 2, 1, 0, false},                                    // quotient over int64
		{MaxQuantity, MaxQuantity, 1, 0, false},                            // 1e30 does not fit
		{-1, 1, 1, 0, false},
		{1, 1, 0, 0, false},
	}
	for _, c := range cases {
		got, ok := mulDivHalfEven(c.x, c.n, c.d)
		if got != c.want || ok != c.ok {
			t.Errorf("%d×%d/%d: got %d %v, want %d %v", c.x, c.n, c.d, got, ok, c.want, c.ok)
		}
	}
	if _, ok := addChecked(math.MaxInt64, 1); ok {
		t.Error("MaxInt64+1 did not overflow")
	}
	if _, ok := addChecked(math.MinInt64, -1); ok {
		t.Error("MinInt64-1 did not overflow")
	}
	if v, ok := addChecked(math.MaxInt64-1, 1); !ok || v != math.MaxInt64 {
		t.Error("MaxInt64-1+1")
	}
}
