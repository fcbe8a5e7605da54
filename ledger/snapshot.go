package ledger

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// snapshotMagic starts every snapshot stream. The stream is the magic, the
// bbolt file of a consistent read transaction, and the SHA-256 of the
// bytes before it, so that a truncated or altered snapshot is refused
// before it is opened.
var snapshotMagic = []byte("CHARTA-SNAPSHOT-1\n")

// Snapshot is a consistent view of the state that can be streamed while
// Apply goes on. Release it when done.
type Snapshot struct {
	l   *Ledger
	btx *bolt.Tx
}

// Snapshot opens a read transaction to stream. It holds no lock of the
// ledger's while it is open: a snapshot is streamed to a peer or persisted
// by Raft for as long as that takes, and Raft may meanwhile restore
// another snapshot, which must not wait for it (Restore closes the
// replaced store only once its last snapshot is released).
func (l *Ledger) Snapshot() (*Snapshot, error) {
	l.mu.RLock()
	btx, err := l.db.Begin(false)
	l.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("ledger: snapshot: %w", err)
	}
	return &Snapshot{l: l, btx: btx}, nil
}

// AppliedIndex is the index the snapshot captures.
func (s *Snapshot) AppliedIndex() uint64 {
	return binary.BigEndian.Uint64(s.btx.Bucket(bucketMeta).Get(metaApplied))
}

// WriteTo streams the snapshot.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	h := sha256.New()
	mw := io.MultiWriter(w, h)
	n1, err := mw.Write(snapshotMagic)
	if err != nil {
		return int64(n1), err
	}
	n2, err := s.btx.WriteTo(mw)
	if err != nil {
		return int64(n1) + n2, err
	}
	failpoint("snapshot-mid-persist")
	n3, err := w.Write(h.Sum(nil))
	return int64(n1) + n2 + int64(n3), err
}

// Release ends the snapshot's read transaction.
func (s *Snapshot) Release() {
	if s.btx != nil {
		s.btx.Rollback()
		s.btx = nil
	}
}

// Restore replaces the whole state with a snapshot stream. The snapshot is
// checked before it is used: its checksum, its consortium, its journal,
// whose hash chain and Merkle root are recomputed from genesis and must
// match the head it records, and its state, which must be the one that
// replaying its journal makes (replaySnapshot). On any failure the current
// state is kept.
func (l *Ledger) Restore(r io.Reader) error {
	tmp := l.path + ".restore"
	if err := removeFile(tmp); err != nil {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("ledger: restore: %w", err)
	}
	_, applied, err := l.receiveAndCheck(r, f, true)
	if err != nil {
		removeFile(tmp)
		return err
	}
	// Open the new state before letting go of the old one, so that any
	// failure leaves the current state in place and usable.
	db, err := openBolt(tmp, l.opts)
	if err != nil {
		removeFile(tmp)
		return err
	}
	l.mu.Lock()
	if err := os.Rename(tmp, l.path); err != nil { // the open handle follows the file
		l.mu.Unlock()
		db.Close()
		removeFile(tmp)
		return fmt.Errorf("ledger: restore: %w", err)
	}
	old := l.db
	l.db = db
	l.tail = nil
	l.loadIndex()
	l.applied.Store(applied)
	l.wake()
	l.mu.Unlock()
	// Closing waits for the replaced store's open snapshots (Snapshot), so
	// Restore does not wait for it. Raft can hold one across a Restore: its
	// snapshot goroutine keeps the snapshot it took while it asks Raft's
	// main loop for the configuration, and the main loop is waiting for this
	// Restore to finish installing a leader's snapshot. Its file is already
	// replaced, so the close only lets go of the old file once they end.
	go old.Close()
	return nil
}

// CheckSnapshot checks a snapshot stream exactly as Restore does, without
// touching the state: it lets a node refuse a snapshot before anything
// keeps it. It reads r to the end unless it refuses the stream earlier.
// The stream is received into a temporary file beside the state; on
// success the returned reader gives back the same stream from that file
// (so the caller needs no copy of its own), and closing it removes the
// file.
//
// With a vouch function (a node checking a snapshot a peer offers), a
// snapshot that passed those checks must also extend this ledger's
// journal, and vouch, which sees a read-only view of the snapshot's state,
// must accept it: it is where a node asks others whether the snapshot's
// journal is the consortium's (see VouchSnapshot in consensus).
func (l *Ledger) CheckSnapshot(r io.Reader, vouch func(v *View) error) (io.ReadCloser, error) {
	f, err := os.CreateTemp(filepath.Dir(l.path), filepath.Base(l.path)+checkPattern)
	if err != nil {
		return nil, fmt.Errorf("ledger: restore: %w", err)
	}
	l.checkMu.Lock() // one at a time: each may be gigabytes of disk
	defer l.checkMu.Unlock()
	sum, _, err := l.receiveAndCheck(r, f, false)
	if err == nil && vouch != nil {
		err = l.vouchSnapshot(f.Name(), vouch)
	}
	if err != nil {
		removeFile(f.Name())
		return nil, err
	}
	db, err := os.Open(f.Name())
	if err != nil {
		removeFile(f.Name())
		return nil, fmt.Errorf("ledger: restore: %w", err)
	}
	return &checkedSnapshot{Reader: io.MultiReader(bytes.NewReader(snapshotMagic), db, bytes.NewReader(sum[:])), f: db}, nil
}

// checkPattern names the files that hold snapshots being checked.
const checkPattern = ".check-*"

// checkedSnapshot streams a checked snapshot back from its file, which
// Close removes.
type checkedSnapshot struct {
	io.Reader
	f *os.File
}

func (c *checkedSnapshot) Close() error {
	err := c.f.Close()
	return errors.Join(err, removeFile(c.f.Name()))
}

// receiveAndCheck receives the stream into f, closes f, and checks the
// state file; it returns the snapshot's applied index.
//
// A snapshot is usually checked twice on a follower: by CheckSnapshot when
// it arrives (the Raft listener's guard) and by Restore. The check is a
// pure function of the snapshot's bytes and the consortium, so the ledger
// remembers the checksums of the last few snapshots that passed and skips
// the second check (which recomputes the journal's hash chain and Merkle
// tree and replays the journal) for the same bytes.
//
// The file is fsynced only when it becomes the state (sync).
func (l *Ledger) receiveAndCheck(r io.Reader, f *os.File, sync bool) (sum Hash, applied uint64, err error) {
	sum, err = receiveSnapshot(r, f, sync)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("ledger: restore: %w", cerr)
	}
	if err != nil {
		return Hash{}, 0, err
	}
	if applied, ok := l.checked.get(sum); ok {
		return sum, applied, nil
	}
	if applied, err = checkSnapshot(f.Name(), filepath.Dir(l.path), l.consortium); err != nil {
		return Hash{}, 0, err
	}
	l.checked.add(sum, applied)
	return sum, applied, nil
}

// checkedSnapshots remembers the checksums of snapshots that passed the
// check, with their applied index.
type checkedSnapshots struct {
	mu   sync.Mutex
	sums [4]Hash
	at   [4]uint64
	next int
}

func (c *checkedSnapshots) get(sum Hash) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.sums {
		if s == sum && s != (Hash{}) {
			return c.at[i], true
		}
	}
	return 0, false
}

func (c *checkedSnapshots) add(sum Hash, applied uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sums[c.next], c.at[c.next] = sum, applied
	c.next = (c.next + 1) % len(c.sums)
}

// receiveSnapshot copies the stream to f, checking the magic and the
// trailing checksum, which it returns; with sync, it fsyncs f.
func receiveSnapshot(r io.Reader, f *os.File, sync bool) (Hash, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || !bytes.Equal(magic, snapshotMagic) {
		return Hash{}, errors.New("ledger: restore: not a Charta snapshot")
	}
	h := sha256.New()
	h.Write(magic)
	tail, err := copyHoldingTail(io.MultiWriter(f, h), br, sha256.Size)
	if err != nil {
		return Hash{}, fmt.Errorf("ledger: restore: %w", err)
	}
	var sum Hash
	h.Sum(sum[:0])
	if !bytes.Equal(tail, sum[:]) {
		return Hash{}, errors.New("ledger: restore: snapshot checksum does not match: truncated or altered")
	}
	if sync {
		return sum, f.Sync()
	}
	return sum, nil
}

// copyHoldingTail copies r to w except for the last n bytes, which it
// returns.
func copyHoldingTail(w io.Writer, r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, 1<<16+n)
	chunk := make([]byte, 1<<16)
	for {
		m, err := r.Read(chunk)
		buf = append(buf, chunk[:m]...)
		if len(buf) > n {
			if _, werr := w.Write(buf[:len(buf)-n]); werr != nil {
				return nil, werr
			}
			buf = append(buf[:0], buf[len(buf)-n:]...)
		}
		if err == io.EOF {
			if len(buf) < n {
				return nil, errors.New("snapshot is truncated")
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// checkSnapshot opens a received state file read-only and verifies it:
// its buckets, its consortium, its journal's hash chain and Merkle root,
// and that replaying its journal in a scratch ledger under dir makes its
// state (replaySnapshot). The file comes from a peer, so it may be crafted: bbolt panics on some
// corrupt pages, and a page number past the end of the file makes it read
// outside its memory mapping, a fault that would kill the process. With
// SetPanicOnFault such a fault panics instead, on this goroutine (bbolt
// reads on the caller's), and either way the snapshot is refused.
func checkSnapshot(path, dir, consortium string) (applied uint64, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			applied, err = 0, fmt.Errorf("ledger: restore: corrupt snapshot: %v", p)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("ledger: restore: snapshot does not open: %w", err)
	}
	defer db.Close()
	err = db.View(func(btx *bolt.Tx) error {
		for _, b := range allBuckets {
			if btx.Bucket(b) == nil {
				return fmt.Errorf("ledger: restore: snapshot has no %s bucket", b)
			}
		}
		if got := string(btx.Bucket(bucketMeta).Get(metaConsortium)); got != consortium {
			return fmt.Errorf("ledger: restore: snapshot is of consortium %s, not %s", short(got), short(consortium))
		}
		a := btx.Bucket(bucketMeta).Get(metaApplied)
		if len(a) != 8 {
			return errors.New("ledger: restore: snapshot has no applied index")
		}
		applied = binary.BigEndian.Uint64(a)
		if err := verifyJournal(newTx(btx, newMemos())); err != nil {
			return err
		}
		return replaySnapshot(btx, dir, consortium)
	})
	return applied, err
}

// verifyJournal recomputes the hash chain and the Merkle root of the whole
// journal and compares them with the recorded head. It streams the journal,
// so its memory does not grow with the journal's length.
func verifyJournal(t *tx) error {
	head := loadJournal(t).Head
	r := rangeFactory.NewEmptyRange(0)
	var prev Hash
	var seq uint64
	var bad error
	t.scan(bucketJournal, nil, func(k, v []byte) bool {
		var e Entry
		if err := decodeEntryAt(k, v, &e); err != nil {
			bad = err
			return false
		}
		switch {
		case e.Seq != seq || binary.BigEndian.Uint64(k) != seq:
			bad = fmt.Errorf("ledger: journal entry %d is out of place", seq)
		case e.PrevHash != prev:
			bad = fmt.Errorf("ledger: journal entry %d does not chain to entry %d", seq, seq-1)
		default:
			bad = e.VerifyHash()
		}
		if bad != nil {
			return false
		}
		if err := r.Append(LeafHash(e.Hash), nil); err != nil {
			bad = err
			return false
		}
		prev = e.Hash
		seq++
		return true
	})
	if bad != nil {
		return bad
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return err
	}
	if seq != head.Size || prev != head.LastHash || !bytes.Equal(root, head.Root[:]) {
		return fmt.Errorf("ledger: journal of %d entries does not match its recorded head (size %d)", seq, head.Size)
	}
	return nil
}
