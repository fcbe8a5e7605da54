package verify_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
	"github.com/charta/charta/ledger/verify"
)

const markerLaw = "Law-of-Marker-Q9Z"

// confidentialTerms are g-c's sealed terms: GPU hours with a hard cap of
// 100 a month, and a governing law no public field holds.
func confidentialTerms() ledger.ConfidentialTerms {
	return ledger.ConfidentialTerms{
		Usage: &ledger.UsageTerms{Period: ledger.PeriodMonth, GraceDays: 7, Metrics: []ledger.UsageMetric{{
			Name: "gpu_hours", Unit: "hour", HardCap: 100,
			Pricing: ledger.Pricing{Model: "graduated", Currency: "EUR", Tiers: []ledger.Tier{{UnitMicros: 1_000_000}}},
		}}},
		Clauses: ledger.Clauses{GoverningLaw: markerLaw},
	}
}

// partyKey is member's test encryption key.
func partyKey(t testing.TB, member string) *seal.PrivateKey {
	t.Helper()
	k, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed(member))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sealFor seals plaintext to alpha and beta under binding kind/id.
func (f *fixture) sealFor(plaintext []byte, kind, id string) *ledger.Confidential {
	f.t.Helper()
	var rs []seal.Recipient
	for _, m := range []string{"alpha", "beta"} {
		pk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey(m))
		if err != nil {
			f.t.Fatal(err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	s, _, err := seal.Seal(plaintext, rs, seal.Binding{Consortium: f.consortium(), Kind: kind, ID: id})
	if err != nil {
		f.t.Fatal(err)
	}
	return &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}
}

// report makes beta report gpu_hours of g-c in January 2026, sealed.
func (f *fixture) report(id string, hours int64) {
	f.t.Helper()
	su := ledger.SealedUsage{Metrics: []ledger.MetricQuantity{{Metric: "gpu_hours", Quantity: hours}}}
	f.accept("beta", "usage.report", "report-"+id, ledger.UsageReportBody{Grant: "g-c", ReportID: id, Period: "2026-01",
		Window:       ledger.Window{Start: t0.Add(2 * time.Minute), End: t0.Add(50 * time.Minute)},
		Confidential: f.sealFor(su.Canonical(), ledger.SealedUsageKind, ledger.SealedUsageID("g-c", id))})
}

// newConfidentialFixture is a journal in which alpha, beta and gamma have
// encryption keys, alpha grants beta model-a under confidential terms
// (g-c), beta accepts, and beta reports 40 and 30 GPU hours in sealed
// usage reports, between unrelated entries.
func newConfidentialFixture(t testing.TB) *fixture {
	t.Helper()
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: "Confidential consortium", CreatedAt: t0, Charter: ledgertest.StampedCharter()}
	for _, m := range []string{"alpha", "beta", "gamma"} {
		ek := ledgertest.EncryptionKey(m)
		g.Members = append(g.Members, ledger.GenesisMember{ID: m, Role: ledger.RoleMember,
			Keys: []ledger.PublicKey{ledgertest.Key(m, schemes[m]).Public()}, EncryptionKey: &ek})
	}
	for _, m := range g.Members {
		if err := g.Sign(ledgertest.Signer(m.ID, schemes[m.ID])); err != nil {
			t.Fatal(err)
		}
	}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fixture{t: t, g: g, l: l, now: t0.Add(time.Minute)}
	f.accept("alpha", "asset.register", "reg-model-a", ledger.AssetRegister{ID: "model-a", Kind: ledger.AssetModel, Digest: digestA,
		Owners: []ledger.Owner{{Member: "alpha", ShareBP: 10000}}})
	ct := confidentialTerms()
	c := f.sealFor(ct.Canonical(), ledger.ConfidentialKind, "g-c")
	f.accept("alpha", "grant.offer", "offer-g-c", ledger.GrantOffer{ID: "g-c", Licensors: []string{"alpha"}, Licensees: []string{"beta"},
		Terms: ledger.Terms{Assets: []string{"model-a"}, Rights: []ledger.Right{ledger.RightUse}}, Confidential: c})
	f.accept("gamma", "token.register", "tok-gamma", ledger.TokenRegister{Hash: ledger.HashToken("secret-of-gamma-0123456789abcdef"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)})
	commitment := c.Commitment
	f.accept("beta", "grant.accept", "accept-g-c", ledger.GrantAccept{Grant: "g-c", Commitment: &commitment})
	f.now = t0.Add(time.Hour)
	f.report("r1", 40)
	f.accept("alpha", "token.register", "tok-alpha", ledger.TokenRegister{Hash: ledger.HashToken("secret-of-alpha-0123456789abcdef"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)})
	f.report("r2", 30)
	f.sync()
	return f
}

// proveAs is the proof a node gives of req: the decision and its
// evidence, traced on a replay of the journal, as a party's node makes
// them when member's key opens (node.proofView), or as any other node
// makes them when member is "".
func (f *fixture) proveAs(member string, req ledger.CheckRequest) *verify.CheckProof {
	f.t.Helper()
	view := func(v *ledger.View) ledger.CheckView {
		if member == "" {
			return v
		}
		return ledger.WithOpened(v, seal.NewParty(v, member, partyKey(f.t, member)))
	}
	var d ledger.Decision
	f.l.View(func(v *ledger.View) error {
		var err error
		d, err = ledger.Check(view(v), req)
		return err
	})
	tr, err := verify.Trace(f.t.TempDir(), f.g, verify.Entries(f.entries))
	if err != nil {
		f.t.Fatal(err)
	}
	defer tr.Close()
	seqs, err := tr.Dependencies(func(v *ledger.View) error { _, err := ledger.Check(view(v), req); return err })
	if err != nil {
		f.t.Fatal(err)
	}
	ev := verify.Evidence{Genesis: json.RawMessage(f.entries[0].Envelope), Checkpoint: f.note(f.checkpoint(), all3...)}
	for _, s := range seqs {
		ev.Entries = append(ev.Entries, f.proven(s))
	}
	return &verify.CheckProof{Format: verify.CheckProofFormat, Request: req, Decision: d, Evidence: ev}
}

func (f *fixture) ids(cp *verify.CheckProof) []string {
	var out []string
	for _, e := range cp.Entries[1:] {
		out = append(out, e.Entry.Outcome.ID)
	}
	return out
}

var useReq = ledger.CheckRequest{Member: "beta", Asset: "model-a", Action: ledger.RightUse, At: t0.Add(2 * time.Hour)}

func key(member string, k *seal.PrivateKey) *verify.RecipientKey {
	return &verify.RecipientKey{Member: member, Keys: []*seal.PrivateKey{k}}
}

// TestCheckProof_ConfidentialGrantVerifiesWithAPartysKey: beta's node
// allows the use with 30 of the 100 sealed GPU hours left; its proof
// carries the sealed reports the total rests on, and verifies with
// either party's key, and with nothing else.
func TestCheckProof_ConfidentialGrantVerifiesWithAPartysKey(t *testing.T) {
	f := newConfidentialFixture(t)
	p := f.proveAs("beta", useReq)
	d := p.Decision
	if !d.Allowed || d.Basis != "grant" || len(d.Sealed) != 0 || len(d.Caps) != 1 || d.Caps[0].Used != 70 || d.Caps[0].Remaining != 30 {
		t.Fatalf("party's decision: %+v", d)
	}
	if got, want := f.ids(p), []string{"reg-model-a", "offer-g-c", "accept-g-c", "report-r1", "report-r2"}; !slices.Equal(got, want) {
		t.Fatalf("evidence %v, want %v", got, want)
	}
	for _, m := range []string{"beta", "alpha"} {
		v, err := roundTrip(t, p).Verify(f.consortium(), verify.Options{Key: key(m, partyKey(t, m))})
		if err != nil {
			t.Fatalf("with %s's key: %v", m, err)
		}
		if !slices.Equal(v.Opened, []string{"g-c"}) || v.Entries != 6 {
			t.Fatalf("with %s's key: %+v", m, v)
		}
	}

	_, err := p.Verify(f.consortium(), verify.Options{})
	if !errors.Is(err, verify.ErrSealed) || errors.Is(err, verify.ErrReplay) {
		t.Fatalf("without a key: %v", err)
	}
	for _, want := range []string{"confidential grant g-c", "sealed to its parties (alpha, beta)", "--key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("without a key: %q lacks %q", err, want)
		}
	}

	_, err = p.Verify(f.consortium(), verify.Options{Key: key("gamma", partyKey(t, "gamma"))})
	if !errors.Is(err, verify.ErrSealed) || !errors.Is(err, seal.ErrNotRecipient) || !strings.Contains(err.Error(), "gamma is not a recipient of grant g-c") {
		t.Fatalf("with gamma's key: %v", err)
	}
	// beta's member ID with a key that is not the one g-c is sealed to
	// (a wrong key file) does not open it either.
	_, err = p.Verify(f.consortium(), verify.Options{Key: key("beta", partyKey(t, "gamma"))})
	if !errors.Is(err, verify.ErrSealed) || !errors.Is(err, seal.ErrNotRecipient) || !strings.Contains(err.Error(), "none of the 1 key(s) given") {
		t.Fatalf("with another key as beta: %v", err)
	}
}

// TestCheckProof_ConfidentialHardCapDenial: at the hard cap, beta's
// node denies the use, and the denial verifies with a party's key.
func TestCheckProof_ConfidentialHardCapDenial(t *testing.T) {
	f := newConfidentialFixture(t)
	f.report("r3", 30)
	f.sync()
	p := f.proveAs("beta", useReq)
	if p.Decision.Allowed || !strings.Contains(p.Decision.Reason, "hard cap of 100 hour of gpu_hours") {
		t.Fatalf("party's decision: %+v", p.Decision)
	}
	if _, err := p.Verify(f.consortium(), verify.Options{Key: key("alpha", partyKey(t, "alpha"))}); err != nil {
		t.Fatal(err)
	}
	// Without r3 the cap is not reached: a proof that leaves it out
	// does not verify.
	short := clone(t, p)
	short.Entries = slices.DeleteFunc(short.Entries, func(e verify.ProvenEntry) bool { return e.Entry.Outcome.ID == "report-r3" })
	if len(short.Entries) != len(p.Entries)-1 {
		t.Fatalf("r3 is not in the evidence: %v", f.ids(p))
	}
	_, err := short.Verify(f.consortium(), verify.Options{Key: key("alpha", partyKey(t, "alpha"))})
	if !errors.Is(err, verify.ErrReplay) || !strings.Contains(err.Error(), "the entries give allowed=true") {
		t.Fatalf("without r3: %v", err)
	}
}

// TestCheckProof_ConfidentialTamperingIsRejected: with a party's key, a
// proof whose sealed reports or claimed caps were changed fails as a
// tampered proof does, not as a sealed one.
func TestCheckProof_ConfidentialTamperingIsRejected(t *testing.T) {
	f := newConfidentialFixture(t)
	good := f.proveAs("beta", useReq)
	at := func(p *verify.CheckProof, id string) *verify.ProvenEntry {
		for i := range p.Entries {
			if p.Entries[i].Entry.Outcome.ID == id {
				return &p.Entries[i]
			}
		}
		t.Fatalf("no entry %s", id)
		return nil
	}
	cases := []struct {
		name   string
		mutate func(p *verify.CheckProof)
		want   error
		text   string
	}{
		{"flipped byte in a sealed report's ciphertext", func(p *verify.CheckProof) {
			e := &at(p, "report-r2").Entry
			i := strings.Index(string(e.Envelope), "ciphertext")
			e.Envelope[i+40] ^= 1
		}, verify.ErrEntry, ""},
		{"left out a sealed report", func(p *verify.CheckProof) {
			p.Entries = slices.DeleteFunc(p.Entries, func(e verify.ProvenEntry) bool { return e.Entry.Outcome.ID == "report-r1" })
		}, verify.ErrReplay, "with the terms and sealed usage beta's key opens"},
		{"claimed fewer hours used", func(p *verify.CheckProof) { p.Decision.Caps[0].Used, p.Decision.Caps[0].Remaining = 40, 60 }, verify.ErrReplay, "; they differ in caps"},
		{"claimed a denial", func(p *verify.CheckProof) { p.Decision.Allowed = false }, verify.ErrReplay, "the proof claims allowed=false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := clone(t, good)
			c.mutate(p)
			_, err := p.Verify(f.consortium(), verify.Options{Key: key("beta", partyKey(t, "beta"))})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v, want %v containing %q", err, c.want, c.text)
			}
		})
	}
}

// TestCheckProof_NonPartyAnswerNeedsNoKey: a node that is not a party
// answers "confidential"; its proof verifies without a key, and with a
// party's key too, since it claims only what the public terms say.
func TestCheckProof_NonPartyAnswerNeedsNoKey(t *testing.T) {
	f := newConfidentialFixture(t)
	p := f.proveAs("", useReq)
	if p.Decision.Allowed || p.Decision.Basis != "confidential" || !slices.Equal(p.Decision.Sealed, []string{"g-c"}) {
		t.Fatalf("non-party decision: %+v", p.Decision)
	}
	if slices.Contains(f.ids(p), "report-r1") {
		t.Errorf("the non-party proof carries sealed reports: %v", f.ids(p))
	}
	for _, o := range []verify.Options{{}, {Key: key("beta", partyKey(t, "beta"))}} {
		v, err := p.Verify(f.consortium(), o)
		if err != nil || len(v.Opened) != 0 {
			t.Fatalf("key %v: %+v %v", o.Key != nil, v, err)
		}
	}
}

// TestCertificate_ConfidentialGrant: a certificate of g-c carries the
// sealed part as the ledger holds it. It verifies without a key, which
// shows the commitment only; a party's key opens the terms, and gamma's
// does not.
func TestCertificate_ConfidentialGrant(t *testing.T) {
	f := newConfidentialFixture(t)
	var g *ledger.Grant
	f.l.View(func(v *ledger.View) error { g, _ = v.Grant("g-c"); return nil })
	if g.Confidential == nil || g.Confidential.Sealed == nil {
		t.Fatalf("grant %+v", g)
	}
	tr, err := verify.Trace(t.TempDir(), f.g, verify.Entries(f.entries))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	seqs, err := tr.Dependencies(verify.CertificateQuestion("g-c", "beta"))
	if err != nil {
		t.Fatal(err)
	}
	ev := verify.Evidence{Genesis: json.RawMessage(f.entries[0].Envelope), Checkpoint: f.note(f.checkpoint(), all3...)}
	for _, s := range seqs {
		ev.Entries = append(ev.Entries, f.proven(s))
	}
	issued := t0.Add(2 * time.Hour)
	cert, err := verify.IssueCertificate(verify.CertificateBody{Grant: *g, Licensee: "beta", IssuedAt: issued, ExpiresAt: issued.Add(time.Hour), Evidence: ev},
		ledgertest.Signer("beta", schemes["beta"]))
	if err != nil {
		t.Fatal(err)
	}
	cert = roundTrip(t, cert)
	now := issued.Add(time.Minute)

	v, err := cert.Verify(f.consortium(), now, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := v.Confidential
	if c == nil || c.Commitment != g.Confidential.Commitment || !slices.Equal(c.Parties, []string{"alpha", "beta"}) || c.Terms != nil {
		t.Fatalf("without a key: %+v", c)
	}

	v, err = cert.Verify(f.consortium(), now, verify.Options{Key: key("alpha", partyKey(t, "alpha"))})
	if err != nil {
		t.Fatal(err)
	}
	c = v.Confidential
	want := confidentialTerms()
	if c == nil || c.OpenedBy != "alpha" || c.Terms == nil || c.Terms.Clauses.GoverningLaw != markerLaw ||
		c.Terms.Usage == nil || c.Terms.Usage.Metrics[0].HardCap != 100 || c.Terms.Digest() != want.Digest() {
		t.Fatalf("with alpha's key: %+v", c)
	}

	_, err = cert.Verify(f.consortium(), now, verify.Options{Key: key("gamma", partyKey(t, "gamma"))})
	if !errors.Is(err, verify.ErrSealed) || !errors.Is(err, seal.ErrNotRecipient) {
		t.Fatalf("with gamma's key: %v", err)
	}

	// A certificate that leaves out the sealed part states another grant
	// than the ledger holds.
	bare := cert.CertificateBody
	bare.Grant.Confidential = nil
	x, err := verify.IssueCertificate(bare, ledgertest.Signer("beta", schemes["beta"]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Verify(f.consortium(), now, verify.Options{}); !errors.Is(err, verify.ErrReplay) {
		t.Fatalf("without the sealed part: %v", err)
	}
	// A sealed part swapped for another commitment does not rebuild.
	swapped := cert.CertificateBody
	other := *g.Confidential
	other.Commitment[0] ^= 1
	swapped.Grant.Confidential = &other
	if x, err = verify.IssueCertificate(swapped, ledgertest.Signer("beta", schemes["beta"])); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Verify(f.consortium(), now, verify.Options{Key: key("beta", partyKey(t, "beta"))}); !errors.Is(err, verify.ErrReplay) {
		t.Fatalf("with another commitment: %v", err)
	}
}
