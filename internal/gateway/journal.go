package gateway

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// JournalFile is the name of the journal in the state directory.
const JournalFile = "gateway.db"

var (
	bucketMeta     = []byte("meta")     // "id" → the journal's random ID; "seq" → last batch number
	bucketCounts   = []byte("counts")   // count key → tally: counted, not yet in a batch
	bucketBatches  = []byte("batches")  // batch number (8 bytes, big-endian) → batch: signed, not yet committed
	bucketRejected = []byte("rejected") // batch number → batch the ledger refused, kept for the operator
)

// tally is what the journal holds of one count key.
type tally struct {
	Q     int64     `json:"q"`
	First time.Time `json:"first"` // when the first unit still in the tally was counted
	Last  time.Time `json:"last"`
}

// batch is one signed proposal that carries counts to the ledger. It is
// written in the same transaction that takes its counts out of the
// tallies, and deleted in the one that records its outcome, so every
// count is in exactly one place. Its proposal ID (and report ID) is
// derived from the journal's ID and the batch number: resubmitting it
// after a crash is an exact resubmission, which the ledger answers with
// the earlier result.
type batch struct {
	Seq      uint64          `json:"seq"`
	ID       string          `json:"id"`
	Type     string          `json:"type"` // usage.report or pool.consume
	Body     json.RawMessage `json:"body"`
	Keys     []countKey      `json:"keys"`    // the count keys it carries
	Amounts  []int64         `json:"amounts"` // and their quantities
	Envelope []byte          `json:"envelope"`
	Created  time.Time       `json:"created"`
	Outcome  string          `json:"outcome,omitempty"` // why the ledger refused it (bucket rejected)
}

// journal is the gateway's local record of counts and batches: a bbolt
// file. Counts are added through bbolt's batched transactions, so that
// the requests in flight share one fsync.
type journal struct {
	db *bolt.DB
	id string // random, made when the file is created
}

// openJournal opens or creates the journal in dir.
func openJournal(dir string) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: state: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, JournalFile), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("gateway: journal %s: %w", filepath.Join(dir, JournalFile), err)
	}
	// Requests wait for their count's commit; a short delay keeps that
	// wait small while still sharing each fsync between requests.
	db.MaxBatchDelay = 2 * time.Millisecond
	j := &journal{db: db}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketCounts, bucketBatches, bucketRejected} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if id := meta.Get([]byte("id")); id != nil {
			j.id = string(id)
			return nil
		}
		var raw [8]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return err
		}
		j.id = hex.EncodeToString(raw[:])
		return meta.Put([]byte("id"), []byte(j.id))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("gateway: journal: %w", err)
	}
	return j, nil
}

// Close closes the file.
func (j *journal) Close() error { return j.db.Close() }

// add records counts durably, at time at. Concurrent calls share a
// transaction and its fsync; add returns once its counts are on disk.
func (j *journal) add(cs []count, at time.Time) error {
	return j.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounts)
		for _, c := range cs {
			var t tally
			if v := b.Get([]byte(c.key)); v != nil {
				if err := json.Unmarshal(v, &t); err != nil {
					return fmt.Errorf("gateway: journal: count %q: %w", c.key, err)
				}
			}
			if t.Q == 0 || at.Before(t.First) {
				t.First = at
			}
			if at.After(t.Last) {
				t.Last = at
			}
			t.Q += c.q
			v, _ := json.Marshal(t)
			if err := b.Put([]byte(c.key), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// state returns the tallies and the batches not yet committed, for
// rebuilding pending after a start.
func (j *journal) state() (map[countKey]tally, []batch, error) {
	tallies := map[countKey]tally{}
	var batches []batch
	err := j.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketCounts).ForEach(func(k, v []byte) error {
			var t tally
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("count %q: %w", k, err)
			}
			tallies[countKey(k)] = t
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketBatches).ForEach(func(k, v []byte) error {
			var b batch
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("batch %x: %w", k, err)
			}
			batches = append(batches, b)
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: journal: %w", err)
	}
	return tallies, batches, nil
}

// cut turns the tallies into batches in one transaction: make is given
// every tally and a function that numbers a new batch (and names its
// proposal), and returns the batches with their envelopes. The tallies
// each batch carries are removed; the others stay.
func (j *journal) cut(make func(tallies map[countKey]tally, next func() (uint64, string)) ([]batch, error)) ([]batch, error) {
	var out []batch
	err := j.db.Update(func(tx *bolt.Tx) error {
		counts, meta, bs := tx.Bucket(bucketCounts), tx.Bucket(bucketMeta), tx.Bucket(bucketBatches)
		tallies := map[countKey]tally{}
		err := counts.ForEach(func(k, v []byte) error {
			var t tally
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("count %q: %w", k, err)
			}
			tallies[countKey(k)] = t
			return nil
		})
		if err != nil || len(tallies) == 0 {
			return err
		}
		seq := uint64(0)
		if v := meta.Get([]byte("seq")); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		next := func() (uint64, string) {
			seq++
			return seq, fmt.Sprintf("gw-%s-%d", j.id, seq)
		}
		batches, err := make(tallies, next)
		if err != nil {
			return err
		}
		for _, b := range batches {
			if err := putBatch(bs, &b); err != nil {
				return err
			}
			for _, k := range b.Keys {
				if err := counts.Delete([]byte(k)); err != nil {
					return err
				}
			}
		}
		out = batches
		return meta.Put([]byte("seq"), binary.BigEndian.AppendUint64(nil, seq))
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: journal: %w", err)
	}
	return out, nil
}

// done removes a committed batch.
func (j *journal) done(seq uint64) error {
	return j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBatches).Delete(binary.BigEndian.AppendUint64(nil, seq))
	})
}

// reject moves a batch the ledger refused to the rejected bucket.
func (j *journal) reject(b *batch, why string) error {
	return j.db.Update(func(tx *bolt.Tx) error {
		k := binary.BigEndian.AppendUint64(nil, b.Seq)
		if err := tx.Bucket(bucketBatches).Delete(k); err != nil {
			return err
		}
		r := *b
		r.Outcome = why
		return putBatch(tx.Bucket(bucketRejected), &r)
	})
}

// requeue takes back batch b, which the ledger rejected without counting
// it, in one transaction: its counts return to the tallies (added to
// those counted since), as counted from first to last, and the batch is
// removed. The next cut puts them in a new batch, under a new ID.
func (j *journal) requeue(b *batch, first, last time.Time) error {
	return j.db.Update(func(tx *bolt.Tx) error {
		counts := tx.Bucket(bucketCounts)
		for i, k := range b.Keys {
			var t tally
			if v := counts.Get([]byte(k)); v != nil {
				if err := json.Unmarshal(v, &t); err != nil {
					return fmt.Errorf("gateway: journal: count %q: %w", k, err)
				}
			}
			if t.Q == 0 || first.Before(t.First) {
				t.First = first
			}
			if last.After(t.Last) {
				t.Last = last
			}
			t.Q += b.Amounts[i]
			v, _ := json.Marshal(t)
			if err := counts.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketBatches).Delete(binary.BigEndian.AppendUint64(nil, b.Seq))
	})
}

func putBatch(bk *bolt.Bucket, b *batch) error {
	if len(b.Keys) != len(b.Amounts) {
		return errors.New("batch keys and amounts differ in length")
	}
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return bk.Put(binary.BigEndian.AppendUint64(nil, b.Seq), v)
}
