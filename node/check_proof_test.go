package node

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
	"github.com/charta/charta/node/client"
)

// TestCheck_ProofOfABundleGrantVerifies is a regression test: a grant
// activated through a bundle rests on the registration of every asset
// of the bundle, since the bundle's offer checked them all. The proof
// left out data-g's, the other grant's asset, and did not verify.
func TestCheck_ProofOfABundleGrantVerifies(t *testing.T) {
	c := newCluster(t)
	a := c.nodes["alpha"]
	var p verify.CheckProof
	a.get("/v1/check?member=gamma&asset=model-a&action=evaluate&proof=true", "gamma").json(t, &p)
	if !p.Decision.Allowed || len(p.Decision.Chain) != 1 || p.Decision.Chain[0] != "g-ag" {
		t.Fatalf("decision %+v", p.Decision)
	}
	if _, err := p.Verify(a.w.g.ID(), verify.Options{Threshold: 3}); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range p.Entries {
		ids[e.Entry.Outcome.ID] = true
	}
	for _, want := range []string{"reg-model-a", "reg-data-g", "bundle-ag"} {
		if !ids[want] {
			t.Errorf("the proof lacks entry %s: %v", want, ids)
		}
	}
	// g-ab, over model-a too, is not unrelated: the bundle's exclusivity
	// check read it.
	for _, unrelated := range []string{"tok-alpha", "tok-gamma", "reg-model-b", "ballot-1"} {
		if ids[unrelated] {
			t.Errorf("the proof holds unrelated entry %s", unrelated)
		}
	}
}

// TestGrantCertificate_BundleGrantVerifies issues a certificate of a
// grant activated through a bundle, which failed as the proof did.
func TestGrantCertificate_BundleGrantVerifies(t *testing.T) {
	c := newCluster(t)
	a := c.nodes["alpha"]
	now := t0.Add(3 * time.Hour)
	cl, err := client.New(a.ts.URL, client.WithToken(secret("gamma")), client.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := cl.GrantCertificate(context.Background(), "g-ag", ledgertest.Signer("gamma", scheme), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(a.w.g.ID(), now.Add(time.Minute), verify.Options{Threshold: 3}); err != nil {
		t.Fatal(err)
	}
}

func TestGrantEvidence_BadInput(t *testing.T) {
	ts := newTestServer(t)
	ts.get("/v1/grants/g-ag/evidence", "gamma").problem(t, http.StatusBadRequest, "invalid")
	ts.get("/v1/grants/g-ag/evidence?licensee=alpha", "gamma").problem(t, http.StatusBadRequest, "invalid")
	ts.get("/v1/grants/g-ag/evidence?licensee=gamma", "beta").problem(t, http.StatusNotFound, "not_found")
	ts.get("/v1/grants/g-none/evidence?licensee=gamma", "gamma").problem(t, http.StatusNotFound, "not_found")
}
