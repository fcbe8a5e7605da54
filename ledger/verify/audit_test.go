package verify_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
)

// export writes the fixture's journal as a journal export, header first.
func (f *fixture) export(consortium string) []byte {
	f.t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	if err := enc.Encode(verify.ExportHeader{Format: verify.ExportFormat, Consortium: consortium}); err != nil {
		f.t.Fatal(err)
	}
	for _, e := range f.entries {
		if err := enc.Encode(e); err != nil {
			f.t.Fatal(err)
		}
	}
	return b.Bytes()
}

// TestAuditExport audits the fixture's export: it ends at the journal's
// state, reaches the checkpoint root, reports progress, and classifies
// each refusal with the package's sentinels while keeping charta audit's
// wording.
func TestAuditExport(t *testing.T) {
	f := newFixture(t, "audit")
	cp := f.checkpoint()
	roots := map[uint64]ledger.Hash{cp.Size: cp.Root, 100: {}}
	var read []int64
	res, err := verify.AuditExport(f.g, bytes.NewReader(f.export(f.consortium())), roots, func(n int64) { read = append(read, n) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != 6 || res.Applied != f.l.AppliedIndex() || res.Digest != digest(f.l) || len(res.Unreached) != 1 || res.Unreached[0] != 100 {
		t.Fatalf("audited %+v", res)
	}
	if len(read) != 6 || read[0] <= 0 || read[5] <= read[4] {
		t.Fatalf("progress %v", read)
	}

	other := newFixture(t, "another consortium")
	lines := bytes.SplitAfter(f.export(f.consortium()), []byte("\n"))
	for _, tc := range []struct {
		name  string
		in    []byte
		roots map[uint64]ledger.Hash
		class error
		want  string
	}{
		{"garbage", append(bytes.Join(lines[:3], nil), "[1,2"...), nil, verify.ErrMalformed, "entry after 2: "},
		{"other consortium", other.export(other.consortium()), nil, verify.ErrConsortium, "the export is of consortium "},
		{"other genesis", bytes.Join(append([][]byte{lines[0], bytes.SplitAfter(other.export(""), []byte("\n"))[1]}, lines[2:]...), nil), nil,
			verify.ErrReplay, "entry 0 is not this genesis: "},
		{"tampered", bytes.Replace(f.export(f.consortium()), []byte(`"tok-beta"`), []byte(`"tok-xxxx"`), 1), nil, verify.ErrEntry, "ledger: journal entry 3: "},
		{"out of order", bytes.Join(append(append([][]byte{}, lines[:3]...), lines[4], lines[3]), nil), nil, verify.ErrReplay, "entry 3 (index 3): replay gives entry 2 "},
		{"wrong root", f.export(f.consortium()), map[uint64]ledger.Hash{cp.Size: {1}}, verify.ErrReplay, "entry 5 (index 5): the journal's Merkle root at size 6 is "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify.AuditExport(f.g, bytes.NewReader(tc.in), tc.roots, nil)
			var ee *verify.EntryError
			if !errors.Is(err, tc.class) || !strings.HasPrefix(err.Error(), tc.want) || strings.HasPrefix(err.Error(), "verify:") {
				t.Fatalf("got %v, want %v starting %q", err, tc.class, tc.want)
			}
			if errors.As(err, &ee) != (tc.class != verify.ErrMalformed && tc.class != verify.ErrConsortium) {
				t.Fatalf("%v: an *EntryError only for an entry's failure", err)
			}
		})
	}
}
