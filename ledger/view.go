package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
)

// View is a consistent, read-only view of the state at one applied index.
// It is valid only inside the function passed to Ledger.View.
type View struct {
	t *tx
	l *Ledger // for admission: the consortium, the key and signature caches
}

// View runs fn on a consistent read view. It never blocks Apply.
func (l *Ledger) View(fn func(v *View) error) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.db.View(func(btx *bolt.Tx) error {
		return fn(&View{t: newTx(btx, l.memos), l: l})
	})
}

// AppliedIndex is the last Raft index reflected in this view.
func (v *View) AppliedIndex() uint64 {
	return binary.BigEndian.Uint64(v.t.get(bucketMeta, metaApplied))
}

// LedgerTime is the ledger time of the last applied entry.
func (v *View) LedgerTime() time.Time { return loadLedgerTime(v.t) }

// Head is the journal head.
func (v *View) Head() Head { return loadJournal(v.t).Head }

// StoreBytes is the size of the state store in bytes: the journal, its
// Merkle tree and the state. It is for monitoring only.
func (v *View) StoreBytes() int64 { return v.t.btx.Size() }

// Charter is the charter in force.
func (v *View) Charter() Charter { return loadCharter(v.t) }

// Consortium is the consortium ID.
func (v *View) Consortium() string { return string(v.t.get(bucketMeta, metaConsortium)) }

// Genesis returns the genesis document the ledger started from.
func (v *View) Genesis() *Genesis {
	var g Genesis
	v.t.getJSON(bucketMeta, metaGenesis, &g)
	return &g
}

// Member returns a member.
func (v *View) Member(id string) (*Member, bool) {
	m, ok := v.t.memos.members.get(v.t, id)
	return &m, ok
}

// Key returns a key record.
func (v *View) Key(id string) (*KeyRecord, bool) {
	k, ok := v.t.getKey(id)
	return &k, ok
}

// KeyValidNow reports whether key id can sign the next entry: the check the
// API makes before it forwards a proposal.
func (v *View) KeyValidNow(id string) (PublicKey, bool) {
	k, ok := v.Key(id)
	if !ok || !k.ValidAt(v.AppliedIndex()+1) {
		return PublicKey{}, false
	}
	return k.Public, true
}

// Resubmission returns the recorded result of p when its payload, with
// this hash, is exactly a proposal already applied: the ledger answers a
// resubmission of it with that result, whatever its signatures.
func (v *View) Resubmission(p *Proposal, payloadHash Hash) (*Result, bool) {
	r, ok := seenResult(v.t, p, payloadHash)
	return &r, ok
}

// Token looks a bearer token up by the hex SHA-256 of its secret.
func (v *View) Token(hash string) (*Token, bool) {
	t, ok := v.t.memos.tokens.get(v.t, hash)
	return &t, ok
}

// Asset returns an asset.
func (v *View) Asset(id string) (*Asset, bool) {
	var a Asset
	return &a, v.t.getJSON(bucketAssets, []byte(id), &a)
}

// Grant returns a grant.
func (v *View) Grant(id string) (*Grant, bool) {
	var g Grant
	return &g, v.t.getJSON(bucketGrants, []byte(id), &g)
}

// GrantsFor returns every grant held by licensee over asset, in ID order.
func (v *View) GrantsFor(licensee, asset string) []*Grant {
	return grantsFor(v.t, licensee, asset)
}

func grantsFor(t *tx, licensee, asset string) []*Grant {
	var out []*Grant
	prefix := append(key(licensee, asset), 0)
	t.scan(bucketByHolder, prefix, func(k, _ []byte) bool {
		var g Grant
		if t.getJSON(bucketGrants, k[len(prefix):], &g) {
			out = append(out, &g)
		}
		return true
	})
	return out
}

// ExclusiveGrants returns the grants over asset stated exclusive, in ID
// order, for Check.
func (v *View) ExclusiveGrants(asset string) []*Grant { return exclusiveGrants(v.t, asset) }

// ExportPolicy returns the charter's export-control policy, for Check.
func (v *View) ExportPolicy() []ExportRule { return loadCharter(v.t).ExportPolicy }

func exclusiveGrants(t *tx, asset string) []*Grant {
	var out []*Grant
	prefix := append([]byte(asset), 0)
	t.scan(bucketByAsset, prefix, func(k, _ []byte) bool {
		var g Grant
		if t.getJSON(bucketGrants, k[len(prefix):], &g) && g.Terms.ExclusivityKind() == ExclusivityExclusive {
			out = append(out, &g)
		}
		return true
	})
	return out
}

// Bundle returns a bundle.
func (v *View) Bundle(id string) (*Bundle, bool) {
	var b Bundle
	return &b, v.t.getJSON(bucketBundles, []byte(id), &b)
}

// Ballot returns a ballot, with its status as of the view's ledger time.
func (v *View) Ballot(id string) (*Ballot, bool) {
	var b Ballot
	if !v.t.getJSON(bucketBallots, []byte(id), &b) {
		return nil, false
	}
	b.Status = b.StatusAt(v.LedgerTime())
	return &b, true
}

// Entry returns journal entry seq.
func (v *View) Entry(seq uint64) (*Entry, bool) {
	var e Entry
	b := v.t.get(bucketJournal, u64(seq))
	if b == nil {
		return &e, false
	}
	mustDecodeEntry(seq, b, &e)
	return &e, true
}

// list pages through one kind of record in ID order: it returns up to
// limit records after the ID `after` that keep accepts, and the ID to pass
// as `after` for the next page ("" when there is none).
func list[T any](v *View, bucket []byte, after string, limit int, keep func(*T) bool) ([]*T, string) {
	var out []*T
	last := ""
	c := v.t.btx.Bucket(bucket).Cursor()
	k, val := c.Seek([]byte(after))
	if k != nil && after != "" && bytes.Equal(k, []byte(after)) {
		k, val = c.Next()
	}
	for ; k != nil; k, val = c.Next() {
		x := new(T)
		mustUnmarshal(bucket, k, val, x)
		if keep != nil && !keep(x) {
			continue
		}
		if len(out) == limit {
			return out, last
		}
		out = append(out, x)
		last = string(k)
	}
	return out, ""
}

// seek calls fn for the keys with prefix, from the first one at or after
// start, in key order, until fn returns false. A view has no pending
// writes, so it reads the store directly.
func (v *View) seek(bucket, prefix, start []byte, fn func(k, v []byte) bool) {
	c := v.t.btx.Bucket(bucket).Cursor()
	for k, val := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, val = c.Next() {
		if !fn(k, val) {
			return
		}
	}
}

// Members lists members in ID order.
func (v *View) Members(after string, limit int) ([]*Member, string) {
	return list[Member](v, bucketMembers, after, limit, nil)
}

// Assets lists assets in ID order.
func (v *View) Assets(after string, limit int) ([]*Asset, string) {
	return list[Asset](v, bucketAssets, after, limit, nil)
}

// Grants lists the grants that keep accepts, in ID order.
func (v *View) Grants(after string, limit int, keep func(*Grant) bool) ([]*Grant, string) {
	return list[Grant](v, bucketGrants, after, limit, keep)
}

// Bundles lists the bundles that keep accepts, in ID order.
func (v *View) Bundles(after string, limit int, keep func(*Bundle) bool) ([]*Bundle, string) {
	return list[Bundle](v, bucketBundles, after, limit, keep)
}

// Ballots lists ballots in ID order.
func (v *View) Ballots(after string, limit int) ([]*Ballot, string) {
	bs, next := list[Ballot](v, bucketBallots, after, limit, nil)
	now := v.LedgerTime()
	for _, b := range bs {
		b.Status = b.StatusAt(now)
	}
	return bs, next
}

// Entries returns up to limit journal entries starting at seq from.
func (v *View) Entries(from uint64, limit int) []*Entry {
	var out []*Entry
	c := v.t.btx.Bucket(bucketJournal).Cursor()
	for k, val := c.Seek(u64(from)); k != nil && len(out) < limit; k, val = c.Next() {
		e := new(Entry)
		mustDecodeEntry(binary.BigEndian.Uint64(k), val, e)
		out = append(out, e)
	}
	return out
}

// TreeNode returns a stored Merkle node hash, for proofs.
func (v *View) TreeNode(id compact.NodeID) ([]byte, bool) {
	h := v.t.get(bucketTree, treeKey(id))
	return h, h != nil
}

// Digest is the state digest: SHA-256 over every state bucket's name and
// every key and value in key order, each length-prefixed, followed by the
// journal head. Nodes at the same applied index have the same digest.
func (v *View) Digest() Hash {
	h := sha256.New()
	var n [8]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, b := range stateBuckets {
		put(b)
		c := v.t.btx.Bucket(b).Cursor()
		for k, val := c.First(); k != nil; k, val = c.Next() {
			if bytes.Equal(b, bucketMeta) && bytes.Equal(k, metaApplied) {
				// Raft's bookkeeping, not the consortium's state: a
				// duplicate takes a log index but leaves no journal entry.
				continue
			}
			put(k)
			put(canonicalRecord(b, k, val))
		}
	}
	head := v.Head()
	put(head.LastHash[:])
	put(head.Root[:])
	var out Hash
	h.Sum(out[:0])
	return out
}

// String describes the view for logs.
func (v *View) String() string {
	return fmt.Sprintf("ledger view at index %d", v.AppliedIndex())
}

// GrantHistory returns every event of a grant's life, oldest first: its
// offer, acceptance, amendments (with the terms of each version) and
// changes of status, each with its log index.
func (v *View) GrantHistory(id string) []*GrantEvent {
	var out []*GrantEvent
	v.t.scan(bucketHistory, append([]byte(id), 0), func(k, b []byte) bool {
		var e GrantEvent
		mustUnmarshal(bucketHistory, k, b, &e)
		out = append(out, &e)
		return true
	})
	return out
}
