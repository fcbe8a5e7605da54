package ledger_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
)

// markerTerms are sealed terms with values no public field holds.
func markerTerms() ledger.ConfidentialTerms {
	return ledger.ConfidentialTerms{
		Usage:   gpuTerms("graduated"),
		Clauses: ledger.Clauses{GoverningLaw: "Law-of-Marker-Q9Z", Liability: "capped at fees paid"},
	}
}

// sealTo seals ct for grant id to members, each under the test encryption
// key of the member named by keyOf (itself when keyOf has no entry).
func sealTo(t testing.TB, f *fixture, id string, ct ledger.ConfidentialTerms, members []string, keyOf map[string]string) *ledger.Confidential {
	t.Helper()
	var rs []seal.Recipient
	for _, m := range members {
		owner := m
		if o, ok := keyOf[m]; ok {
			owner = o
		}
		pk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey(owner))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	pt, err := json.Marshal(ct)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := seal.Seal(pt, rs, seal.Binding{Consortium: f.g.ID(), Kind: ledger.ConfidentialKind, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}
}

// confidentialFixture has alpha, beta and gamma with encryption keys and
// model-x owned by alpha.
func confidentialFixture(t testing.TB) *fixture {
	t.Helper()
	f := newFixtureGenesis(t, encGenesis(t, "alpha", "beta", "gamma"))
	f.register("alpha", "model-x")
	return f
}

// confidentialOffer is g-c from alpha to beta with sealed markerTerms.
func confidentialOffer(t testing.TB, f *fixture) ledger.GrantOffer {
	t.Helper()
	o := offer("g-c", "alpha", "beta", "model-x", []ledger.Right{"use"}, research)
	o.Confidential = sealTo(t, f, "g-c", markerTerms(), []string{"alpha", "beta"}, nil)
	return o
}

func TestConfidentialGrant_OfferOpenAccept(t *testing.T) {
	f := confidentialFixture(t)
	o := confidentialOffer(t, f)
	f.accept("alpha", "grant.offer", o)

	var g *ledger.Grant
	f.view(func(v *ledger.View) { g, _ = v.Grant("g-c") })
	if g.Confidential == nil || g.Confidential.Commitment != o.Confidential.Commitment || g.Terms.Usage != nil {
		t.Fatalf("stored grant: %+v", g)
	}
	// beta opens what the ledger holds, with the binding of the grant.
	k, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed("beta"))
	if err != nil {
		t.Fatal(err)
	}
	pt, _, err := seal.Open(seal.FromLedger(g.Confidential.Sealed), "beta", k, seal.Binding{Consortium: f.g.ID(), Kind: ledger.ConfidentialKind, ID: "g-c"})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := ledger.ParseConfidentialTerms(pt, &g.Terms)
	if err != nil {
		t.Fatal(err)
	}
	if ct.Clauses.GoverningLaw != "Law-of-Marker-Q9Z" || ct.Usage == nil || ct.Usage.Metrics[0].Name != "gpu_hours" {
		t.Fatalf("opened terms: %+v", ct)
	}

	wrong := ledger.Hash{1}
	r := f.reject(ledger.CodeRejected, "beta", "grant.accept", ledger.GrantAccept{Grant: "g-c"})
	if !strings.Contains(r.Outcome.Message, "must sign the commitment") {
		t.Fatalf("no commitment: %s", r.Outcome.Message)
	}
	r = f.reject(ledger.CodeRejected, "beta", "grant.accept", ledger.GrantAccept{Grant: "g-c", Commitment: &wrong})
	if !strings.Contains(r.Outcome.Message, "accepted other terms") {
		t.Fatalf("wrong commitment: %s", r.Outcome.Message)
	}
	c := o.Confidential.Commitment
	f.accept("beta", "grant.accept", ledger.GrantAccept{Grant: "g-c", Commitment: &c})
	f.view(func(v *ledger.View) { g, _ = v.Grant("g-c") })
	if g.Status != ledger.StatusActive {
		t.Fatalf("status %s", g.Status)
	}
	f.reject(ledger.CodeRejected, "alpha", "grant.amend", ledger.GrantAmend{Grant: "g-c", Terms: g.Terms}, "beta")
}

func TestConfidentialGrant_OfferRejections(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(t *testing.T, f *fixture, o *ledger.GrantOffer)
		code ledger.Code
		want string
	}{
		{"a recipient too many", func(t *testing.T, f *fixture, o *ledger.GrantOffer) {
			o.Confidential = sealTo(t, f, "g-c", markerTerms(), []string{"alpha", "beta", "gamma"}, nil)
		}, ledger.CodeInvalid, "exactly the grant's parties"},
		{"a party left out", func(t *testing.T, f *fixture, o *ledger.GrantOffer) {
			o.Confidential = sealTo(t, f, "g-c", markerTerms(), []string{"alpha"}, nil)
		}, ledger.CodeInvalid, "exactly the grant's parties"},
		{"a key that is not the member's current one", func(t *testing.T, f *fixture, o *ledger.GrantOffer) {
			o.Confidential = sealTo(t, f, "g-c", markerTerms(), []string{"alpha", "beta"}, map[string]string{"beta": "stale-beta"})
		}, ledger.CodeRejected, "is not the current encryption key of beta"},
		{"a commitment other than the sealed object's", func(t *testing.T, f *fixture, o *ledger.GrantOffer) {
			o.Confidential.Commitment[0] ^= 1
		}, ledger.CodeInvalid, "is not the sealed object's commitment"},
		{"a malformed sealed object", func(t *testing.T, f *fixture, o *ledger.GrantOffer) {
			o.Confidential.Sealed.Nonce = o.Confidential.Sealed.Nonce[:4]
		}, ledger.CodeInvalid, "sealed: nonce"},
		{"usage terms also public", func(t *testing.T, f *fixture, o *ledger.GrantOffer) {
			o.Terms.Usage = gpuTerms("graduated")
		}, ledger.CodeInvalid, "seals its usage terms"},
		{"a recorded clause also public", func(t *testing.T, f *fixture, o *ledger.GrantOffer) {
			o.Terms.Clauses.GoverningLaw = "DE"
		}, ledger.CodeInvalid, "seals every clause but data, export_control, outputs_owner and improvements_owner"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := confidentialFixture(t)
			o := confidentialOffer(t, f)
			c.mod(t, f, &o)
			r := f.reject(c.code, "alpha", "grant.offer", o)
			if !strings.Contains(r.Outcome.Message, c.want) {
				t.Fatalf("message %q does not say %q", r.Outcome.Message, c.want)
			}
			f.view(func(v *ledger.View) {
				if _, ok := v.Grant("g-c"); ok {
					t.Fatal("a rejected offer stored the grant")
				}
			})
		})
	}
}

// TestConfidentialGrant_PartyWithoutKey: a party with no encryption key
// cannot be sealed to, so the offer is refused with the remedy.
func TestConfidentialGrant_PartyWithoutKey(t *testing.T) {
	f := newFixtureGenesis(t, encGenesis(t, "alpha"))
	f.register("alpha", "model-x")
	o := offer("g-c", "alpha", "beta", "model-x", []ledger.Right{"use"}, research)
	o.Confidential = sealTo(t, f, "g-c", markerTerms(), []string{"alpha", "beta"}, nil)
	r := f.reject(ledger.CodeRejected, "alpha", "grant.offer", o)
	if !strings.Contains(r.Outcome.Message, "beta has no encryption key") {
		t.Fatal(r.Outcome.Message)
	}
}

func TestConfidentialGrant_NotInBundles(t *testing.T) {
	f := confidentialFixture(t)
	o := confidentialOffer(t, f)
	r := f.reject(ledger.CodeInvalid, "alpha", "bundle.offer", ledger.BundleOffer{
		ID: "b-1", Deadline: t2030, Grants: []ledger.GrantOffer{o},
	}, "beta")
	if !strings.Contains(r.Outcome.Message, "cannot carry confidential grants") {
		t.Fatal(r.Outcome.Message)
	}
}

// TestGrantAccept_NonConfidentialUnchanged: an ordinary acceptance is what
// it was, and one that names a commitment is refused.
func TestGrantAccept_NonConfidentialUnchanged(t *testing.T) {
	b, _ := json.Marshal(ledger.GrantAccept{Grant: "g-1"})
	if string(b) != `{"grant":"g-1"}` {
		t.Fatalf("acceptance encodes as %s", b)
	}
	b, _ = json.Marshal(offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"use"}, nil))
	if strings.Contains(string(b), "confidential") {
		t.Fatalf("ordinary offer encodes as %s", b)
	}
	f := newFixture(t)
	f.register("alpha", "model-x")
	f.accept("alpha", "grant.offer", offer("g-1", "alpha", "beta", "model-x", []ledger.Right{"use"}, research))
	c := ledger.Hash{7}
	f.reject(ledger.CodeInvalid, "beta", "grant.accept", ledger.GrantAccept{Grant: "g-1", Commitment: &c})
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-1"})
}

// TestConfidentialGrant_ReplayDeterministic: the same entries, sealed
// once, give the same state digest on two fresh ledgers.
func TestConfidentialGrant_ReplayDeterministic(t *testing.T) {
	g := encGenesis(t, "alpha", "beta", "gamma")
	a, b := newFixtureGenesis(t, g), newFixtureGenesis(t, g)
	o := confidentialOffer(t, a)
	c := o.Confidential.Commitment
	envs := [][]byte{
		a.envelope("alpha", "asset.register", "r-1", map[string]any{
			"id": "model-x", "kind": "model", "digest": digestA,
			"owners": []map[string]any{{"member": "alpha", "share_bp": 10000}},
		}),
		a.envelope("alpha", "grant.offer", "o-1", o),
		a.envelope("beta", "grant.accept", "a-1", ledger.GrantAccept{Grant: "g-c", Commitment: &c}),
	}
	for _, env := range envs {
		ra, rb := a.raw(env), b.raw(env)
		if ra.Outcome.Status != ledger.StatusAccepted || rb.Outcome.Status != ra.Outcome.Status {
			t.Fatalf("outcomes %+v / %+v", ra.Outcome, rb.Outcome)
		}
	}
	if a.digest() != b.digest() {
		t.Fatal("digests differ")
	}
}

// TestConfidentialTerms_OwnershipClausesStayPublic: who owns derived assets
// is enforced when one is registered, so outputs_owner and
// improvements_owner cannot be sealed, where every node would read them as
// unset (the licensee).
func TestConfidentialTerms_OwnershipClausesStayPublic(t *testing.T) {
	public := ledger.Terms{Assets: []string{"model-x"}, Rights: []ledger.Right{"use"}}
	for _, c := range []ledger.Clauses{{OutputsOwner: "joint"}, {ImprovementsOwner: "licensor"}} {
		pt, err := json.Marshal(ledger.ConfidentialTerms{Clauses: c})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ledger.ParseConfidentialTerms(pt, &public); err == nil || !strings.Contains(err.Error(), "outputs_owner and improvements_owner are enforced by every node") {
			t.Errorf("sealed %+v: %v", c, err)
		}
	}
	public.Clauses.OutputsOwner = "joint"
	merged := public.WithConfidential(&ledger.ConfidentialTerms{Clauses: ledger.Clauses{GoverningLaw: "DE"}})
	if merged.Clauses.OutputsOwner != "joint" || merged.Clauses.GoverningLaw != "DE" {
		t.Fatalf("merged clauses %+v", merged.Clauses)
	}
}
