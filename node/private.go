package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
	"github.com/charta/charta/node/api"
	bolt "go.etcd.io/bbolt"
)

// PrivateStoreFile is the name, in the data directory, of the bbolt file
// where a party's node keeps the opened terms of its confidential grants.
// It is outside the replicated state and its digest: no snapshot, backup,
// export or journal read carries it, and a node that is not a party never
// writes to it.
const PrivateStoreFile = "private.db"

var (
	bucketPrivateGrants = []byte("grants")
	bucketPrivateUsage  = []byte("usage") // grant ID → ledger.PrivateUsage
)

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
	// Readers are the members whose tokens may see what this node opened
	// of the grant: the recipients of its terms (Server.mayOpen).
	Readers []string `json:"readers,omitempty"`
}

// privateStore holds a party's opened confidential terms, keyed by grant
// ID. Records are derived from the replicated state alone (the sealed
// parts of its grants) and this member's keys, so a lost or stale file is
// rebuilt by opening again (syncPrivate).
type privateStore struct {
	db  *bolt.DB
	now atomic.Pointer[privateState] // what the store holds, for lookups without a transaction

	// synced is the applied index the store has caught up with: every
	// entry up to it is opened and admitted. Checks that apply sealed
	// caps wait for it (caughtUp), so that a usage report the node has
	// applied is in the totals they see.
	synced   atomic.Uint64
	notifyMu sync.Mutex
	notify   chan struct{} // closed when synced moves
}

// markSynced records that the store has caught up with applied index i
// and wakes the checks that wait for it.
func (p *privateStore) markSynced(i uint64) {
	p.synced.Store(i)
	p.notifyMu.Lock()
	close(p.notify)
	p.notify = make(chan struct{})
	p.notifyMu.Unlock()
}

// caughtUp waits until the store has caught up with applied index i, for
// at most privateWait or until ctx ends.
func (p *privateStore) caughtUp(ctx context.Context, i uint64) error {
	timeout := time.NewTimer(privateWait)
	defer timeout.Stop()
	for {
		p.notifyMu.Lock()
		ch := p.notify
		p.notifyMu.Unlock()
		if p.synced.Load() >= i {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout.C:
			return errorf(api.CodeUnavailable, "this node has not yet opened the sealed usage reports up to index %d, which a check of a confidential grant needs; retry shortly", i).retry(1)
		}
	}
}

// privateWait bounds how long a check waits for the private store.
const privateWait = 2 * time.Second

// privateState is an immutable copy of the private store's records, which
// checks read on every question (Opener) without a transaction. It is
// replaced whole after each change.
type privateState struct {
	grants  map[string]*privateRecord
	usage   map[string]*ledger.PrivateUsage
	readers map[string]bool // the Readers of every opened record (index)
}

// index fills st.readers from st.grants.
func (st *privateState) index() {
	st.readers = map[string]bool{}
	for _, rec := range st.grants {
		if rec.Status == privateOpened {
			for _, m := range rec.Readers {
				st.readers[m] = true
			}
		}
	}
}

// waits reports whether a check for p must wait for the store (caughtUp):
// only if something opened here may be shown to p, the operator or a
// reader; any other caller gets the same answer without the store.
func (st *privateState) waits(p *principal) bool {
	return len(st.readers) > 0 && (p.operator || st.readers[p.member])
}

// load publishes the store's records as the current privateState.
func (p *privateStore) load() error {
	st := &privateState{grants: map[string]*privateRecord{}, usage: map[string]*ledger.PrivateUsage{}}
	err := p.db.View(func(tx *bolt.Tx) error {
		// A record that does not decode is left out: the first sync, a
		// full scan, opens its grant again and replaces it.
		if err := tx.Bucket(bucketPrivateGrants).ForEach(func(k, v []byte) error {
			rec := new(privateRecord)
			if json.Unmarshal(v, rec) == nil {
				st.grants[string(k)] = rec
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketPrivateUsage).ForEach(func(k, v []byte) error {
			pu := new(ledger.PrivateUsage)
			if json.Unmarshal(v, pu) == nil {
				st.usage[string(k)] = pu
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("node: private store: %w", err)
	}
	st.index()
	p.now.Store(st)
	return nil
}

// usage returns the account of grant id's sealed usage reports, if any.
func (p *privateStore) usage(id string) (*ledger.PrivateUsage, bool) {
	pu, ok := p.now.Load().usage[id]
	return pu, ok
}

// putUsage stores pu, replacing the account of its grant.
func (p *privateStore) putUsage(pu *ledger.PrivateUsage) error {
	b, err := json.Marshal(pu)
	if err != nil {
		return err
	}
	if err := p.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPrivateUsage).Put([]byte(pu.Grant), b) }); err != nil {
		return err
	}
	p.publish(func(st *privateState) { st.usage[pu.Grant] = pu })
	return nil
}

// publish replaces the current privateState with a copy changed by fn.
// Only the goroutine that writes the store (watchPrivate) calls it.
func (p *privateStore) publish(fn func(*privateState)) {
	old := p.now.Load()
	st := &privateState{grants: maps.Clone(old.grants), usage: maps.Clone(old.usage)}
	fn(st)
	st.index()
	p.now.Store(st)
}

// openPrivateStore opens or creates the private store in dir.
func openPrivateStore(dir string) (*privateStore, error) {
	db, err := bolt.Open(filepath.Join(dir, PrivateStoreFile), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("node: private store: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPrivateGrants, bucketPrivateUsage} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("node: private store: %w", err)
	}
	p := &privateStore{db: db, notify: make(chan struct{})}
	if err := p.load(); err != nil {
		db.Close()
		return nil, err
	}
	return p, nil
}

// get returns the record of grant id, if any.
func (p *privateStore) get(id string) (*privateRecord, bool) {
	rec, ok := p.now.Load().grants[id]
	return rec, ok
}

// put stores rec, replacing any record of its grant.
func (p *privateStore) put(rec *privateRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := p.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPrivateGrants).Put([]byte(rec.Grant), b) }); err != nil {
		return err
	}
	p.publish(func(st *privateState) { st.grants[rec.Grant] = rec })
	return nil
}

func (p *privateStore) close() error { return p.db.Close() }

// openConfidential opens grant g's sealed part as member with keys (the
// member's current and retired encryption keys), as seal.OpenGrant does,
// into a record. It never panics and never fails: whatever goes wrong — a
// wrap it cannot decrypt, terms that do not match the commitment, a
// plaintext that is not valid terms — makes a refused record that says
// why, in words that never quote the decrypted terms. Opening the same
// grant with the same keys gives the same record on every party's node.
func openConfidential(g *ledger.Grant, consortium, member string, keys []*seal.PrivateKey) *privateRecord {
	rec := &privateRecord{Grant: g.ID, Commitment: g.Confidential.Commitment, Status: privateRefused, Readers: g.Parties()}
	if g.Confidential.Sealed != nil {
		rec.Readers = g.Confidential.Sealed.Recipients()
	}
	ct, err := seal.OpenGrant(g, consortium, member, keys...)
	if err != nil {
		rec.Reason = err.Error()
		return rec
	}
	d := ct.Digest()
	rec.Status, rec.Terms, rec.Digest = privateOpened, ct, &d
	return rec
}

// syncPrivate opens the confidential grants this node's member is a party
// to that the private store does not hold yet (or holds for another
// commitment), and records each outcome; then it admits, in log order, the
// sealed usage and SLA reports of those grants that it has not admitted
// yet (ledger.PrivateUsage). A refusal is logged at ERROR and counted; it
// changes nothing in the replicated state.
//
// The first call scans every grant (the store is rebuilt after a restart,
// a snapshot install or a restore). Later calls read only the journal
// entries since the previous call, from seq on, and look at the grants
// they offered or reported usage or service levels of, so that the cost follows the writes
// and not the number of grants. It returns the journal size it has looked
// at.
func (s *Server) syncPrivate(seq uint64, full bool) (uint64, error) {
	member := s.cfg.Member
	var consortium string
	var todo []*ledger.Grant    // grants whose terms to open
	var metered []*ledger.Grant // grants whose new reports to admit
	reports := map[string][]*ledger.UsageReport{}
	slas := map[string][]*ledger.SLAReport{}
	// A recipient: a party, or an auditor the charter named.
	party := func(g *ledger.Grant) bool { return g.SealedTo(member) }
	want := func(g *ledger.Grant) bool {
		if !party(g) {
			return false
		}
		rec, ok := s.private.get(g.ID)
		// A full scan (a restart, with the keys it loaded) tries refused
		// ones again: the key they needed may be there now.
		// A record written before it named its readers is opened again.
		return !ok || rec.Commitment != g.Confidential.Commitment || full && (rec.Status == privateRefused || len(rec.Readers) == 0)
	}
	meter := func(g *ledger.Grant) {
		if !slices.ContainsFunc(metered, func(x *ledger.Grant) bool { return x.ID == g.ID }) {
			metered = append(metered, g)
		}
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
						if ev.Kind != "grant.offered" && ev.Kind != "usage.reported" && ev.Kind != "sla.reported" {
							continue
						}
						g, ok := v.Grant(ev.Subject)
						switch {
						case !ok:
						case ev.Kind == "grant.offered" && want(g):
							todo = append(todo, g)
						case ev.Kind != "grant.offered" && party(g):
							meter(g)
						}
					}
				}
				from = es[len(es)-1].Seq + 1
			}
		} else {
			for after := ""; ; {
				gs, next := v.Grants(after, 500, party)
				for _, g := range gs {
					if want(g) {
						todo = append(todo, g)
					}
					meter(g)
				}
				if next == "" {
					break
				}
				after = next
			}
		}
		seq = size
		for _, g := range metered {
			// An account is rebuilt from the first report on a full scan
			// and when the grant's terms are opened in this pass.
			var through uint64
			reopened := slices.ContainsFunc(todo, func(x *ledger.Grant) bool { return x.ID == g.ID })
			if pu, ok := s.private.usage(g.ID); ok && !full && !reopened {
				through = pu.Through
			}
			for after := ""; ; {
				rs, next := v.UsageReports(g.ID, after, 500)
				for _, r := range rs {
					if r.Index > through && r.Confidential != nil {
						reports[g.ID] = append(reports[g.ID], r)
					}
				}
				if next == "" {
					break
				}
				after = next
			}
			slas[g.ID] = v.SealedSLAReports(g.ID, through)
		}
		return nil
	})
	if err != nil {
		return seq, err
	}
	if len(todo) == 0 && len(metered) == 0 {
		return seq, nil
	}
	var errs []error
	opened := map[string]*privateRecord{}
	for _, g := range todo {
		rec := openConfidential(g, consortium, member, s.cfg.EncryptionKeys)
		if rec.Status == privateRefused {
			s.metrics.sealRefused.Inc()
			s.log.Error("refused the sealed terms of a confidential grant this member is party to", "grant", g.ID, "commitment", rec.Commitment.String(), "reason", rec.Reason)
		}
		opened[g.ID] = rec
		errs = append(errs, s.private.put(rec))
	}
	for _, g := range metered {
		rec, ok := opened[g.ID]
		if !ok {
			rec, ok = s.private.get(g.ID)
		}
		pu := &ledger.PrivateUsage{Grant: g.ID}
		if old, found := s.private.usage(g.ID); found && !full && opened[g.ID] == nil {
			pu = clonePrivateUsage(old)
		}
		view := g
		if ok && rec.Status == privateOpened && rec.Commitment == g.Confidential.Commitment {
			view = g.Opened(rec.Terms)
		}
		seal.AdmitUsage(pu, view, reports[g.ID], slas[g.ID], consortium, member, s.cfg.EncryptionKeys, func(kind, report, why string) {
			s.metrics.sealRefused.Inc()
			s.log.Error("refused the sealed part of a report of a confidential grant this member is party to", "grant", g.ID, "kind", kind, "report", report, "reason", why)
		})
		errs = append(errs, s.private.putUsage(pu))
	}
	return seq, errors.Join(errs...)
}

// clonePrivateUsage copies pu deeply enough that admitting more reports
// into the copy leaves pu, which readers may hold, as it is.
func clonePrivateUsage(pu *ledger.PrivateUsage) *ledger.PrivateUsage {
	c := *pu
	c.Reports = slices.Clone(pu.Reports)
	c.Infractions = slices.Clone(pu.Infractions)
	c.SLAReports = slices.Clone(pu.SLAReports)
	c.Totals = make([]ledger.UsageTotals, len(pu.Totals))
	for i, t := range pu.Totals {
		t.Metrics = slices.Clone(t.Metrics)
		c.Totals[i] = t
	}
	return &c
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
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var applied, seq uint64
	full := true
	for {
		moved := s.l.Applied() // before reading the index, so no move is missed
		if i := s.l.AppliedIndex(); i != applied {
			next, err := s.syncPrivate(seq, full || i < applied)
			if err != nil {
				s.log.Error("private store", "err", err)
			} else {
				applied, seq, full = i, next, false
				s.private.markSynced(i)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-moved:
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
