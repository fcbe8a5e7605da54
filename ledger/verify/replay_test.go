package verify_test

import (
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"slices"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
)

// freshLedger opens an empty ledger from the fixture's genesis.
func (f *fixture) freshLedger() *ledger.Ledger {
	f.t.Helper()
	l, err := ledger.Open(filepath.Join(f.t.TempDir(), "replay.db"), f.g, ledger.Options{NoSync: true})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { l.Close() })
	return l
}

func digest(l *ledger.Ledger) (d ledger.Hash) {
	l.View(func(v *ledger.View) error { d = v.Digest(); return nil })
	return d
}

// TestReplay_HooksInOrder replays the fixture's journal: Before and then
// After see each entry in journal order, After with the result of applying
// it (for entry 0, the fresh ledger's genesis), and the replay ends at the
// journal's state.
func TestReplay_HooksInOrder(t *testing.T) {
	f := newFixture(t, "replay")
	l := f.freshLedger()
	var calls []string
	err := verify.Replay(l, verify.Entries(f.entries), verify.Hooks{
		Before: func(x *ledger.Entry) error {
			calls = append(calls, fmt.Sprintf("before %d", x.Seq))
			return nil
		},
		After: func(x *ledger.Entry, r *ledger.Result) error {
			calls = append(calls, fmt.Sprintf("after %d", x.Seq))
			if r == nil || r.Seq != x.Seq || r.EntryHash != x.Hash || r.Outcome.Status != x.Outcome.Status {
				t.Errorf("entry %d: result %+v", x.Seq, r)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, x := range f.entries {
		want = append(want, fmt.Sprintf("before %d", x.Seq), fmt.Sprintf("after %d", x.Seq))
	}
	if len(f.entries) != 6 || !slices.Equal(calls, want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	if got, want := digest(l), digest(f.l); got != want {
		t.Fatalf("replayed digest %s, the journal's ledger has %s", got, want)
	}
	if got, want := l.AppliedIndex(), f.entries[5].Index; got != want {
		t.Fatalf("applied index %d, want %d", got, want)
	}
}

// TestReplay_HookErrorStops checks that an error from either hook stops
// the replay at that entry and comes back as an *EntryError naming it; an
// entry that Before refuses is not applied, one that After refuses was.
func TestReplay_HookErrorStops(t *testing.T) {
	f := newFixture(t, "replay")
	stop := errors.New("stop here")
	for _, tc := range []struct {
		name    string
		hooks   func(seen *[]uint64) verify.Hooks
		applied uint64 // the ledger's applied index after the replay
	}{
		{"before", func(seen *[]uint64) verify.Hooks {
			return verify.Hooks{Before: func(x *ledger.Entry) error {
				*seen = append(*seen, x.Seq)
				if x.Seq == 3 {
					return stop
				}
				return nil
			}}
		}, f.entries[2].Index},
		{"after", func(seen *[]uint64) verify.Hooks {
			return verify.Hooks{After: func(x *ledger.Entry, _ *ledger.Result) error {
				*seen = append(*seen, x.Seq)
				if x.Seq == 3 {
					return stop
				}
				return nil
			}}
		}, f.entries[3].Index},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := f.freshLedger()
			var seen []uint64
			err := verify.Replay(l, verify.Entries(f.entries), tc.hooks(&seen))
			var ee *verify.EntryError
			if !errors.As(err, &ee) || ee.Seq != 3 || ee.Index != f.entries[3].Index || !errors.Is(err, stop) || err.Error() != "stop here" {
				t.Fatalf("got %v (%#v), want an *EntryError for entry 3 wrapping the hook's error", err, ee)
			}
			if !slices.Equal(seen, []uint64{0, 1, 2, 3}) {
				t.Fatalf("hook saw entries %v after the error", seen)
			}
			if got := l.AppliedIndex(); got != tc.applied {
				t.Fatalf("applied index %d, want %d", got, tc.applied)
			}
		})
	}
}

// TestReplay_IteratorError checks that an error the iterator yields stops
// the replay and is returned as it is.
func TestReplay_IteratorError(t *testing.T) {
	f := newFixture(t, "replay")
	l := f.freshLedger()
	bad := errors.New("the export is cut short")
	entries := func(yield func(*ledger.Entry, error) bool) {
		for i := range 3 {
			if !yield(&f.entries[i], nil) {
				return
			}
		}
		if yield(nil, bad) {
			t.Error("Replay asked for more after an error")
		}
	}
	seen := 0
	err := verify.Replay(l, iter.Seq2[*ledger.Entry, error](entries), verify.Hooks{After: func(*ledger.Entry, *ledger.Result) error { seen++; return nil }})
	var ee *verify.EntryError
	if err != bad || errors.As(err, &ee) || seen != 3 {
		t.Fatalf("got %v after %d entries, want the iterator's error after 3", err, seen)
	}
}

// TestReplay_SkippedEntry checks that an entry whose index is not above
// the last one applied reaches After with a nil result and changes
// nothing.
func TestReplay_SkippedEntry(t *testing.T) {
	f := newFixture(t, "replay")
	l := f.freshLedger()
	es := slices.Clone(f.entries[:4])
	es[3].Index = es[2].Index
	var results []*ledger.Result
	err := verify.Replay(l, verify.Entries(es), verify.Hooks{After: func(_ *ledger.Entry, r *ledger.Result) error {
		results = append(results, r)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 4 || results[2] == nil || results[3] != nil || l.AppliedIndex() != es[2].Index {
		t.Fatalf("results %v, applied index %d", results, l.AppliedIndex())
	}
}

// TestRebuild_RefusesAForeignGenesisAndDisorder checks Rebuild's own
// hooks: entry 0 must be this genesis, and indexes must rise.
func TestRebuild_RefusesAForeignGenesisAndDisorder(t *testing.T) {
	f := newFixture(t, "replay")
	other := newFixture(t, "another consortium")
	if _, err := verify.Rebuild(t.TempDir(), f.g, append([]ledger.Entry{other.entries[0]}, f.entries[1:]...)); !errors.Is(err, verify.ErrReplay) ||
		err.Error() != "verify: replay disagrees: entry 0 is not this genesis" {
		t.Fatalf("a foreign entry 0: %v", err)
	}
	es := []ledger.Entry{f.entries[0], f.entries[2], f.entries[1]}
	if _, err := verify.Rebuild(t.TempDir(), f.g, es); !errors.Is(err, verify.ErrReplay) ||
		err.Error() != fmt.Sprintf("verify: replay disagrees: entry 1 (index %d) is out of order after index %d", es[2].Index, es[1].Index) {
		t.Fatalf("entries out of order: %v", err)
	}
	l, err := verify.Rebuild(t.TempDir(), f.g, f.entries)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, want := digest(l), digest(f.l); got != want {
		t.Fatalf("rebuilt digest %s, want %s", got, want)
	}
}

// TestRebuild_OutcomeWith: a journal from before Outcome.With (none
// recorded) still rebuilds, and a With that the replay does not give is
// refused.
func TestRebuild_OutcomeWith(t *testing.T) {
	f := newFixture(t, "with")
	f.accept("alpha", "grant.offer", "offer-ex", ledger.GrantOffer{ID: "g-ex", Licensors: []string{"alpha"}, Licensees: []string{"gamma"},
		Terms: ledger.Terms{Assets: []string{"model-a"}, Rights: []ledger.Right{"evaluate"}, Exclusive: true}})
	f.accept("gamma", "grant.accept", "accept-ex", ledger.GrantRef{Grant: "g-ex"})
	f.index++
	env := ledgertest.Propose(f.g.ID(), "alpha", "grant.offer", "clash", f.now, ledger.GrantOffer{ID: "g-2", Licensors: []string{"alpha"},
		Licensees: []string{"beta"}, Terms: ledger.Terms{Assets: []string{"model-a"}, Rights: []ledger.Right{"evaluate"}}},
		ledgertest.Signer("alpha", schemes["alpha"])).Encode()
	if r := f.l.Apply([]ledger.LogEntry{{Index: f.index, Data: ledger.EncodeRecord(f.now, env)}})[0]; r.Outcome.With != "g-ex" {
		t.Fatalf("outcome: %+v", r.Outcome)
	}
	f.sync()
	last := len(f.entries) - 1
	for _, c := range []struct {
		with string
		ok   bool
	}{{"g-ex", true}, {"", true}, {"g-1", false}} {
		es := slices.Clone(f.entries)
		es[last].Outcome.With = c.with
		l, err := verify.Rebuild(t.TempDir(), f.g, es)
		if (err == nil) != c.ok {
			t.Fatalf("with %q: %v", c.with, err)
		}
		if l != nil {
			l.Close()
		}
	}
}
