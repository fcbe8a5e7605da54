package client

import (
	"context"
	"fmt"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
)

// GrantCertificate issues an offline licence certificate for grant id,
// signed with s, the licensee's key, and valid for ttl from the client's
// clock (to the second): the grant as the ledger holds it (a confidential
// grant with its sealed part, GrantSealed), the proven journal entries
// that rebuild it and the licensee's keys (GrantEvidence), a cosigned
// checkpoint and the validity window. It checks the
// certificate as an edge deployment would before it returns it; a grant
// that changed between the proof and the certificate fails that check, and
// a retry then succeeds.
//
// Errors from the node are returned as they are (*Error).
func (c *Client) GrantCertificate(ctx context.Context, id string, s ledger.Signer, ttl time.Duration) (*verify.Certificate, error) {
	member, _, _ := ledger.SplitKeyID(s.KeyID)
	ev, err := c.GrantEvidence(ctx, id, member)
	if err != nil {
		return nil, err
	}
	g, err := c.Grant(ctx, id) // as of the evidence, or later
	if err != nil {
		return nil, err
	}
	lg := g.Grant
	if g.Confidential != nil {
		// The API shows the commitment in place of the sealed part; the
		// certificate states the grant as the ledger holds it.
		sealed, err := c.GrantSealed(ctx, id)
		if err != nil {
			return nil, err
		}
		lg.Confidential = &ledger.Confidential{Commitment: g.Confidential.Commitment, Sealed: sealed}
	}
	now := c.now().UTC().Truncate(time.Second)
	cert, err := verify.IssueCertificate(verify.CertificateBody{
		Grant: lg, Licensee: member, IssuedAt: now, ExpiresAt: now.Add(ttl), Evidence: *ev,
	}, s)
	if err != nil {
		return nil, err
	}
	if _, err := cert.Verify(ev.Consortium(), now, verify.Options{}); err != nil {
		return nil, fmt.Errorf("the certificate does not verify (the grant may have changed since the proof; retry): %w", err)
	}
	return cert, nil
}
