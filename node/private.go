package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
	bolt "go.etcd.io/bbolt"
)

// PrivateStoreFile is the name, in the data directory, of the bbolt file
// where a party's node keeps the opened terms of its confidential grants.
// It is outside the replicated state and its digest: no snapshot, backup,
// export or journal read carries it, and a node that is not a party never
// writes to it.
const PrivateStoreFile = "private.db"

var bucketPrivateGrants = []byte("grants")

// Statuses of a private record.
const (
	privateOpened  = "opened"
	privateRefused = "refused"
)

// privateRecord is what a party's node recorded about one confidential
// grant: the terms it opened and their digest, or why it refused them.
type privateRecord struct {
	Grant      string                    `json:"grant"`
	Commitment ledger.Hash               `json:"commitment"`
	Status     string                    `json:"status"` // opened or refused
	Terms      *ledger.ConfidentialTerms `json:"terms,omitempty"`
	Digest     *ledger.Hash              `json:"digest,omitempty"` // SHA-256 of Terms.Canonical()
	Reason     string                    `json:"reason,omitempty"` // why it was refused
}

// privateStore holds a party's opened confidential terms, keyed by grant
// ID. Records are derived from the replicated state alone (the sealed
// parts of its grants) and this member's keys, so a lost or stale file is
// rebuilt by opening again (syncPrivate).
type privateStore struct {
	db *bolt.DB
}

// openPrivateStore opens or creates the private store in dir.
func openPrivateStore(dir string) (*privateStore, error) {
	db, err := bolt.Open(filepath.Join(dir, PrivateStoreFile), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("node: private store: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketPrivateGrants)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("node: private store: %w", err)
	}
	return &privateStore{db: db}, nil
}

// get returns the record of grant id, if any.
func (p *privateStore) get(id string) (*privateRecord, bool) {
	var rec *privateRecord
	_ = p.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketPrivateGrants).Get([]byte(id)); b != nil {
			rec = new(privateRecord)
			if json.Unmarshal(b, rec) != nil {
				rec = nil
			}
		}
		return nil
	})
	return rec, rec != nil
}

// put stores rec, replacing any record of its grant.
func (p *privateStore) put(rec *privateRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return p.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPrivateGrants).Put([]byte(rec.Grant), b) })
}

func (p *privateStore) close() error { return p.db.Close() }

// openConfidential opens grant g's sealed part as member with keys (the
// member's current and retired encryption keys), under the binding
// {consortium, "grant", g.ID}, and checks the terms against the public
// ones. It never panics and never fails: whatever goes wrong — a wrap it
// cannot decrypt, terms that do not match the commitment, a plaintext
// that is not valid terms — makes a refused record that says why.
// Opening the same grant with the same keys gives the same record on
// every party's node.
func openConfidential(g *ledger.Grant, consortium, member string, keys []*seal.PrivateKey) *privateRecord {
	c := g.Confidential
	rec := &privateRecord{Grant: g.ID, Commitment: c.Commitment, Status: privateRefused}
	if c.Sealed == nil {
		rec.Reason = "the grant carries no sealed object"
		return rec
	}
	pt, _, err := seal.OpenWith(seal.FromLedger(c.Sealed), member, seal.Binding{Consortium: consortium, Kind: ledger.ConfidentialKind, ID: g.ID}, keys...)
	if err != nil {
		rec.Reason = err.Error()
		return rec
	}
	ct, err := ledger.ParseConfidentialTerms(pt, &g.Terms)
	if err != nil {
		// The error may quote the decrypted values; the reason is logged
		// and served, so it says only what is wrong in kind.
		rec.Reason = "the sealed terms decrypt and match their commitment but are not valid terms"
		return rec
	}
	d := ct.Digest()
	rec.Status, rec.Terms, rec.Digest = privateOpened, ct, &d
	return rec
}

// syncPrivate opens the confidential grants this node's member is a party
// to that the private store does not hold yet (or holds for another
// commitment), and records each outcome. A refusal is logged at ERROR and
// counted; it changes nothing in the replicated state.
//
// The first call scans every grant (the store is rebuilt after a restart,
// a snapshot install or a restore). Later calls read only the journal
// entries since the previous call, from seq on, and look at the grants
// they offered, so that the cost follows the writes and not the number of
// grants. It returns the journal size it has looked at.
func (s *Server) syncPrivate(seq uint64, full bool) (uint64, error) {
	member := s.cfg.Member
	var consortium string
	var todo []*ledger.Grant
	want := func(g *ledger.Grant) bool {
		if g.Confidential == nil || !g.IsParty(member) {
			return false
		}
		rec, ok := s.private.get(g.ID)
		// A full scan (a restart, with the keys it loaded) tries refused
		// ones again: the key they needed may be there now.
		return !ok || rec.Commitment != g.Confidential.Commitment || full && rec.Status == privateRefused
	}
	err := s.l.View(func(v *ledger.View) error {
		consortium = v.Consortium()
		size := v.Head().Size
		if !full && seq <= size {
			for from := seq; from < size; {
				es := v.Entries(from, 500)
				if len(es) == 0 {
					break
				}
				for _, e := range es {
					for _, ev := range e.Outcome.Events {
						if ev.Kind != "grant.offered" {
							continue
						}
						if g, ok := v.Grant(ev.Subject); ok && want(g) {
							todo = append(todo, g)
						}
					}
				}
				from = es[len(es)-1].Seq + 1
			}
			seq = size
			return nil
		}
		for after := ""; ; {
			gs, next := v.Grants(after, 500, want)
			todo = append(todo, gs...)
			if next == "" {
				break
			}
			after = next
		}
		seq = size
		return nil
	})
	if err != nil {
		return seq, err
	}
	var errs []error
	for _, g := range todo {
		rec := openConfidential(g, consortium, member, s.cfg.EncryptionKeys)
		if rec.Status == privateRefused {
			s.metrics.sealRefused.Inc()
			s.log.Error("refused the sealed terms of a confidential grant this member is party to", "grant", g.ID, "commitment", rec.Commitment.String(), "reason", rec.Reason)
		}
		errs = append(errs, s.private.put(rec))
	}
	return seq, errors.Join(errs...)
}

// watchPrivate keeps the private store in step with the applied state:
// after every change of the applied index (a new entry, a snapshot
// installed, a restart) it opens what is new. It runs until ctx ends, then
// closes the store. A journal that shrank or was replaced (a snapshot or a
// restore) makes the next pass a full scan.
func (s *Server) watchPrivate(ctx context.Context) {
	if s.private == nil {
		return
	}
	defer s.private.close()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var applied, seq uint64
	full := true
	for {
		if i := s.l.AppliedIndex(); i != applied {
			next, err := s.syncPrivate(seq, full || i < applied)
			if err != nil {
				s.log.Error("private store", "err", err)
			} else {
				applied, seq, full = i, next, false
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// encryptionKeys loads this member's encryption keys: the one in its key
// file, if the file holds one, and those of EncKeyFiles (retired keys).
// A key file of another member is an error.
func (c *Config) encryptionKeys() (string, []*seal.PrivateKey, error) {
	var keys []*seal.PrivateKey
	if c.KeyFile != "" {
		if _, seed, err := ledger.ReadEncryptionSeed(c.KeyFile); err == nil && seed != nil {
			k, err := seal.NewKeyFromSeed(seed)
			if err != nil {
				return "", nil, fmt.Errorf("node: key file %s: %w", c.KeyFile, err)
			}
			keys = append(keys, k)
		}
	}
	for _, f := range c.EncKeyFiles {
		member, k, err := seal.ReadKeyFile(f)
		if err != nil {
			return "", nil, fmt.Errorf("node: encryption key file %s: %w", f, err)
		}
		if member != c.ID {
			return "", nil, fmt.Errorf("node: encryption key file %s holds a key of %s, not of %s", f, member, c.ID)
		}
		keys = append(keys, k)
	}
	return c.ID, keys, nil
}
