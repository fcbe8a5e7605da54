package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"strconv"
	"testing"

	"github.com/charta/charta/ledger"
)

// snapshotMagic is the first line of every snapshot stream (see
// ledger/snapshot.go).
var snapshotMagic = []byte("CHARTA-SNAPSHOT-1\n")

// snapshotStream returns a real snapshot of a small ledger.
func snapshotStream(t testing.TB) []byte {
	t.Helper()
	f := newFixture(t)
	for i := range 3 {
		f.register("alpha", "m"+strconv.Itoa(i))
	}
	s, err := f.l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzRestore offers arbitrary snapshot streams to a ledger with state.
// With fix set, the input is taken as the state file alone and framed with
// the magic and a correct checksum, so that the mutations reach the bbolt
// file and the journal checks rather than stopping at the checksum.
// Restore must never panic, and a refused snapshot must leave the state,
// the applied index and the journal head as they were, and the ledger
// usable.
func FuzzRestore(f *testing.F) {
	stream := snapshotStream(f)
	body := stream[len(snapshotMagic) : len(stream)-sha256.Size]
	f.Add(stream, false)
	f.Add(body, true)
	f.Add(stream[:len(stream)/2], false)
	f.Add(body[:4096], true)
	f.Add([]byte{}, true)
	f.Add([]byte("hello"), false)
	f.Fuzz(func(t *testing.T, b []byte, fix bool) {
		if fix {
			framed := append(append(bytes.Clone(snapshotMagic), b...), make([]byte, sha256.Size)...)
			sum := sha256.Sum256(framed[:len(framed)-sha256.Size])
			copy(framed[len(framed)-sha256.Size:], sum[:])
			b = framed
		}
		x := newFixture(t)
		x.register("beta", "keep")
		var head ledger.Head
		x.view(func(v *ledger.View) { head = v.Head() })
		digest, applied := x.digest(), x.l.AppliedIndex()
		if err := x.l.Restore(bytes.NewReader(b)); err == nil {
			// Only an intact snapshot is taken: its journal verified.
			x.view(func(v *ledger.View) {
				if v.Head().Size == 0 {
					t.Fatal("a restored snapshot has an empty journal")
				}
			})
			return
		}
		var after ledger.Head
		x.view(func(v *ledger.View) { after = v.Head() })
		if x.digest() != digest || x.l.AppliedIndex() != applied || after != head {
			t.Fatalf("a refused restore changed the state: digest %s→%s, applied %d→%d, head %d→%d",
				digest, x.digest(), applied, x.l.AppliedIndex(), head.Size, after.Size)
		}
		x.register("beta", "after") // still applies
	})
}

// FuzzDecodeGenesis: decoding a genesis document never panics; what
// decodes has an ID, validates or verifies without panicking, and encodes
// to a document that decodes to the same consortium.
func FuzzDecodeGenesis(f *testing.F) {
	g := testGenesis(f)
	f.Add(g.Encode())
	g.Charter.ExportPolicy = exportPolicy
	f.Add(g.Encode())
	f.Add([]byte(`{"format":"charta-genesis-v1","charter":{"export_policy":[{"classification":"5D02","deny":["XX"]}]}}`))
	f.Add([]byte(`{"format":"charta-genesis-v1"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"created_at":"0000-01-01T00:00:00+01:00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ledger.DecodeGenesis(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		id := g.ID()
		_ = g.Validate()
		_ = g.Verify()
		g2, err := ledger.DecodeGenesis(g.Encode())
		if err != nil {
			t.Fatalf("a decoded genesis does not decode after encoding: %v", err)
		}
		if g2.ID() != id {
			t.Fatalf("the consortium ID changed over a round trip: %s, %s", id, g2.ID())
		}
	})
}
