package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// grantTermsFlags collect a grant's terms from flags.
type grantTermsFlags struct {
	assets, rights, territory, deny, purposes, industries string
	notBefore, notAfter                                   string
	seats                                                 int64
	exclusive, revocable, terminable, forCause            bool
	parent, termsFile                                     string
	prohibitPurposes, prohibitIndustries, prohibitActions string
	attribution, auditAccess                              string
	reportUsage                                           string
	outputs, improvements, law, export, contract          string
}

func (t *grantTermsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.assets, "asset", "", "asset ID(s), comma-separated (required)")
	fs.StringVar(&t.rights, "rights", "", "rights, comma-separated: use, reproduce, modify, derive, distribute, sublicense, commercialize, train, evaluate, host")
	fs.StringVar(&t.territory, "territory", "", "allowed territories (ISO 3166-1 alpha-2, EU, EEA); empty = worldwide")
	fs.StringVar(&t.deny, "deny-territory", "", "territories excluded")
	fs.StringVar(&t.purposes, "purpose", "", "allowed purposes (fields of use), comma-separated")
	fs.StringVar(&t.industries, "industry", "", "allowed industries, comma-separated")
	fs.StringVar(&t.notBefore, "not-before", "", "start (RFC 3339 or YYYY-MM-DD)")
	fs.StringVar(&t.notAfter, "not-after", "", "end, exclusive (RFC 3339 or YYYY-MM-DD)")
	fs.Int64Var(&t.seats, "max-seats", 0, "most seats or deployments (0 = unlimited)")
	fs.BoolVar(&t.exclusive, "exclusive", false, "exclusive within its assets, rights, territory and window")
	fs.BoolVar(&t.revocable, "revocable", false, "the licensor may revoke at any time")
	fs.BoolVar(&t.terminable, "terminable", false, "the licensee may terminate at any time")
	fs.BoolVar(&t.forCause, "terminate-for-cause", false, "either party may terminate a suspended grant")
	fs.StringVar(&t.parent, "parent", "", "parent grant this sublicenses")
	fs.StringVar(&t.prohibitPurposes, "prohibit-purpose", "", "prohibited purposes, e.g. military,surveillance")
	fs.StringVar(&t.prohibitIndustries, "prohibit-industry", "", "prohibited industries")
	fs.StringVar(&t.prohibitActions, "prohibit-action", "", "actions the prohibition covers (default: all)")
	fs.StringVar(&t.attribution, "attribution", "", "attribution notice the licensee must show")
	fs.StringVar(&t.auditAccess, "audit-access", "", "what auditors may inspect")
	fs.StringVar(&t.reportUsage, "report-usage", "", "metric:period:due_days, e.g. gpu_hours:month:10")
	fs.StringVar(&t.outputs, "outputs-owner", "", "who owns outputs: licensee, licensor or joint")
	fs.StringVar(&t.improvements, "improvements-owner", "", "who owns improvements: licensee, licensor or joint")
	fs.StringVar(&t.law, "governing-law", "", "governing law")
	fs.StringVar(&t.export, "export-control", "", "export-control classification, e.g. EAR99")
	fs.StringVar(&t.contract, "contract-hash", "", "sha256:<hex> of the prose contract")
	fs.StringVar(&t.termsFile, "terms", "", "JSON file with the whole terms object (flags are then ignored)")
}

func (t *grantTermsFlags) terms() (ledger.Terms, error) {
	var terms ledger.Terms
	if t.termsFile != "" {
		return terms, readJSONFile(t.termsFile, &terms)
	}
	terms.Assets = split(t.assets)
	if len(terms.Assets) == 0 {
		return terms, usagef("--asset is required")
	}
	for _, r := range split(t.rights) {
		terms.Rights = append(terms.Rights, ledger.Right(r))
	}
	c := &terms.Constraints
	c.Territory = ledger.Territory{Allow: split(t.territory), Deny: split(t.deny)}
	c.Purposes, c.Industries, c.MaxSeats = split(t.purposes), split(t.industries), t.seats
	var err error
	if c.NotBefore, err = parseTime("not-before", t.notBefore); err != nil {
		return terms, err
	}
	if c.NotAfter, err = parseTime("not-after", t.notAfter); err != nil {
		return terms, err
	}
	terms.Exclusive, terms.Parent = t.exclusive, t.parent
	terms.Termination = ledger.Termination{LicensorMayRevoke: t.revocable, LicenseeMayTerminate: t.terminable, MayTerminateForCause: t.forCause}
	if t.prohibitPurposes != "" || t.prohibitIndustries != "" || t.prohibitActions != "" {
		p := ledger.Prohibition{Purposes: split(t.prohibitPurposes), Industries: split(t.prohibitIndustries)}
		for _, a := range split(t.prohibitActions) {
			p.Actions = append(p.Actions, ledger.Right(a))
		}
		terms.Prohibitions = []ledger.Prohibition{p}
	}
	if t.attribution != "" {
		terms.Duties = append(terms.Duties, ledger.Duty{Kind: ledger.DutyAttribution, Text: t.attribution})
	}
	if t.auditAccess != "" {
		terms.Duties = append(terms.Duties, ledger.Duty{Kind: ledger.DutyAuditAccess, Text: t.auditAccess})
	}
	if t.reportUsage != "" {
		parts := strings.Split(t.reportUsage, ":")
		days, err := strconv.Atoi(parts[len(parts)-1])
		if len(parts) != 3 || err != nil {
			return terms, usagef("--report-usage %q: want metric:period:due_days", t.reportUsage)
		}
		terms.Duties = append(terms.Duties, ledger.Duty{Kind: ledger.DutyReportUsage, Metric: parts[0], Period: ledger.Period(parts[1]), DueDays: days})
	}
	terms.Clauses = ledger.Clauses{OutputsOwner: t.outputs, ImprovementsOwner: t.improvements, GoverningLaw: t.law, ExportControl: t.export, ContractHash: t.contract}
	return terms, nil
}

func grantCmd() *command {
	var id, to, from, expires string
	var tf grantTermsFlags
	offer := &command{
		name: "offer", summary: "Offer a grant (signed by the licensor)", client: true, signs: true,
		example: `  charta grant offer --key alpha.key --id g-1 --asset model-x --to beta \
      --rights use,train --territory DE,FR --purpose research --not-after 2030-01-01T00:00:00Z`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&id, "id", "", "grant ID (required)")
			fs.StringVar(&to, "to", "", "licensee member(s), comma-separated (required)")
			fs.StringVar(&from, "from", "", "licensor member(s) (default: the signer)")
			fs.StringVar(&expires, "offer-expires", "", "the offer lapses if not accepted by then")
			tf.register(fs)
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if id == "" || to == "" {
				return usagef("--id and --to are required")
			}
			terms, err := tf.terms()
			if err != nil {
				return err
			}
			s, err := e.signer()
			if err != nil {
				return err
			}
			o := ledger.GrantOffer{ID: id, Licensors: split(from), Licensees: split(to), Terms: terms}
			if len(o.Licensors) == 0 {
				o.Licensors = []string{memberOfKey(s)}
			}
			if o.OfferExpires, err = parseTime("offer-expires", expires); err != nil {
				return err
			}
			return e.propose("grant.offer", "", o)
		},
	}
	var reason string
	var cosign multiFlag
	transition := func(name, typ, summary string) *command {
		return &command{
			name: name, args: "<grant>", summary: summary, client: true, signs: true,
			flags: func(fs *flag.FlagSet) { fs.StringVar(&reason, "reason", "", "why, recorded in the grant's history") },
			run: func(e *env, _ *flag.FlagSet, args []string) error {
				if err := needArgs(args, 1, "a grant ID"); err != nil {
					return err
				}
				return e.propose(typ, "", ledger.GrantRef{Grant: args[0], Reason: reason})
			},
		}
	}
	amend := &command{
		name: "amend", args: "<grant>", summary: "Amend a grant's terms (signed by every party: use --cosign)", client: true, signs: true,
		flags: func(fs *flag.FlagSet) {
			tf.register(fs)
			fs.Var(&cosign, "cosign", "key file of another party (repeat)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a grant ID"); err != nil {
				return err
			}
			terms, err := tf.terms()
			if err != nil {
				return err
			}
			return e.propose("grant.amend", "", ledger.GrantAmend{Grant: args[0], Terms: terms}, cosign...)
		},
	}
	var lf listFlags
	var gf client.GrantFilter
	var status string
	list := reader("list", "", "List the grants you can see", func(e *env, c *client.Client, args []string) error {
		gf.Status = ledger.Status(status)
		gs, next, err := c.Grants(e.ctx, gf, lf.opts()...)
		if err != nil {
			return err
		}
		err = e.show(gs, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tSTATUS\tLICENSORS\tLICENSEES\tASSETS\tRIGHTS\tTERRITORY\tNOT AFTER")
			for _, g := range gs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Status, strings.Join(g.Licensors, ","), strings.Join(g.Licensees, ","),
					strings.Join(g.Terms.Assets, ","), rightsString(g.Terms.Rights), g.Terms.Constraints.Territory, fmtTime(g.Terms.Constraints.NotAfter))
			}
		})
		printNext(e.stderr, next)
		return err
	})
	list.flags = func(fs *flag.FlagSet) {
		lf.register(fs)
		fs.StringVar(&gf.Licensee, "licensee", "", "only grants to this member")
		fs.StringVar(&gf.Licensor, "licensor", "", "only grants from this member")
		fs.StringVar(&gf.Asset, "asset", "", "only grants over this asset")
		fs.StringVar(&status, "status", "", "only grants in this status")
	}
	show := reader("show", "<grant>", "Show one grant", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "a grant ID"); err != nil {
			return err
		}
		g, err := c.Grant(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.json(g)
	})
	history := reader("history", "<grant>", "Show a grant's history: offer, acceptance, amendments, status changes", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "a grant ID"); err != nil {
			return err
		}
		hs, _, err := c.GrantHistory(e.ctx, args[0], client.Limit(1000))
		if err != nil {
			return err
		}
		return e.show(hs, func(w io.Writer) {
			fmt.Fprintln(w, "INDEX\tAT\tKIND\tBY\tVERSION\tSTATUS\tREASON")
			for _, h := range hs {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", h.Index, h.At.UTC().Format(time.RFC3339), h.Kind, h.By, h.Version, h.Status, dash(h.Reason))
			}
		})
	})
	return &command{name: "grant", summary: "Offer, accept, amend and end grants", subs: []*command{
		offer,
		transition("accept", "grant.accept", "Accept an offered grant (signed by the licensee)"),
		amend,
		transition("suspend", "grant.suspend", "Suspend an active grant (licensor)"),
		transition("resume", "grant.resume", "Resume a suspended grant (whoever suspended it)"),
		transition("revoke", "grant.revoke", "Revoke a grant, or withdraw an offer (licensor, as the terms allow)"),
		transition("terminate", "grant.terminate", "Terminate a grant (as the termination terms allow)"),
		list, show, history, grantCertificateCmd(),
	}}
}
