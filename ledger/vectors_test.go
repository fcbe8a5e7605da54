package ledger_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// journalVectors pins the genesis ID and the journal encoding: a fixed
// sequence of proposals must always produce these entry hashes, Merkle
// root and state digest, in each journal format (journal.json for the
// JSON format of charters without journal_format, journal-v2.json for the
// binary one). If this test fails, a journal format changed: that breaks
// every existing consortium and needs a new format version, not a
// refreshed file.
type journalVectors struct {
	Consortium string        `json:"consortium"`
	Entries    []vectorEntry `json:"entries"`
	Head       ledger.Head   `json:"head"`
	Digest     ledger.Hash   `json:"state_digest"`
}

type vectorEntry struct {
	V            int            `json:"v,omitempty"`
	Seq          uint64         `json:"seq"`
	Index        uint64         `json:"index"`
	LedgerTime   time.Time      `json:"ledger_time"`
	EnvelopeHash ledger.Hash    `json:"envelope_hash"`
	Outcome      ledger.Outcome `json:"outcome"`
	Hash         ledger.Hash    `json:"hash"`
}

func TestVectors_Journal(t *testing.T) {
	for _, c := range []struct {
		file   string
		format int
	}{{"journal.json", 0}, {"journal-v2.json", ledger.JournalBinary}} {
		t.Run(c.file, func(t *testing.T) { testJournalVectors(t, c.file, c.format) })
	}
}

func testJournalVectors(t *testing.T, file string, format int) {
	f := newJournalFixture(t, format)
	f.register("alpha", "model-1")
	f.accept("beta", "token.register", map[string]any{"hash": ledger.HashToken("s"), "scopes": []string{"read"}, "expires_at": t0.Add(72 * time.Hour)})
	f.reject(ledger.CodeConflict, "alpha", "asset.register", map[string]any{
		"id": "model-1", "kind": "model", "digest": digestA, "owners": []map[string]any{{"member": "alpha", "share_bp": 10000}}})
	f.accept("alpha", "ballot.open", admitBody("delta"))

	var got journalVectors
	f.view(func(v *ledger.View) {
		got.Consortium = v.Consortium()
		for _, e := range v.Entries(0, 100) {
			got.Entries = append(got.Entries, vectorEntry{e.V, e.Seq, e.Index, e.LedgerTime, e.EnvelopeHash, e.Outcome, e.Hash})
			if err := e.VerifyHash(); err != nil {
				t.Fatal(err)
			}
		}
		got.Head = v.Head()
		got.Digest = v.Digest()
	})
	path := filepath.Join("testdata", "vectors", file)
	if u := flag.Lookup("update"); u != nil && u.Value.String() == "true" {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestVectors_Journal -update to create it)", err)
	}
	var want journalVectors
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("journal encoding changed:\n got %s\nwant %s", gb, wb)
	}
}
