package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/charta/charta/ledger"
)

// alterSnapshot rewrites a snapshot stream as a forger would: it opens its
// state file with bbolt, lets change edit it, and frames the result again
// with the magic and a recomputed checksum, so that the snapshot is well
// formed and only its content is false.
func alterSnapshot(t *testing.T, snap []byte, change func(btx *bolt.Tx) error) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "forged.db")
	if err := os.WriteFile(path, snap[len(snapshotMagic):len(snap)-sha256.Size], 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(change); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := append(bytes.Clone(snapshotMagic), body...)
	sum := sha256.Sum256(out)
	return append(out, sum[:]...)
}

// TestSnapshot_StateMustFollowFromItsJournal offers snapshots whose
// journal is intact (hash chain, Merkle root, head) but whose state is not
// the one that journal makes: one record changed, one added, one removed,
// each with the framing and checksum recomputed. Restore and CheckSnapshot
// must refuse each, saying so, and leave the state as it was; the honest
// snapshot must still restore to the same digest.
func TestSnapshot_StateMustFollowFromItsJournal(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.register("alpha", "m"+strconv.Itoa(i))
	}
	good := snapshotOf(t, f.l).Bytes()
	// owner rewrites asset m2's record to name beta as its owner.
	owner := func(btx *bolt.Tx) []byte {
		b := btx.Bucket([]byte("assets")).Get([]byte("m2"))
		out := bytes.Replace(b, []byte(`"alpha"`), []byte(`"beta"`), 1)
		if bytes.Equal(out, b) {
			t.Fatal("the asset record names no owner to change")
		}
		return out
	}

	for _, tc := range []struct {
		name   string
		change func(btx *bolt.Tx) error
	}{
		{"an asset's owner changed", func(btx *bolt.Tx) error { return btx.Bucket([]byte("assets")).Put([]byte("m2"), owner(btx)) }},
		{"an asset added", func(btx *bolt.Tx) error { return btx.Bucket([]byte("assets")).Put([]byte("forged"), owner(btx)) }},
		{"a token added", func(btx *bolt.Tx) error { return btx.Bucket([]byte("tokens")).Put([]byte("00"), []byte(`{}`)) }},
		{"an asset removed", func(btx *bolt.Tx) error { return btx.Bucket([]byte("assets")).Delete([]byte("m4")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forged := alterSnapshot(t, good, tc.change)
			h := newFixture(t)
			h.register("beta", "keep")
			d, applied := h.digest(), h.l.AppliedIndex()
			err := h.l.Restore(bytes.NewReader(forged))
			if err == nil || !strings.Contains(err.Error(), "is not the one its journal") {
				t.Fatalf("Restore = %v, want a refusal naming the state its journal makes", err)
			}
			if _, cerr := h.l.CheckSnapshot(bytes.NewReader(forged), nil); cerr == nil {
				t.Fatal("CheckSnapshot accepted the forged state")
			}
			if h.digest() != d || h.l.AppliedIndex() != applied {
				t.Fatal("a refused snapshot changed the state")
			}
			h.register("beta", "after") // still applies
		})
	}

	// The control: the untouched snapshot, and one rewritten by bbolt
	// without a change, restore to the same state.
	for name, snap := range map[string][]byte{"untouched": good, "rewritten unchanged": alterSnapshot(t, good, func(*bolt.Tx) error { return nil })} {
		g := newFixture(t)
		if err := g.l.Restore(bytes.NewReader(snap)); err != nil {
			t.Fatalf("%s: the honest snapshot is refused: %v", name, err)
		}
		if g.digest() != f.digest() {
			t.Fatalf("%s: restored digest %s, want %s", name, g.digest(), f.digest())
		}
	}
}

// TestSnapshot_CheckAsksVouchOnlyForASnapshotThatExtends: CheckSnapshot
// with a vouch function refuses a genuine snapshot older than the ledger
// (it would roll the state back) without asking, asks about one that
// extends the journal with a view of the snapshot's state, and refuses it
// when vouch does, with vouch's reason.
func TestSnapshot_CheckAsksVouchOnlyForASnapshotThatExtends(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "m0")
	older := snapshotOf(t, f.l).Bytes()
	f.register("alpha", "m1")
	newer := snapshotOf(t, f.l).Bytes()
	var newerHead ledger.Head
	f.view(func(v *ledger.View) { newerHead = v.Head() })

	// A follower at the older state.
	h := newFixture(t)
	if err := h.l.Restore(bytes.NewReader(older)); err != nil {
		t.Fatal(err)
	}
	asked := 0
	var seen ledger.Head
	vouch := func(v *ledger.View) error { asked++; seen = v.Head(); return nil }

	if _, err := h.l.CheckSnapshot(bytes.NewReader(newer), vouch); err != nil {
		t.Fatalf("a newer snapshot that extends the journal: %v", err)
	}
	if asked != 1 || seen != newerHead {
		t.Fatalf("vouch asked %d times about head %+v, want once about %+v", asked, seen, newerHead)
	}

	// Now ahead: the older snapshot is refused without asking.
	if err := h.l.Restore(bytes.NewReader(newer)); err != nil {
		t.Fatal(err)
	}
	asked = 0
	if _, err := h.l.CheckSnapshot(bytes.NewReader(older), vouch); err == nil || !strings.Contains(err.Error(), "does not extend") {
		t.Fatalf("an older snapshot: %v, want a refusal", err)
	}
	if asked != 0 {
		t.Fatal("vouch was asked about a snapshot that does not extend the journal")
	}
	// A snapshot of another history of the same length does not extend it.
	other := newFixture(t)
	other.register("alpha", "m0")
	other.register("beta", "x1")
	if _, err := h.l.CheckSnapshot(bytes.NewReader(snapshotOf(t, other.l).Bytes()), vouch); err == nil || !strings.Contains(err.Error(), "does not extend") {
		t.Fatalf("a diverging snapshot: %v, want a refusal", err)
	}

	// vouch refuses: so does CheckSnapshot, with its reason.
	no := errors.New("not vouched: 1 of 2 cosignatures")
	rc, err := h.l.CheckSnapshot(bytes.NewReader(newer), func(*ledger.View) error { return no })
	if !errors.Is(err, no) {
		t.Fatalf("CheckSnapshot = %v, want vouch's refusal", err)
	}
	if rc != nil {
		rc.Close()
	}
	// The same snapshot, vouched for, reads back whole.
	rc, err = h.l.CheckSnapshot(bytes.NewReader(newer), vouch)
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(back, newer) {
		t.Fatalf("the vouched snapshot reads back %d bytes (%v), offered %d", len(back), err, len(newer))
	}
}
