package verify

import (
	"encoding/json"
	"io"
	"iter"
	"slices"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// ExportFormat names the journal export format: a header line, then one
// ledger.Entry per line in journal order (docs/journal.md).
const ExportFormat = "charta-journal-export-v1"

// ExportHeader is the first line of a journal export.
type ExportHeader struct {
	Format     string    `json:"format"`
	Consortium string    `json:"consortium"`
	ExportedAt time.Time `json:"exported_at"`
}

// Audited is what the audit of a journal export established.
type Audited struct {
	Entries   int         // the entries read, entry 0 included
	Applied   uint64      // the replayed ledger's applied Raft index
	Digest    ledger.Hash // the replayed ledger's state digest; not the journal's in a member view
	Unreached []uint64    // the sizes in roots beyond the export, ascending
	// Anchored is the size of the largest checkpoint whose root the
	// export reached: entries 0 to Anchored-1 are the ones the cosigners
	// vouched for, and any after them nobody did. 0 without roots.
	Anchored uint64
	// Withheld lists, in a member view, the entries the export withholds
	// (their envelope and outcome): their hashes are bound by the chain
	// and the Merkle roots, but their content was not checked and they
	// were not replayed.
	Withheld []uint64
	// Unverified lists, in a member view, the visible entries whose replay
	// gave another outcome than the export's after an entry was withheld:
	// such an entry may depend on what was withheld, so the audit can
	// neither confirm nor refute it.
	Unverified []uint64
}

// AuditOptions adjust AuditExport.
type AuditOptions struct {
	// Roots maps tree sizes to the Merkle roots of cosigned checkpoints:
	// when the export reaches each size, its root must be the
	// checkpoint's.
	Roots map[uint64]ledger.Hash
	// MemberView audits a member's own export, in which the entries about
	// other members' grants, bundles and usage are withheld (docs/api.md).
	// Every entry's place in the chain and in the Merkle tree is checked,
	// and every visible entry's hash; the visible entries are replayed and
	// must give the export's outcomes, except those listed as Unverified.
	// The state digest is then not the journal's.
	MemberView bool
	// Progress, if set, is called after each entry is read with the bytes
	// read so far.
	Progress func(read int64)
}

// AuditExport replays a journal export (ExportFormat; the header line may
// be left out) into a fresh ledger in a temporary directory, which it
// removes. Each entry must follow the one before it in the chain and have
// the hash of its content; Apply re-verifies every signature and rule; and
// each resulting entry must equal the exported one, byte for byte in its
// hash. Without o.MemberView, an export with a withheld entry (one its
// token could not see) fails at that entry. At each size in o.Roots, the
// Merkle root of the exported entries must be the checkpoint's. The first
// discrepancy is reported with its entry and index.
func AuditExport(g *ledger.Genesis, r io.Reader, o AuditOptions) (*Audited, error) {
	l, done, err := Scratch("", g)
	if err != nil {
		return nil, err
	}
	defer done()
	res := &Audited{}
	a := &auditor{o: o, res: res, l: l, reached: map[uint64]bool{}}
	err = Replay(l, readExport(r, g.ID(), &res.Entries, o.Progress), Hooks{Before: a.before, After: a.after})
	if err != nil {
		return nil, err
	}
	for size := range o.Roots {
		if !a.reached[size] {
			res.Unreached = append(res.Unreached, size)
		}
	}
	slices.Sort(res.Unreached)
	res.Applied = l.AppliedIndex()
	l.View(func(v *ledger.View) error { res.Digest = v.Digest(); return nil })
	return res, nil
}

// auditor holds AuditExport's checks, as Replay hooks.
type auditor struct {
	o       AuditOptions
	res     *Audited
	l       *ledger.Ledger
	prev    *ledger.Entry  // the entry before, in the export
	tree    *compact.Range // the Merkle tree of the exported entries so far
	reached map[uint64]bool
}

var rangeFactory = compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// before checks an entry's place in the chain, its hash and the Merkle
// roots, and skips a withheld entry in a member view.
func (a *auditor) before(x *ledger.Entry) error {
	withheld := x.Seq > 0 && len(x.Envelope) == 0
	if withheld && !a.o.MemberView {
		return markf(ErrEntry, "entry %d (index %d) is withheld in this export: it concerns records the exporting token may not see; audit it with --member-view, or export with an auditor's or the node operator's token", x.Seq, x.Index)
	}
	if err := a.chain(x); err != nil {
		return err
	}
	if !withheld {
		if err := x.VerifyHash(); err != nil {
			return &markedError{kind: ErrEntry, err: err}
		}
	}
	if err := a.root(x); err != nil {
		return err
	}
	a.prev = x
	if withheld {
		a.res.Withheld = append(a.res.Withheld, x.Seq)
		return ErrSkip
	}
	return nil
}

// chain checks that x follows the entry before it: the next sequence
// number, a later Raft index, and that entry's hash as its previous hash.
func (a *auditor) chain(x *ledger.Entry) error {
	switch p := a.prev; {
	case p == nil && x.Seq != 0:
		return markf(ErrReplay, "entry %d (index %d) comes first; the export must start with entry 0, the genesis", x.Seq, x.Index)
	case p == nil:
		return nil
	case x.Seq != p.Seq+1:
		return markf(ErrReplay, "entry %d (index %d) follows entry %d; the export must hold every entry, in order", x.Seq, x.Index, p.Seq)
	case x.Index <= p.Index:
		return markf(ErrReplay, "entry %d: index %d is out of order after index %d", x.Seq, x.Index, p.Index)
	case x.PrevHash != p.Hash:
		return markf(ErrEntry, "entry %d (index %d): its previous hash %s is not entry %d's hash %s", x.Seq, x.Index, x.PrevHash, p.Seq, p.Hash)
	}
	return nil
}

// root adds x to the Merkle tree and, at a checkpoint's size, compares
// the root. Entry 0 is not checked against roots, so a checkpoint of
// size 1 (genesis alone) is reported unreached.
func (a *auditor) root(x *ledger.Entry) error {
	if a.tree == nil {
		a.tree = rangeFactory.NewEmptyRange(0)
	}
	if err := a.tree.Append(ledger.LeafHash(x.Hash), nil); err != nil {
		return markf(ErrReplay, "entry %d: %v", x.Seq, err)
	}
	want, ok := a.o.Roots[x.Seq+1]
	if !ok || x.Seq == 0 {
		return nil
	}
	b, err := a.tree.GetRootHash(nil)
	if err != nil {
		return markf(ErrReplay, "entry %d: %v", x.Seq, err)
	}
	var root ledger.Hash
	copy(root[:], b)
	if root != want {
		return markf(ErrReplay, "entry %d (index %d): the journal's Merkle root at size %d is %s, the cosigned checkpoint says %s",
			x.Seq, x.Index, x.Seq+1, root, want)
	}
	a.reached[x.Seq+1] = true
	a.res.Anchored = max(a.res.Anchored, x.Seq+1)
	return nil
}

// after compares an applied entry with the exported one: byte for byte in
// its hash, or, in a member view (where the replayed journal lacks the
// withheld entries), in its outcome.
func (a *auditor) after(x *ledger.Entry, got *ledger.Result) error {
	switch {
	case x.Seq == 0:
		if x.Hash != got.EntryHash {
			return markf(ErrReplay, "entry 0 is not this genesis: %s, want %s", x.Hash, got.EntryHash)
		}
		return nil
	case got == nil:
		return markf(ErrReplay, "entry %d: index %d is out of order", x.Seq, x.Index)
	case a.o.MemberView:
		if sameOutcome(x, got) == nil {
			return nil
		}
		if len(a.res.Withheld) == 0 {
			return markf(ErrReplay, "entry %d (index %d): replay gives outcome %s %s, the export says %s %s, and no entry before it is withheld",
				x.Seq, x.Index, got.Outcome.Status, got.Outcome.Code, x.Outcome.Status, x.Outcome.Code)
		}
		a.res.Unverified = append(a.res.Unverified, x.Seq)
		return nil
	case got.Seq != x.Seq || got.EntryHash != x.Hash:
		return markf(ErrReplay, "entry %d (index %d): replay gives entry %d with hash %s and outcome %s %s, the export says %s %s %s",
			x.Seq, x.Index, got.Seq, got.EntryHash, got.Outcome.Status, got.Outcome.Code, x.Hash, x.Outcome.Status, x.Outcome.Code)
	}
	return nil
}

// readExport yields the entries of a journal export, counting them in *n
// and passing the bytes read so far to progress after each. A header
// line, if there is one, must name ExportFormat and the consortium.
func readExport(r io.Reader, consortium string, n *int, progress func(read int64)) iter.Seq2[*ledger.Entry, error] {
	return func(yield func(*ledger.Entry, error) bool) {
		dec := json.NewDecoder(r)
		for first := true; ; first = false {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err == io.EOF {
				return
			} else if err != nil {
				yield(nil, markf(ErrMalformed, "entry after %d: %w", *n, err))
				return
			}
			if first {
				var h ExportHeader
				if json.Unmarshal(raw, &h) == nil && h.Format != "" {
					if h.Format != ExportFormat {
						yield(nil, markf(ErrMalformed, "export format %q is not %s", h.Format, ExportFormat))
						return
					}
					if h.Consortium != consortium {
						yield(nil, markf(ErrConsortium, "the export is of consortium %s, the genesis is %s", h.Consortium, consortium))
						return
					}
					continue
				}
			}
			x := new(ledger.Entry)
			if err := json.Unmarshal(raw, x); err != nil {
				yield(nil, markf(ErrMalformed, "entry after %d: %w", *n, err))
				return
			}
			*n++
			if progress != nil {
				progress(dec.InputOffset())
			}
			if !yield(x, nil) {
				return
			}
		}
	}
}
