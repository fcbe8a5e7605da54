package verify

import (
	"iter"
	"slices"

	"github.com/charta/charta/ledger"
)

// Traced is a journal replayed into a scratch ledger with what each entry
// read and wrote recorded (ledger.Footprint), to find which entries an
// answer depends on. Close removes it.
type Traced struct {
	l    *ledger.Ledger
	done func()
	fs   footprints
}

// Trace replays entries, a journal from genesis in order, into a scratch
// ledger under parent ("" for the system's temporary directory),
// recording every entry's footprint.
//
// The replay skips signature verification: the entries come from the
// caller's own journal, and whoever checks the evidence built from them
// (CheckProof's and Certificate's Verify) verifies every signature. Each
// replayed outcome must still equal the journaled one.
func Trace(parent string, g *ledger.Genesis, entries iter.Seq2[*ledger.Entry, error]) (*Traced, error) {
	tr := &Traced{}
	l, done, err := scratch(parent, g, ledger.Options{NoSync: true, SkipVerify: true, Trace: tr.fs.add})
	if err != nil {
		return nil, err
	}
	tr.l, tr.done = l, done
	if err := Replay(l, entries, Hooks{After: sameOutcome}); err != nil {
		done()
		return nil, err
	}
	return tr, nil
}

// Close removes the scratch ledger.
func (tr *Traced) Close() { tr.done() }

// Dependencies returns, in journal order, the sequence numbers of the
// entries an answer rests on: entry 0, every entry that wrote state the
// answer read, and, transitively, every earlier entry that wrote state
// one of those read (a grant's bundle and its other grants, parent
// grants, assets and their lineage, members, keys, the charter, reported
// usage). question is asked of the state the replay ended in, and what it
// reads is recorded; an error from it is returned.
//
// Replaying only the returned entries (Rebuild) gives every record the
// question reads as the whole journal does, and every returned entry its
// journaled outcome, since each reads only records that returned entries
// before it wrote.
func (tr *Traced) Dependencies(question func(v *ledger.View) error) ([]uint64, error) {
	var q ledger.Footprint
	err := tr.l.View(func(v *ledger.View) error {
		var err error
		q, err = v.Trace(question)
		return err
	})
	if err != nil {
		return nil, err
	}
	return tr.fs.walk(q), nil
}

// Dependencies traces entries (Trace) and returns the entries question's
// answer depends on (Traced.Dependencies).
func Dependencies(parent string, g *ledger.Genesis, entries iter.Seq2[*ledger.Entry, error], question func(v *ledger.View) error) ([]uint64, error) {
	tr, err := Trace(parent, g, entries)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	return tr.Dependencies(question)
}

// footprints are the footprints of a replay, with every key interned: a
// journal's entries mostly touch the same few records.
type footprints struct {
	ids   map[string]int32
	names []string
	steps []step // one per applied entry, in journal order
}

// step is one entry's footprint, as interned keys.
type step struct {
	seq                  uint64
	reads, scans, writes []int32
}

func (fs *footprints) intern(keys []string) []int32 {
	if fs.ids == nil {
		fs.ids = map[string]int32{}
	}
	out := make([]int32, len(keys))
	for i, k := range keys {
		id, ok := fs.ids[k]
		if !ok {
			id = int32(len(fs.names))
			fs.ids[k] = id
			fs.names = append(fs.names, k)
		}
		out[i] = id
	}
	return out
}

// add is the scratch ledger's ledger.Options.Trace.
func (fs *footprints) add(r *ledger.Result, fp ledger.Footprint) {
	fs.steps = append(fs.steps, step{seq: r.Seq, reads: fs.intern(fp.Reads), scans: fs.intern(fp.Scans), writes: fs.intern(fp.Writes)})
}

// walk goes back through the steps from the question's footprint q,
// keeping each entry that wrote a key read, or under a prefix scanned, by
// q or by an entry kept after it.
func (fs *footprints) walk(q ledger.Footprint) []uint64 {
	w := needs{keys: map[int32]bool{}, prefixes: map[string]bool{}}
	w.add(fs, fs.intern(q.Reads), fs.intern(q.Scans))
	var out []uint64
	for i := len(fs.steps) - 1; i >= 0; i-- {
		s := &fs.steps[i]
		if !slices.ContainsFunc(s.writes, func(id int32) bool { return w.wants(fs.names[id], id) }) {
			continue
		}
		out = append(out, s.seq)
		w.add(fs, s.reads, s.scans)
	}
	out = append(out, 0)
	slices.Reverse(out)
	return out
}

// needs are the keys and prefixes that a kept entry or the question read.
type needs struct {
	keys     map[int32]bool
	prefixes map[string]bool
	lens     []int // the lengths of the prefixes, without repeats
}

func (w *needs) add(fs *footprints, reads, scans []int32) {
	for _, id := range reads {
		w.keys[id] = true
	}
	for _, id := range scans {
		p := fs.names[id]
		if !w.prefixes[p] {
			w.prefixes[p] = true
			if !slices.Contains(w.lens, len(p)) {
				w.lens = append(w.lens, len(p))
			}
		}
	}
}

// wants reports whether a write of key name (interned as id) changes
// something needed.
func (w *needs) wants(name string, id int32) bool {
	if w.keys[id] {
		return true
	}
	for _, n := range w.lens {
		if n <= len(name) && w.prefixes[name[:n]] {
			return true
		}
	}
	return false
}
