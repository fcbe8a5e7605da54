package consensus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/charta/charta/ledger"
)

// stores are Raft's durable stores under the data directory.
type stores struct {
	bolt  *raftboltdb.BoltStore // log + stable store: Dir/raft/raft.db
	logs  raft.LogStore         // bolt behind a cache of recent entries
	snaps *raft.FileSnapshotStore
}

const (
	logCacheSize   = 512
	snapshotRetain = 2
)

func openStores(dir string, noSync bool, logger hclog.Logger) (*stores, error) {
	if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}
	b, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, "raft", "raft.db"),
		NoSync:      noSync,
		BoltOptions: &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true},
	})
	if err != nil {
		return nil, fmt.Errorf("consensus: open raft log store: %w", err)
	}
	logs, err := raft.NewLogCache(logCacheSize, b)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("consensus: %w", err)
	}
	// The file snapshot store keeps its files in Dir/snapshots.
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotRetain, logger)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("consensus: open snapshot store: %w", err)
	}
	return &stores{bolt: b, logs: logs, snaps: snaps}, nil
}

func (s *stores) close() error { return s.bolt.Close() }

// catchUpFromSnapshot makes sure the ledger holds at least the state of the
// newest snapshot. Raft is started with NoSnapshotRestoreOnStart, because
// the ledger's state store persists and is normally ahead of any snapshot
// (or was set aside to be rebuilt, see durability.go);
// Raft then resumes applying after the snapshot's index. If the node
// stopped after a snapshot was installed but before the ledger had
// restored it, command entries up to the snapshot index would be missed:
// in that case the ledger restores the snapshot here first.
func catchUpFromSnapshot(s *stores, l *ledger.Ledger) (restored bool, err error) {
	metas, err := s.snaps.List()
	if err != nil {
		return false, fmt.Errorf("consensus: list snapshots: %w", err)
	}
	if len(metas) == 0 {
		return false, nil
	}
	meta := metas[0]
	applied := l.AppliedIndex()
	if applied >= meta.Index || !missesCommands(s.logs, applied, meta.Index) {
		return false, nil
	}
	_, rc, err := s.snaps.Open(meta.ID)
	if err != nil {
		return false, fmt.Errorf("consensus: open snapshot %s: %w", meta.ID, err)
	}
	defer rc.Close()
	if err := l.Restore(rc); err != nil {
		return false, fmt.Errorf("consensus: restore snapshot %s: %w", meta.ID, err)
	}
	return true, nil
}

// missesCommands reports whether a command entry in (from, to] could be
// missing from the ledger: the range holds a command, or part of it is no
// longer in the log.
func missesCommands(logs raft.LogStore, from, to uint64) bool {
	for i := from + 1; i <= to; i++ {
		var e raft.Log
		if err := logs.GetLog(i, &e); err != nil || e.Type == raft.LogCommand {
			return true
		}
	}
	return false
}

// lastCommandAtOrBelow returns the index of the last command entry at or
// below index, which is what the ledger's applied index must reach for
// everything up to index to be reflected. Entries that are no longer in
// the log are covered by a snapshot, hence already applied: floor is then
// returned.
func lastCommandAtOrBelow(logs raft.LogStore, index, floor uint64) uint64 {
	for i := index; i > floor; i-- {
		var e raft.Log
		if err := logs.GetLog(i, &e); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return floor
			}
			return index // be conservative: wait for the whole range
		}
		if e.Type == raft.LogCommand {
			return i
		}
	}
	return floor
}
