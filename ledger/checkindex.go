package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// checkIndex is an immutable, decoded copy of what Check reads: members,
// assets, grants, and the grants each licensee holds over each asset.
// Apply publishes a new index after every batch; readers load the current
// one with an atomic pointer, so Check never takes a lock and never waits
// for Apply, and every check sees the state at one applied index.
//
// Each table is split into shards. A new index shares every shard the
// batch did not touch with the previous one, so publishing costs time in
// proportion to the batch, not to the state.
type checkIndex struct {
	applied    uint64
	ledgerTime time.Time
	members    shards[*Member]
	assets     shards[*Asset]
	grants     shards[*Grant]
	holders    shards[[]string]      // licensee \x00 asset → grant IDs, sorted
	totals     shards[*UsageTotals]  // grant \x00 period → reported usage, for hard caps
	exclusives shards[[]string]      // asset → IDs of the grants over it stated exclusive, sorted
	observed   shards[[]*Infraction] // member \x00 asset → observed infractions against it, by ID
	policy     []ExportRule          // the charter's export-control policy
}

const shardCount = 256

type shards[T any] [shardCount]map[string]T

// seed is fixed per process; shard choice only spreads keys and never
// reaches an outcome.
var seed = maphash.MakeSeed()

func shardOf(k string) int { return int(maphash.String(seed, k) % shardCount) }

func (s *shards[T]) get(k string) (T, bool) {
	v, ok := s[shardOf(k)][k]
	return v, ok
}

// indexUpdate builds the next index from the previous one, copying a shard
// the first time the batch writes to it.
type indexUpdate struct {
	next  *checkIndex
	dirty [7][shardCount]bool
}

func setShard[T any](u *indexUpdate, table int, s *shards[T], k string, v T, del bool) {
	i := shardOf(k)
	if !u.dirty[table][i] {
		s[i] = cloneMap(s[i])
		u.dirty[table][i] = true
	}
	if del {
		delete(s[i], k)
	} else {
		s[i][k] = v
	}
}

func cloneMap[T any](m map[string]T) map[string]T {
	c := make(map[string]T, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

// apply folds one committed write into the index.
func (u *indexUpdate) apply(bucket, k string, v []byte) {
	n := u.next
	switch bucket {
	case string(bucketMembers):
		setShard(u, 0, &n.members, k, decodeIndexed[Member](bucket, k, v), v == nil)
	case string(bucketAssets):
		setShard(u, 1, &n.assets, k, decodeIndexed[Asset](bucket, k, v), v == nil)
	case string(bucketGrants):
		g := decodeIndexed[Grant](bucket, k, v)
		u.indexExclusive(k, g)
		setShard(u, 2, &n.grants, k, g, v == nil)
	case string(bucketByHolder):
		// licensee \x00 asset \x00 grant
		i := bytes.LastIndexByte([]byte(k), 0)
		hk, id := k[:i], k[i+1:]
		ids, _ := n.holders.get(hk)
		j, found := slices.BinarySearch(ids, id)
		switch {
		case v != nil && !found:
			ids = slices.Insert(slices.Clone(ids), j, id)
		case v == nil && found:
			ids = slices.Delete(slices.Clone(ids), j, j+1)
		default:
			return
		}
		setShard(u, 3, &n.holders, hk, ids, len(ids) == 0)
	case string(bucketUsageSum):
		setShard(u, 4, &n.totals, k, decodeIndexed[UsageTotals](bucket, k, v), v == nil)
	case string(bucketInfract):
		if in := decodeIndexed[Infraction](bucket, k, v); in != nil && in.Kind == InfractionObserved {
			u.indexObserved(in)
		}
	case string(bucketMeta):
		if k == string(metaCharter) && v != nil {
			n.policy = decodeIndexed[Charter](bucket, k, v).ExportPolicy
		}
	}
}

// indexExclusive keeps the list of exclusive grants per asset in step
// with a write of grant id (g nil when deleted). A grant's assets never
// change, but an amendment can change its exclusivity.
func (u *indexUpdate) indexExclusive(id string, g *Grant) {
	n := u.next
	prev, _ := n.grants.get(id)
	terms := g
	if terms == nil {
		terms = prev
	}
	if terms == nil {
		return
	}
	want := g != nil && g.Terms.ExclusivityKind() == ExclusivityExclusive
	for _, asset := range terms.Terms.Assets {
		ids, _ := n.exclusives.get(asset)
		j, found := slices.BinarySearch(ids, id)
		switch {
		case want && !found:
			ids = slices.Insert(slices.Clone(ids), j, id)
		case !want && found:
			ids = slices.Delete(slices.Clone(ids), j, j+1)
		default:
			continue
		}
		setShard(u, 5, &n.exclusives, asset, ids, len(ids) == 0)
	}
}

// indexObserved adds an observed infraction to the lists of the members
// it is against. Infractions are never changed or deleted once recorded.
func (u *indexUpdate) indexObserved(in *Infraction) {
	for _, m := range in.Members {
		k := m + "\x00" + in.Asset
		list, _ := u.next.observed.get(k)
		j, found := slices.BinarySearchFunc(list, in.ID, func(x *Infraction, id string) int { return strings.Compare(x.ID, id) })
		if found {
			continue
		}
		setShard(u, 6, &u.next.observed, k, slices.Insert(slices.Clone(list), j, in), false)
	}
}

func decodeIndexed[T any](bucket, k string, v []byte) *T {
	if v == nil {
		return nil
	}
	t := new(T)
	if err := json.Unmarshal(v, t); err != nil {
		panic(fmt.Sprintf("ledger: corrupt state: bucket %s key %q: %v", bucket, k, err))
	}
	return t
}

// newUpdate starts the index that follows prev.
func newUpdate(prev *checkIndex) *indexUpdate {
	n := *prev
	return &indexUpdate{next: &n}
}

// buildIndex reads the whole index from a store, at open and after a
// restore.
func buildIndex(btx *bolt.Tx) *checkIndex {
	u := &indexUpdate{next: &checkIndex{}}
	for _, b := range [][]byte{bucketMembers, bucketAssets, bucketGrants, bucketByHolder, bucketUsageSum, bucketInfract} {
		btx.Bucket(b).ForEach(func(k, v []byte) error {
			u.apply(string(b), string(k), v)
			return nil
		})
	}
	t := newTx(btx, newMemos())
	if b := t.get(bucketMeta, metaApplied); len(b) == 8 {
		u.next.applied = binary.BigEndian.Uint64(b)
	}
	u.next.ledgerTime = loadLedgerTime(t)
	u.next.policy = loadCharter(t).ExportPolicy
	return u.next
}

// Member implements CheckView.
func (ix *checkIndex) Member(id string) (*Member, bool) { return ix.members.get(id) }

// Asset implements CheckView.
func (ix *checkIndex) Asset(id string) (*Asset, bool) { return ix.assets.get(id) }

// Grant implements CheckView.
func (ix *checkIndex) Grant(id string) (*Grant, bool) { return ix.grants.get(id) }

// GrantsFor implements CheckView.
func (ix *checkIndex) GrantsFor(licensee, asset string) []*Grant {
	ids, _ := ix.holders.get(licensee + "\x00" + asset)
	out := make([]*Grant, 0, len(ids))
	for _, id := range ids {
		if g, ok := ix.grants.get(id); ok {
			out = append(out, g)
		}
	}
	return out
}

// ExclusiveGrants implements the lookup Check makes for exclusive grants
// that bind a licensor or owner.
func (ix *checkIndex) ExclusiveGrants(asset string) []*Grant {
	ids, _ := ix.exclusives.get(asset)
	if len(ids) == 0 {
		return nil
	}
	out := make([]*Grant, 0, len(ids))
	for _, id := range ids {
		if g, ok := ix.grants.get(id); ok {
			out = append(out, g)
		}
	}
	return out
}

// ExportPolicy implements the lookup Check makes for export control.
func (ix *checkIndex) ExportPolicy() []ExportRule { return ix.policy }

// UsageTotal implements the usage lookup Check makes for hard caps.
func (ix *checkIndex) UsageTotal(grant, period string) (*UsageTotals, bool) {
	return ix.totals.get(grant + "\x00" + period)
}

// ObservedInfractions implements the lookup Check makes for observed
// infractions.
func (ix *checkIndex) ObservedInfractions(member, asset string) []*Infraction {
	list, _ := ix.observed.get(member + "\x00" + asset)
	return list
}

// Check answers an entitlement question from the current state without
// touching the store or waiting for Apply. A zero req.At means the ledger
// time. It also returns the applied index the answer is true at.
func (l *Ledger) Check(req CheckRequest) (Decision, uint64, error) {
	ix := l.index.Load()
	if req.At.IsZero() {
		req.At = ix.ledgerTime
	}
	d, err := Check(ix, req)
	return d, ix.applied, err
}

// LedgerTime is the ledger time at the applied index, without a read
// transaction.
func (l *Ledger) LedgerTime() time.Time { return l.index.Load().ledgerTime }

// Entitlements returns what Ledger.Check reads, as a CheckView, with the
// ledger time and applied index it stands at. It never changes afterwards,
// so a batch of questions can be answered against one state.
func (l *Ledger) Entitlements() (CheckView, time.Time, uint64) {
	ix := l.index.Load()
	return ix, ix.ledgerTime, ix.applied
}
