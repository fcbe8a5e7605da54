package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
)

// fuzzStart is the genesis time of the audit fuzz target's consortium.
var fuzzStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// smallExport is a real journal export of a few mixed entries.
func smallExport(t testing.TB, g *ledger.Genesis) []byte {
	t.Helper()
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Apply(mixedEntries(g, fuzzStart, 6, rand.New(rand.NewPCG(1, 2))))
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.Encode(verify.ExportHeader{Format: verify.ExportFormat, Consortium: g.ID()})
	l.View(func(v *ledger.View) error {
		for _, e := range v.Entries(0, 100) {
			enc.Encode(e)
		}
		return nil
	})
	return out.Bytes()
}

// FuzzAuditJournal replays arbitrary bytes as a journal export: the audit
// never panics, and whatever it refuses it refuses with a message.
func FuzzAuditJournal(f *testing.F) {
	g := auditGenesis(f, fuzzStart)
	export := smallExport(f, g)
	lines := bytes.SplitAfter(export, []byte("\n"))
	f.Add(export)
	f.Add(bytes.Join(lines[1:], nil))                                // no header
	f.Add(bytes.Join(append([][]byte{lines[0]}, lines[2:]...), nil)) // no entry 0
	f.Add(append(bytes.Clone(export), lines[3]...))                  // an entry twice
	f.Add([]byte(`{"format":"charta-journal-export-v0"}`))
	f.Add([]byte(`{"seq":0}`))
	f.Add([]byte("[1,2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := auditJournal(g, bytes.NewReader(b), verify.AuditOptions{}, &progress{w: &bytes.Buffer{}})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if res.Entries < 0 || len(res.Unreached) != 0 {
			t.Fatalf("audit result %+v", res)
		}
	})
}
