package verify_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

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
	res, err := verify.AuditExport(f.g, bytes.NewReader(f.export(f.consortium())), verify.AuditOptions{Roots: roots, Progress: func(n int64) { read = append(read, n) }})
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
		{"out of order", bytes.Join(append(append([][]byte{}, lines[:3]...), lines[4], lines[3]), nil), nil, verify.ErrReplay, "entry 3 (index 3) follows entry 1; "},
		{"wrong root", f.export(f.consortium()), map[uint64]ledger.Hash{cp.Size: {1}}, verify.ErrReplay, "entry 5 (index 5): the journal's Merkle root at size 6 is "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify.AuditExport(f.g, bytes.NewReader(tc.in), verify.AuditOptions{Roots: tc.roots})
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

// withhold returns the fixture's entries as a member's export shows
// them: those of the given sequence numbers lose their envelope and all
// of their outcome but its status and type.
func (f *fixture) withhold(seqs ...uint64) []ledger.Entry {
	out := slices.Clone(f.entries)
	for _, s := range seqs {
		out[s].Envelope = nil
		out[s].Outcome = ledger.Outcome{Status: out[s].Outcome.Status, Type: out[s].Outcome.Type}
	}
	return out
}

func exportOf(t *testing.T, entries []ledger.Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// TestAuditExport_MemberView audits gamma's view of a journal in which a
// grant between alpha and beta, and an asset beta derived under it, are
// withheld or depend on withheld entries.
func TestAuditExport_MemberView(t *testing.T) {
	f := newFixture(t, "member view")
	f.accept("alpha", "grant.offer", "offer-g-2", ledger.GrantOffer{ID: "g-2", Licensors: []string{"alpha"}, Licensees: []string{"beta"},
		Terms: ledger.Terms{Assets: []string{"model-a"}, Rights: []ledger.Right{ledger.RightDerive}}})
	f.accept("beta", "grant.accept", "accept-g-2", ledger.GrantRef{Grant: "g-2"})
	f.accept("beta", "asset.register", "reg-model-d", ledger.AssetRegister{ID: "model-d", Kind: ledger.AssetModel, Digest: digestA,
		Owners: []ledger.Owner{{Member: "beta", ShareBP: 10000}}, Parents: []ledger.Parent{{Asset: "model-a", Grant: "g-2"}}})
	f.accept("gamma", "token.register", "tok-gamma", ledger.TokenRegister{Hash: ledger.HashToken("secret-of-gamma-0123456789abcdef"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)})
	f.sync()
	cp := f.checkpoint()
	roots := map[uint64]ledger.Hash{cp.Size: cp.Root}
	view := f.withhold(4, 5, 6, 7)

	_, err := verify.AuditExport(f.g, bytes.NewReader(exportOf(t, view)), verify.AuditOptions{Roots: roots})
	if !errors.Is(err, verify.ErrEntry) || !strings.Contains(err.Error(), "entry 4 (index 4) is withheld") || !strings.Contains(err.Error(), "--member-view") {
		t.Fatalf("a withheld entry outside a member view: %v", err)
	}
	res, err := verify.AuditExport(f.g, bytes.NewReader(exportOf(t, view)), verify.AuditOptions{Roots: roots, MemberView: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != 10 || res.Anchored != 10 || !slices.Equal(res.Withheld, []uint64{4, 5, 6, 7}) || !slices.Equal(res.Unverified, []uint64{8}) {
		t.Fatalf("audited %+v", res)
	}

	for _, tc := range []struct {
		name  string
		edit  func(es []ledger.Entry) []ledger.Entry
		class error
		want  string
	}{
		{"visible entry tampered", func(es []ledger.Entry) []ledger.Entry {
			es[9].LedgerTime = es[9].LedgerTime.Add(time.Second)
			return es
		},
			verify.ErrEntry, "ledger: journal entry 9: hash"},
		{"withheld hash changed", func(es []ledger.Entry) []ledger.Entry { es[5].Hash[0] ^= 1; return es },
			verify.ErrEntry, "entry 6 (index 6): its previous hash"},
		{"withheld entry dropped", func(es []ledger.Entry) []ledger.Entry { return slices.Delete(es, 6, 7) },
			verify.ErrReplay, "entry 7 (index 7) follows entry 5"},
		{"visible outcome forged before any withheld", func(es []ledger.Entry) []ledger.Entry {
			es[3].Outcome.Status, es[3].Outcome.Code, es[3].Outcome.Message = ledger.StatusRejected, ledger.CodeInvalid, "forged"
			es[3].Hash, _ = es[3].ContentHash()
			es[4].PrevHash = es[3].Hash // the withheld entry's hash is then wrong, but nothing can recompute it
			return es
		}, verify.ErrReplay, "entry 3 (index 3): replay gives outcome accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := tc.edit(f.withhold(4, 5, 6, 7))
			_, err := verify.AuditExport(f.g, bytes.NewReader(exportOf(t, es)), verify.AuditOptions{MemberView: true})
			if !errors.Is(err, tc.class) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want %v starting %q", err, tc.class, tc.want)
			}
		})
	}
}

// TestAuditExport_Anchored reports the size of the largest checkpoint
// the export reached, so that entries after it can be told apart.
func TestAuditExport_Anchored(t *testing.T) {
	f := newFixture(t, "anchored")
	cp := f.checkpoint()
	f.accept("gamma", "token.register", "tok-gamma", ledger.TokenRegister{Hash: ledger.HashToken("secret-of-gamma-0123456789abcdef"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)})
	f.sync()
	res, err := verify.AuditExport(f.g, bytes.NewReader(f.export(f.consortium())), verify.AuditOptions{Roots: map[uint64]ledger.Hash{cp.Size: cp.Root}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != 7 || res.Anchored != 6 || len(res.Unreached) != 0 {
		t.Fatalf("audited %+v", res)
	}
	if res, err = verify.AuditExport(f.g, bytes.NewReader(f.export(f.consortium())), verify.AuditOptions{}); err != nil || res.Anchored != 0 {
		t.Fatalf("no roots: %+v %v", res, err)
	}
}
