package verify_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/charta/charta/ledger/verify"
)

// fuzzConsortium is pinned by the fuzz targets; documents for any other
// consortium must be rejected, never crash the verifier.
const fuzzConsortium = "0000000000000000000000000000000000000000000000000000000000000000"

// FuzzParseNote: any input parses or fails cleanly, and what parses
// formats back to a note that parses to the same signatures.
func FuzzParseNote(f *testing.F) {
	f.Add("charta/x\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nledger-time 2026-01-05T09:00:00Z\n\n— charta/x/alpha AAAAAAAAAAAA\n")
	f.Add("a\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := verify.ParseNote(s)
		if err != nil {
			return
		}
		m, err := verify.ParseNote(n.String())
		if err != nil || len(m.Sigs) != len(n.Sigs) || m.Text != n.Text {
			t.Fatalf("re-parse of %q: %v", n.String(), err)
		}
		if cp, err := verify.ParseCheckpoint(n.Text); err == nil {
			if _, err := verify.ParseCheckpoint(cp.Body()); err != nil {
				t.Fatalf("body of %+v does not parse: %v", cp, err)
			}
		}
	})
}

// FuzzVerifyDocument: any document decodes and verifies, or is rejected
// with an error; the verifier never panics.
func FuzzVerifyDocument(f *testing.F) {
	f.Add([]byte(`{"format":"charta-receipt-v1"}`))
	f.Add([]byte(`{"format":"charta-check-proof-v1","entries":[]}`))
	f.Add([]byte(`{"format":"charta-licence-certificate-v1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := verify.Decode(b)
		if err != nil {
			return
		}
		// Pin the consortium the document names, so that mutations reach
		// the signature, proof and replay checks behind the pin.
		pin := func(note string) string {
			ev := verify.Evidence{Checkpoint: note}
			if c := ev.Consortium(); c != "" {
				return c
			}
			return fuzzConsortium
		}
		switch d := doc.(type) {
		case *verify.Receipt:
			d.Verify(pin(d.Checkpoint), verify.Options{})
		case *verify.CheckProof:
			d.Verify(pin(d.Checkpoint), verify.Options{})
		case *verify.Certificate:
			d.Verify(pin(d.Checkpoint), time.Now(), verify.Options{})
		}
	})
}

// TestWriteFuzzCorpus refreshes the committed seed corpus from the
// fixture when CHARTA_WRITE_CORPUS is set.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CHARTA_WRITE_CORPUS") == "" {
		t.Skip("set CHARTA_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	fx := newFixture(t, "Test consortium")
	write := func(target, name string, v []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		os.MkdirAll(dir, 0o755)
		body := "go test fuzz v1\n"
		if target == "FuzzParseNote" {
			body += "string(" + strconv.Quote(string(v)) + ")\n"
		} else {
			body += "[]byte(" + strconv.Quote(string(v)) + ")\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := json.Marshal(fx.receipt("accept-g-1", all3...))
	p, _ := json.Marshal(fx.checkProof(all3, "reg-model-a", "offer-g-1", "accept-g-1"))
	write("FuzzVerifyDocument", "receipt", r)
	write("FuzzVerifyDocument", "check-proof", p)
	write("FuzzParseNote", "cosigned", []byte(fx.note(fx.checkpoint(), all3...)))
}
