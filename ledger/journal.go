package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
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
// journal entry, and every field but With is covered by the entry's hash.
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
	// not read it out of Message (which names it too). It is not part of
	// the entry hash: it repeats what the hashed message says, and
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

// Entry is one journal entry: a committed proposal and its outcome, chained
// to the entry before it.
//
//	hash = SHA-256(prev_hash ‖ index ‖ ledger_time ‖ envelope_hash ‖ outcome)
//
// where index is the 8-byte big-endian Raft log index, ledger_time the
// 8-byte big-endian Unix nanoseconds, envelope_hash the SHA-256 of the
// envelope bytes as committed, and outcome the compact JSON encoding of
// Outcome (fields in declaration order, empty ones omitted). Entry hashes
// are the leaves of an RFC 6962 Merkle tree.
type Entry struct {
	Seq          uint64    `json:"seq"`   // position in the journal; the Merkle leaf index
	Index        uint64    `json:"index"` // Raft log index (0 for genesis)
	LedgerTime   time.Time `json:"ledger_time"`
	Envelope     []byte    `json:"envelope"` // as committed; base64 in JSON
	EnvelopeHash Hash      `json:"envelope_hash"`
	Outcome      Outcome   `json:"outcome"`
	PrevHash     Hash      `json:"prev_hash"`
	Hash         Hash      `json:"hash"`
}

// EntryHash computes an entry's hash from its parts.
func EntryHash(prev Hash, index uint64, ledgerTime time.Time, envelopeHash Hash, outcome *Outcome) Hash {
	h := sha256.New()
	h.Write(prev[:])
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], index)
	binary.BigEndian.PutUint64(n[8:], uint64(ledgerTime.UnixNano()))
	h.Write(n[:])
	h.Write(envelopeHash[:])
	hashed := *outcome
	hashed.With = "" // see Outcome.With
	h.Write(mustMarshal(&hashed))
	var out Hash
	h.Sum(out[:0])
	return out
}

// VerifyHash reports whether the entry's hash matches its content.
func (e *Entry) VerifyHash() error {
	if sha256.Sum256(e.Envelope) != e.EnvelopeHash {
		return fmt.Errorf("ledger: journal entry %d: envelope does not match its hash", e.Seq)
	}
	if got := EntryHash(e.PrevHash, e.Index, e.LedgerTime, e.EnvelopeHash, &e.Outcome); got != e.Hash {
		return fmt.Errorf("ledger: journal entry %d: hash %s does not match its content (%s)", e.Seq, e.Hash, got)
	}
	// With is outside the hash; it must be what the hashed message names.
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
// the compact range, O(log n) hashes from which the tree grows.
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

// appendEntry chains a new entry to the journal, stores it and the Merkle
// nodes it completes, and updates the head.
func appendEntry(t *tx, index uint64, ledgerTime time.Time, envelope []byte, outcome Outcome) Entry {
	js := loadJournal(t)
	e := Entry{
		Seq:          js.Head.Size,
		Index:        index,
		LedgerTime:   ledgerTime,
		Envelope:     envelope,
		EnvelopeHash: sha256.Sum256(envelope),
		Outcome:      outcome,
		PrevHash:     js.Head.LastHash,
	}
	e.Hash = EntryHash(e.PrevHash, e.Index, e.LedgerTime, e.EnvelopeHash, &e.Outcome)
	r, err := rangeFactory.NewRange(0, js.Head.Size, js.Range)
	if err != nil {
		panic(fmt.Sprintf("ledger: corrupt journal range: %v", err))
	}
	store := func(id compact.NodeID, h []byte) { t.put(bucketTree, treeKey(id), h) }
	leaf := LeafHash(e.Hash)
	store(compact.NewNodeID(0, e.Seq), leaf)
	if err := r.Append(leaf, store); err != nil {
		panic(fmt.Sprintf("ledger: journal append: %v", err))
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic(fmt.Sprintf("ledger: journal root: %v", err))
	}
	js.Head = Head{Size: e.Seq + 1, LastHash: e.Hash}
	copy(js.Head.Root[:], root)
	js.Range = r.Hashes()
	t.putJSON(bucketJournal, u64(e.Seq), e)
	t.putJSON(bucketMeta, metaJournal, js)
	return e
}

func treeKey(id compact.NodeID) []byte {
	b := make([]byte, 9)
	b[0] = byte(id.Level)
	binary.BigEndian.PutUint64(b[1:], id.Index)
	return b
}
