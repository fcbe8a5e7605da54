package verify_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
)

func TestReceipt_Verifies(t *testing.T) {
	f := newFixture(t, "Test consortium")
	r := f.receipt("accept-g-1", all3...)
	cp, signers, err := r.Verify(f.consortium(), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != uint64(len(f.entries)) || strings.Join(signers, ",") != "alpha,beta,gamma" {
		t.Fatalf("checkpoint %d signed by %v", cp.Size, signers)
	}
	if !cp.LedgerTime.Equal(f.entries[len(f.entries)-1].LedgerTime) {
		t.Fatalf("ledger time %s", cp.LedgerTime)
	}
}

func TestReceipt_TamperingIsRejected(t *testing.T) {
	f := newFixture(t, "Test consortium")
	other := newFixture(t, "Another consortium")
	good := f.receipt("accept-g-1", all3...)
	cases := []struct {
		name   string
		mutate func(r *verify.Receipt)
		pin    string
		want   error
		text   string
	}{
		{"flipped envelope byte", func(r *verify.Receipt) { r.Entry.Entry.Envelope[10] ^= 1 }, "", verify.ErrEntry, "envelope does not match"},
		{"flipped outcome", func(r *verify.Receipt) { r.Entry.Entry.Outcome.Status = "rejected" }, "", verify.ErrEntry, "does not match its content"},
		{"wrong proof hash", func(r *verify.Receipt) { r.Entry.Proof.Hashes[0][0] ^= 1 }, "", verify.ErrInclusion, ""},
		{"proof of another entry", func(r *verify.Receipt) { r.Entry.Proof.Index-- }, "", verify.ErrInclusion, "the proof is for entry"},
		{"proof for another size", func(r *verify.Receipt) { r.Entry.Proof.Size-- }, "", verify.ErrInclusion, "the checkpoint has"},
		{"reordered entry", func(r *verify.Receipt) { r.Entry = f.proven(f.seqOf("offer-g-1")); r.Entry.Proof.Index++ }, "", verify.ErrInclusion, ""},
		{"one cosignature of three", func(r *verify.Receipt) { r.Checkpoint = f.note(f.checkpoint(), "alpha") }, "", verify.ErrThreshold, "1 member(s)"},
		{"no cosignature", func(r *verify.Receipt) { r.Checkpoint = f.note(f.checkpoint()) }, "", verify.ErrThreshold, ""},
		{"forged cosignature", func(r *verify.Receipt) {
			n, _ := verify.ParseNote(r.Checkpoint)
			n.Sigs[3].Sig[20] ^= 1 // beta's cosignature/v1, after its timestamp
			r.Checkpoint = n.String()
		}, "", verify.ErrSignature, "signature of beta"},
		{"checkpoint root changed", func(r *verify.Receipt) {
			cp := f.checkpoint()
			cp.Root[0] ^= 1
			r.Checkpoint = f.note(cp, all3...)
		}, "", verify.ErrInclusion, ""},
		{"receipt from another consortium", func(r *verify.Receipt) { *r = *other.receipt("accept-g-1", all3...) }, "", verify.ErrConsortium, "genesis is consortium"},
		{"pinned to another consortium", func(*verify.Receipt) {}, other.consortium(), verify.ErrConsortium, ""},
		{"checkpoint of another consortium", func(r *verify.Receipt) { r.Checkpoint = other.note(other.checkpoint(), all3...) }, "", verify.ErrConsortium, "the checkpoint is for"},
		{"unknown format", func(r *verify.Receipt) { r.Format = "charta-receipt-v0" }, "", verify.ErrMalformed, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := clone(t, good)
			c.mutate(r)
			pin := c.pin
			if pin == "" {
				pin = f.consortium()
			}
			_, _, err := r.Verify(pin, verify.Options{})
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Fatalf("message %q lacks %q", err, c.text)
			}
		})
	}
}

func TestCheckpoint_Threshold(t *testing.T) {
	f := newFixture(t, "Test consortium")
	tr, err := verify.TrustGenesis(f.g, f.consortium())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Threshold != 2 { // 2/3 of 3 founders
		t.Fatalf("default threshold %d, want 2", tr.Threshold)
	}
	two := f.note(f.checkpoint(), "alpha", "gamma")
	if _, s, err := tr.VerifyCheckpoint(two, 0); err != nil || len(s) != 2 {
		t.Fatalf("two of three: %v %v", s, err)
	}
	if _, _, err := tr.VerifyCheckpoint(two, 3); !errors.Is(err, verify.ErrThreshold) {
		t.Fatalf("demanding three: %v", err)
	}
	// A signature by a key nobody trusts is ignored, not counted.
	n, _ := verify.ParseNote(f.note(f.checkpoint(), "alpha"))
	stranger, _ := verify.SignNote(n.Text, verify.Origin(f.consortium()), "beta", ledgertest.Key("mallory", ledger.SchemeEd25519))
	n.Add(stranger)
	if _, s, err := tr.VerifyCheckpoint(n.String(), 0); !errors.Is(err, verify.ErrThreshold) || len(s) != 1 {
		t.Fatalf("stranger's signature counted: %v %v", s, err)
	}
}

// TestSplitView: a node that shows a forked journal to some members can
// sign the fork itself, but the honest members' nodes cosign only their own
// journal, so the fork never reaches the threshold and a client that
// checks cosignatures detects it.
func TestSplitView_ForkNeverReachesThreshold(t *testing.T) {
	honest := newFixture(t, "Test consortium")
	fork := newFixture(t, "Test consortium")
	fork.accept("alpha", "grant.suspend", "suspend-g-1", ledger.GrantRef{Grant: "g-1"})
	fork.sync()
	honestCp, forkCp := honest.checkpoint(), fork.checkpoint()
	// The forked checkpoint, seen by beta and gamma, is one they would not
	// sign: at its size their journal has another root.
	if forkCp.Size <= honestCp.Size {
		honest.accept("beta", "token.register", "tok-beta-2", ledger.TokenRegister{Hash: ledger.HashToken("another-secret-of-beta-0123456789"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)})
		honest.sync()
		honestCp = honest.checkpoint()
	}
	if honestCp.Size == forkCp.Size && honestCp.Root == forkCp.Root {
		t.Fatal("the fork did not fork")
	}
	tr, _ := verify.TrustGenesis(honest.g, honest.consortium())
	// alpha serves the fork with its own signature only.
	if _, _, err := tr.VerifyCheckpoint(fork.note(forkCp, "alpha"), 0); !errors.Is(err, verify.ErrThreshold) {
		t.Fatalf("fork accepted: %v", err)
	}
	// The honest journal carries everyone's.
	if _, _, err := tr.VerifyCheckpoint(honest.note(honestCp, all3...), 0); err != nil {
		t.Fatal(err)
	}
	// Splicing an honest cosignature onto the fork fails verification.
	hn, _ := verify.ParseNote(honest.note(honestCp, "beta"))
	fn, _ := verify.ParseNote(fork.note(forkCp, "alpha"))
	fn.Add(hn.Sigs...)
	if _, _, err := tr.VerifyCheckpoint(fn.String(), 0); !errors.Is(err, verify.ErrSignature) {
		t.Fatalf("spliced cosignature: %v", err)
	}
}

func TestCheckProof_ReDerivesDecision(t *testing.T) {
	f := newFixture(t, "Test consortium")
	p := f.checkProof(all3, "reg-model-a", "offer-g-1", "accept-g-1")
	if !p.Decision.Allowed {
		t.Fatalf("fixture decision: %+v", p.Decision)
	}
	v, err := p.Verify(f.consortium(), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Entries != 4 || v.Checkpoint.Size != uint64(len(f.entries)) {
		t.Fatalf("verified %+v", v)
	}
}

func TestCheckProof_TamperingIsRejected(t *testing.T) {
	f := newFixture(t, "Test consortium")
	good := f.checkProof(all3, "reg-model-a", "offer-g-1", "accept-g-1")
	cases := []struct {
		name   string
		mutate func(p *verify.CheckProof)
		want   error
		text   string
	}{
		{"claimed the opposite decision", func(p *verify.CheckProof) { p.Decision.Allowed = false }, verify.ErrReplay, "the proof claims allowed=false"},
		{"left out the acceptance", func(p *verify.CheckProof) { p.Entries = p.Entries[:3] }, verify.ErrReplay, "the entries give allowed=false"},
		{"left out the offer", func(p *verify.CheckProof) { p.Entries = append(p.Entries[:2], p.Entries[3]) }, verify.ErrReplay, "replays as"},
		{"reordered entries", func(p *verify.CheckProof) { p.Entries[2], p.Entries[3] = p.Entries[3], p.Entries[2] }, verify.ErrMalformed, "journal order"},
		{"no genesis entry", func(p *verify.CheckProof) { p.Entries = p.Entries[1:] }, verify.ErrMalformed, "entry 0"},
		{"flipped byte in an entry", func(p *verify.CheckProof) { p.Entries[2].Entry.Envelope[20] ^= 1 }, verify.ErrEntry, ""},
		{"too few cosignatures", func(p *verify.CheckProof) { p.Checkpoint = f.note(f.checkpoint(), "gamma") }, verify.ErrThreshold, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := clone(t, good)
			c.mutate(p)
			_, err := p.Verify(f.consortium(), verify.Options{})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v, want %v containing %q", err, c.want, c.text)
			}
		})
	}
}

func TestCertificate(t *testing.T) {
	f := newFixture(t, "Test consortium")
	var g *ledger.Grant
	f.l.View(func(v *ledger.View) error { g, _ = v.Grant("g-1"); return nil })
	issued := t0.Add(time.Hour)
	body := verify.CertificateBody{Grant: *g, Licensee: "beta", IssuedAt: issued, ExpiresAt: issued.Add(720 * time.Hour),
		Evidence: f.evidence(all3, "reg-model-a", "offer-g-1", "accept-g-1")}
	cert, err := verify.IssueCertificate(body, ledgertest.Signer("beta", schemes["beta"]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(f.consortium(), issued.Add(24*time.Hour), verify.Options{}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mutate func(c *verify.Certificate)
		at     time.Time
		want   error
	}{
		{"past its TTL", func(*verify.Certificate) {}, issued.Add(721 * time.Hour), verify.ErrExpired},
		{"before issue", func(*verify.Certificate) {}, issued.Add(-time.Minute), verify.ErrExpired},
		{"TTL stretched", func(c *verify.Certificate) { c.ExpiresAt = c.ExpiresAt.Add(time.Hour) }, issued.Add(time.Hour), verify.ErrSignature},
		{"rights widened", func(c *verify.Certificate) { c.Grant.Terms.Rights = append(c.Grant.Terms.Rights, ledger.Right("use")) }, issued.Add(time.Hour), verify.ErrReplay},
		{"signed by the licensor", func(c *verify.Certificate) {
			s := ledgertest.Signer("alpha", schemes["alpha"])
			x, _ := verify.IssueCertificate(c.CertificateBody, s)
			*c = *x
		}, issued.Add(time.Hour), verify.ErrSignature},
		{"another licensee", func(c *verify.Certificate) {
			c.Licensee = "gamma"
			x, _ := verify.IssueCertificate(c.CertificateBody, ledgertest.Signer("gamma", schemes["gamma"]))
			*c = *x
		}, issued.Add(time.Hour), verify.ErrReplay},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := clone(t, cert)
			c.mutate(x)
			if _, err := x.Verify(f.consortium(), c.at, verify.Options{}); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestNote_RoundTripAndKeyIDs(t *testing.T) {
	f := newFixture(t, "Test consortium")
	s := f.note(f.checkpoint(), all3...)
	n, err := verify.ParseNote(s)
	if err != nil {
		t.Fatal(err)
	}
	if n.String() != s || len(n.Sigs) != 7 { // two per Ed25519 key, three for gamma's composite
		t.Fatalf("round trip: %q", n.String())
	}
	cp, err := verify.ParseCheckpoint(n.Text)
	if err != nil || cp.Body() != n.Text || cp.Consortium() != f.consortium() {
		t.Fatalf("checkpoint %+v %v", cp, err)
	}
	// Legacy signatures: Ed25519 keys use the signed-note type 0x01, others 0xff "charta/<scheme>".
	if got := verify.SignatureType(ledger.SchemeEd25519); len(got) != 1 || got[0] != 1 {
		t.Fatalf("ed25519 type %x", got)
	}
	if got := string(verify.SignatureType(ledger.SchemeComposite)); got != "\xffcharta/ml-dsa-65+ed25519" {
		t.Fatalf("composite type %q", got)
	}
	for _, bad := range []string{"", "x\n", "a\n1\nAAAA\n\n— name AAAA\n", "a\n1\n\n— na me AAAAAAAA\n", "a\x01\n\n"} {
		if n, err := verify.ParseNote(bad); err == nil {
			if _, err := verify.ParseCheckpoint(n.Text); err == nil && len(n.Sigs) > 0 {
				t.Errorf("%q parsed", bad)
			}
		}
	}
}
