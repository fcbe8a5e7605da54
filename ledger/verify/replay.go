package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"

	"github.com/charta/charta/ledger"
)

// Hooks are what a caller of Replay checks on each entry. Either may be
// nil; an error from either stops the replay.
type Hooks struct {
	// Before sees each entry before it is applied: the place for checks
	// that need only the entry, such as its hash or its place in the
	// chain, so that an entry that fails them never reaches the ledger.
	// If it returns ErrSkip, the entry is neither applied nor passed to
	// After, and the replay goes on.
	Before func(x *ledger.Entry) error
	// After sees each entry with the result of applying it. The result is
	// nil if Apply skipped the entry because its index is not above the
	// last one applied. Entry 0 is not applied, since the ledger was
	// opened from the genesis: its result is the ledger's own entry 0, for
	// After to compare.
	After func(x *ledger.Entry, r *ledger.Result) error
}

// ErrSkip is what a Before hook returns for an entry that Replay should
// pass over: one whose content the caller does not have, such as an entry
// withheld from a member's export.
var ErrSkip = errors.New("verify: skip this entry")

// EntryError is an error a hook returned, with the entry it was about.
// Its message is the hook's own: each caller words its errors, and most
// name the entry already.
type EntryError struct {
	Seq   uint64 // the entry's journal sequence number
	Index uint64 // the entry's Raft index
	Err   error  // what the hook returned
}

// Error returns the hook's message.
func (e *EntryError) Error() string { return e.Err.Error() }

// Unwrap returns the hook's error.
func (e *EntryError) Unwrap() error { return e.Err }

// Replay applies journal entries, in the order entries yields them, to l,
// a ledger opened from the journal's genesis: each entry's envelope at its
// own Raft index and ledger time, one entry per Apply, so that Apply
// verifies every signature and every rule again. It is the one replay of
// a journal; its callers differ only in the hooks, which hold their
// checks.
//
// Replay stops at the first error: the iterator's, returned as it is, or
// a hook's, returned as an *EntryError.
func Replay(l *ledger.Ledger, entries iter.Seq2[*ledger.Entry, error], h Hooks) error {
	var genesis ledger.Result
	l.View(func(v *ledger.View) error {
		e, _ := v.Entry(0)
		genesis = ledger.Result{Index: e.Index, Seq: e.Seq, EntryHash: e.Hash, Outcome: e.Outcome}
		return nil
	})
	for x, err := range entries {
		if err != nil {
			return err
		}
		if h.Before != nil {
			if err := h.Before(x); errors.Is(err, ErrSkip) {
				continue
			} else if err != nil {
				return &EntryError{Seq: x.Seq, Index: x.Index, Err: err}
			}
		}
		var r *ledger.Result
		if x.Seq == 0 {
			g := genesis
			r = &g
		} else {
			r = l.Apply([]ledger.LogEntry{{Index: x.Index, Data: ledger.RecordOf(x)}})[0]
		}
		if h.After != nil {
			if err := h.After(x, r); err != nil {
				return &EntryError{Seq: x.Seq, Index: x.Index, Err: err}
			}
		}
	}
	return nil
}

// Entries yields the entries of a slice in order, for Replay.
func Entries(es []ledger.Entry) iter.Seq2[*ledger.Entry, error] {
	return func(yield func(*ledger.Entry, error) bool) {
		for i := range es {
			if !yield(&es[i], nil) {
				return
			}
		}
	}
}

// Scratch opens an empty ledger from genesis g, in a new directory under
// parent ("" for the system's temporary directory), for a replay that
// nothing keeps. done closes the ledger and removes the directory.
func Scratch(parent string, g *ledger.Genesis) (l *ledger.Ledger, done func(), err error) {
	return scratch(parent, g, ledger.Options{NoSync: true})
}

// scratch is Scratch with the ledger's options.
func scratch(parent string, g *ledger.Genesis, o ledger.Options) (l *ledger.Ledger, done func(), err error) {
	dir, err := os.MkdirTemp(parent, "charta-replay-")
	if err != nil {
		return nil, nil, err
	}
	l, err = ledger.Open(filepath.Join(dir, "state.db"), g, o)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return l, func() { l.Close(); os.RemoveAll(dir) }, nil
}

// Rebuild opens a fresh ledger from genesis in dir and replays the
// entries into it (Replay), with every signature checked. Each replayed
// outcome must equal the journaled one; the first that does not is
// reported. Entry 0, if given, must be this genesis. The caller closes the
// ledger and removes dir.
//
// The entries need not be the whole journal: a subset rebuilds the state
// those entries describe, and Rebuild fails if one of them depended on an
// entry left out. Ledger time follows each entry's own (ledger.Options
// StampedTime), so that a subset needs none of the time entries between.
func Rebuild(dir string, g *ledger.Genesis, entries []ledger.Entry) (*ledger.Ledger, error) {
	l, err := ledger.Open(filepath.Join(dir, "state.db"), g, ledger.Options{NoSync: true, StampedTime: true})
	if err != nil {
		return nil, fmt.Errorf("verify: open a ledger from genesis: %w", err)
	}
	var last uint64
	err = Replay(l, Entries(entries), Hooks{
		Before: func(x *ledger.Entry) error {
			if x.Seq == 0 {
				return nil
			}
			if x.Index <= last {
				return fmt.Errorf("%w: entry %d (index %d) is out of order after index %d", ErrReplay, x.Seq, x.Index, last)
			}
			last = x.Index
			return nil
		},
		After: sameOutcome,
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// sameOutcome is a Replay hook: the replayed outcome of each entry after
// genesis must be the journaled one.
func sameOutcome(x *ledger.Entry, r *ledger.Result) error {
	if x.Seq == 0 {
		if x.Hash != r.EntryHash {
			return fmt.Errorf("%w: entry 0 is not this genesis", ErrReplay)
		}
		return nil
	}
	if r == nil {
		return fmt.Errorf("%w: entry %d (index %d) was not applied", ErrReplay, x.Seq, x.Index)
	}
	replayed := r.Outcome
	if x.Outcome.With == "" {
		replayed.With = "" // a journal from before Outcome.With
	}
	got, want := mustJSON(replayed), mustJSON(x.Outcome)
	if string(got) != string(want) {
		return fmt.Errorf("%w: entry %d (index %d) replays as %s, the journal says %s (an entry it depends on may be missing)",
			ErrReplay, x.Seq, x.Index, truncate(string(got)), truncate(string(want)))
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
