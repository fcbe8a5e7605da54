package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The buckets of the state store. Every bucket except bucketJournal and
// bucketTree is domain state and enters the state digest; the journal
// enters it through its head.
var (
	bucketMeta      = []byte("meta")        // applied index, ledger time, genesis, charter, journal head
	bucketMembers   = []byte("members")     // member ID → Member
	bucketKeys      = []byte("keys")        // key ID → KeyRecord
	bucketTokens    = []byte("tokens")      // hex SHA-256 of a token → Token
	bucketAssets    = []byte("assets")      // asset ID → Asset
	bucketGrants    = []byte("grants")      // grant ID → Grant
	bucketHistory   = []byte("history")     // grant ID \x00 seq → GrantEvent
	bucketByHolder  = []byte("by_holder")   // licensee \x00 asset \x00 grant ID → empty
	bucketByAsset   = []byte("by_asset")    // asset \x00 grant ID → empty
	bucketChildren  = []byte("children")    // parent grant ID \x00 child grant ID → empty
	bucketBundles   = []byte("bundles")     // bundle ID → Bundle
	bucketBallots   = []byte("ballots")     // ballot ID → Ballot
	bucketSeen      = []byte("seen")        // signer \x00 proposal ID → seenRecord
	bucketPools     = []byte("pools")       // pool ID → Pool
	bucketPoolUsage = []byte("pool_usage")  // pool ID \x00 period \x00 member → PoolUsage
	bucketPoolLog   = []byte("pool_log")    // pool ID \x00 seq → PoolEvent
	bucketUsage     = []byte("usage")       // grant ID \x00 period \x00 report ID → UsageReport
	bucketSLA       = []byte("sla")         // grant ID \x00 period \x00 report ID → SLAReport
	bucketInfract   = []byte("infractions") // infraction ID → Infraction
	bucketPoolHolds = []byte("pool_holds")  // pool ID \x00 member \x00 hold ID → Hold
	bucketPoolOpen  = []byte("pool_open")   // pool ID \x00 member \x00 hold ID → empty, for open holds
	bucketUsageIDs  = []byte("usage_ids")   // grant ID \x00 report ID → period
	bucketUsageSum  = []byte("usage_sum")   // grant ID \x00 period → UsageTotals
	bucketSLAIDs    = []byte("sla_ids")     // grant ID \x00 report ID → period
	bucketJournal   = []byte("journal")     // seq (8 bytes, big endian) → journal Entry
	bucketTree      = []byte("tree")        // level (1) ‖ index (8) → Merkle node hash
)

// stateBuckets are the buckets that make up the domain state, in the order
// the state digest visits them.
var stateBuckets = [][]byte{
	bucketMeta, bucketMembers, bucketKeys, bucketTokens, bucketAssets, bucketGrants,
	bucketHistory, bucketByHolder, bucketByAsset, bucketChildren, bucketBundles, bucketBallots, bucketSeen,
	bucketPools, bucketPoolUsage, bucketPoolLog, bucketUsage, bucketSLA, bucketInfract,
	bucketPoolHolds, bucketPoolOpen, bucketUsageIDs, bucketUsageSum, bucketSLAIDs,
}

var allBuckets = append(slices.Clone(stateBuckets), bucketJournal, bucketTree)

// key joins parts with a zero byte, the separator of every compound key.
// IDs never contain a zero byte, so prefixes are unambiguous.
func key(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// tx is a batch's view of the store while its proposals are applied, one
// after another, or a reader's view. Writes go to an overlay and reach the
// bbolt transaction only when the proposal is accepted, so a rejected
// proposal changes nothing even though the whole batch shares one bbolt
// transaction. What every entry moves (the journal's tail, ledger time)
// is kept in the tx and written once, when the batch ends.
type tx struct {
	btx     *bolt.Tx
	pending map[string]map[string][]byte // bucket → key → value (nil = delete)
	// committed, when set, sees every write as it reaches bbolt, so that
	// the in-memory check index can follow the state.
	committed func(bucket, key string, value []byte)
	memos     *memos // the ledger's decoded records (keymemo.go)
	// trace, when set, records what is read and committed (footprint.go).
	trace *Footprint
	// journal is the journal's tail while entries are appended (see
	// journalTail); nil until the first append reads it.
	journal *journalTail
	// names and keys are commit's scratch space, kept between the
	// proposals of a batch.
	names, keys []string
	// now is ledger time once read or moved, and nowMoved reports whether
	// it moved: like the journal's tail, it is written once per batch
	// (flushBatch), not once per entry.
	now               time.Time
	nowRead, nowMoved bool
}

// flushBatch writes what the batch kept in memory: the journal's tail and
// ledger time.
func (t *tx) flushBatch() {
	if t.journal != nil {
		t.journal.flush(t)
	}
	if t.nowMoved {
		t.put(bucketMeta, metaLedgerTime, u64(uint64(t.now.UnixNano())))
		t.nowMoved = false
	}
}

func newTx(btx *bolt.Tx, ms *memos) *tx {
	return &tx{btx: btx, pending: make(map[string]map[string][]byte), memos: ms}
}

func (t *tx) get(bucket, k []byte) []byte {
	if t.trace != nil {
		t.trace.read(bucket, k)
	}
	if p, ok := t.pending[string(bucket)]; ok {
		if v, ok := p[string(k)]; ok {
			return v
		}
	}
	return t.btx.Bucket(bucket).Get(k)
}

func (t *tx) put(bucket, k, v []byte) {
	p := t.pending[string(bucket)]
	if p == nil {
		p = make(map[string][]byte)
		t.pending[string(bucket)] = p
	}
	p[string(k)] = v
}

func (t *tx) del(bucket, k []byte) { t.put(bucket, k, nil) }

// tail returns the journal's tail, reading it from the store on first use.
func (t *tx) tail() *journalTail {
	if t.journal == nil {
		t.journal = newJournalTail(t)
	}
	return t.journal
}

// getJSON decodes the value at k into v and reports whether it existed.
// A value that does not decode is a broken invariant: the store only holds
// what Apply wrote.
func (t *tx) getJSON(bucket, k []byte, v any) bool {
	b := t.get(bucket, k)
	if b == nil {
		return false
	}
	mustUnmarshal(bucket, k, b, v)
	return true
}

func (t *tx) putJSON(bucket, k []byte, v any) { t.put(bucket, k, mustMarshal(v)) }

// scan calls fn for every key with the given prefix, in key order, merging
// the overlay with the committed data. fn returns false to stop.
func (t *tx) scan(bucket, prefix []byte, fn func(k, v []byte) bool) {
	if t.trace != nil {
		t.trace.scan(bucket, prefix)
	}
	var over []string
	p := t.pending[string(bucket)]
	for k := range p {
		if bytes.HasPrefix([]byte(k), prefix) {
			over = append(over, k)
		}
	}
	slices.Sort(over)
	c := t.btx.Bucket(bucket).Cursor()
	k, v := c.Seek(prefix)
	i := 0
	for {
		inBolt := k != nil && bytes.HasPrefix(k, prefix)
		switch {
		case !inBolt && i >= len(over):
			return
		case i < len(over) && (!inBolt || over[i] <= string(k)):
			ok := true
			if nv := p[over[i]]; nv != nil {
				ok = fn([]byte(over[i]), nv)
			}
			if inBolt && over[i] == string(k) {
				k, v = c.Next()
			}
			i++
			if !ok {
				return
			}
		default:
			if !fn(k, v) {
				return
			}
			k, v = c.Next()
		}
	}
}

// commit writes the overlay into the bbolt transaction, in sorted order so
// that page layout is the same on every node.
func (t *tx) commit() {
	names := t.names[:0]
	for n, p := range t.pending {
		if len(p) > 0 {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		b := t.btx.Bucket([]byte(n))
		p := t.pending[n]
		keys := t.keys[:0]
		for k := range p {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t.keys = keys
		for _, k := range keys {
			var err error
			if v := p[k]; v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), v)
			}
			if err != nil {
				panic(fmt.Sprintf("ledger: state store write failed: %v", err))
			}
			if t.committed != nil {
				t.committed(n, k, p[k])
			}
			if t.trace != nil {
				t.trace.write(n, k)
			}
		}
	}
	t.names = names
	t.discard()
}

// discard empties the overlay. Each bucket's map is kept for the next
// proposal of the batch, which most likely writes the same buckets, unless
// it grew large: a cleared map keeps its size, and scan and commit walk it.
func (t *tx) discard() {
	for name, p := range t.pending {
		if len(p) > 64 {
			delete(t.pending, name)
		} else {
			clear(p)
		}
	}
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("ledger: cannot encode %T: %v", v, err))
	}
	return b
}

func mustUnmarshal(bucket, k, b []byte, v any) {
	if err := json.Unmarshal(b, v); err != nil {
		panic(fmt.Sprintf("ledger: corrupt state: bucket %s key %q: %v", bucket, k, err))
	}
}
