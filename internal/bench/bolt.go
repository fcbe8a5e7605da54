package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BoltTxRate is the disk baseline: one writer committing one record of
// valueSize bytes per bbolt transaction, with fsync, into a new database at
// path, for d. It returns the transactions per second and their latency.
func BoltTxRate(ctx context.Context, path string, valueSize int, d time.Duration) (Result, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true})
	if err != nil {
		return Result{}, fmt.Errorf("bench: bolt baseline: %w", err)
	}
	defer db.Close()
	bucket := []byte("b")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err }); err != nil {
		return Result{}, fmt.Errorf("bench: bolt baseline: %w", err)
	}
	val := make([]byte, valueSize)
	var seq uint64
	cfg := RunConfig{Name: "bbolt 1-record tx", Clients: 1, Duration: d, Unit: "tx/s"}
	return Run(ctx, cfg, func(context.Context, int) error {
		seq++
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], seq)
		return db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(k[:], val) })
	})
}
