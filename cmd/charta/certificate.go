package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
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
			c, err := e.client()
			if err != nil {
				return err
			}
			cert, err := c.GrantCertificate(e.ctx, args[0], s, ttl)
			if err != nil {
				return explain(err)
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
			fmt.Fprintf(e.stdout, "certificate for grant %s, valid until %s, written to %s\n", cert.Grant.ID, cert.ExpiresAt.Format(time.RFC3339), out)
			return nil
		},
	}
}

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc
}
