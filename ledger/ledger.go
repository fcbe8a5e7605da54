package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Ledger is the replicated state machine: the state store, the rules that
// change it, and the journal of every committed proposal.
//
// Apply is called by one goroutine at a time (Raft's FSM goroutine). Reads
// run concurrently with it on bbolt read transactions, which see a
// consistent state and never block Apply.
type Ledger struct {
	path       string
	opts       Options
	mu         sync.RWMutex // write-held only while Restore swaps the store
	db         *bolt.DB
	consortium string
	applied    atomic.Uint64
	// notify is closed and replaced after every applied batch, so that
	// readers waiting for an index wake without polling.
	notifyMu sync.Mutex
	notify   chan struct{}
	// keys caches parsed verifying keys by key ID. A key ID names one
	// public key for ever (it is the key's fingerprint), so an entry never
	// goes stale; whether the key may sign at an index is still decided
	// from the key table on every use.
	keys sync.Map // key ID → *VerifyingKey
	// index is what Check reads: replaced, never modified, after each batch.
	index atomic.Pointer[checkIndex]
	// sigs remembers signatures that verified (see sigCache).
	sigs *sigCache
	// checked remembers snapshots that passed the restore check.
	checked checkedSnapshots
	checkMu sync.Mutex // one CheckSnapshot at a time
	memos   *memos     // decoded records, by their stored bytes
	// tail is the journal's tail after the last committed batch, handed
	// to the next one. Only Apply uses it, from one goroutine at a time
	// (see Ledger); Restore clears it.
	tail *journalTail
}

// Options tune a Ledger. The zero value is what production uses.
type Options struct {
	// SkipVerify disables signature verification inside Apply.
	// Benchmarks set it, to measure what verification costs, and so does
	// verify.Dependencies, which replays a journal its caller has already
	// applied; a node's own ledger never does, because Apply is the
	// authority on signatures.
	SkipVerify bool
	// NoSync skips fsync of the state store. Tests only: after a crash
	// the state could fall behind a Raft log that was already compacted.
	NoSync bool
	// DeferSync commits batches without fsync; Close makes the state
	// durable. It is for a caller that can rebuild the state from a
	// durable source if the machine goes down first: a node rebuilds it
	// from Raft's snapshot and log (see consensus). A process crash loses
	// nothing either way, since the kernel keeps what was written.
	DeferSync bool
	// OnStoreFailure, if set, is called instead of panicking when the
	// state store cannot commit an applied batch (a full or failing
	// disk). It must not return: it stops the process, which restarts
	// from the Raft log with nothing acknowledged lost.
	OnStoreFailure func(err error)
	// Trace, if set, is called after each applied entry with its result
	// and its footprint: the state it read and wrote. It is for a scratch
	// ledger that finds what an answer depends on (verify.Dependencies);
	// recording costs every read an append.
	Trace func(r *Result, fp Footprint)
	// StampedTime moves ledger time by each proposal record's stamp even
	// under attested time. It is for replaying a subset of a proven
	// journal (verify.Rebuild, for proofs and certificates): the time
	// entries are left out, and each entry's ledger time, which its hash
	// covers, stands in for them.
	StampedTime bool
}

// LogEntry is a committed Raft log entry as Apply receives it.
type LogEntry struct {
	Index uint64
	Data  []byte
	// Decoded, if set, is the entry's envelope as the ledger decoded it
	// before: in the API's admission on the leader (Admission.Decoded) or
	// in Preverify. Apply uses it instead of decoding again only if it was
	// decoded from the entry's own envelope bytes, and verifies it like
	// any other.
	Decoded *Decoded
}

// Decoded is an envelope as the ledger decoded it, with the bytes it was
// decoded from and their SHA-256. Only the ledger makes one, so Apply can
// rely on the three agreeing.
type Decoded struct {
	raw  []byte
	env  *Envelope
	hash Hash
}

// decodedFrom returns d if it was decoded from exactly raw, else nil.
func (d *Decoded) decodedFrom(raw []byte) *Decoded {
	if d == nil || !bytes.Equal(d.raw, raw) {
		return nil
	}
	return d
}

// Result is the answer to one applied entry.
type Result struct {
	Index     uint64  `json:"index"`
	Seq       uint64  `json:"seq"`
	EntryHash Hash    `json:"entry_hash"`
	Outcome   Outcome `json:"outcome"`
	// Duplicate is true when the same proposal was applied before: the
	// fields above are those of the original entry, and nothing changed.
	Duplicate bool `json:"duplicate,omitempty"`
}

var (
	metaApplied    = []byte("applied")
	metaLedgerTime = []byte("ledger_time")
	metaGenesis    = []byte("genesis")
	metaCharter    = []byte("charter")
	metaConsortium = []byte("consortium")
)

// Open opens the state store at path, creating it from the genesis
// document if it does not exist. A store that belongs to another
// consortium is refused.
func Open(path string, g *Genesis, opts Options) (*Ledger, error) {
	if err := g.Verify(); err != nil {
		return nil, fmt.Errorf("ledger: genesis: %w", err)
	}
	l := &Ledger{path: path, opts: opts, consortium: g.ID(), notify: make(chan struct{}), sigs: newSigCache(), memos: newMemos()}
	// Snapshots being checked when the process stopped (CheckSnapshot).
	if stale, err := filepath.Glob(path + ".check-*"); err == nil {
		for _, p := range stale {
			removeFile(p)
		}
	}
	db, err := openBolt(path, opts)
	if err != nil {
		return nil, err
	}
	l.db = db
	if err := l.init(g); err != nil {
		db.Close()
		return nil, err
	}
	l.loadIndex()
	return l, nil
}

// loadIndex rebuilds the check index from the store.
func (l *Ledger) loadIndex() {
	l.db.View(func(btx *bolt.Tx) error {
		l.index.Store(buildIndex(btx))
		return nil
	})
}

func openBolt(path string, opts Options) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: 2 * time.Second,
		NoSync:  opts.NoSync || opts.DeferSync,
		// The freelist is written with each commit, so that opening a large
		// state does not rebuild it by scanning every page (restart time).
		NoFreelistSync:  false,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 1 << 30, // readers then never hold up a remap under Apply
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: open state store %s: %w", path, err)
	}
	return db, nil
}

func (l *Ledger) init(g *Genesis) error {
	return l.db.Update(func(btx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := btx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := btx.Bucket(bucketMeta)
		if id := meta.Get(metaConsortium); id != nil {
			if string(id) != l.consortium {
				return fmt.Errorf("ledger: state store %s belongs to consortium %s, not %s", l.path, id, l.consortium)
			}
			l.applied.Store(binary.BigEndian.Uint64(meta.Get(metaApplied)))
			return nil
		}
		t := newTx(btx, l.memos)
		writeGenesis(t, g)
		t.commit()
		return nil
	})
}

// writeGenesis installs the founders, their keys and the charter, and
// journals the genesis document as entry 0.
func writeGenesis(t *tx, g *Genesis) {
	id := g.ID()
	t.put(bucketMeta, metaConsortium, []byte(id))
	t.put(bucketMeta, metaApplied, u64(0))
	t.putJSON(bucketMeta, metaCharter, g.Charter)
	doc := mustMarshal(g)
	t.put(bucketMeta, metaGenesis, doc)
	putLedgerTime(t, g.CreatedAt)
	for _, gm := range g.Members {
		m := Member{ID: gm.ID, Name: gm.Name, Role: gm.Role, Status: MemberActive, Node: gm.Node}
		for _, pk := range gm.Keys {
			kid := KeyID(gm.ID, pk)
			m.Keys = append(m.Keys, kid)
			t.putJSON(bucketKeys, []byte(kid), KeyRecord{ID: kid, Member: gm.ID, Public: pk})
		}
		if gm.EncryptionKey != nil {
			m.EncryptionKeys = []EncryptionKeyRecord{newEncryptionKeyRecord(*gm.EncryptionKey, 0)}
		}
		t.putJSON(bucketMembers, []byte(gm.ID), m)
	}
	appendEntry(t, g.Charter.journalFormat(), 0, g.CreatedAt.UTC(), doc, sha256.Sum256(doc), Outcome{Status: StatusAccepted, Type: "genesis", ID: id})
	t.flushBatch()
}

// Close closes the state store.
func (l *Ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if l.opts.DeferSync && !l.opts.NoSync {
		err = l.db.Sync()
	}
	return errors.Join(err, l.db.Close())
}

// Consortium returns the consortium ID.
func (l *Ledger) Consortium() string { return l.consortium }

// AppliedIndex returns the last Raft index the state has applied.
func (l *Ledger) AppliedIndex() uint64 { return l.applied.Load() }

// wake closes the channel that waiters on Applied hold.
func (l *Ledger) wake() {
	l.notifyMu.Lock()
	close(l.notify)
	l.notify = make(chan struct{})
	l.notifyMu.Unlock()
}

// Applied returns a channel that is closed when the applied index next
// moves, for waiting without polling.
func (l *Ledger) Applied() <-chan struct{} {
	l.notifyMu.Lock()
	defer l.notifyMu.Unlock()
	return l.notify
}

// Apply applies a batch of committed entries in one state-store
// transaction and returns one result per entry. Entries at or below the
// applied index are skipped (their result is nil), so replay after a
// restart is idempotent. A record that cannot be decoded, or a store that
// cannot be written, panics: a node that cannot apply what its peers
// applied must stop rather than diverge.
func (l *Ledger) Apply(entries []LogEntry) []*Result {
	l.mu.RLock()
	defer l.mu.RUnlock()
	results := make([]*Result, len(entries))
	last := l.applied.Load()
	u := newUpdate(l.index.Load())
	// The tail is the journal of the applied state; a batch that fails to
	// commit leaves it moved, so it is taken here and handed back only
	// after the commit.
	tail := l.tail
	if tail != nil && (tail.applied != last || tail.db != l.db) {
		tail = nil
	}
	l.tail = nil
	err := l.db.Update(func(btx *bolt.Tx) error {
		t := newTx(btx, l.memos)
		t.journal = tail
		t.committed = u.apply
		charter := loadCharter(t)
		for i, e := range entries {
			if e.Index <= last {
				continue
			}
			if l.opts.Trace != nil {
				// The charter was read for the whole batch, above.
				t.trace = &Footprint{}
				t.trace.read(bucketMeta, metaCharter)
			}
			r := l.applyOne(t, &charter, e)
			if t.trace != nil {
				l.opts.Trace(&r, t.trace.done())
				t.trace = nil
			}
			results[i] = &r
			last = e.Index
		}
		t.flushBatch()
		if t.journal != nil {
			t.journal.applied, t.journal.db = last, l.db
			tail = t.journal
		}
		t.put(bucketMeta, metaApplied, u64(last))
		t.commit()
		u.next.applied, u.next.ledgerTime = last, loadLedgerTime(t)
		failpoint("apply-before-commit")
		return nil
	})
	if err != nil {
		err = fmt.Errorf("ledger: commit of applied batch ending at index %d failed: %w", last, err)
		if l.opts.OnStoreFailure != nil {
			l.opts.OnStoreFailure(err)
		}
		panic(err.Error())
	}
	failpoint("apply-after-commit")
	l.tail = tail
	l.index.Store(u.next)
	l.applied.Store(last)
	l.wake()
	return results
}

func loadCharter(t *tx) Charter {
	c, ok := t.memos.charter.get(t, string(metaCharter))
	if !ok {
		panic("ledger: state store has no charter")
	}
	return c
}

func loadLedgerTime(t *tx) time.Time {
	if t.nowRead {
		return t.now
	}
	b := t.get(bucketMeta, metaLedgerTime)
	if len(b) != 8 {
		panic("ledger: state store has no ledger time")
	}
	t.now, t.nowRead = time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC(), true
	return t.now
}

// putLedgerTime moves ledger time. It stands even if the proposal is then
// rejected (discard leaves it), and reaches the store with the batch
// (flushBatch).
func putLedgerTime(t *tx, at time.Time) {
	// As stored: what a later batch reads back must be what this one saw.
	t.now, t.nowRead, t.nowMoved = time.Unix(0, at.UnixNano()).UTC(), true, true
}

// seenRecord remembers an authenticated proposal by (signer, ID), so that a
// resubmission returns the original outcome instead of acting twice.
type seenRecord struct {
	PayloadHash Hash   `json:"payload_hash"`
	Result      Result `json:"result"`
}

// seenResult returns the recorded result of p if p's payload is the one
// recorded under its signer and ID.
func seenResult(t *tx, p *Proposal, payloadHash Hash) (Result, bool) {
	return t.getSeen(key(p.Signer, p.ID)).result(t, payloadHash)
}

// result is seenResult for a record already read, nil if there is none.
func (seen *seenRecord) result(t *tx, payloadHash Hash) (Result, bool) {
	if seen == nil || seen.PayloadHash != payloadHash {
		return Result{}, false
	}
	r := seen.Result
	if r.Outcome.Code == CodeConflict {
		if b := t.get(bucketJournal, u64(r.Seq)); b != nil {
			var e Entry
			mustDecodeEntry(r.Seq, b, &e)
			r.Outcome.With = e.Outcome.With
		}
	}
	return r, true
}

// applyCtx is what a rule sees while it applies one proposal.
type applyCtx struct {
	tx       *tx
	index    uint64
	now      time.Time // ledger time
	p        *Proposal
	env      *Envelope
	signedBy []string // verified key IDs, in envelope order
	signers  []string // members with a verified signature, sorted
	charter  *Charter
	events   []Event
	// setCharter is the charter a passed charter.amend put in force; it
	// applies from the next entry of the batch on.
	setCharter *Charter
	// onReject, when a rule sets it, runs after a rejection has discarded
	// the proposal's writes. What it writes stands, and the events it
	// emits go into the rejected outcome. It records what a rejection must
	// not erase: the infraction behind a usage report refused for use over
	// a hard cap, after expiry or out of scope.
	onReject func()
}

// ahead is the latest instant a member's clock may read now: ledger time
// plus the charter's issued_at allowance after it. Ledger time trails the
// members' clocks by a few seconds (it moves by attested time entries), so
// a report of usage "up to now" may name an instant just past it.
func (a *applyCtx) ahead() time.Time {
	if !a.charter.AttestedTime {
		return a.now
	}
	return a.now.Add(time.Duration(a.charter.SkewAfterSec) * time.Second)
}

// body decodes the proposal body strictly into v.
func (a *applyCtx) body(v any) error {
	if err := DecodeStrict(a.p.Body, v); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return Errorf(e.Code, "body: %s", e.Message)
		}
		return Errorf(CodeInvalid, "body: %v", err)
	}
	return nil
}

func (a *applyCtx) event(kind, subject string) {
	a.events = append(a.events, Event{Kind: kind, Subject: subject})
}

// signed reports whether member m signed the envelope.
func (a *applyCtx) signed(m string) bool {
	_, found := slices.BinarySearch(a.signers, m)
	return found
}

// requireSigned fails unless every member named has signed the envelope.
func (a *applyCtx) requireSigned(what string, members ...string) error {
	for _, m := range members {
		if !a.signed(m) {
			return Errorf(CodeUnauthorized, "%s must be signed by %s, and is not", what, m)
		}
	}
	return nil
}

func (l *Ledger) applyOne(t *tx, charter *Charter, entry LogEntry) Result {
	index := entry.Index
	rec, err := DecodeRecord(entry.Data)
	if err != nil {
		panic(fmt.Sprintf("ledger: committed entry %d cannot be decoded: %v; stopping rather than diverging from peers", index, err))
	}
	if rec.Time {
		return l.applyTime(t, charter, index, rec.Envelope)
	}
	now := loadLedgerTime(t)
	if (!charter.AttestedTime || l.opts.StampedTime) && rec.Stamp.After(now) {
		now = rec.Stamp
	}
	adm, err := l.admit(t, charter, index, now, rec.Envelope, entry.Decoded.decodedFrom(rec.Envelope))
	if adm.Earlier != nil {
		// No effect at all, not even on ledger time: the state stays a
		// function of the journal, where a duplicate leaves no entry, so
		// that a replay of the journal reproduces the state digest.
		t.discard()
		return *adm.Earlier
	}
	a := &applyCtx{tx: t, index: index, now: now, charter: charter,
		p: adm.Proposal, env: adm.Envelope, signedBy: adm.SignedBy, signers: adm.Signers}
	if err == nil {
		err = dispatch(a)
	}
	out := Outcome{Status: StatusAccepted, Events: a.events}
	if a.p != nil {
		out.Type, out.ID, out.Signer = a.p.Type, a.p.ID, a.p.Signer
	}
	if err != nil {
		t.discard()
		var e *Error
		if !errors.As(err, &e) {
			panic(fmt.Sprintf("ledger: entry %d: rule returned a non-ledger error: %v", index, err))
		}
		out = Outcome{Status: StatusRejected, Type: out.Type, ID: out.ID, Signer: out.Signer, Code: e.Code, Message: e.Message}
		var ce *ConflictError
		if errors.As(err, &ce) {
			out.Message += " (conflicts with " + ce.With + ")"
			out.With = ce.With
		}
		if a.onReject != nil {
			a.events = nil
			a.onReject()
			out.Events = a.events
		}
	}
	// The entry of a charter.amend is in the format it was proposed under.
	format := charter.journalFormat()
	if err == nil && a.setCharter != nil {
		*charter = *a.setCharter
	}
	putLedgerTime(t, now)
	e := appendEntry(t, format, index, now, rec.Envelope, adm.EnvelopeHash, out)
	r := Result{Index: index, Seq: e.Seq, EntryHash: e.Hash, Outcome: out}
	if adm.remember {
		// Outcome.With stays out of the state (and so of its digest), as
		// it stays out of the entry hash; seenResult reads it back from
		// the journal.
		seen := seenRecord{PayloadHash: adm.PayloadHash, Result: r}
		seen.Result.Outcome.With = ""
		t.put(bucketSeen, key(a.p.Signer, a.p.ID), appendSeenJSON(make([]byte, 0, 256), &seen))
	}
	t.commit()
	return r
}

func memberOf(keyID string) string {
	m, _, _ := SplitKeyID(keyID)
	return m
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}

func rotateKeys(p *Proposal) map[string]PublicKey {
	var b KeyRotate
	if DecodeStrict(p.Body, &b) != nil || b.New.Validate() != nil {
		return nil
	}
	return map[string]PublicKey{KeyID(p.Signer, b.New): b.New}
}

// removeFile removes path if it exists.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
