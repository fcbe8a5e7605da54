package chaos

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/node/client"
)

// TestVerifyJournal runs the journal check on a small journal: it passes
// as the ledger wrote it, and names the entry of each kind of damage.
func TestVerifyJournal(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: "Journal check consortium", CreatedAt: start, Charter: ledgertest.StampedCharter()}
	for _, id := range []string{"alpha", "beta", "gamma"} {
		g.Members = append(g.Members, ledger.GenesisMember{ID: id, Role: ledger.RoleMember, Keys: []ledger.PublicKey{ledgertest.Key(id, ledger.SchemeEd25519).Public()}})
	}
	for _, m := range g.Members {
		if err := g.Sign(ledgertest.Signer(m.ID, ledger.SchemeEd25519)); err != nil {
			t.Fatal(err)
		}
	}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 4 {
		at := start.Add(time.Duration(i+1) * time.Minute)
		env := ledgertest.Propose(g.ID(), "alpha", "asset.register", fmt.Sprintf("reg-%d", i), at, ledger.AssetRegister{ID: fmt.Sprintf("a-%d", i),
			Kind: ledger.AssetModel, Digest: "sha256:" + strings.Repeat("ab", 32), Owners: []ledger.Owner{{Member: "alpha", ShareBP: 10000}}},
			ledgertest.Signer("alpha", ledger.SchemeEd25519))
		l.Apply([]ledger.LogEntry{{Index: uint64(i + 1), Data: ledger.EncodeRecord(at, env.Encode())}})
	}
	var entries []ledger.Entry
	st := &client.Status{}
	l.View(func(v *ledger.View) error {
		for _, e := range v.Entries(0, 100) {
			entries = append(entries, *e)
		}
		st.JournalHead, st.StateDigest = v.Head(), v.Digest()
		return nil
	})
	if len(entries) != 5 {
		t.Fatalf("%d entries", len(entries))
	}
	tmp := filepath.Join(t.TempDir(), "replay")
	if err := VerifyJournal(g, entries, st, tmp); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(es []ledger.Entry, st *client.Status) []ledger.Entry
		want string
	}{
		{"missing entry", func(es []ledger.Entry, _ *client.Status) []ledger.Entry { return append(es[:2], es[3:]...) },
			"chaos: journal entry 2 has seq 3"},
		{"tampered outcome", func(es []ledger.Entry, _ *client.Status) []ledger.Entry { es[3].Outcome.ID = "other"; return es },
			"chaos: journal entry 3: ledger: journal entry 3: hash"},
		{"rehashed outcome", func(es []ledger.Entry, _ *client.Status) []ledger.Entry {
			e := &es[4]
			e.Outcome.ID = "other"
			e.Hash, _ = e.ContentHash()
			return es
		}, "chaos: journal entry 4 (index 4) does not replay to its hash"},
		{"other digest", func(es []ledger.Entry, st *client.Status) []ledger.Entry { st.StateDigest[0] ^= 1; return es },
			"chaos: the replay gives head 5/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := append([]ledger.Entry(nil), entries...)
			st := *st
			err := VerifyJournal(g, tc.edit(es, &st), &st, tmp)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}
