package consensus

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/charta/charta/ledger"
)

// fsm adapts the ledger to Raft. It is deliberately thin: the ledger
// decodes records, verifies signatures, applies the rules and keeps its
// own applied index, which makes replay after a restart idempotent.
type fsm struct {
	l *ledger.Ledger

	// restoredCh is closed and replaced after each Restore, so that
	// waiters for an applied index wake when a snapshot moves it.
	mu         sync.Mutex
	restoredCh chan struct{}

	// observe, if set, is told about every applied batch.
	observe atomic.Pointer[ApplyObserver]

	// decoded holds the envelopes this node's API decoded for the entries
	// it is proposing, by the address of the record's first byte (see
	// Node.ProposeDecoded).
	decoded sync.Map // *byte → *ledger.Decoded
	// handedOver counts the entries applied with such an envelope, for
	// the tests.
	handedOver atomic.Uint64
}

// ApplyObserver is told about each batch of committed proposals the ledger
// applied: their results (nil for an entry applied before a restart) and
// how long applying the batch took, signature checks included. It runs on
// Raft's FSM goroutine, so it must return quickly.
type ApplyObserver func(results []*ledger.Result, took time.Duration)

func newFSM(l *ledger.Ledger) *fsm {
	return &fsm{l: l, restoredCh: make(chan struct{})}
}

// restored returns a channel closed after the next Restore.
func (f *fsm) restored() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restoredCh
}

var _ raft.BatchingFSM = (*fsm)(nil)

// Apply applies one committed entry.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch hands every command entry of the batch to the ledger in one
// call, which is one state-store transaction. The response for a command is
// its *ledger.Result; it is nil for configuration entries and for entries
// the ledger had already applied before a restart.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	entries := make([]ledger.LogEntry, 0, len(logs))
	pos := make([]int, 0, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		e := ledger.LogEntry{Index: l.Index, Data: l.Data}
		if len(l.Data) > 0 {
			if d, ok := f.decoded.Load(&l.Data[0]); ok {
				e.Decoded = d.(*ledger.Decoded)
				f.handedOver.Add(1)
			}
		}
		entries = append(entries, e)
		pos = append(pos, i)
	}
	if len(entries) == 0 {
		return out
	}
	// Verify the batch's signatures on every core first; Apply, which
	// runs one entry after another, then finds them in the ledger's
	// signature cache (it still decides every outcome itself).
	start := time.Now()
	f.l.Preverify(entries)
	results := f.l.Apply(entries)
	if obs := f.observe.Load(); obs != nil {
		(*obs)(results, time.Since(start))
	}
	for j, r := range results {
		if r != nil { // keep skipped entries an untyped nil
			out[pos[j]] = r
		}
	}
	return out
}

// Snapshot captures a consistent read view of the ledger; Persist streams
// it while Apply goes on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.l.Snapshot()
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{s: s}, nil
}

// Restore replaces the ledger's state with a snapshot. The ledger checks
// the snapshot (checksum, consortium, journal) before swapping it in.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.l.Restore(rc); err != nil {
		return err
	}
	f.mu.Lock()
	close(f.restoredCh)
	f.restoredCh = make(chan struct{})
	f.mu.Unlock()
	return nil
}

type fsmSnapshot struct {
	s *ledger.Snapshot
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	// The read transaction ends here as well as in Release (which is
	// idempotent): raft.RecoverCluster persists a snapshot and never
	// releases it, and a held read transaction would block Close.
	defer s.s.Release()
	if _, err := s.s.WriteTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { s.s.Release() }
