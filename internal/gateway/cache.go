package gateway

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charta/charta/ledger"
)

// tableShards is the number of independently locked parts of a table:
// readers of different keys rarely share a lock, and a reader never
// waits for a writer of another shard.
const tableShards = 64

// table is a map split into shards, each under its own read-write lock,
// so that the hot path (a read of one key) takes no lock that every
// request takes.
type table[K comparable, V any] struct {
	seed     maphash.Seed
	perShard int // a shard that fills up is emptied, which bounds memory
	shards   [tableShards]shard[K, V]
}

type shard[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
	_  [32]byte // keeps neighbouring shards' locks off one cache line
}

func newTable[K comparable, V any](maxEntries int) *table[K, V] {
	t := &table[K, V]{seed: maphash.MakeSeed(), perShard: max(maxEntries/tableShards, 1)}
	for i := range t.shards {
		t.shards[i].m = make(map[K]V)
	}
	return t
}

func (t *table[K, V]) shard(k K) *shard[K, V] {
	return &t.shards[maphash.Comparable(t.seed, k)%tableShards]
}

func (t *table[K, V]) get(k K) (V, bool) {
	s := t.shard(k)
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	return v, ok
}

func (t *table[K, V]) put(k K, v V) {
	s := t.shard(k)
	s.mu.Lock()
	if _, ok := s.m[k]; !ok && len(s.m) >= t.perShard {
		clear(s.m)
	}
	s.m[k] = v
	s.mu.Unlock()
}

// checkKey is what a decision depends on besides the ledger and time: the
// check request without its time.
type checkKey struct {
	member, asset                string
	action                       ledger.Right
	territory, purpose, industry string
}

// request is the check request the key stands for, at the node's time.
func (k checkKey) request() ledger.CheckRequest {
	return ledger.CheckRequest{Member: k.member, Asset: k.asset, Action: k.action, Territory: k.territory, Purpose: k.purpose, Industry: k.industry}
}

// cachedDecision is a decision and until when it may be served.
type cachedDecision struct {
	d       *ledger.Decision
	gen     uint64 // the cache generation it was fetched in
	expires int64  // unix nanoseconds
}

// decisionCache holds the node's answers to check requests. Every entry
// belongs to a generation; invalidate starts a new one, which retires
// every entry at once without touching them (O(1), no lock). An entry is
// served only in its generation and before it expires: at the earliest of
// the TTL after its question was sent and the decision's valid_until.
type decisionCache struct {
	ttl time.Duration
	gen atomic.Uint64
	t   *table[checkKey, cachedDecision]
}

// maxDecisions bounds the cache; the distinct questions a consortium's
// members ask of one gateway are far fewer.
const maxDecisions = 1 << 16

func newDecisionCache(ttl time.Duration) *decisionCache {
	return &decisionCache{ttl: ttl, t: newTable[checkKey, cachedDecision](maxDecisions)}
}

// generation is the current generation: read it before asking the node,
// and pass it to put.
func (c *decisionCache) generation() uint64 { return c.gen.Load() }

// invalidate retires every entry.
func (c *decisionCache) invalidate() { c.gen.Add(1) }

// get returns the decision for k if one may be served at now.
func (c *decisionCache) get(k checkKey, now time.Time) (*ledger.Decision, bool) {
	e, ok := c.t.get(k)
	if !ok || e.gen != c.gen.Load() || now.UnixNano() >= e.expires {
		return nil, false
	}
	return e.d, true
}

// put stores d for k, asked at asked in generation gen. If the cache was
// invalidated since, d may predate the change that invalidated it and is
// not stored.
func (c *decisionCache) put(k checkKey, d *ledger.Decision, gen uint64, asked time.Time) {
	exp := asked.Add(c.ttl)
	if d.ValidUntil != nil && d.ValidUntil.Before(exp) {
		exp = *d.ValidUntil
	}
	if gen != c.gen.Load() {
		return
	}
	c.t.put(k, cachedDecision{d: d, gen: gen, expires: exp.UnixNano()})
}
