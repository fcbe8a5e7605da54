package verify

import (
	"encoding/json"
	"io"
	"iter"
	"slices"
	"time"

	"github.com/charta/charta/ledger"
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
	Digest    ledger.Hash // the replayed ledger's state digest
	Unreached []uint64    // the sizes in roots beyond the export, ascending
}

// AuditExport replays a journal export (ExportFormat; the header line may
// be left out) into a fresh ledger in a temporary directory, which it
// removes. Apply re-verifies every signature and rule; each resulting
// entry must equal the exported one, byte for byte in its hash. An export
// with a withheld entry (one its token could not see) fails at that entry.
//
// roots maps tree sizes to the Merkle roots of checkpoints: when the
// replayed journal reaches each size, its root must be the checkpoint's.
// The first discrepancy is reported with its entry and index. progress,
// if not nil, is called after each entry is read with the bytes read so
// far.
func AuditExport(g *ledger.Genesis, r io.Reader, roots map[uint64]ledger.Hash, progress func(read int64)) (*Audited, error) {
	l, done, err := Scratch("", g)
	if err != nil {
		return nil, err
	}
	defer done()
	res := &Audited{}
	reached := map[uint64]bool{}
	err = Replay(l, readExport(r, g.ID(), &res.Entries, progress), Hooks{
		Before: func(x *ledger.Entry) error {
			if x.Seq > 0 && len(x.Envelope) == 0 {
				return markf(ErrEntry, "entry %d (index %d) is withheld in this export: it concerns records the exporting token may not see; export with an auditor's or the node operator's token", x.Seq, x.Index)
			}
			if err := x.VerifyHash(); err != nil {
				return &markedError{kind: ErrEntry, err: err}
			}
			return nil
		},
		After: func(x *ledger.Entry, got *ledger.Result) error {
			switch {
			case x.Seq == 0:
				// Entry 0 is not checked against roots, so a checkpoint of
				// size 1 (genesis alone) is reported unreached, as it was
				// before the audit moved into this package.
				if x.Hash != got.EntryHash {
					return markf(ErrReplay, "entry 0 is not this genesis: %s, want %s", x.Hash, got.EntryHash)
				}
				return nil
			case got == nil:
				return markf(ErrReplay, "entry %d: index %d is out of order", x.Seq, x.Index)
			case got.Seq != x.Seq || got.EntryHash != x.Hash:
				return markf(ErrReplay, "entry %d (index %d): replay gives entry %d with hash %s and outcome %s %s, the export says %s %s %s",
					x.Seq, x.Index, got.Seq, got.EntryHash, got.Outcome.Status, got.Outcome.Code, x.Hash, x.Outcome.Status, x.Outcome.Code)
			}
			if want, ok := roots[x.Seq+1]; ok {
				var root ledger.Hash
				l.View(func(v *ledger.View) error { root = v.Head().Root; return nil })
				if root != want {
					return markf(ErrReplay, "entry %d (index %d): the journal's Merkle root at size %d is %s, the cosigned checkpoint says %s",
						x.Seq, x.Index, x.Seq+1, root, want)
				}
				reached[x.Seq+1] = true
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	for size := range roots {
		if !reached[size] {
			res.Unreached = append(res.Unreached, size)
		}
	}
	slices.Sort(res.Unreached)
	res.Applied = l.AppliedIndex()
	l.View(func(v *ledger.View) error { res.Digest = v.Digest(); return nil })
	return res, nil
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
