package ledger

import (
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// replayBatch is how many journal entries a snapshot's replay applies in
// one state-store transaction. Batch boundaries do not change outcomes
// (Raft batches differently on every node), so this only trades memory
// for fewer commits.
const replayBatch = 512

// replaySnapshot checks that a snapshot's state is the one its journal
// makes: it replays every entry of the journal, from a ledger opened from
// the snapshot's own genesis in a scratch directory under dir, with every
// signature and rule checked again, and requires the replayed journal head
// and state digest to equal the snapshot's. The hash chain and Merkle root
// only show that the journal is intact; without this a snapshot could
// carry a journal that is the consortium's beside state buckets that are
// not.
func replaySnapshot(btx *bolt.Tx, dir, consortium string) error {
	g, err := DecodeGenesis(btx.Bucket(bucketMeta).Get(metaGenesis))
	if err != nil {
		return fmt.Errorf("ledger: restore: snapshot's genesis: %w", err)
	}
	if g.ID() != consortium {
		return fmt.Errorf("ledger: restore: snapshot's genesis is of consortium %s, not %s", short(g.ID()), short(consortium))
	}
	scratch, err := os.MkdirTemp(dir, "replay-")
	if err != nil {
		return fmt.Errorf("ledger: restore: %w", err)
	}
	defer os.RemoveAll(scratch)
	l, err := Open(filepath.Join(scratch, "state.db"), g, Options{NoSync: true})
	if err != nil {
		return fmt.Errorf("ledger: restore: open a ledger from the snapshot's genesis: %w", err)
	}
	defer l.Close()
	if err := replayJournal(newTx(btx, newMemos()), l); err != nil {
		return err
	}
	var head Head
	var digest Hash
	l.View(func(v *View) error { head, digest = v.Head(), v.Digest(); return nil })
	want := View{t: newTx(btx, newMemos())}
	switch {
	case head != want.Head():
		return fmt.Errorf("ledger: restore: the snapshot's journal replays to a journal of %d entries with root %s, not its own of %d entries with root %s",
			head.Size, head.Root, want.Head().Size, want.Head().Root)
	case digest != want.Digest():
		return fmt.Errorf("ledger: restore: the snapshot's state is not the one its journal of %d entries makes: replayed state digest %s, the snapshot's %s",
			head.Size, digest, want.Digest())
	}
	return nil
}

// replayJournal applies every journal entry of t after the genesis to l,
// replayBatch entries at a time, each at its own Raft index and as the log
// record it was journaled from (RecordOf).
func replayJournal(t *tx, l *Ledger) error {
	batch := make([]LogEntry, 0, replayBatch)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		l.Preverify(batch)
		l.Apply(batch)
		batch = batch[:0]
	}
	var bad error
	t.scan(bucketJournal, nil, func(k, v []byte) bool {
		var e Entry
		if bad = decodeEntryAt(k, v, &e); bad != nil {
			return false
		}
		if e.Seq == 0 {
			return true
		}
		batch = append(batch, LogEntry{Index: e.Index, Data: RecordOf(&e)})
		if len(batch) == replayBatch {
			flush()
		}
		return true
	})
	if bad != nil {
		return bad
	}
	flush()
	return nil
}

// vouchSnapshot opens a checked snapshot file read-only, requires its
// journal to extend this ledger's (so that no genuine but older snapshot
// rolls the state back), and asks vouch about a view of its state.
func (l *Ledger) vouchSnapshot(path string, vouch func(v *View) error) error {
	var mine Head
	l.View(func(v *View) error { mine = v.Head(); return nil })
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("ledger: restore: snapshot does not open: %w", err)
	}
	defer db.Close()
	return db.View(func(btx *bolt.Tx) error {
		v := &View{t: newTx(btx, newMemos()), l: l}
		head := v.Head()
		if e, ok := v.Entry(mine.Size - 1); head.Size < mine.Size || !ok || e.Hash != mine.LastHash {
			return fmt.Errorf("ledger: restore: the snapshot's journal of %d entries does not extend this node's of %d entries", head.Size, mine.Size)
		}
		return vouch(v)
	})
}
