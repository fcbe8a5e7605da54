package consensus

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/charta/charta/ledger"
)

func TestStore_CatchUpFromSnapshot(t *testing.T) {
	g := testGenesis(t, []string{"alpha"}, []string{"127.0.0.1:1"})
	open := func() *ledger.Ledger {
		l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), g, ledger.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	src := open()
	f := newFSM(src)
	for i, id := range []string{"a", "b", "c"} {
		f.ApplyBatch([]*raft.Log{{Index: uint64(i + 1), Type: raft.LogCommand, Data: ledger.EncodeRecord(time.Now(), tokenProposal(g, "alpha", id))}})
	}
	st, err := openStores(t.TempDir(), true, newHCLog(testLogger(t), "raft", hclog.Warn))
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	snapshotAt := func(index uint64) {
		t.Helper()
		sink, err := st.snaps.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Release()
		if err := s.Persist(sink); err != nil {
			t.Fatal(err)
		}
	}
	snapshotAt(3)

	// A ledger behind a snapshot whose entries are gone from the log (a
	// crash during an install) is restored from it.
	dst := open()
	restored, err := catchUpFromSnapshot(st, dst)
	if err != nil || !restored || dst.AppliedIndex() != 3 {
		t.Fatalf("restored=%v applied=%d err=%v", restored, dst.AppliedIndex(), err)
	}
	if a, b := stateOf(t, &Node{ledger: src}), stateOf(t, &Node{ledger: dst}); a != b {
		t.Fatalf("restored state %+v differs from the source %+v", b, a)
	}
	// Up to date: nothing to do.
	if restored, err := catchUpFromSnapshot(st, dst); err != nil || restored {
		t.Fatalf("second catch-up: restored=%v err=%v", restored, err)
	}
	// Behind only by entries that are not commands: nothing to do.
	if err := st.logs.StoreLog(&raft.Log{Index: 4, Term: 1, Type: raft.LogNoop}); err != nil {
		t.Fatal(err)
	}
	snapshotAt(4)
	if restored, err := catchUpFromSnapshot(st, dst); err != nil || restored {
		t.Fatalf("catch-up over a no-op: restored=%v err=%v", restored, err)
	}
}

func TestStore_LastCommandAtOrBelow(t *testing.T) {
	st, err := openStores(t.TempDir(), true, newHCLog(testLogger(t), "raft", hclog.Warn))
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	types := []raft.LogType{raft.LogCommand, raft.LogCommand, raft.LogConfiguration, raft.LogNoop, raft.LogBarrier}
	for i, typ := range types {
		if err := st.logs.StoreLog(&raft.Log{Index: uint64(i + 1), Term: 1, Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ index, floor, want uint64 }{
		{5, 0, 2}, {2, 0, 2}, {1, 0, 1}, {5, 2, 2}, {5, 3, 3}, {0, 0, 0},
	} {
		if got := lastCommandAtOrBelow(st.logs, tc.index, tc.floor); got != tc.want {
			t.Errorf("lastCommandAtOrBelow(%d, floor %d) = %d, want %d", tc.index, tc.floor, got, tc.want)
		}
	}
	// Compacted entries are covered by a snapshot: the floor is enough.
	if err := st.logs.DeleteRange(1, 2); err != nil {
		t.Fatal(err)
	}
	if got := lastCommandAtOrBelow(st.logs, 5, 1); got != 1 {
		t.Errorf("after compaction: %d, want the floor 1", got)
	}
}
