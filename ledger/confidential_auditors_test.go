package ledger_test

import (
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
)

// auditedFixture is a consortium whose charter names the auditor "audit"
// as a seal auditor; every founder has an encryption key.
func auditedFixture(t testing.TB) *fixture {
	t.Helper()
	c := ledgertest.StampedCharter()
	c.SealAuditors = []string{"audit"}
	g := testGenesisCharter(t, c)
	g.Signatures = nil
	for i, m := range g.Members {
		k := ledgertest.EncryptionKey(m.ID)
		g.Members[i].EncryptionKey = &k
	}
	for _, m := range g.Members {
		if err := g.Sign(ledgertest.Signer(m.ID, scheme)); err != nil {
			t.Fatal(err)
		}
	}
	f := newFixtureGenesis(t, g)
	f.register("alpha", "model-x")
	return f
}

func TestSealAuditors_AreRecipientsOfEverySealedPart(t *testing.T) {
	f := auditedFixture(t)
	ct := cappedTerms()

	// Sealed to the parties alone: the charter's auditor is missing.
	o := offer("g-c", "alpha", "beta", "model-x", []ledger.Right{"use"}, research)
	o.Confidential = sealTo(t, f, "g-c", ct, []string{"alpha", "beta"}, nil)
	if r := f.reject(ledger.CodeInvalid, "alpha", "grant.offer", o); !strings.Contains(r.Outcome.Message, "seal auditors [alpha audit beta]") {
		t.Fatalf("offer without the auditor: %s", r.Outcome.Message)
	}
	o.Confidential = sealTo(t, f, "g-c", ct, []string{"alpha", "audit", "beta"}, nil)
	f.accept("alpha", "grant.offer", o)
	c := o.Confidential.Commitment
	f.accept("beta", "grant.accept", ledger.GrantAccept{Grant: "g-c", Commitment: &c})
	f.now = t0.Add(time.Hour)

	// The auditor opens the terms; gamma does not.
	var g *ledger.Grant
	f.view(func(v *ledger.View) {
		g, _ = v.Grant("g-c")
		if got := v.SealRecipients(g); strings.Join(got, ",") != "alpha,audit,beta" {
			t.Fatalf("recipients %v", got)
		}
	})
	for _, m := range []string{"audit", "gamma"} {
		k, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed(m))
		if err != nil {
			t.Fatal(err)
		}
		_, err = seal.OpenGrant(g, f.g.ID(), m, k)
		if (m == "audit") != (err == nil) {
			t.Fatalf("%s opening the terms: %v", m, err)
		}
	}

	// A usage report is sealed to the auditor too.
	r := sealedReport(t, f, "r1", "r1", mq("gpu_hours", 5))
	if res := f.reject(ledger.CodeInvalid, "beta", "usage.report", r); !strings.Contains(res.Outcome.Message, "seal auditors") {
		t.Fatalf("report without the auditor: %s", res.Outcome.Message)
	}
}

func TestSealAuditors_CharterNamesOnlyAuditorsWithKeys(t *testing.T) {
	c := ledgertest.StampedCharter()
	c.SealAuditors = []string{"audit"}
	g := testGenesisCharter(t, c) // no encryption keys
	if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "seal_auditors") {
		t.Fatalf("genesis naming an auditor without a key: %v", err)
	}
	c.SealAuditors = []string{"beta"}
	g = testGenesisCharter(t, c)
	if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "role auditor") {
		t.Fatalf("genesis naming a member: %v", err)
	}
	c.SealAuditors = []string{"b", "a"}
	if err := c.Validate(); err == nil {
		t.Fatal("unsorted seal auditors accepted")
	}
}

func TestSealAuditors_NamedByCharterAmend(t *testing.T) {
	f := confidentialFixture(t) // alpha, beta and gamma have keys; audit has none
	var c ledger.Charter
	f.view(func(v *ledger.View) { c = v.Charter() })
	c.SealAuditors = []string{"beta"}
	r := f.reject(ledger.CodeInvalid, "alpha", "ballot.open", map[string]any{"id": "c-1", "action": "charter.amend", "deadline": f.now.Add(24 * time.Hour), "params": map[string]any{"charter": c}})
	if !strings.Contains(r.Outcome.Message, "must be an active auditor with an encryption key") {
		t.Fatalf("naming a member: %s", r.Outcome.Message)
	}
	c.SealAuditors = []string{"audit"}
	f.reject(ledger.CodeInvalid, "alpha", "ballot.open", map[string]any{"id": "c-2", "action": "charter.amend", "deadline": f.now.Add(24 * time.Hour), "params": map[string]any{"charter": c}})

	k := ledgertest.EncryptionKey("audit")
	f.accept("audit", "key.encryption.rotate", map[string]any{"new": k})
	f.amendCharter("c-3", func(c *ledger.Charter) { c.SealAuditors = []string{"audit"} })
	var g ledger.Charter
	f.view(func(v *ledger.View) { g = v.Charter() })
	if len(g.SealAuditors) != 1 || g.SealAuditors[0] != "audit" {
		t.Fatalf("charter after the amendment: %+v", g)
	}
	// From now on an offer is sealed to the auditor too.
	o := offer("g-c", "alpha", "beta", "model-x", []ledger.Right{"use"}, research)
	o.Confidential = sealTo(t, f, "g-c", markerTerms(), []string{"alpha", "beta"}, nil)
	f.reject(ledger.CodeInvalid, "alpha", "grant.offer", o)
	o.Confidential = sealTo(t, f, "g-c", markerTerms(), []string{"alpha", "audit", "beta"}, nil)
	f.accept("alpha", "grant.offer", o)
}

func TestSealAuditors_ARemovedAuditorIsNoLongerSealedTo(t *testing.T) {
	f := auditedFixture(t)
	f.accept("alpha", "ballot.open", map[string]any{"id": "rm-audit", "action": "member.remove", "deadline": f.now.Add(24 * time.Hour),
		"params": map[string]any{"member": "audit", "licensor_grants": "end"}})
	f.accept("beta", "ballot.vote", map[string]any{"ballot": "rm-audit", "approve": true})
	var auditors []string
	f.view(func(v *ledger.View) { auditors = v.SealAuditors() })
	if len(auditors) != 0 {
		t.Fatalf("seal auditors after the removal: %v", auditors)
	}
	o := offer("g-c", "alpha", "beta", "model-x", []ledger.Right{"use"}, research)
	o.Confidential = sealTo(t, f, "g-c", markerTerms(), []string{"alpha", "beta"}, nil)
	f.accept("alpha", "grant.offer", o)
}
