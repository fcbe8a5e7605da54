package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
	"github.com/charta/charta/node/api"
	"github.com/charta/charta/node/client"
)

// sealOffer moves the confidential fields of o's terms (the usage terms
// and every clause the ledger only records: all but data, export_control,
// outputs_owner and improvements_owner) into a sealed part,
// encrypted to the parties' current encryption keys as /v1/members lists
// them, under the binding of the grant.
func sealOffer(e *env, c *client.Client, o *ledger.GrantOffer) error {
	ct := ledger.ConfidentialTerms{Usage: o.Terms.Usage, Clauses: o.Terms.Clauses}
	ct.Clauses.Data, ct.Clauses.ExportControl, ct.Clauses.OutputsOwner, ct.Clauses.ImprovementsOwner = nil, "", "", ""
	o.Terms.Usage = nil
	cl := o.Terms.Clauses
	o.Terms.Clauses = ledger.Clauses{Data: cl.Data, ExportControl: cl.ExportControl, OutputsOwner: cl.OutputsOwner, ImprovementsOwner: cl.ImprovementsOwner}
	s, err := sealToParties(e, c, append(append([]string{}, o.Licensors...), o.Licensees...), ct.Canonical(), ledger.ConfidentialKind, o.ID)
	if err != nil {
		return err
	}
	o.Confidential = s
	return nil
}

// sealToParties seals plaintext to members' current encryption keys, as
// /v1/members lists them, under the binding {consortium, kind, id}.
func sealToParties(e *env, c *client.Client, members []string, plaintext []byte, kind, id string) (*ledger.Confidential, error) {
	consortium, err := c.Consortium(e.ctx)
	if err != nil {
		return nil, explain(err)
	}
	rs, err := sealRecipients(e, c, members)
	if err != nil {
		return nil, err
	}
	return client.SealTo(consortium, rs, plaintext, kind, id)
}

// sealRecipients is the current encryption keys, as /v1/members lists
// them and checked against their fingerprints, of a grant's parties and
// of the auditors the charter names (client.SealMembers).
func sealRecipients(e *env, c *client.Client, parties []string) ([]seal.Recipient, error) {
	members, err := c.SealMembers(e.ctx, parties)
	if err != nil {
		return nil, explain(err)
	}
	rs, err := c.SealRecipients(e.ctx, members, linearizable)
	if err := sealKeyError(e, err); err != nil {
		return nil, err
	}
	return rs, nil
}

// sealKeyError explains err from sealing to members' keys in one line.
func sealKeyError(e *env, err error) error {
	var ke *client.SealKeyError
	switch {
	case errors.As(err, &ke) && ke.None:
		return fmt.Errorf("%s has no encryption key, so confidential terms cannot be sealed to it; it registers one with charta key rotate-encryption", ke.Member)
	case errors.As(err, &ke):
		// The node answered a key that is not the one it names.
		return fmt.Errorf("%s's encryption key from %s %s; not sealing to it", ke.Member, e.g.server, ke.Reason)
	case err != nil:
		return explain(err)
	}
	return nil
}

// sealUsage moves the metrics of report b of a confidential grant into a
// sealed part, encrypted to the grant's parties under the binding of the
// report. A report of any other grant is left as it is, and so is one of
// a grant the caller may not read (a meter that is not a party, or a key
// without a token): the ledger refuses a report in the clear of a
// confidential grant, and a meter that is not a party cannot seal to it.
func sealUsage(e *env, c *client.Client, b *ledger.UsageReportBody) error {
	return sealReport(e, c, b.Grant, func(consortium string, rs []seal.Recipient) error {
		return client.SealUsage(consortium, rs, b)
	})
}

// sealSLA moves the measurements of SLA report b of a confidential grant
// into a sealed part, as sealUsage does for usage.
func sealSLA(e *env, c *client.Client, b *ledger.SLAReportBody) error {
	return sealReport(e, c, b.Grant, func(consortium string, rs []seal.Recipient) error {
		return client.SealSLA(consortium, rs, b)
	})
}

// sealReport calls sealWith with the consortium and the parties' keys if
// grant is confidential and the caller may read it, and does nothing
// otherwise.
func sealReport(e *env, c *client.Client, grant string, sealWith func(consortium string, rs []seal.Recipient) error) error {
	g, err := c.Grant(e.ctx, grant, linearizable)
	if errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrForbidden) || errors.Is(err, client.ErrUnauthorized) {
		return nil
	}
	if err != nil {
		return explain(err)
	}
	if g.Confidential == nil {
		return nil
	}
	consortium, err := c.Consortium(e.ctx)
	if err != nil {
		return explain(err)
	}
	rs, err := c.SealReportRecipients(e.ctx, g, linearizable)
	if err := sealKeyError(e, err); err != nil {
		return err
	}
	return sealWith(consortium, rs)
}

// linearizable reads what the cluster has committed, not what this node
// has applied: a grant offered through another node a moment ago is seen
// before it is opened and accepted.
var linearizable = client.Consistency("linearizable")

// openedGrant is a confidential grant opened with the caller's own key.
type openedGrant struct {
	grant   *api.Grant
	terms   *ledger.ConfidentialTerms
	opening seal.Opening
}

// openGrant fetches grant id and its sealed object and opens it with the
// encryption key in keyFile, as that file's member. It refuses, saying
// why, a grant that is not confidential, a sealed object that does not
// open for this key, one whose terms do not match the commitment, and
// one whose commitment is not the grant's.
func openGrant(e *env, c *client.Client, id, keyFile string) (*openedGrant, error) {
	g, err := c.Grant(e.ctx, id, linearizable)
	if err != nil {
		return nil, explain(err)
	}
	if g.Confidential == nil {
		return nil, fmt.Errorf("grant %s is not confidential", id)
	}
	member, key, err := seal.ReadKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	ls, err := c.GrantSealed(e.ctx, id, linearizable)
	if err != nil {
		return nil, explain(err)
	}
	consortium, err := c.Consortium(e.ctx)
	if err != nil {
		return nil, explain(err)
	}
	s := seal.FromLedger(ls)
	if s.Commitment != g.Confidential.Commitment {
		return nil, fmt.Errorf("grant %s: the sealed object's commitment %s is not the grant's %s", id, s.Commitment, g.Confidential.Commitment)
	}
	pt, opening, err := seal.Open(s, member, key, seal.Binding{Consortium: consortium, Kind: ledger.ConfidentialKind, ID: id})
	if err != nil {
		return nil, fmt.Errorf("grant %s: the sealed terms do not open for %s: %w", id, member, err)
	}
	ct, err := ledger.ParseConfidentialTerms(pt, &g.Terms)
	if err != nil {
		return nil, fmt.Errorf("grant %s: the sealed terms are not valid terms: %w", id, err)
	}
	return &openedGrant{grant: g, terms: ct, opening: opening}, nil
}

// encKeyFile is the key file holding the caller's encryption key: --enc-key,
// or else the --key file.
func encKeyFile(e *env, encKey string) (string, error) {
	switch {
	case encKey != "":
		return encKey, nil
	case e.g.key != "":
		return e.g.key, nil
	}
	return "", usagef("--enc-key is required: the key file holding your member's encryption key, to open confidential terms")
}

func grantAcceptCmd() *command {
	var reason, encKey string
	return &command{
		name: "accept", args: "<grant>", summary: "Accept an offered grant (signed by the licensee); a confidential grant is opened first and its commitment signed",
		client: true, signs: true,
		example: `  charta grant accept --key beta.key g-1
  # a confidential grant: opened with beta's encryption key (in beta.key), refused if it does not match its commitment
  charta grant accept --key beta.key --enc-key beta-old.key g-c`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&reason, "reason", "", "why, recorded in the grant's history")
			fs.StringVar(&encKey, "enc-key", "", "key file with the licensee's encryption key, to open a confidential grant (default: --key)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a grant ID"); err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			g, err := c.Grant(e.ctx, args[0], linearizable)
			if err != nil {
				return explain(err)
			}
			body := ledger.GrantAccept{Grant: args[0], Reason: reason}
			if g.Confidential != nil {
				path, err := encKeyFile(e, encKey)
				if err != nil {
					return err
				}
				og, err := openGrant(e, c, args[0], path)
				if err != nil {
					return fmt.Errorf("refusing to accept: %w", err)
				}
				commitment := og.grant.Confidential.Commitment
				body.Commitment = &commitment
				fmt.Fprintf(e.stderr, "opened the confidential terms of %s (commitment %s); signing the commitment\n", args[0], commitment)
			}
			return e.propose("grant.accept", "", body)
		},
	}
}

func grantDiscloseCmd() *command {
	var encKey, out string
	return &command{
		name: "disclose", args: "<grant>", summary: "Write the opening of a confidential grant (salt and terms) for a court or an auditor",
		client:  true,
		example: `  charta grant disclose --enc-key beta.key --out opening.json g-c`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&encKey, "enc-key", "", "key file with a party's encryption key (default: --key)")
			fs.StringVar(&out, "out", "", "file to write the opening to (required; it must not exist)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a grant ID"); err != nil {
				return err
			}
			if out == "" {
				return usagef("--out is required")
			}
			path, err := encKeyFile(e, encKey)
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			og, err := openGrant(e, c, args[0], path)
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(og.opening, "", "  ")
			if err != nil {
				return err
			}
			if err := writeNew(out, append(b, '\n'), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote the opening of %s to %s: it discloses the confidential terms\n", args[0], out)
			return nil
		},
	}
}

func grantVerifyDisclosureCmd() *command {
	return reader("verify-disclosure", "<grant> <opening.json>", "Check an opening against a confidential grant's commitment on the ledger (anyone)", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 2, "a grant ID and an opening file"); err != nil {
			return err
		}
		var o seal.Opening
		if err := readJSONFile(args[1], &o); err != nil {
			return err
		}
		g, err := c.Grant(e.ctx, args[0])
		if err != nil {
			return explain(err)
		}
		if g.Confidential == nil {
			return fmt.Errorf("grant %s is not confidential", args[0])
		}
		if err := seal.VerifyDisclosure(g.Confidential.Commitment, o); err != nil {
			return fmt.Errorf("the opening does not match grant %s: %w", args[0], err)
		}
		var ct ledger.ConfidentialTerms
		if err := ledger.DecodeStrict(o.Plaintext, &ct); err != nil {
			return fmt.Errorf("the opening matches the commitment of %s, but its plaintext is not confidential terms: %w", args[0], err)
		}
		return e.show(&ct, func(w io.Writer) {
			fmt.Fprintf(w, "the opening matches the commitment %s of grant %s; the disclosed terms:\n", g.Confidential.Commitment, args[0])
			printConfidentialTerms(w, &ct)
		})
	})
}

// printConfidential writes what a node shows of a grant's confidential
// terms, marked as confidential.
func printConfidential(w io.Writer, c *api.GrantConfidential) {
	field(w, "confidential", "commitment "+c.Commitment.String())
	switch {
	case c.Terms != nil:
		field(w, "private digest", c.PrivateDigest.String())
		if c.UsageDigest != nil {
			field(w, "usage digest", c.UsageDigest.String())
		}
		printConfidentialTerms(w, c.Terms)
		if len(c.Infractions) > 0 {
			var lines []string
			for _, in := range c.Infractions {
				lines = append(lines, "[confidential] "+in.Kind+" "+in.Period+" (report "+in.Report+"): "+in.Detail)
			}
			fieldLines(w, "infractions", lines)
		}
	case c.Refused != "":
		field(w, "confidential terms", "confidential (sealed; this party's node could not open them: "+c.Refused+")")
	default:
		field(w, "confidential terms", "confidential (sealed; ask a party's node)")
	}
}

// printConfidentialTerms writes opened confidential terms, each line
// marked confidential.
func printConfidentialTerms(w io.Writer, ct *ledger.ConfidentialTerms) {
	mark := func(lines []string) []string {
		for i := range lines {
			lines[i] = "[confidential] " + lines[i]
		}
		return lines
	}
	if cl := clauseStrings(ct.Clauses); len(cl) > 0 {
		fieldLines(w, "clauses", mark(cl))
	}
	if ct.Usage != nil {
		fieldLines(w, "usage", mark(usageStrings(ct.Usage)))
	}
}
