package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/charta/charta/ledger"
)

// CertificateFormat names version 1 of the licence certificate.
const CertificateFormat = "charta-licence-certificate-v1"

// certificateContext separates certificate signatures from every other
// use of a member key.
const certificateContext = "charta licence certificate v1\n"

// CertificateBody is what a licence certificate states: a grant as the
// ledger holds it, the evidence that rebuilds it, and the window in which
// a verifier accepts it.
type CertificateBody struct {
	Format    string       `json:"format"`
	Grant     ledger.Grant `json:"grant"`    // the grant record the evidence rebuilds
	Licensee  string       `json:"licensee"` // the member the certificate is issued to, who signs it
	IssuedAt  time.Time    `json:"issued_at"`
	ExpiresAt time.Time    `json:"expires_at"`
	Evidence               // genesis, entries, checkpoint
}

// Certificate is a signed, self-contained licence certificate.
type Certificate struct {
	CertificateBody
	Signature ledger.Signature `json:"signature"` // the licensee's signature over the body
}

// certificateMessage is the signed message: a context line and the body's
// compact JSON.
func certificateMessage(b *CertificateBody) []byte {
	return append([]byte(certificateContext), mustJSON(b)...)
}

// IssueCertificate signs a certificate body with the licensee's key.
func IssueCertificate(b CertificateBody, s ledger.Signer) (*Certificate, error) {
	b.Format = CertificateFormat
	sig, err := s.Key.Sign(certificateMessage(&b))
	if err != nil {
		return nil, fmt.Errorf("verify: sign certificate: %w", err)
	}
	return &Certificate{CertificateBody: b, Signature: ledger.Signature{KeyID: s.KeyID, Sig: sig}}, nil
}

// Verify checks the certificate at time now for the pinned consortium:
// now lies in [IssuedAt, ExpiresAt); the evidence verifies and rebuilds
// the grant exactly as stated; the grant is active at now and names the
// licensee; and the licensee's signature verifies with a key the rebuilt
// ledger holds for it.
//
// The grant of a certificate of a confidential grant carries its sealed
// part as the ledger holds it, which the evidence rebuilds like the
// rest. Verified.Confidential then gives the commitment and the parties
// and, with o.Key, the terms opened with a party's key, which match the
// commitment; a key that does not open them is ErrSealed.
func (c *Certificate) Verify(consortium string, now time.Time, o Options) (*Verified, error) {
	if c.Format != CertificateFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrMalformed, truncate(c.Format), CertificateFormat)
	}
	if !c.ExpiresAt.After(c.IssuedAt) {
		return nil, fmt.Errorf("%w: expires_at %s is not after issued_at %s", ErrMalformed, c.ExpiresAt.Format(time.RFC3339), c.IssuedAt.Format(time.RFC3339))
	}
	if now.Before(c.IssuedAt) {
		return nil, fmt.Errorf("%w: the certificate is issued at %s, after now (%s)", ErrExpired, c.IssuedAt.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if !now.Before(c.ExpiresAt) {
		return nil, fmt.Errorf("%w: the certificate expired at %s (now %s)", ErrExpired, c.ExpiresAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	var sealed *SealedTerms
	ver, err := c.verify(consortium, o, func(v *ledger.View) error {
		g, ok := v.Grant(c.Grant.ID)
		if !ok {
			return fmt.Errorf("%w: the entries do not create grant %s", ErrReplay, c.Grant.ID)
		}
		if got, want := mustJSON(g), mustJSON(&c.Grant); !bytes.Equal(got, want) {
			return fmt.Errorf("%w: the entries rebuild grant %s differently from the certificate's (version %d, status %s; the certificate says version %d, status %s)",
				ErrReplay, g.ID, g.Version, g.Status, c.Grant.Version, c.Grant.Status)
		}
		if st := g.StatusAt(now); st != ledger.StatusActive {
			return fmt.Errorf("%w: grant %s is %s at %s", ErrReplay, g.ID, st, now.UTC().Format(time.RFC3339))
		}
		licensee := false
		for _, m := range g.Licensees {
			licensee = licensee || m == c.Licensee
		}
		if !licensee {
			return fmt.Errorf("%w: %s is not a licensee of grant %s", ErrReplay, c.Licensee, g.ID)
		}
		member, _, _ := ledger.SplitKeyID(c.Signature.KeyID)
		k, ok := v.Key(c.Signature.KeyID)
		if member != c.Licensee || !ok || k.Member != c.Licensee || k.Delegated() {
			return fmt.Errorf("%w: the certificate is signed by key %s, which the entries do not give to %s", ErrSignature, truncate(c.Signature.KeyID), c.Licensee)
		}
		if !k.Public.Verify(certificateMessage(&c.CertificateBody), c.Signature.Sig) {
			return fmt.Errorf("%w: the licensee's signature on the certificate does not verify", ErrSignature)
		}
		if g.Confidential != nil {
			var err error
			sealed, err = o.Key.sealedTerms(v, g)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ver.Confidential = sealed
	return ver, nil
}

// Decode decodes a document of any of the package's formats by its
// "format" field: *Receipt, *CheckProof or *Certificate.
func Decode(b []byte) (any, error) {
	var f struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var doc any
	switch f.Format {
	case ReceiptFormat:
		doc = new(Receipt)
	case CheckProofFormat:
		doc = new(CheckProof)
	case CertificateFormat:
		doc = new(Certificate)
	default:
		return nil, fmt.Errorf("%w: unknown format %q (want %s, %s or %s)", ErrMalformed, truncate(f.Format), ReceiptFormat, CheckProofFormat, CertificateFormat)
	}
	if err := json.Unmarshal(b, doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, f.Format, err)
	}
	return doc, nil
}

// CertificateQuestion reads, of a ledger's state, what Certificate.Verify
// reads of the rebuilt one for a certificate of grant issued to licensee:
// the grant, the licensee's member record and every key it lists. Pass it
// to Traced.Dependencies for a certificate's evidence. It fails if the
// grant does not exist or does not name licensee.
func CertificateQuestion(grant, licensee string) func(v *ledger.View) error {
	return func(v *ledger.View) error {
		g, ok := v.Grant(grant)
		if !ok {
			return ledger.Errorf(ledger.CodeNotFound, "grant: no grant %q", grant)
		}
		if !slices.Contains(g.Licensees, licensee) {
			return ledger.Errorf(ledger.CodeInvalid, "licensee: %s is not a licensee of grant %s", licensee, grant)
		}
		m, ok := v.Member(licensee)
		if !ok {
			return ledger.Errorf(ledger.CodeNotFound, "licensee: no member %q", licensee)
		}
		for _, k := range m.Keys {
			v.Key(k)
		}
		return nil
	}
}
