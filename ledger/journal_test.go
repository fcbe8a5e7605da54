package ledger_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
)

// v1Dir holds a journal written by this release: the genesis, the state
// store (gzipped) and an export, and the head and state digest it reported.
var v1Dir = filepath.Join("testdata", "journal-v1")

// TestJournal_AuditV1Export replays the export in v1Dir: the replay
// writes the same entries and reaches the state digest it reported.
func TestJournal_AuditV1Export(t *testing.T) {
	g, _, head, digest := readV1Export(t)
	f, err := os.Open(filepath.Join(v1Dir, "export.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := verify.AuditExport(g, f, map[uint64]ledger.Hash{head.Size: head.Root}, nil)
	if err != nil || a.Digest != digest || a.Entries != int(head.Size) || len(a.Unreached) != 0 {
		t.Fatalf("audit: %+v, %v", a, err)
	}
}

// readV1Export reads the genesis, entries, head and digest of v1Dir.
func readV1Export(t *testing.T) (*ledger.Genesis, []*ledger.Entry, ledger.Head, ledger.Hash) {
	t.Helper()
	gb, err := os.ReadFile(filepath.Join(v1Dir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := ledger.DecodeGenesis(gb)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Head   ledger.Head `json:"head"`
		Digest ledger.Hash `json:"state_digest"`
	}
	readJSON(t, filepath.Join(v1Dir, "head.json"), &h)
	b, err := os.ReadFile(filepath.Join(v1Dir, "export.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []*ledger.Entry
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if i == 0 {
			continue // the header
		}
		var e ledger.Entry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, &e)
	}
	return g, entries, h.Head, h.Digest
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
