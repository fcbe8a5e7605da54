package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
)

// grantCertificateCmd writes an offline licence certificate: the grant,
// the proven journal entries that rebuild it, a cosigned checkpoint and a
// validity window, signed by the licensee's key.
func grantCertificateCmd() *command {
	var ttl time.Duration
	var out string
	return &command{
		name: "certificate", args: "<grant id>", client: true, signs: true,
		summary: "Write a signed licence certificate that charta verify checks offline until its TTL ends",
		example: "  charta grant certificate g-1 --ttl 720h --key beta.key --out cert.json\n  charta verify --genesis genesis.json cert.json",
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&ttl, "ttl", 720*time.Hour, "how long the certificate is valid")
			fs.StringVar(&out, "out", "", "file to write (default stdout)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a grant ID"); err != nil {
				return err
			}
			if ttl <= 0 {
				return usagef("--ttl must be positive")
			}
			s, err := e.signer()
			if err != nil {
				return err
			}
			member, _, _ := ledger.SplitKeyID(s.KeyID)
			c, err := e.client()
			if err != nil {
				return err
			}
			g, err := c.Grant(e.ctx, args[0])
			if err != nil {
				return explain(err)
			}
			if len(g.Terms.Assets) == 0 || len(g.Terms.Rights) == 0 {
				return fmt.Errorf("grant %s names no asset or right", g.ID)
			}
			// The evidence of a check on the grant's first asset and right
			// holds every entry that made the grant what it is.
			p, err := c.CheckProof(e.ctx, ledger.CheckRequest{Member: member, Asset: g.Terms.Assets[0], Action: g.Terms.Rights[0]})
			if err != nil {
				return explain(err)
			}
			if g, err = c.Grant(e.ctx, args[0]); err != nil { // as of the proof, or later
				return explain(err)
			}
			now := time.Now().UTC().Truncate(time.Second)
			cert, err := verify.IssueCertificate(verify.CertificateBody{
				Grant: *g, Licensee: member, IssuedAt: now, ExpiresAt: now.Add(ttl), Evidence: p.Evidence,
			}, s)
			if err != nil {
				return err
			}
			// Check it as an edge deployment would before handing it out.
			if _, err := cert.Verify(p.Evidence.Consortium(), now, verify.Options{}); err != nil {
				return fmt.Errorf("the certificate does not verify (the grant may have changed since the proof; retry): %w", err)
			}
			if out == "" {
				return e.json(cert)
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			enc := jsonEncoder(f)
			if err := enc.Encode(cert); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "certificate for grant %s, valid until %s, written to %s\n", g.ID, cert.ExpiresAt.Format(time.RFC3339), out)
			return nil
		},
	}
}

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc
}
