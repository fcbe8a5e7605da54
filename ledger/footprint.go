package ledger

import (
	"bytes"
	"slices"
)

// Footprint is the state that applying one journal entry, or answering
// one question, read and wrote: what a proof's evidence is computed from
// (verify.Dependencies). Each key is a bucket name, a zero byte and the
// key in the state store. Ledger time, the applied index and the journal
// itself are left out: a replay takes them from the entries it applies.
type Footprint struct {
	Reads  []string // keys read, whether or not they held a value
	Scans  []string // key prefixes scanned: every key under one was read
	Writes []string // keys written or deleted
}

// traced reports whether reads and writes of k in bucket enter a
// footprint. Of the meta bucket only the charter does: the rest is the
// applied index, ledger time and the journal head, which every entry
// reads and moves (the batch writes them once).
func traced(bucket, k []byte) bool {
	switch {
	case bytes.Equal(bucket, bucketJournal), bytes.Equal(bucket, bucketTree):
		return false
	case bytes.Equal(bucket, bucketMeta):
		return bytes.Equal(k, metaCharter)
	}
	return true
}

func footprintKey(bucket, k []byte) string {
	return string(bucket) + "\x00" + string(k)
}

func (f *Footprint) read(bucket, k []byte) {
	if traced(bucket, k) {
		f.Reads = append(f.Reads, footprintKey(bucket, k))
	}
}

func (f *Footprint) scan(bucket, prefix []byte) {
	f.Scans = append(f.Scans, footprintKey(bucket, prefix))
}

func (f *Footprint) write(bucket, k string) {
	if traced([]byte(bucket), []byte(k)) {
		f.Writes = append(f.Writes, bucket+"\x00"+k)
	}
}

// done sorts each list and drops repeats.
func (f *Footprint) done() Footprint {
	for _, s := range []*[]string{&f.Reads, &f.Scans, &f.Writes} {
		slices.Sort(*s)
		*s = slices.Compact(*s)
	}
	return *f
}

// Trace runs fn on a view of the same state that records what fn reads
// through the view's record getters (Member, Key, Asset, Grant,
// GrantsFor, Bundle, UsageTotal and the like), and returns that
// footprint. Listing and journal methods are not recorded.
func (v *View) Trace(fn func(v *View) error) (Footprint, error) {
	t := newTx(v.t.btx, v.t.memos)
	t.trace = &Footprint{}
	err := fn(&View{t: t, l: v.l})
	return t.trace.done(), err
}
