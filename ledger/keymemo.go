package ledger

import (
	"bytes"
	"sync"
)

// keyMemo remembers decoded key records by their stored bytes. A key record
// is read for every signature of every proposal (the API's precheck,
// Preverify and Apply), and most of it is a public key in base64 (1,952
// bytes for ML-DSA-65), so decoding it as JSON each time cost more than the
// rest of a lookup. The decoded record is a pure function of the stored
// bytes, and an entry is used only when the bytes are equal, so the memo
// changes how long a read takes, never what it returns.
type keyMemo struct {
	mu sync.RWMutex
	m  map[string]keyMemoEntry // key ID → last decoded record
}

type keyMemoEntry struct {
	raw []byte
	rec KeyRecord
}

// keyMemoSize bounds the memo: past it, the memo starts over.
const keyMemoSize = 4096

var keys = &keyMemo{m: make(map[string]keyMemoEntry)}

// decode returns the record stored as raw under id. raw may belong to a
// bbolt transaction: the memo keeps its own copy. Callers must not modify
// the returned record's key bytes.
func (km *keyMemo) decode(id string, raw []byte) KeyRecord {
	km.mu.RLock()
	e, ok := km.m[id]
	km.mu.RUnlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.rec
	}
	var rec KeyRecord
	mustUnmarshal(bucketKeys, []byte(id), raw, &rec)
	km.mu.Lock()
	if len(km.m) >= keyMemoSize {
		clear(km.m)
	}
	km.m[id] = keyMemoEntry{raw: bytes.Clone(raw), rec: rec}
	km.mu.Unlock()
	return rec
}

// getKey reads a key record from the key table.
func (t *tx) getKey(id string) (KeyRecord, bool) {
	raw := t.get(bucketKeys, []byte(id))
	if raw == nil {
		return KeyRecord{}, false
	}
	return keys.decode(id, raw), true
}
