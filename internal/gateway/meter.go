package gateway

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/charta/charta/ledger"
)

// ParseQuantity reads a metering header's value: a non-negative decimal
// integer of at most ledger.MaxQuantity, with surrounding spaces and tabs
// allowed (HTTP's optional whitespace). Anything else (empty, signed,
// fractional, several values, too large, other whitespace) is malformed:
// ok is false and the quantity counts as zero.
func ParseQuantity(v string) (q int64, ok bool) {
	v = strings.Trim(v, " \t")
	if v == "" || len(v) > 19 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > ledger.MaxQuantity {
		return 0, false
	}
	return n, true
}

// A count key names what a count is of, in the journal and in pending:
//
//	usage: "u" NUL grant NUL period NUL metric
//	pool:  "p" NUL pool NUL member
type countKey string

func usageKey(grant, period, metric string) countKey {
	return countKey("u\x00" + grant + "\x00" + period + "\x00" + metric)
}

func poolKey(pool, member string) countKey {
	return countKey("p\x00" + pool + "\x00" + member)
}

// keyParts splits a count key into its kind ("u" or "p") and fields.
func (k countKey) parts() (kind string, fields []string) {
	f := strings.Split(string(k), "\x00")
	return f[0], f[1:]
}

// count is a quantity to journal under a key.
type count struct {
	key countKey
	q   int64
}

// pending is what the gateway has counted and the ledger does not hold
// yet, per count key: counts in the journal, reports signed and not yet
// committed, and reservations of requests in flight. What is left of a cap
// or quota is the ledger's figure minus this.
type pending struct {
	m sync.Map // countKey → *atomic.Int64
	// settled counts the committed batches whose counts left pending. An
	// admission that saw it change may have read the ledger's figure from
	// before a commit and pending from after it, and starts again.
	settled atomic.Uint64
}

// epoch returns the number of batches settled so far.
func (p *pending) epoch() uint64 { return p.settled.Load() }

// settle takes a committed batch's counts out of pending. Its caller has
// retired the cached answers that predate the commit already, so an
// admission that starts after this reads the ledger's figure with the
// batch in it.
func (p *pending) settle(keys []countKey, amounts []int64) {
	p.settled.Add(1)
	for i, k := range keys {
		p.add(k, -amounts[i])
	}
}

func (p *pending) cell(k countKey) *atomic.Int64 {
	if v, ok := p.m.Load(k); ok {
		return v.(*atomic.Int64)
	}
	v, _ := p.m.LoadOrStore(k, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// get returns the pending quantity of k.
func (p *pending) get(k countKey) int64 { return p.cell(k).Load() }

// add adds q (which may be negative) to k.
func (p *pending) add(k countKey, q int64) { p.cell(k).Add(q) }

// reserve adds need to k if left minus what is pending stays at least
// need, and reports whether it did. Concurrent reservations never
// overcommit.
func (p *pending) reserve(k countKey, left, need int64) bool {
	c := p.cell(k)
	for {
		cur := c.Load()
		if left-cur < need {
			return false
		}
		if c.CompareAndSwap(cur, cur+need) {
			return true
		}
	}
}
