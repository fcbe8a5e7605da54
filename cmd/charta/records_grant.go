package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
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
	duties, requireAttested                               multiFlag
	outputs, improvements, law, export, contract          string
	exclusivity, data                                     string
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
	fs.BoolVar(&t.exclusive, "exclusive", false, "old form of --exclusivity sole, kept for scripts")
	fs.StringVar(&t.exclusivity, "exclusivity", "", "exclusive (binds the licensor and co-owners too), sole (binds all but the licensor) or none")
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
	fs.Var(&t.duties, "duty", "attested duty kind:period:due_days[:assessor], kind one of "+strings.Join(ledger.AttestedDutyKinds, ", ")+
		", e.g. fairness_audit:quarter:30:gamma (repeat)")
	fs.Var(&t.requireAttested, "require-attested", "kind:right[,right]: the grant allows those rights only once the duty is attested, e.g. fairness_audit:commercialize (repeat)")
	fs.StringVar(&t.outputs, "outputs-owner", "", "who owns outputs: licensee, licensor or joint")
	fs.StringVar(&t.improvements, "improvements-owner", "", "who owns improvements: licensee, licensor or joint")
	fs.StringVar(&t.law, "governing-law", "", "governing law")
	fs.StringVar(&t.export, "export-control", "", "export-control classification: an ECCN such as 5D002 or 3A090.a, EAR99, or none")
	fs.StringVar(&t.data, "data", "", "data terms, e.g. may_share=false,may_sell=false,retention_days=365")
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
	terms.Exclusive, terms.Exclusivity, terms.Parent = t.exclusive, ledger.Exclusivity(t.exclusivity), t.parent
	if err := exclusivityFlag(t.exclusive, t.exclusivity); err != nil {
		return terms, err
	}
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
	if err := t.attestedDuties(&terms); err != nil {
		return terms, err
	}
	terms.Clauses = ledger.Clauses{OutputsOwner: t.outputs, ImprovementsOwner: t.improvements, GoverningLaw: t.law, ExportControl: t.export, ContractHash: t.contract}
	if t.export != "" {
		if err := ledger.ValidateExportClass(t.export); err != nil {
			var le *ledger.Error
			if errors.As(err, &le) {
				return terms, usagef("--export-control: %s", le.Message)
			}
			return terms, usagef("--export-control: %v", err)
		}
	}
	if t.data != "" {
		d, err := parseDataTerms(t.data)
		if err != nil {
			return terms, err
		}
		terms.Clauses.Data = d
	}
	return terms, nil
}

func exclusivityFlag(old bool, kind string) error {
	switch ledger.Exclusivity(kind) {
	case "", ledger.ExclusivityExclusive, ledger.ExclusivitySole, ledger.ExclusivityNone:
	default:
		return usagef("--exclusivity %q: want exclusive, sole or none", kind)
	}
	if old && kind != "" {
		return usagef("--exclusive is the old form of --exclusivity sole; give only --exclusivity")
	}
	return nil
}

// attestedDuties adds the --duty and --require-attested duties to terms.
func (t *grantTermsFlags) attestedDuties(terms *ledger.Terms) error {
	for _, d := range t.duties {
		parts := strings.Split(d, ":")
		if len(parts) < 3 || len(parts) > 4 {
			return usagef("--duty %q: want kind:period:due_days[:assessor]", d)
		}
		days, err := strconv.Atoi(parts[2])
		if err != nil {
			return usagef("--duty %q: due_days %q is not a number", d, parts[2])
		}
		du := ledger.Duty{Kind: parts[0], Period: ledger.Period(parts[1]), DueDays: days}
		if len(parts) == 4 {
			du.Assessor = parts[3]
		}
		terms.Duties = append(terms.Duties, du)
	}
	for _, r := range t.requireAttested {
		kind, rights, ok := strings.Cut(r, ":")
		i := -1
		for j, d := range terms.Duties {
			if d.Kind == kind {
				i = j
			}
		}
		if !ok || rights == "" {
			return usagef("--require-attested %q: want kind:right[,right]", r)
		}
		if i < 0 {
			return usagef("--require-attested %q: no --duty of kind %s", r, kind)
		}
		for _, right := range split(rights) {
			terms.Duties[i].RequiredFor = append(terms.Duties[i].RequiredFor, ledger.Right(right))
		}
	}
	return nil
}

// parseDataTerms reads --data: comma-separated may_share=true|false,
// may_sell=true|false and retention_days=N. A term left out is false (0).
func parseDataTerms(s string) (*ledger.DataTerms, error) {
	var d ledger.DataTerms
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		var err error
		switch {
		case !ok:
			err = fmt.Errorf("%q is not key=value", kv)
		case k == "may_share":
			d.MayShare, err = strconv.ParseBool(v)
		case k == "may_sell":
			d.MaySell, err = strconv.ParseBool(v)
		case k == "retention_days":
			d.RetentionDays, err = strconv.Atoi(v)
			if err == nil && d.RetentionDays < 0 {
				err = fmt.Errorf("retention_days %d is negative", d.RetentionDays)
			}
		default:
			err = fmt.Errorf("%q is not may_share, may_sell or retention_days", k)
		}
		if err != nil {
			return nil, usagef("--data: %v (want may_share=false,may_sell=false,retention_days=365)", err)
		}
	}
	return &d, nil
}

func grantCmd() *command {
	var id, to, from, expires string
	var confidential bool
	var tf grantTermsFlags
	offer := &command{
		name: "offer", summary: "Offer a grant (signed by the licensor)", client: true, signs: true,
		example: `  charta grant offer --key alpha.key --id g-1 --asset model-x --to beta \
      --rights use,train --territory DE,FR --purpose research --not-after 2030-01-01T00:00:00Z
  # usage terms and clauses sealed to alpha and beta
  charta grant offer --key alpha.key --id g-c --to beta --terms terms.json --confidential`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&id, "id", "", "grant ID (required)")
			fs.StringVar(&to, "to", "", "licensee member(s), comma-separated (required)")
			fs.StringVar(&from, "from", "", "licensor member(s) (default: the signer)")
			fs.StringVar(&expires, "offer-expires", "", "the offer lapses if not accepted by then")
			fs.BoolVar(&confidential, "confidential", false, "seal the usage terms and every clause but data and export control to the parties' encryption keys; only the parties' nodes can read them")
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
			if confidential {
				c, err := e.client()
				if err != nil {
					return err
				}
				if err := sealOffer(e, c, &o); err != nil {
					return err
				}
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
		err = e.show(gs, rows(gs, "grants", "ID\tSTATUS\tLICENSORS\tLICENSEES\tASSETS\tRIGHTS\tTERRITORY\tNOT AFTER", func(w io.Writer, g api.Grant) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Status, strings.Join(g.Licensors, ","), strings.Join(g.Licensees, ","),
				strings.Join(g.Terms.Assets, ","), rightsString(g.Terms.Rights), g.Terms.Constraints.Territory, fmtTime(g.Terms.Constraints.NotAfter))
		}))
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
		return e.show(g, func(w io.Writer) {
			printGrant(w, &g.Grant)
			if g.Confidential != nil {
				printConfidential(w, g.Confidential)
			}
		})
	})
	history := reader("history", "<grant>", "Show a grant's history: offer, acceptance, amendments, status changes", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "a grant ID"); err != nil {
			return err
		}
		hs, _, err := c.GrantHistory(e.ctx, args[0], client.Limit(1000))
		if err != nil {
			return err
		}
		return e.show(hs, rows(hs, "history", "INDEX\tAT\tKIND\tBY\tVERSION\tSTATUS\tREASON", func(w io.Writer, h ledger.GrantEvent) {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", h.Index, h.At.UTC().Format(time.RFC3339), h.Kind, h.By, h.Version, h.Status, dash(h.Reason))
		}))
	})
	var att ledger.RetentionAttest
	attest := &command{
		name: "attest-deletion", args: "<grant>", summary: "Attest that a dataset held under a grant's retention limit was deleted (licensee)",
		client: true, signs: true,
		example: `  charta grant attest-deletion --key beta.key --asset ds-1 --evidence sha256:<64 hex> g-d`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&att.Asset, "asset", "", "the dataset deleted (required)")
			fs.StringVar(&att.Evidence, "evidence", "", "sha256:<hex> of the deletion record (required)")
			fs.StringVar(&att.URI, "uri", "", "where the evidence can be inspected")
			fs.StringVar(&att.Statement, "statement", "", "a short declaration")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a grant ID"); err != nil {
				return err
			}
			if att.Asset == "" || !ledger.ValidDigest(att.Evidence) {
				return usagef("--asset and --evidence sha256:<64 lower-case hex> are required")
			}
			att.Grant = args[0]
			return e.propose("retention.attest", "", att)
		},
	}
	return &command{name: "grant", summary: "Offer, accept, amend and end grants", subs: []*command{
		offer,
		grantAcceptCmd(),
		amend,
		transition("suspend", "grant.suspend", "Suspend an active grant (licensor)"),
		transition("resume", "grant.resume", "Resume a suspended grant (whoever suspended it)"),
		transition("revoke", "grant.revoke", "Revoke a grant, or withdraw an offer (licensor, as the terms allow)"),
		transition("terminate", "grant.terminate", "Terminate a grant (as the termination terms allow)"),
		attest, list, show, history, grantCertificateCmd(), grantDiscloseCmd(), grantVerifyDisclosureCmd(),
	}}
}

// printGrant writes a grant as a key/value block: its parties, status and
// every part of its terms that is set.
func printGrant(w io.Writer, g *ledger.Grant) {
	t, c := &g.Terms, &g.Terms.Constraints
	field(w, "id", fmt.Sprintf("%s (version %d)", g.ID, g.Version))
	field(w, "status", string(g.Status))
	fieldIf(w, "suspended by", g.SuspendedBy)
	field(w, "licensors", commas(g.Licensors))
	field(w, "licensees", commas(g.Licensees))
	field(w, "assets", commas(t.Assets))
	rights := make([]string, len(t.Rights))
	for i, r := range t.Rights {
		rights[i] = string(r)
	}
	field(w, "rights", commas(rights))
	field(w, "territory", c.Territory.String())
	fieldIf(w, "purposes", commas(c.Purposes))
	fieldIf(w, "industries", commas(c.Industries))
	field(w, "not before", fmtTime(c.NotBefore))
	field(w, "not after", fmtTime(c.NotAfter))
	if c.MaxSeats > 0 {
		field(w, "max seats", fmt.Sprint(c.MaxSeats))
	}
	field(w, "exclusivity", string(t.ExclusivityKind()))
	fieldIf(w, "parent grant", t.Parent)
	fieldIf(w, "bundle", g.Bundle)
	if len(t.Prohibitions) > 0 {
		fieldLines(w, "prohibitions", prohibitionStrings(t.Prohibitions))
	}
	if len(t.Duties) > 0 {
		fieldLines(w, "duties", dutyStrings(t.Duties))
	}
	field(w, "termination", terminationString(t.Termination))
	if cl := clauseStrings(t.Clauses); len(cl) > 0 {
		fieldLines(w, "clauses", cl)
	}
	if t.Usage != nil {
		fieldLines(w, "usage", usageStrings(t.Usage))
	}
	field(w, "offered", atIndex(g.OfferedAt, g.Index))
	if g.OfferExpires != nil {
		field(w, "offer expires", fmtTime(g.OfferExpires))
	}
	field(w, "activated", fmtTime(&g.ActivatedAt))
}

func prohibitionStrings(ps []ledger.Prohibition) []string {
	var out []string
	for _, p := range ps {
		var parts []string
		if len(p.Purposes) > 0 {
			parts = append(parts, "purposes "+commas(p.Purposes))
		}
		if len(p.Industries) > 0 {
			parts = append(parts, "industries "+commas(p.Industries))
		}
		actions := "any use"
		if len(p.Actions) > 0 {
			actions = rightsString(p.Actions)
		}
		s := actions + " prohibited for " + strings.Join(parts, "; ")
		if p.Note != "" {
			s += " (" + p.Note + ")"
		}
		out = append(out, s)
	}
	return out
}

func dutyStrings(ds []ledger.Duty) []string {
	var out []string
	for _, d := range ds {
		switch {
		case d.Kind == ledger.DutyReportUsage:
			out = append(out, fmt.Sprintf("report %s every %s within %d days", d.Metric, d.Period, d.DueDays))
		case ledger.IsAttestedDuty(d.Kind):
			out = append(out, attestedDutyString(d))
		default:
			out = append(out, d.Kind+": "+dash(d.Text))
		}
	}
	return out
}

// attestedDutyString describes an attested duty in a line.
func attestedDutyString(d ledger.Duty) string {
	s := fmt.Sprintf("%s attested every %s within %d days", d.Kind, d.Period, d.DueDays)
	if d.Assessor != "" {
		s += " (by a licensee or " + d.Assessor + ")"
	}
	if len(d.RequiredFor) > 0 {
		s += "; required for " + joinRightsCLI(d.RequiredFor)
	}
	if d.Text != "" {
		s += ": " + d.Text
	}
	return s
}

func joinRightsCLI(rs []ledger.Right) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

func terminationString(t ledger.Termination) string {
	var who []string
	if t.LicensorMayRevoke {
		who = append(who, "licensor may revoke")
	}
	if t.LicenseeMayTerminate {
		who = append(who, "licensee may terminate")
	}
	if t.MayTerminateForCause {
		who = append(who, "either party may terminate for cause")
	}
	if len(who) == 0 {
		return "runs until it expires"
	}
	return commas(who)
}

// clauseStrings lists the clauses that are set, one "name: value" each.
func clauseStrings(c ledger.Clauses) []string {
	var out []string
	add := func(name, v string) {
		if v != "" {
			out = append(out, name+": "+v)
		}
	}
	add("outputs owner", c.OutputsOwner)
	add("improvements owner", c.ImprovementsOwner)
	if d := c.Data; d != nil {
		retention := "no retention limit"
		if d.RetentionDays > 0 {
			retention = fmt.Sprintf("kept at most %d days", d.RetentionDays)
		}
		add("data", fmt.Sprintf("may share %s, may sell %s, %s", yesNo(d.MayShare), yesNo(d.MaySell), retention))
	}
	for _, t := range c.SLA {
		better := "lower is better"
		if t.Higher {
			better = "higher is better"
		}
		add("sla", fmt.Sprintf("%s target %d (%s)", t.Metric, t.Target, better))
	}
	if c.IndemnityCap != nil {
		add("indemnity cap", fmtMoney(c.IndemnityCap.Micros, c.IndemnityCap.Currency))
	}
	add("liability", c.Liability)
	add("governing law", c.GoverningLaw)
	add("export control", c.ExportControl)
	add("contract", c.ContractHash)
	return out
}

// usageStrings describes metered terms, a line per part.
func usageStrings(u *ledger.UsageTerms) []string {
	out := []string{fmt.Sprintf("billed per %s, reports accepted %d days after it ends", u.Period, u.GraceDays)}
	for _, m := range u.Metrics {
		out = append(out, metricString(m))
	}
	if mc := u.MinCommitment; mc != nil {
		out = append(out, "minimum commitment "+fmtMoney(mc.Micros, mc.Currency)+" a period")
	}
	for _, m := range u.Multipliers {
		cond := ""
		switch {
		case m.AtLeast != nil:
			cond = fmt.Sprintf("at least %d", *m.AtLeast)
		case m.Below != nil:
			cond = fmt.Sprintf("below %d", *m.Below)
		}
		out = append(out, fmt.Sprintf("multiplier ×%s when %s is %s", fmtMoney(m.MultiplierBP*100, ""), m.Metric, cond))
	}
	for _, c := range u.SLACredits {
		out = append(out, fmt.Sprintf("sla credit %s when %s is below %d", fmtBP(c.DiscountBP), c.Metric, c.Below))
	}
	if len(u.Meters) > 0 {
		out = append(out, "meters "+commas(u.Meters))
	}
	if u.SLAReporter != "" {
		out = append(out, "sla reporter "+u.SLAReporter)
	}
	if u.RevenueShareBP > 0 {
		out = append(out, "revenue share "+fmtBP(u.RevenueShareBP)+" of derived grants' revenue")
	}
	return out
}

// metricString describes a metered metric: its pricing and caps.
func metricString(m ledger.UsageMetric) string {
	p := m.Pricing
	per := m.Unit
	if p.Per > 1 {
		per = fmt.Sprintf("%d %s", p.Per, m.Unit)
	}
	tiers := make([]string, len(p.Tiers))
	for i, t := range p.Tiers {
		price := fmtMoney(t.UnitMicros, p.Currency) + " per " + per
		switch {
		case len(p.Tiers) == 1:
			tiers[i] = price
		case t.UpTo == 0:
			tiers[i] = "then " + price
		default:
			tiers[i] = fmt.Sprintf("up to %d at %s", t.UpTo, price)
		}
	}
	s := fmt.Sprintf("%s (%s), %s: %s", m.Name, m.Unit, p.Model, strings.Join(tiers, ", "))
	if m.SoftCap > 0 {
		s += fmt.Sprintf("; soft cap %d", m.SoftCap)
	}
	if m.HardCap > 0 {
		s += fmt.Sprintf("; hard cap %d", m.HardCap)
	}
	return s
}
