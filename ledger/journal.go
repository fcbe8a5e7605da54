package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	bolt "go.etcd.io/bbolt"
)

// Hash is a SHA-256 digest. It encodes as lower-case hex in JSON.
type Hash [32]byte

// MarshalText encodes h as hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h[:])), nil }

// UnmarshalText decodes 64 hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return Errorf(CodeInvalid, "hash: want 64 hex digits, got %d characters", len(b))
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return Errorf(CodeInvalid, "hash: not hex")
	}
	return nil
}

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Outcome is what the ledger decided about one proposal. It is part of the
// journal entry, and covered by the entry's hash (in the JournalJSON
// format, every field but With).
type Outcome struct {
	Status  string  `json:"status"` // "accepted" or "rejected"
	Type    string  `json:"type,omitempty"`
	ID      string  `json:"id,omitempty"`
	Signer  string  `json:"signer,omitempty"`
	Code    Code    `json:"code,omitempty"`
	Message string  `json:"message,omitempty"`
	Events  []Event `json:"events,omitempty"`
	// With names the record that a conflict clashes with, such as the
	// grant whose exclusivity a new grant overlaps, so that callers need
	// not read it out of Message (which names it too). The JournalJSON
	// hash leaves it out: it repeats what the hashed message says, and
	// journals written before it existed do not carry it.
	With string `json:"with,omitempty"`
}

// Event is a side effect of an accepted proposal that other parts of the
// system act on, such as a member admitted (the leader adds its node to
// Raft) or a grant activated. A rejected proposal carries events only when
// its rejection is itself recorded, as an infraction is.
type Event struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
}

// validUTF8 returns o with each byte of its strings that is not valid
// UTF-8 replaced by U+FFFD, as encoding/json writes it, without changing
// the caller's events.
func (o Outcome) validUTF8() Outcome {
	for _, s := range []*string{&o.Status, &o.Type, &o.ID, &o.Signer, (*string)(&o.Code), &o.Message, &o.With} {
		*s = validUTF8(*s)
	}
	events := o.Events
	for i, ev := range events {
		fixed := Event{Kind: validUTF8(ev.Kind), Subject: validUTF8(ev.Subject)}
		if fixed == ev {
			continue
		}
		if &o.Events[0] == &events[0] {
			o.Events = slices.Clone(events) // the caller's slice stays as it is
		}
		o.Events[i] = fixed
	}
	return o
}

// validUTF8 returns s with each byte that is not valid UTF-8 replaced by
// U+FFFD, as encoding/json writes it.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string([]rune(s)) // []rune decodes each invalid byte as U+FFFD
}

// Outcome statuses.
const (
	StatusAccepted = "accepted"
	StatusRejected = "rejected"
)

// Err returns the outcome's rejection as an *Error, or nil if accepted.
func (o *Outcome) Err() error {
	if o.Status == StatusAccepted {
		return nil
	}
	return &Error{Code: o.Code, Message: o.Message}
}

// Journal formats: how an entry's hash is computed from its content
// (docs/journal.md). The charter fixes the format of the entries it
// applies to, so that every node writes the same bytes, and each entry
// records the format of its hash.
const (
	// JournalJSON hashes the outcome as encoding/json writes it. Journals
	// from before formats existed use it, and their entries carry no v.
	JournalJSON = 1
	// JournalBinary hashes every field, length-prefixed: no JSON encoder
	// is involved, so any implementation can compute it from the docs.
	JournalBinary = 2
)

// Entry is one journal entry: a committed proposal and its outcome, chained
// to the entry before it. Its hash (see ContentHash) covers every field
// but Seq, which is its position, and Hash; the envelope is covered
// through EnvelopeHash. Entry hashes are the leaves of an RFC 6962 Merkle
// tree.
type Entry struct {
	// V is the format of the entry's hash: JournalBinary, or 0 for
	// JournalJSON (omitted, so that old entries keep their bytes).
	V            int       `json:"v,omitempty"`
	Seq          uint64    `json:"seq"`   // position in the journal; the Merkle leaf index
	Index        uint64    `json:"index"` // Raft log index (0 for genesis)
	LedgerTime   time.Time `json:"ledger_time"`
	Envelope     []byte    `json:"envelope"` // as committed; base64 in JSON
	EnvelopeHash Hash      `json:"envelope_hash"`
	Outcome      Outcome   `json:"outcome"`
	PrevHash     Hash      `json:"prev_hash"`
	Hash         Hash      `json:"hash"`
}

// format returns the entry's journal format, JournalJSON if V is unset.
func (e *Entry) format() int {
	if e.V == 0 {
		return JournalJSON
	}
	return e.V
}

// ContentHash computes the entry's hash from its content in the format V
// names. It fails on a format this release does not know.
func (e *Entry) ContentHash() (Hash, error) {
	switch e.format() {
	case JournalJSON:
		return jsonEntryHash(e), nil
	case JournalBinary:
		return binaryEntryHash(e), nil
	}
	return Hash{}, fmt.Errorf("ledger: journal entry %d: unknown format v=%d", e.Seq, e.V)
}

// jsonEntryHash is the JournalJSON hash:
//
//	SHA-256(prev_hash ‖ index ‖ ledger_time ‖ envelope_hash ‖ outcome)
//
// where index is the 8-byte big-endian Raft log index, ledger_time the
// 8-byte big-endian Unix nanoseconds, and outcome the encoding/json output
// of Outcome without With (fields in declaration order, empty ones
// omitted, HTML characters escaped).
func jsonEntryHash(e *Entry) Hash {
	h := sha256.New()
	h.Write(e.PrevHash[:])
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], e.Index)
	binary.BigEndian.PutUint64(n[8:], uint64(e.LedgerTime.UnixNano()))
	h.Write(n[:])
	h.Write(e.EnvelopeHash[:])
	hashed := e.Outcome
	hashed.With = "" // see Outcome.With
	h.Write(mustMarshal(&hashed))
	var out Hash
	h.Sum(out[:0])
	return out
}

// binaryEntryHash is the JournalBinary hash: SHA-256 of the format as 2
// bytes, the fixed-size fields, then each outcome string and the events,
// every string and count prefixed by its length as 8 big-endian bytes.
// Strings are hashed as their UTF-8 bytes, which is what the entry's JSON
// decodes to, since appendEntry makes them valid UTF-8 first.
func binaryEntryHash(e *Entry) Hash {
	b := make([]byte, 0, 2+32+8+8+32+256)
	b = binary.BigEndian.AppendUint16(b, JournalBinary)
	b = append(b, e.PrevHash[:]...)
	b = binary.BigEndian.AppendUint64(b, e.Index)
	b = binary.BigEndian.AppendUint64(b, uint64(e.LedgerTime.UnixNano()))
	b = append(b, e.EnvelopeHash[:]...)
	o := &e.Outcome
	for _, s := range o.strings() {
		b = appendString(b, s)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(o.Events)))
	for _, ev := range o.Events {
		b = appendString(appendString(b, ev.Kind), ev.Subject)
	}
	return sha256.Sum256(b)
}

func appendString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint64(b, uint64(len(s))), s...)
}

// VerifyHash reports whether the entry's hash matches its content.
func (e *Entry) VerifyHash() error {
	if sha256.Sum256(e.Envelope) != e.EnvelopeHash {
		return fmt.Errorf("ledger: journal entry %d: envelope does not match its hash", e.Seq)
	}
	got, err := e.ContentHash()
	if err != nil {
		return err
	}
	if got != e.Hash {
		return fmt.Errorf("ledger: journal entry %d: hash %s does not match its content (%s)", e.Seq, e.Hash, got)
	}
	// With must be what the message names (in JournalJSON, the hash
	// leaves it out and this check is what binds it).
	if w := e.Outcome.With; w != "" && !strings.HasSuffix(e.Outcome.Message, " (conflicts with "+w+")") {
		return fmt.Errorf("ledger: journal entry %d: with %q is not the record its message names", e.Seq, w)
	}
	return nil
}

// LeafHash returns the RFC 6962 leaf hash of an entry hash.
func LeafHash(entryHash Hash) []byte { return rfc6962.DefaultHasher.HashLeaf(entryHash[:]) }

// Head summarises the journal: its size, its last entry's hash and the
// root of its Merkle tree.
type Head struct {
	Size     uint64 `json:"size"`
	LastHash Hash   `json:"last_hash"`
	Root     Hash   `json:"root"`
}

// journalState is the journal head kept in the meta bucket: the head plus
// the compact range, O(log n) hashes from which the tree grows. It is
// written once per applied batch (journalTail.flush), and it is the only
// JSON record the journal keeps.
type journalState struct {
	Head  Head     `json:"head"`
	Range [][]byte `json:"range"`
}

var rangeFactory = compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

var metaJournal = []byte("journal")

func loadJournal(t *tx) journalState {
	var js journalState
	t.getJSON(bucketMeta, metaJournal, &js)
	return js
}

// journalTail is the end of the journal while a batch is applied: its head
// and its compact range, kept in memory so that an entry costs no read or
// rewrite of the head. flush stores them once, at the end of the batch.
// The ledger keeps the tail of its last committed batch for the next one
// (Ledger.tail), so a node reads the head from the store only after it
// opens or restores a state.
type journalTail struct {
	head Head // its Root is set by flush
	rng  *compact.Range
	// applied and db say which state this tail is the journal of: a
	// batch takes it only if both are the ledger's current ones.
	applied uint64
	db      *bolt.DB
}

// newJournalTail reads the tail from the store.
func newJournalTail(t *tx) *journalTail {
	js := loadJournal(t)
	r, err := rangeFactory.NewRange(0, js.Head.Size, js.Range)
	if err != nil {
		panic(fmt.Sprintf("ledger: corrupt journal range: %v", err))
	}
	return &journalTail{head: js.Head, rng: r}
}

// flush stores the head and the range in the meta bucket. The tree's
// root is computed here, once per batch: no entry needs it.
func (j *journalTail) flush(t *tx) {
	root, err := j.rng.GetRootHash(nil)
	if err != nil {
		panic(fmt.Sprintf("ledger: journal root: %v", err))
	}
	copy(j.head.Root[:], root)
	t.putJSON(bucketMeta, metaJournal, journalState{Head: j.head, Range: j.rng.Hashes()})
}

// appendEntry chains a new entry in the given journal format to the
// journal, stores it and the Merkle nodes it completes, and moves the
// tail. envelopeHash is the SHA-256 of envelope, which the caller has
// computed already. The head reaches the store when the batch flushes the
// tail.
func appendEntry(t *tx, format int, index uint64, ledgerTime time.Time, envelope []byte, envelopeHash Hash, outcome Outcome) Entry {
	j := t.tail()
	if format == JournalJSON {
		format = 0 // JournalJSON entries carry no v
	}
	// Hash the strings that the stored entry decodes to.
	outcome = outcome.validUTF8()
	e := Entry{
		V:            format,
		Seq:          j.head.Size,
		Index:        index,
		LedgerTime:   ledgerTime,
		Envelope:     envelope,
		EnvelopeHash: envelopeHash,
		Outcome:      outcome,
		PrevHash:     j.head.LastHash,
	}
	e.Hash, _ = e.ContentHash() // cannot fail: the format is known
	store := func(id compact.NodeID, h []byte) { t.put(bucketTree, treeKey(id), h) }
	leaf := LeafHash(e.Hash)
	store(compact.NewNodeID(0, e.Seq), leaf)
	if err := j.rng.Append(leaf, store); err != nil {
		panic(fmt.Sprintf("ledger: journal append: %v", err))
	}
	j.head = Head{Size: e.Seq + 1, LastHash: e.Hash} // the root waits for flush
	t.put(bucketJournal, u64(e.Seq), encodeEntry(&e))
	return e
}

// The stored form of a journal entry (docs/journal.md, "Stored entries"):
// a version byte, the fixed-size fields, the outcome's strings and events,
// each length-prefixed with a uvarint, and then the envelope's raw bytes
// to the end of the record. The key is the entry's seq, so the record does
// not repeat it. Entries written before this form are JSON, which always
// begins with '{'; decodeEntry reads both.
const entryRecordV1 = 1

// encodeEntry returns the stored form of e.
func encodeEntry(e *Entry) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+8+8+3*32+outcomeSize(&e.Outcome)+len(e.Envelope))
	b = append(b, entryRecordV1)
	b = binary.AppendUvarint(b, uint64(e.V))
	b = binary.BigEndian.AppendUint64(b, e.Index)
	b = binary.BigEndian.AppendUint64(b, uint64(e.LedgerTime.UnixNano()))
	b = append(b, e.EnvelopeHash[:]...)
	b = append(b, e.PrevHash[:]...)
	b = append(b, e.Hash[:]...)
	b = appendOutcome(b, &e.Outcome)
	return append(b, e.Envelope...)
}

// decodeEntry decodes a stored journal entry at seq, in either stored
// form. The entry owns its bytes: b may be bbolt's memory.
func decodeEntry(seq uint64, b []byte, e *Entry) error {
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, e); err != nil {
			return fmt.Errorf("ledger: undecodable journal entry %d: %w", seq, err)
		}
		return nil
	}
	r := binReader{b: b}
	if v := r.byte(); v != entryRecordV1 {
		return fmt.Errorf("ledger: journal entry %d: unknown stored form %d", seq, v)
	}
	*e = Entry{Seq: seq}
	format := r.uvarint()
	e.V = int(format)
	e.Index = r.u64()
	e.LedgerTime = time.Unix(0, int64(r.u64())).UTC()
	r.hash(&e.EnvelopeHash)
	r.hash(&e.PrevHash)
	r.hash(&e.Hash)
	r.outcome(&e.Outcome)
	if r.err != nil {
		return fmt.Errorf("ledger: journal entry %d: %w", seq, r.err)
	}
	if format != 0 && format != JournalBinary { // JournalJSON is stored as 0
		return fmt.Errorf("ledger: journal entry %d: unknown format v=%d", seq, format)
	}
	e.Envelope = append([]byte{}, r.b...) // the rest of the record
	return nil
}

// decodeEntryAt decodes a stored entry under its key in the journal
// bucket.
func decodeEntryAt(k, b []byte, e *Entry) error {
	if len(k) != 8 {
		return fmt.Errorf("ledger: journal key %x is not a position", k)
	}
	return decodeEntry(binary.BigEndian.Uint64(k), b, e)
}

// mustDecodeEntry decodes an entry that Apply stored, which cannot fail
// but on a broken store.
func mustDecodeEntry(seq uint64, b []byte, e *Entry) {
	if err := decodeEntry(seq, b, e); err != nil {
		panic(fmt.Sprintf("ledger: corrupt state: %v", err))
	}
}

func treeKey(id compact.NodeID) []byte {
	b := make([]byte, 9)
	b[0] = byte(id.Level)
	binary.BigEndian.PutUint64(b[1:], id.Index)
	return b
}
