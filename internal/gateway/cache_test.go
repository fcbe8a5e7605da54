package gateway

import (
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

var key = checkKey{member: "beta", asset: "model-x", action: ledger.RightUse, territory: "DE"}

func TestDecisionCache_ExpiresAfterTTL(t *testing.T) {
	c := newDecisionCache(2 * time.Second)
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	d := &ledger.Decision{Allowed: true}
	c.put(key, d, c.generation(), t0)
	if got, ok := c.get(key, t0.Add(1999*time.Millisecond)); !ok || got != d {
		t.Fatal("not served within the TTL")
	}
	if _, ok := c.get(key, t0.Add(2*time.Second)); ok {
		t.Fatal("served at the TTL")
	}
	other := key
	other.territory = "FR"
	if _, ok := c.get(other, t0); ok {
		t.Fatal("served for another territory")
	}
}

// TestDecisionCache_NeverPastValidUntil serves an allow only until the
// grant's not_after, when that comes before the TTL.
func TestDecisionCache_NeverPastValidUntil(t *testing.T) {
	c := newDecisionCache(time.Minute)
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	end := t0.Add(500 * time.Millisecond)
	c.put(key, &ledger.Decision{Allowed: true, ValidUntil: &end}, c.generation(), t0)
	if _, ok := c.get(key, end.Add(-time.Nanosecond)); !ok {
		t.Fatal("not served before valid_until")
	}
	if _, ok := c.get(key, end); ok {
		t.Fatal("served at valid_until")
	}
}

// TestDecisionCache_Invalidate retires every entry at once, and drops an
// answer fetched before an invalidation that lands while it was in flight.
func TestDecisionCache_Invalidate(t *testing.T) {
	c := newDecisionCache(time.Minute)
	t0 := time.Now()
	c.put(key, &ledger.Decision{Allowed: true}, c.generation(), t0)
	c.invalidate()
	if _, ok := c.get(key, t0); ok {
		t.Fatal("served after invalidate")
	}
	gen := c.generation() // a check is sent...
	c.invalidate()        // ...a revocation commits while it is in flight...
	c.put(key, &ledger.Decision{Allowed: true}, gen, t0)
	if _, ok := c.get(key, t0); ok {
		t.Fatal("an answer from before the invalidation was cached")
	}
	c.put(key, &ledger.Decision{Allowed: false}, c.generation(), t0)
	if d, ok := c.get(key, t0); !ok || d.Allowed {
		t.Fatal("a fresh answer was not cached")
	}
}

func TestTable_BoundedShards(t *testing.T) {
	tb := newTable[int, int](tableShards * 2)
	for i := range 10000 {
		tb.put(i, i)
	}
	n := 0
	for i := range tb.shards {
		if l := len(tb.shards[i].m); l > 2 {
			t.Fatalf("shard %d holds %d entries, bound 2", i, l)
		}
		n += len(tb.shards[i].m)
	}
	if v, ok := tb.get(9999); !ok || v != 9999 {
		t.Fatal("the newest entry is gone")
	}
	if n == 0 {
		t.Fatal("empty")
	}
}

// TestDecisionCache_HitAllocatesNothing keeps the hot path cheap.
func TestDecisionCache_HitAllocatesNothing(t *testing.T) {
	c := newDecisionCache(time.Minute)
	now := time.Now()
	c.put(key, &ledger.Decision{Allowed: true}, c.generation(), now)
	if n := testing.AllocsPerRun(1000, func() { c.get(key, now) }); n != 0 {
		t.Fatalf("%v allocations per hit", n)
	}
}

func BenchmarkDecisionCache_Hit(b *testing.B) {
	c := newDecisionCache(time.Minute)
	now := time.Now()
	c.put(key, &ledger.Decision{Allowed: true}, c.generation(), now)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.get(key, now)
		}
	})
}
