package ledger

import (
	"math"
	"math/bits"
)

// The bounds on amounts. Every quantity, capacity, cap and unit price is at
// most MaxQuantity, so the product of a quantity and a unit price fits in
// 128 bits; every statement line and total is checked against MaxMicros,
// which leaves room for the bounded adjustments (at most MaxMultipliers
// multipliers of at most MaxMultiplierBP each) below the int64 limit. A
// value beyond a bound is refused when it enters the ledger, so statements
// computed later never overflow; the arithmetic is checked all the same.
const (
	// MaxQuantity bounds quantities, pool capacities and amounts, caps,
	// SLA measurements and unit prices (in micro-units).
	MaxQuantity int64 = 1_000_000_000_000_000 // 1e15
	// MaxMicros bounds the base fee of one grant for one period, and a
	// minimum commitment: 1e17 micro-units, i.e. 1e11 units of currency.
	MaxMicros int64 = 100_000_000_000_000_000 // 1e17
	// MaxMultiplierBP bounds one performance multiplier (2×).
	MaxMultiplierBP int64 = 20000
	// MaxMultipliers bounds the number of performance multipliers.
	MaxMultipliers = 4
	// bpScale is 100% in basis points.
	bpScale int64 = 10000
)

// mulDivHalfEven returns x·n/d rounded half to even, for x, n ≥ 0 and
// d > 0, computing the product in 128 bits. ok is false if the result does
// not fit in an int64.
func mulDivHalfEven(x, n, d int64) (int64, bool) {
	if x < 0 || n < 0 || d <= 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(x), uint64(n))
	if hi >= uint64(d) {
		return 0, false
	}
	q, r := bits.Div64(hi, lo, uint64(d))
	// r < d ≤ 2^63, so 2r does not overflow.
	switch twice := 2 * r; {
	case twice > uint64(d), twice == uint64(d) && q&1 == 1:
		q++
	}
	if q > math.MaxInt64 {
		return 0, false
	}
	return int64(q), true
}

// mulDivFloor returns ⌊x·n/d⌋ and the remainder, for x, n ≥ 0 and d > 0.
func mulDivFloor(x, n, d int64) (q, r uint64, ok bool) {
	if x < 0 || n < 0 || d <= 0 {
		return 0, 0, false
	}
	hi, lo := bits.Mul64(uint64(x), uint64(n))
	if hi >= uint64(d) {
		return 0, 0, false
	}
	q, r = bits.Div64(hi, lo, uint64(d))
	return q, r, q <= math.MaxInt64
}

// addChecked returns a+b, and false if it overflows.
func addChecked(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// checked accumulates the first overflow of a computation, so that a long
// sequence of steps can be checked once at the end.
type checked struct{ overflow bool }

func (c *checked) add(a, b int64) int64 {
	s, ok := addChecked(a, b)
	if !ok {
		c.overflow = true
	}
	return s
}

func (c *checked) mulDiv(x, n, d int64) int64 {
	v, ok := mulDivHalfEven(x, n, d)
	if !ok {
		c.overflow = true
	}
	return v
}
