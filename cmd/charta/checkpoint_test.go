package main

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"
)

// TestCheckpoint_ThirdPartyVerification runs docs/audit.md's third-party
// verification on a consortium with the default composite keys: the
// checkpoint that "charta checkpoint show" prints verifies with
// golang.org/x/mod/sumdb/note and nothing but the vkeys that "charta
// checkpoint vkeys" prints. Then an independent witness (transparency-dev/
// formats) checks the log's signature, cosigns the checkpoint with C2SP
// cosignature/v1, and a witness policy over the member nodes' and the
// witness's cosignatures is satisfied; charta audit still accepts the
// witnessed checkpoint.
func TestCheckpoint_ThirdPartyVerification(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium")
	}
	bin := chartaBin(t)
	dir, _, c, _ := devConsortiumScheme(t, bin, ledger.DefaultScheme)
	c.ok("asset", "register", "--id", "model-x", "--kind", "model", "--digest", "sha256:"+strings.Repeat("cd", 32))
	c.quiet(t)
	vkeys := c.ok("checkpoint", "vkeys")
	checkpoint := c.ok("checkpoint", "show")

	// The documented procedure: note and the printed vkeys, nothing else.
	var verifiers []note.Verifier
	for _, k := range strings.Fields(vkeys) {
		v, err := note.NewVerifier(k)
		if err != nil {
			t.Fatalf("vkey %q: %v", k, err)
		}
		verifiers = append(verifiers, v)
	}
	if len(verifiers) != 3 {
		t.Fatalf("charta checkpoint vkeys printed %d keys, want 3:\n%s", len(verifiers), vkeys)
	}
	n, err := note.Open([]byte(checkpoint), note.VerifierList(verifiers...))
	if err != nil {
		t.Fatalf("note.Open: %v\n%s", err, checkpoint)
	}
	signed := map[uint32]bool{}
	for _, s := range n.Sigs {
		signed[s.Hash] = true
	}
	origin, _, _ := strings.Cut(n.Text, "\n")
	if len(signed) != 3 || !strings.HasPrefix(origin, "charta/") {
		t.Fatalf("%d of 3 nodes' signatures verified, origin %q", len(signed), origin)
	}
	tampered := strings.Replace(checkpoint, "\n", "\n1", 1) // the tree size changes
	if _, err := note.Open([]byte(tampered), note.VerifierList(verifiers...)); err == nil {
		t.Fatal("a tampered checkpoint verified")
	}

	// An independent witness: it checks the log's signature with a member
	// node's vkey, then cosigns with cosignature/v1.
	if _, _, _, err := flog.ParseCheckpoint([]byte(checkpoint), origin, verifiers[0]); err != nil {
		t.Fatalf("the witness's log.ParseCheckpoint: %v", err)
	}
	skey, wvkey, err := note.GenerateKey(rand.Reader, "witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	own, err := note.Sign(&note.Note{Text: n.Text}, signer)
	if err != nil {
		t.Fatal(err)
	}
	_, line, _ := strings.Cut(string(own), "\n\n")
	witnessed := checkpoint + line
	wkey, err := fnote.VKeyToCosignatureV1(wvkey)
	if err != nil {
		t.Fatal(err)
	}
	policy := "witness w1 " + wkey + " https://witness.example/w1\n"
	for i, k := range strings.Fields(c.ok("checkpoint", "vkeys", "--cosignature")) {
		policy += "witness m" + string(rune('0'+i)) + " " + k + " https://member.invalid/" + string(rune('0'+i)) + "\n"
	}
	policy += "group members 2 m0 m1 m2\ngroup everyone all members w1\nquorum everyone\n"
	g, err := witness.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatalf("policy: %v\n%s", err, policy)
	}
	if !g.Satisfied([]byte(witnessed)) {
		t.Fatalf("the witness policy is not satisfied by:\n%s", witnessed)
	}
	if g.Satisfied([]byte(checkpoint)) {
		t.Fatal("the witness policy is satisfied without the witness")
	}

	// Charta's own verifier ignores the witness's line and counts the members.
	cpNote := filepath.Join(t.TempDir(), "witnessed.note")
	if err := os.WriteFile(cpNote, []byte(witnessed), 0o644); err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(t.TempDir(), "journal.jsonl")
	c.ok("journal", "export", "--out", export)
	out := c.ok("audit", "--genesis", filepath.Join(dir, "genesis.json"), "--checkpoint", cpNote, "--threshold", "3", export)
	if !strings.Contains(out, "cosigned by alpha, beta, gamma") {
		t.Fatalf("audit: %s", out)
	}
}
