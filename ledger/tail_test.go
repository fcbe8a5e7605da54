package ledger_test

import (
	"bytes"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// TestJournalTail_ReopenAndRestoreAgree applies the same entries to three
// ledgers: one in batches of 7, one in batches of 3 that is closed and
// reopened after every batch (so each batch reads the journal's tail and
// ledger time from the store), and one that installs the first's snapshot
// halfway and goes on from there. The journal heads and state digests
// must agree at the end.
func TestJournalTail_ReopenAndRestoreAgree(t *testing.T) {
	f := newFixture(t)
	var entries []ledger.LogEntry
	for i := range 40 {
		body := map[string]any{"hash": ledger.HashToken("t" + strconv.Itoa(i)), "scopes": []string{"read"}, "expires_at": t0.Add(72 * time.Hour)}
		if i%5 == 4 {
			body["scopes"] = []string{"root"} // rejected: journaled all the same
		}
		at := f.now.Add(time.Duration(i) * time.Second)
		entries = append(entries, ledger.LogEntry{Index: uint64(i + 1),
			Data: ledger.EncodeRecord(at, f.envelope("alpha", "token.register", "t"+strconv.Itoa(i), body))})
	}
	state := func(l *ledger.Ledger) (h ledger.Head, d ledger.Hash) {
		l.View(func(v *ledger.View) error { h, d = v.Head(), v.Digest(); return nil })
		return h, d
	}
	apply := func(l *ledger.Ledger, from, to int) {
		for _, r := range l.Apply(append([]ledger.LogEntry(nil), entries[from:to]...)) {
			if r == nil {
				t.Fatalf("entries %d..%d: one was skipped", from, to)
			}
		}
	}

	a := f.l
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := ledger.Open(path, f.g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(entries); i += 7 {
		apply(a, i, min(i+7, len(entries)))
	}
	for i := 0; i < len(entries); i += 3 {
		apply(b, i, min(i+3, len(entries)))
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if b, err = ledger.Open(path, f.g, ledger.Options{NoSync: true}); err != nil {
			t.Fatal(err)
		}
	}
	defer b.Close()
	ha, da := state(a)
	hb, db := state(b)
	if ha != hb || da != db || ha.Size != uint64(len(entries))+1 {
		t.Fatalf("batches of 7: %+v %s; reopened batches of 3: %+v %s", ha, da, hb, db)
	}

	// The restored ledger kept a tail from its own earlier batches, at the
	// same applied index as the snapshot but of another history: it must
	// not be used on the restored state.
	c := openLedger(t, f.g)
	var other []ledger.LogEntry
	for i := range 20 {
		body := map[string]any{"hash": ledger.HashToken("other" + strconv.Itoa(i)), "scopes": []string{"read"}, "expires_at": t0.Add(72 * time.Hour)}
		other = append(other, ledger.LogEntry{Index: uint64(i + 1),
			Data: ledger.EncodeRecord(f.now, f.envelope("alpha", "token.register", "other"+strconv.Itoa(i), body))})
	}
	c.Apply(other)
	half := openLedger(t, f.g)
	apply(half, 0, 20)
	snap, err := half.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if err := c.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	apply(c, 20, 27)
	apply(c, 27, len(entries))
	if hc, dc := state(c); hc != ha || dc != da {
		t.Fatalf("restored halfway: %+v %s, want %+v %s", hc, dc, ha, da)
	}
}
