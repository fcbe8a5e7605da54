package consensus

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/charta/charta/ledger"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// RestoreBackup prepares an empty data directory to start a new cluster
// from a backup (the stream of GET /v1/backup). The backup is verified as
// any snapshot is (checksum, consortium, the journal's hash chain and
// Merkle root from genesis) and installed both as the ledger's state and as
// a Raft snapshot at the backup's applied index, whose configuration holds
// only this node as a voter. Start the node without --bootstrap: it elects
// itself, and the membership reconciler adds the other members' nodes,
// which start with empty data directories and catch up by snapshot.
//
// Raft indices continue from the backup's applied index, so the ledger's
// own idempotent replay rule (skip what is at or below the applied index)
// holds in the new cluster too.
func RestoreBackup(cfg Config, backup io.Reader) (applied uint64, err error) {
	if cfg.ID == "" || cfg.Dir == "" || cfg.Genesis == nil {
		return 0, errors.New("consensus: restore needs the node ID, the data directory and the genesis")
	}
	addr := cfg.AdvertiseAddr
	if addr == "" {
		addr = cfg.BindAddr
	}
	if addr == "" {
		return 0, errors.New("consensus: restore needs this node's advertised Raft address")
	}
	for _, p := range []string{"state.db", "raft", "snapshots"} {
		if _, err := os.Stat(filepath.Join(cfg.Dir, p)); err == nil {
			return 0, fmt.Errorf("consensus: restore: %s already holds state (%s); restore into an empty data directory", cfg.Dir, p)
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return 0, fmt.Errorf("consensus: %w", err)
	}
	l, err := ledger.Open(filepath.Join(cfg.Dir, "state.db"), cfg.Genesis, ledger.Options{NoSync: cfg.NoSync})
	if err != nil {
		return 0, err
	}
	defer l.Close()
	if err := l.Restore(backup); err != nil {
		return 0, fmt.Errorf("consensus: restore: %w", err)
	}
	applied = l.AppliedIndex()
	if applied == 0 {
		return 0, errors.New("consensus: restore: the backup holds no applied entries")
	}
	st, err := openStores(cfg.Dir, cfg.NoSync, hclog.NewNullLogger())
	if err != nil {
		return 0, err
	}
	defer st.close()
	snap, err := l.Snapshot()
	if err != nil {
		return 0, err
	}
	defer snap.Release()
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.ID), Address: raft.ServerAddress(addr)}}}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
	const term = 1
	sink, err := st.snaps.Create(raft.SnapshotVersionMax, applied, term, conf, applied, trans)
	if err != nil {
		return 0, fmt.Errorf("consensus: restore: %w", err)
	}
	if _, err := snap.WriteTo(sink); err != nil {
		sink.Cancel()
		return 0, fmt.Errorf("consensus: restore: write snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return 0, fmt.Errorf("consensus: restore: %w", err)
	}
	// The new cluster's first term follows the snapshot's.
	if err := st.bolt.SetUint64([]byte("CurrentTerm"), term); err != nil {
		return 0, fmt.Errorf("consensus: restore: %w", err)
	}
	return applied, nil
}
