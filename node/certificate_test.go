package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
	"github.com/charta/charta/node/client"
)

// TestGrantCertificate_VerifiesOffline issues a licence certificate through
// the client against a node whose checkpoints the three members cosign,
// and verifies it offline.
func TestGrantCertificate_VerifiesOffline(t *testing.T) {
	c := newCluster(t)
	a := c.nodes["alpha"]
	now := t0.Add(3 * time.Hour)
	cl, err := client.New(a.ts.URL, client.WithToken(secret("beta")), client.WithClock(func() time.Time { return now.Add(500 * time.Millisecond) }))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := cl.GrantCertificate(context.Background(), "g-ab", ledgertest.Signer("beta", scheme), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Grant.ID != "g-ab" || cert.Licensee != "beta" || !cert.IssuedAt.Equal(now) || !cert.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("certificate for %s to %s, %s to %s", cert.Grant.ID, cert.Licensee, cert.IssuedAt, cert.ExpiresAt)
	}
	if _, err := cert.Verify(a.w.g.ID(), now.Add(30*time.Minute), verify.Options{Threshold: 3}); err != nil {
		t.Errorf("the certificate does not verify offline: %v", err)
	}
	if _, err := cert.Verify(a.w.g.ID(), now.Add(time.Hour), verify.Options{}); !errors.Is(err, verify.ErrExpired) {
		t.Errorf("verified after its TTL: %v", err)
	}
	// A grant the node does not hold is the node's answer, as it is.
	if _, err := cl.GrantCertificate(context.Background(), "g-none", ledgertest.Signer("beta", scheme), time.Hour); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("unknown grant: %v", err)
	}
}
