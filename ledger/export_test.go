package ledger

import (
	"crypto/sha256"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AppendEntryForTest appends an entry with outcome o to l's journal in the
// given format, as Apply does once it has decided a proposal, so that
// tests can hash outcomes holding any text. It changes nothing else.
func (l *Ledger) AppendEntryForTest(format int, index uint64, at time.Time, envelope []byte, o Outcome) Entry {
	var e Entry
	err := l.db.Update(func(btx *bolt.Tx) error {
		t := newTx(btx, l.memos)
		e = appendEntry(t, format, index, at, envelope, sha256.Sum256(envelope), o)
		t.flushBatch()
		t.commit()
		return nil
	})
	if err != nil {
		panic(err)
	}
	l.tail = nil // the entry moved the journal outside Apply
	return e
}
