package ledger_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
)

// v1Dir holds a journal written before the binary format existed: the
// genesis, the state store (gzipped) and an export, and the head and state
// digest that release reported.
var v1Dir = filepath.Join("testdata", "journal-v1")

// trickyWorkload applies proposals whose outcomes hold what JSON encoders
// disagree on: a message with <, >, & and é from a client's field name
// (with U+2028 quoted in it), a conflict's With, events, and ledger times
// with a fraction and with nanoseconds.
func trickyWorkload(f *fixture) {
	f.t.Helper()
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-ex", "alpha", "beta", "model-x", []ledger.Right{"train"}, func(t *ledger.Terms) { t.Exclusive = true }))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-ex"})
	f.now = f.now.Add(1500 * time.Millisecond)
	f.reject(ledger.CodeConflict, "alpha", "grant.offer", offer("g-2", "alpha", "gamma", "model-x", []ledger.Right{"train"}, nil))
	f.reject(ledger.CodeInvalid, "alpha", "asset.register", map[string]any{
		"id": "model-y", "kind": "model", "digest": digestA, "owners": []map[string]any{{"member": "alpha", "share_bp": 10000}},
		"<b>&é\u2028": "x"})
	f.now = f.now.Add(123456789 * time.Nanosecond)
	f.accept("beta", "token.register", map[string]any{"hash": ledger.HashToken("s"), "scopes": []string{"read"}, "expires_at": t0.Add(72 * time.Hour)})
	f.accept("alpha", "ballot.open", admitBody("delta"))
}

// trickyOutcomes are outcomes no rule writes today but a journal must
// hash all the same: raw U+2028 and U+2029, control characters, quotes and
// backslashes, emoji, and bytes that are not UTF-8.
var trickyOutcomes = []ledger.Outcome{
	{Status: ledger.StatusRejected, Type: "x.y", ID: "p-1", Signer: "alpha", Code: ledger.CodeInvalid,
		Message: "line\u2028para\u2029 <a href=\"x\">&amp;</a> \\ \x00\x01\b\f\n\r\t\x1f\x7f é 中文 🙂"},
	{Status: ledger.StatusRejected, Code: ledger.CodeConflict, Message: "bad \xff\xfe bytes \xe2\x80 (conflicts with g<1>&)", With: "g<1>&"},
	{Status: ledger.StatusAccepted, Type: "ev", Events: []ledger.Event{{Kind: "k\u2028<", Subject: "s\xc3"}, {Kind: "", Subject: ""}}},
	{Status: ledger.StatusAccepted},
}

// TestJournal_PythonRecomputes recomputes every entry hash and the Merkle
// root of exported journals with scripts/journal-hash.py, an independent
// implementation written from docs/journal.md alone, in both formats:
// a journal of real proposals plus tricky outcomes, and the export of a
// release from before the binary format.
func TestJournal_PythonRecomputes(t *testing.T) {
	py := requirePython(t)
	for _, format := range []int{0, ledger.JournalBinary} {
		t.Run(fmt.Sprintf("format-%d", format), func(t *testing.T) {
			f := newJournalFixture(t, format)
			trickyWorkload(f)
			for i, o := range trickyOutcomes {
				f.index++
				f.l.AppendEntryForTest(format, f.index, f.now.Add(time.Duration(i+1)*time.Nanosecond), []byte("envelope"), o)
			}
			var entries []*ledger.Entry
			var head ledger.Head
			f.view(func(v *ledger.View) { entries, head = v.Entries(0, 1000), v.Head() })
			for _, e := range entries {
				if e.V != format {
					t.Fatalf("entry %d has v=%d, want %d", e.Seq, e.V, format)
				}
				if err := e.VerifyHash(); err != nil {
					t.Fatal(err)
				}
			}
			path := writeExport(t, f.g.ID(), entries)
			b, _ := os.ReadFile(path)
			for _, want := range []string{`\u003cb\u003e\u0026é`, `\\u2028`, `\u2028`, `\u2029`, `\u0000`, "\uFFFD", "🙂", `"with":"g\u003c1\u003e\u0026"`} {
				if !bytes.Contains(b, []byte(want)) {
					t.Errorf("the export does not exercise %s", want)
				}
			}
			hashes, root := runJournalHash(t, py, path)
			compareHashes(t, entries, head, hashes, root)
		})
	}
	t.Run("testdata-v1", func(t *testing.T) {
		_, entries, head, _ := readV1Export(t)
		hashes, root := runJournalHash(t, py, filepath.Join(v1Dir, "export.jsonl"))
		compareHashes(t, entries, head, hashes, root)
	})
}

// TestJournal_InvalidUTF8 checks that an outcome string that is not UTF-8
// is journaled as the JSON will decode it (each bad byte U+FFFD), so that
// the stored entry verifies, in both formats.
func TestJournal_InvalidUTF8(t *testing.T) {
	for _, format := range []int{0, ledger.JournalBinary} {
		f := newJournalFixture(t, format)
		o := ledger.Outcome{Status: ledger.StatusRejected, Message: "a\xffb\xe2\x80c", Events: []ledger.Event{{Kind: "k", Subject: "\xc3"}}}
		e := f.l.AppendEntryForTest(format, 1, t0, nil, o)
		if e.Outcome.Message != "a\uFFFDb\uFFFD\uFFFDc" || e.Outcome.Events[0].Subject != "\uFFFD" {
			t.Fatalf("format %d: journaled %q %q", format, e.Outcome.Message, e.Outcome.Events[0].Subject)
		}
		if o.Events[0].Subject != "\xc3" {
			t.Fatal("the caller's events were changed")
		}
		f.view(func(v *ledger.View) {
			stored, _ := v.Entry(e.Seq)
			if err := stored.VerifyHash(); err != nil || stored.Hash != e.Hash {
				t.Fatalf("format %d: stored entry: %v", format, err)
			}
		})
	}
}

// TestJournal_Binary checks the binary format against the bytes that
// docs/journal.md lists for entry 1 of journal-v2.json, and that it
// covers every field but seq.
func TestJournal_Binary(t *testing.T) {
	var vs journalVectors
	readJSON(t, filepath.Join("testdata", "vectors", "journal-v2.json"), &vs)
	v := vs.Entries[1]
	var b []byte
	b = append(b, 0, 2)
	b = append(b, vs.Entries[0].Hash[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 1)
	b = append(b, 0x18, 0x87, 0xca, 0x29, 0xe1, 0xfa, 0xf8, 0x00) // 2026-01-05T09:01:00Z
	b = append(b, v.EnvelopeHash[:]...)
	str := func(s string) {
		b = append(b, 0, 0, 0, 0, 0, 0, 0, byte(len(s)))
		b = append(b, s...)
	}
	for _, s := range []string{"accepted", "asset.register", "asset.register-1", "alpha", "", "", ""} {
		str(s)
	}
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 1)
	str("asset.registered")
	str("model-1")
	if got := ledger.Hash(sha256.Sum256(b)); got != v.Hash {
		t.Fatalf("the documented bytes hash to %s, the vector says %s", got, v.Hash)
	}

	e := ledger.Entry{V: ledger.JournalBinary, Seq: 1, Index: v.Index, LedgerTime: v.LedgerTime, EnvelopeHash: v.EnvelopeHash,
		Outcome: v.Outcome, PrevHash: vs.Entries[0].Hash}
	base, err := e.ContentHash()
	if err != nil || base != v.Hash {
		t.Fatalf("ContentHash = %s, %v; want %s", base, err, v.Hash)
	}
	seq := e
	seq.Seq = 7
	if h, _ := seq.ContentHash(); h != base {
		t.Fatal("seq changed the hash")
	}
	for name, change := range map[string]func(e *ledger.Entry){
		"prev_hash":     func(e *ledger.Entry) { e.PrevHash[0] ^= 1 },
		"index":         func(e *ledger.Entry) { e.Index++ },
		"ledger_time":   func(e *ledger.Entry) { e.LedgerTime = e.LedgerTime.Add(time.Nanosecond) },
		"envelope_hash": func(e *ledger.Entry) { e.EnvelopeHash[31] ^= 1 },
		"status":        func(e *ledger.Entry) { e.Outcome.Status = "rejected" },
		"code":          func(e *ledger.Entry) { e.Outcome.Code = "x" },
		"message":       func(e *ledger.Entry) { e.Outcome.Message = "x" },
		"with":          func(e *ledger.Entry) { e.Outcome.With = "x" },
		"event": func(e *ledger.Entry) {
			e.Outcome.Events = []ledger.Event{{Kind: "asset.registered", Subject: "model-2"}}
		},
		"no events": func(e *ledger.Entry) { e.Outcome.Events = nil },
		"an empty event": func(e *ledger.Entry) {
			e.Outcome.Events = append(e.Outcome.Events[:1:1], ledger.Event{})
		},
		// Length prefixes keep the boundary between fields.
		"shifted": func(e *ledger.Entry) { e.Outcome.ID, e.Outcome.Signer = "asset.register-1a", "lpha" },
		"format":  func(e *ledger.Entry) { e.V = 0 },
	} {
		c := e
		change(&c)
		if h, _ := c.ContentHash(); h == base {
			t.Errorf("%s is not covered by the hash", name)
		}
	}
	bad := e
	bad.V = 3
	if _, err := bad.ContentHash(); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Fatalf("format 3: %v", err)
	}
	bad.Envelope = nil
	if err := bad.VerifyHash(); err == nil {
		t.Fatal("an entry of an unknown format verified")
	}
}

// TestJournal_OldDataDir opens a state store written before the binary
// format: it keeps its head and digest, every entry verifies, new entries
// stay in the JSON format until a charter.amend moves the consortium to the
// binary one, the format never moves back, and the mixed journal passes
// the restore check, an audit replay and the Python recomputation.
func TestJournal_OldDataDir(t *testing.T) {
	g, old, oldHead, oldDigest := readV1Export(t)
	path := filepath.Join(t.TempDir(), "state.db")
	gunzip(t, filepath.Join(v1Dir, "state.db.gz"), path)
	l, err := ledger.Open(path, g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fixture{t: t, l: l, g: g, index: l.AppliedIndex(), seq: 100}
	f.view(func(v *ledger.View) {
		if v.Head() != oldHead || v.Digest() != oldDigest || v.Charter().JournalFormat != 0 {
			t.Fatalf("old store: head %+v digest %s charter %+v; want %+v %s", v.Head(), v.Digest(), v.Charter(), oldHead, oldDigest)
		}
		for _, e := range v.Entries(0, 100) {
			if err := e.VerifyHash(); err != nil || e.V != 0 || e.Hash != old[e.Seq].Hash {
				t.Fatalf("old entry %d: v=%d %v", e.Seq, e.V, err)
			}
		}
		f.now = v.LedgerTime().Add(time.Minute)
	})

	charter := func(format int) map[string]any {
		c := ledgertest.StampedCharter()
		c.JournalFormat = format
		c.BallotMaxDays++ // every amendment changes something
		return map[string]any{"id": fmt.Sprintf("charter-%d-%d", format, f.seq), "action": "charter.amend",
			"deadline": f.now.Add(24 * time.Hour), "params": map[string]any{"charter": c}}
	}
	formatOf := func(r *ledger.Result) int {
		var e *ledger.Entry
		f.view(func(v *ledger.View) { e, _ = v.Entry(r.Seq) })
		return e.V
	}
	if r := f.accept("alpha", "asset.register", map[string]any{"id": "model-z", "kind": "model", "digest": digestA,
		"owners": []map[string]any{{"member": "alpha", "share_bp": 10000}}}); formatOf(r) != 0 {
		t.Fatal("an old consortium's new entry is not in the JSON format")
	}
	amend := charter(ledger.JournalBinary)
	f.accept("alpha", "ballot.open", amend)
	if r := f.accept("beta", "ballot.vote", map[string]any{"ballot": amend["id"], "approve": true}); !hasEvent(r, "ballot.passed", amend["id"].(string)) || formatOf(r) != 0 {
		t.Fatalf("the amending entry: %+v, v=%d", r.Outcome, formatOf(r))
	}
	if r := f.accept("beta", "token.register", map[string]any{"hash": ledger.HashToken("t"), "scopes": []string{"read"}, "expires_at": f.now.Add(time.Hour)}); formatOf(r) != ledger.JournalBinary {
		t.Fatal("the entry after the amendment is not in the binary format")
	}
	if r := f.reject(ledger.CodeInvalid, "alpha", "ballot.open", charter(ledger.JournalJSON)); !strings.Contains(r.Outcome.Message, "journal_format") {
		t.Fatalf("moving back: %s", r.Outcome.Message)
	}
	// An amendment that leaves journal_format out keeps the format.
	amend = charter(0)
	f.accept("alpha", "ballot.open", amend)
	if r := f.accept("beta", "ballot.vote", map[string]any{"ballot": amend["id"], "approve": true}); !hasEvent(r, "ballot.passed", amend["id"].(string)) {
		t.Fatalf("amendment without journal_format: %+v", r.Outcome)
	}
	r := f.accept("alpha", "asset.register", map[string]any{"id": "model-w", "kind": "model", "digest": digestA,
		"owners": []map[string]any{{"member": "alpha", "share_bp": 10000}}})
	var entries []*ledger.Entry
	var head ledger.Head
	var digest ledger.Hash
	f.view(func(v *ledger.View) {
		if c := v.Charter(); c.JournalFormat != ledger.JournalBinary || c.BallotMaxDays != ledger.DefaultCharter().BallotMaxDays+1 {
			t.Fatalf("charter after an amendment without journal_format: %+v", c)
		}
		entries, head, digest = v.Entries(0, 100), v.Head(), v.Digest()
	})
	if formatOf(r) != ledger.JournalBinary || entries[len(entries)-1].Seq != r.Seq {
		t.Fatal("the format went back")
	}

	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	snap.WriteTo(&buf)
	snap.Release()
	rc, err := l.CheckSnapshot(&buf, nil)
	if err != nil {
		t.Fatalf("restore check of the mixed journal: %v", err)
	}
	rc.Close()
	exp := writeExport(t, g.ID(), entries)
	ef, _ := os.Open(exp)
	defer ef.Close()
	a, err := verify.AuditExport(g, ef, verify.AuditOptions{Roots: map[uint64]ledger.Hash{head.Size: head.Root}})
	if err != nil || a.Digest != digest || len(a.Unreached) != 0 {
		t.Fatalf("audit of the mixed journal: %+v, %v", a, err)
	}
	if py, ok := lookPython(t); ok {
		hashes, root := runJournalHash(t, py, exp)
		compareHashes(t, entries, head, hashes, root)
	}
}

// TestJournal_AuditV1Export replays the export of a release from before
// the binary format: the replay writes the same entries and reaches the
// state digest that release reported.
func TestJournal_AuditV1Export(t *testing.T) {
	g, _, head, digest := readV1Export(t)
	f, err := os.Open(filepath.Join(v1Dir, "export.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := verify.AuditExport(g, f, verify.AuditOptions{Roots: map[uint64]ledger.Hash{head.Size: head.Root}})
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

// writeExport writes entries as charta journal export does and returns
// the file's path.
func writeExport(t *testing.T, consortium string, entries []*ledger.Entry) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.Encode(verify.ExportHeader{Format: verify.ExportFormat, Consortium: consortium, ExportedAt: t0})
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "export.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// lookPython finds python3. Without it the Python checks are skipped,
// unless CHARTA_REQUIRE_PYTHON=1 (as on CI), which makes that a failure.
func lookPython(t *testing.T) (string, bool) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil && os.Getenv("CHARTA_REQUIRE_PYTHON") == "1" {
		t.Fatalf("python3 is required (CHARTA_REQUIRE_PYTHON=1): %v", err)
	}
	return py, err == nil
}

func requirePython(t *testing.T) string {
	t.Helper()
	py, ok := lookPython(t)
	if !ok {
		t.Skip("python3 not found (set CHARTA_REQUIRE_PYTHON=1 to fail instead)")
	}
	return py
}

// runJournalHash runs scripts/journal-hash.py on an export and returns the
// hash it recomputed for each entry, in order, and its Merkle root line.
func runJournalHash(t *testing.T, py, export string) ([]string, string) {
	t.Helper()
	cmd := exec.Command(py, filepath.Join("..", "scripts", "journal-hash.py"), export)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("journal-hash.py: %v: %s", err, stderr.String())
	}
	var hashes []string
	var root string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 3 && fields[0] == "root":
			root = fields[1] + " " + fields[2]
		case len(fields) == 2 && fields[0] == fmt.Sprint(len(hashes)):
			hashes = append(hashes, fields[1])
		default:
			t.Fatalf("journal-hash.py: unexpected line %q", sc.Text())
		}
	}
	return hashes, root
}

// compareHashes checks the script's hashes and root against the journal's.
func compareHashes(t *testing.T, entries []*ledger.Entry, head ledger.Head, hashes []string, root string) {
	t.Helper()
	if len(hashes) != len(entries) {
		t.Fatalf("the script recomputed %d hashes for %d entries", len(hashes), len(entries))
	}
	for i, e := range entries {
		if hashes[i] != e.Hash.String() {
			t.Errorf("entry %d: the script computes %s, the journal says %s", e.Seq, hashes[i], e.Hash)
		}
	}
	if want := fmt.Sprintf("%d %s", head.Size, head.Root); root != want {
		t.Errorf("the script's root is %q, the head's %q", root, want)
	}
}

func gunzip(t *testing.T, from, to string) {
	t.Helper()
	f, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
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

// BenchmarkEntryHash measures an entry's hash in each format, for an
// accepted proposal with one event and for a rejection with a message.
func BenchmarkEntryHash(b *testing.B) {
	outcomes := map[string]ledger.Outcome{
		"accepted": {Status: ledger.StatusAccepted, Type: "grant.offer", ID: "offer-1", Signer: "alpha",
			Events: []ledger.Event{{Kind: "grant.offered", Subject: "g-1"}}},
		"rejected": {Status: ledger.StatusRejected, Type: "grant.offer", ID: "offer-2", Signer: "alpha", Code: ledger.CodeConflict,
			Message: "grant g-2 overlaps exclusive grant terms of g-ex over model-x (conflicts with g-ex)", With: "g-ex"},
	}
	for _, format := range []int{0, ledger.JournalBinary} {
		for _, name := range []string{"accepted", "rejected"} {
			e := ledger.Entry{V: format, Seq: 7, Index: 9, LedgerTime: t0, Outcome: outcomes[name]}
			b.Run(fmt.Sprintf("format-%d/%s", format, name), func(b *testing.B) {
				for b.Loop() {
					if _, err := e.ContentHash(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
