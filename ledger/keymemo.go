package ledger

import (
	"bytes"
	"slices"
	"sync"
)

// memo remembers the records of one bucket, decoded, by their stored bytes.
// Some records are read far more often than they change: a key record for
// every signature (the API's precheck, Preverify and Apply), a token and a
// member for every API request. Decoding them as JSON each time was the
// largest cost of a lookup (a key record is mostly a base64 ML-DSA public
// key). A decoded record is a pure function of the stored bytes, and an
// entry is used only when the bytes are equal, so the memo changes how long
// a read takes, never what it returns. Each read gets its own copy of the
// record's slices, so callers may modify what they get.
type memo[T any] struct {
	bucket []byte
	clone  func(T) T // copies what a caller could modify through T
	// read decodes a stored record; nil means JSON.
	read func(b []byte, rec *T) error

	mu sync.RWMutex
	m  map[string]memoEntry[T] // ID → last decoded record
}

type memoEntry[T any] struct {
	raw []byte
	rec T
}

// memoSize bounds each memo: past it, the memo starts over.
const memoSize = 4096

// memos are a ledger's memos, one per memoised bucket.
type memos struct {
	keys    memo[KeyRecord]
	members memo[Member]
	tokens  memo[Token]
	// charter is read by every admission: the API's precheck of every
	// write, and every batch.
	charter memo[Charter]
}

func newMemos() *memos {
	return &memos{
		keys: memo[KeyRecord]{bucket: bucketKeys, clone: func(k KeyRecord) KeyRecord {
			k.Public.Key = slices.Clone(k.Public.Key)
			k.Scope = k.Scope.clone()
			return k
		}},
		members: memo[Member]{bucket: bucketMembers, clone: func(m Member) Member {
			m.Keys = slices.Clone(m.Keys)
			m.EncryptionKeys = slices.Clone(m.EncryptionKeys)
			for i := range m.EncryptionKeys {
				m.EncryptionKeys[i].Public.Key = slices.Clone(m.EncryptionKeys[i].Public.Key)
			}
			return m
		}},
		tokens: memo[Token]{bucket: bucketTokens, read: decodeToken, clone: func(t Token) Token {
			t.Scopes = slices.Clone(t.Scopes)
			return t
		}},
		charter: memo[Charter]{bucket: bucketMeta, clone: func(c Charter) Charter {
			c.ExportPolicy = slices.Clone(c.ExportPolicy)
			for i := range c.ExportPolicy {
				r := &c.ExportPolicy[i]
				r.Deny, r.RequireDuties = slices.Clone(r.Deny), slices.Clone(r.RequireDuties)
			}
			c.SealAuditors = slices.Clone(c.SealAuditors)
			return c
		}},
	}
}

// decode returns the record stored as raw under id. raw may belong to a
// bbolt transaction: the memo keeps its own copy.
func (mm *memo[T]) decode(id string, raw []byte) T { return mm.decodeShared(id, raw, false) }

// decodeShared is decode that, if shared is set, returns the memo's own
// record: its slices are shared, and the caller must only read them.
func (mm *memo[T]) decodeShared(id string, raw []byte, shared bool) T {
	mm.mu.RLock()
	e, ok := mm.m[id]
	mm.mu.RUnlock()
	if ok && bytes.Equal(e.raw, raw) {
		if shared {
			return e.rec
		}
		return mm.clone(e.rec)
	}
	var rec T
	if mm.read != nil {
		mustBeStored(mm.bucket, []byte(id), mm.read(raw, &rec))
	} else {
		mustUnmarshal(mm.bucket, []byte(id), raw, &rec)
	}
	mm.mu.Lock()
	if mm.m == nil || len(mm.m) >= memoSize {
		mm.m = make(map[string]memoEntry[T])
	}
	mm.m[id] = memoEntry[T]{raw: bytes.Clone(raw), rec: mm.clone(rec)}
	mm.mu.Unlock()
	return rec
}

// get reads the record id of mm's bucket through the memo.
func (mm *memo[T]) get(t *tx, id string) (T, bool) {
	raw := t.get(mm.bucket, []byte(id))
	if raw == nil {
		var zero T
		return zero, false
	}
	return mm.decode(id, raw), true
}

// peek is get for a caller that only reads the record: it shares the
// memo's slices instead of copying them, which admission, reading a key
// and a member for every signature, would otherwise pay each time.
func (mm *memo[T]) peek(t *tx, id string) (T, bool) {
	raw := t.get(mm.bucket, []byte(id))
	if raw == nil {
		var zero T
		return zero, false
	}
	return mm.decodeShared(id, raw, true), true
}

// getKey reads a key record from the key table.
func (t *tx) getKey(id string) (KeyRecord, bool) { return t.memos.keys.get(t, id) }
