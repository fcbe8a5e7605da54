package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
)

// anchorFixture is a small journal on disk for charta audit: the genesis,
// a checkpoint note of the whole journal cosigned by every member, and
// exports of it as it is, extended by a validly signed entry that no
// checkpoint covers, with its last entry dropped, and as gamma sees it.
type anchorFixture struct {
	dir, genesis, checkpoint        string
	full, extended, dropped, gammas string
	size                            int
}

func newAnchorFixture(t *testing.T) *anchorFixture {
	t.Helper()
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	g := auditGenesis(t, start)
	f := &anchorFixture{dir: t.TempDir()}
	f.genesis = f.write(t, "genesis.json", mustJSONBytes(t, g))
	l, err := ledger.Open(filepath.Join(f.dir, "state.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := start.Add(time.Minute)
	index := uint64(0)
	apply := func(m, typ, id string, body any) {
		index++
		env := ledgertest.Propose(g.ID(), m, typ, id, now, body, ledgertest.Signer(m, auditScheme)).Encode()
		if r := l.Apply([]ledger.LogEntry{{Index: index, Data: ledger.EncodeRecord(now, env)}})[0]; r.Outcome.Status != ledger.StatusAccepted {
			t.Fatalf("%s: %s", id, r.Outcome.Message)
		}
		now = now.Add(time.Second)
	}
	apply("alpha", "asset.register", "reg-a", ledger.AssetRegister{ID: "model-a", Kind: ledger.AssetModel,
		Digest: "sha256:" + strings.Repeat("a", 64), Owners: []ledger.Owner{{Member: "alpha", ShareBP: 10000}}})
	apply("alpha", "grant.offer", "offer-1", ledger.GrantOffer{ID: "g-1", Licensors: []string{"alpha"}, Licensees: []string{"beta"},
		Terms: ledger.Terms{Assets: []string{"model-a"}, Rights: []ledger.Right{ledger.RightTrain}}})
	apply("beta", "grant.accept", "accept-1", ledger.GrantRef{Grant: "g-1"})
	apply("gamma", "token.register", "tok-1", ledger.TokenRegister{Hash: ledger.HashToken("token-of-gamma-0123456789abcdefgh"), Scopes: []string{"read"}, ExpiresAt: now.Add(time.Hour)})
	entries := journalOf(l)
	f.size = len(entries)
	var head ledger.Head
	l.View(func(v *ledger.View) error { head = v.Head(); return nil })
	cp := &verify.Checkpoint{Origin: verify.Origin(g.ID()), Size: head.Size, Root: head.Root, LedgerTime: entries[len(entries)-1].LedgerTime}
	n := &verify.Note{Text: cp.Body()}
	for _, m := range devMembers {
		s, err := verify.SignNote(cp.Body(), cp.Origin, m, ledgertest.Key(m, auditScheme))
		if err != nil {
			t.Fatal(err)
		}
		n.Add(s)
	}
	f.checkpoint = f.write(t, "cp.note", []byte(n.String()))
	// Signed and applied, but after the checkpoint: as if never committed.
	apply("gamma", "token.register", "tok-2", ledger.TokenRegister{Hash: ledger.HashToken("token-of-gamma-abcdefgh0123456789"), Scopes: []string{"read"}, ExpiresAt: now.Add(time.Hour)})
	f.full = f.write(t, "full.jsonl", exportLines(t, g, entries))
	f.extended = f.write(t, "extended.jsonl", exportLines(t, g, journalOf(l)))
	f.dropped = f.write(t, "dropped.jsonl", exportLines(t, g, entries[:len(entries)-1]))
	gammas := append([]ledger.Entry(nil), entries...)
	for _, s := range []int{2, 3} { // the grant between alpha and beta
		gammas[s].Envelope = nil
		gammas[s].Outcome = ledger.Outcome{Status: gammas[s].Outcome.Status, Type: gammas[s].Outcome.Type}
	}
	f.gammas = f.write(t, "gamma.jsonl", exportLines(t, g, gammas))
	return f
}

func (f *anchorFixture) write(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func journalOf(l *ledger.Ledger) []ledger.Entry {
	var out []ledger.Entry
	l.View(func(v *ledger.View) error {
		for _, e := range v.Entries(0, 1000) {
			out = append(out, *e)
		}
		return nil
	})
	return out
}

func exportLines(t *testing.T, g *ledger.Genesis, es []ledger.Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.Encode(verify.ExportHeader{Format: verify.ExportFormat, Consortium: g.ID()})
	for _, e := range es {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func mustJSONBytes(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAudit_Completeness: entries beyond the newest cosigned checkpoint,
// and an audit without any checkpoint, fail unless --allow-unanchored,
// and the audit says which entries a checkpoint anchors.
func TestAudit_Completeness(t *testing.T) {
	f := newAnchorFixture(t)
	audit := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"audit", "--genesis", f.genesis}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	lastLine := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		return lines[len(lines)-1]
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a line stdout must hold
		stderr string // what stderr's last line must hold
	}{
		{"anchored", []string{"--checkpoint", f.checkpoint, f.full}, 0, "anchored: entries 0-4, the whole export, are under the cosigned checkpoint of size 5", ""},
		{"an entry beyond the checkpoint", []string{"--checkpoint", f.checkpoint, f.extended}, 1, "anchored: entries 0-4 are under",
			"charta audit: entries 5-5 (1) lie beyond the newest cosigned checkpoint (size 5)"},
		{"an entry beyond the checkpoint, allowed", []string{"--checkpoint", f.checkpoint, "--allow-unanchored", f.extended}, 0, "anchored: entries 0-4 are under",
			"warning: entries 5-5 (1) lie beyond"},
		{"no checkpoint", []string{f.dropped}, 1, "ok: 4 entries", "charta audit: completeness not checked: without --checkpoint"},
		{"no checkpoint, allowed", []string{"--allow-unanchored", f.full}, 0, "ok: 5 entries", "warning: completeness not checked"},
		{"the last entry dropped", []string{"--checkpoint", f.checkpoint, f.dropped}, 1, "", "before the checkpoint(s) of size [5]"},
		{"a member's export", []string{"--checkpoint", f.checkpoint, f.gammas}, 1, "", "entry 2 (index 2) is withheld"},
		{"a member's export, member view", []string{"--checkpoint", f.checkpoint, "--member-view", f.gammas}, 0,
			"not checked: 2 withheld entries (2, 3): their content and effects", ""},
		{"a member view cannot check the digest", []string{"--member-view", "--digest", "00", f.gammas}, 2, "", "run 'charta audit --help' for usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := audit(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(lastLine(errs), tc.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			if tc.code == 1 && strings.Count(errs, "charta audit:") != 1 {
				t.Fatalf("want one line of error:\n%s", errs)
			}
		})
	}
	_, out, _ := audit("--checkpoint", f.checkpoint, "--member-view", f.gammas)
	for _, want := range []string{"ok (member view): 5 entries", "3 visible entries", "not checked: the final state digest"} {
		if !strings.Contains(out, want) {
			t.Errorf("member view output lacks %q:\n%s", want, out)
		}
	}
}
