package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"strings"

	"github.com/charta/charta/ledger"
)

func dutyCmd() *command {
	var b ledger.DutyAttestBody
	var evidence string
	attest := &command{
		name: "attest", summary: "Attest a responsible-AI duty of a grant for one period (a licensee or the duty's assessor)", client: true, signs: true,
		example: `  charta duty attest --key beta.key --grant g-fa --kind fairness_audit --period 1 \
      --evidence fairness-audit-q1.pdf --uri https://audits.example/fa-q1.pdf \
      --statement "no disparate impact above 0.8 across the protected attributes"`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&b.Grant, "grant", "", "grant ID (required)")
			fs.StringVar(&b.Kind, "kind", "", "duty kind: "+strings.Join(ledger.AttestedDutyKinds, ", ")+" (required)")
			fs.IntVar(&b.Period, "period", 0, "duty period, counted from 1 at the grant's start (required; check shows the pending one)")
			fs.StringVar(&b.Digest, "digest", "", "sha256:<hex> of the evidence (or --evidence)")
			fs.StringVar(&evidence, "evidence", "", "file whose SHA-256 is the evidence digest")
			fs.StringVar(&b.URI, "uri", "", "where the evidence can be read")
			fs.StringVar(&b.Statement, "statement", "", "short statement of what the evidence shows (required)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if b.Grant == "" || b.Kind == "" || b.Period == 0 || b.Statement == "" {
				return usagef("--grant, --kind, --period and --statement are required")
			}
			if (b.Digest == "") == (evidence == "") {
				return usagef("give one of --digest and --evidence")
			}
			if evidence != "" {
				d, err := fileDigest(evidence)
				if err != nil {
					return usagef("--evidence: %v", err)
				}
				b.Digest = d
			}
			return e.propose("duty.attest", "", b)
		},
	}
	return &command{name: "duty", summary: "Attest responsible-AI duties", subs: []*command{attest}}
}

// fileDigest is sha256:<hex> of a file's content.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
