package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// read commands share these list flags.
type listFlags struct {
	limit  int
	cursor string
}

func (l *listFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&l.limit, "limit", 100, "most items to list")
	fs.StringVar(&l.cursor, "cursor", "", "continue a listing from this cursor")
}

func (l *listFlags) opts() []client.ReadOption {
	o := []client.ReadOption{client.Limit(l.limit)}
	if l.cursor != "" {
		o = append(o, client.Cursor(l.cursor))
	}
	return o
}

func printNext(w io.Writer, next string) {
	if next != "" {
		fmt.Fprintf(w, "(more: --cursor %s)\n", next)
	}
}

// reader is a client read command taking one optional ID.
func reader(name, args, summary string, run func(e *env, c *client.Client, args []string) error) *command {
	return &command{name: name, args: args, summary: summary, client: true,
		run: func(e *env, _ *flag.FlagSet, a []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			return explain(run(e, c, a))
		}}
}

func statusCmd() *command {
	return reader("status", "", "Show the node's role, leader, applied index, journal head and state digest", func(e *env, c *client.Client, args []string) error {
		s, err := c.Status(e.ctx)
		if err != nil {
			return err
		}
		return e.show(s, func(w io.Writer) {
			fmt.Fprintf(w, "node\t%s (%s)\n", s.ID, s.Role)
			fmt.Fprintf(w, "leader\t%s (term %d)\n", dash(s.Leader), s.Term)
			fmt.Fprintf(w, "consortium\t%s\n", s.Consortium)
			fmt.Fprintf(w, "applied index\t%d (commit %d)\n", s.AppliedIndex, s.CommitIndex)
			fmt.Fprintf(w, "ledger time\t%s\n", s.LedgerTime.UTC().Format(time.RFC3339))
			head, _ := json.Marshal(s.JournalHead)
			fmt.Fprintf(w, "journal head\t%s\n", head)
			fmt.Fprintf(w, "state digest\t%x\n", s.StateDigest[:])
			fmt.Fprintf(w, "voters\t%s\n", strings.Join(s.Voters, ", "))
			fmt.Fprintf(w, "non-voters\t%s\n", orNone(s.Nonvoters))
			fmt.Fprintf(w, "version\t%s\n", s.Version)
		})
	})
}

func memberCmd() *command {
	var lf listFlags
	list := reader("list", "", "List members", func(e *env, c *client.Client, args []string) error {
		ms, next, err := c.Members(e.ctx, lf.opts()...)
		if err != nil {
			return err
		}
		err = e.show(ms, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tROLE\tSTATUS\tKEYS\tRAFT\tAPI")
			for _, m := range ms {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.Role, m.Status, len(m.Keys), dash(m.Node.RaftAddr), dash(m.Node.APIAddr))
			}
		})
		printNext(e.stderr, next)
		return err
	})
	list.flags = lf.register
	show := reader("show", "<member>", "Show one member", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "a member ID"); err != nil {
			return err
		}
		m, err := c.Member(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.json(m)
	})
	return &command{name: "member", summary: "List and show members", subs: []*command{list, show}}
}

func tokenCmd() *command {
	var scopes, out string
	var ttl time.Duration
	create := &command{
		name: "create", summary: "Create an API token for the signing member and register its hash",
		example: "  charta token create --key acme.key --scopes read,write --ttl 720h --out acme.token",
		client:  true, signs: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&scopes, "scopes", "read", "comma-separated: read, write, admin")
			fs.DurationVar(&ttl, "ttl", 365*24*time.Hour, "how long the token is valid")
			fs.StringVar(&out, "out", "", "write the token to this file (mode 0600) instead of printing it")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			tok, err := newToken()
			if err != nil {
				return err
			}
			body := ledger.TokenRegister{Hash: ledger.HashToken(tok), Scopes: split(scopes), ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Second)}
			if err := e.propose("token.register", "", body); err != nil {
				return err
			}
			if out != "" {
				return writeNew(out, []byte(tok+"\n"), 0o600)
			}
			fmt.Fprintln(e.stdout, tok)
			return nil
		},
	}
	revoke := &command{
		name: "revoke", args: "<token or its sha256 hex>", summary: "Revoke an API token", client: true, signs: true,
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a token or its hash"); err != nil {
				return err
			}
			h := args[0]
			if len(h) != 64 {
				h = ledger.HashToken(h)
			}
			return e.propose("token.revoke", "", ledger.TokenRevoke{Hash: h})
		},
	}
	return &command{name: "token", summary: "Create and revoke API tokens", subs: []*command{create, revoke}}
}

func newToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "charta_" + hex.EncodeToString(b[:]), nil
}

func assetCmd() *command {
	var id, kind, name, digest, spdx, card, legal string
	var owners, parents, cosign multiFlag
	register := &command{
		name: "register", summary: "Register an asset (signed by every owner)", client: true, signs: true,
		example: `  charta asset register --key alpha.key --id model-x --kind model --digest sha256:<64 hex>
  charta asset register --key beta.key --id model-y --kind model --digest sha256:<64 hex> \
      --parent model-x:g-1          # derived from model-x under grant g-1`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&id, "id", "", "asset ID (required)")
			fs.StringVar(&kind, "kind", "", "model, dataset, algorithm, software, output, patent or compute (required)")
			fs.StringVar(&name, "name", "", "human-readable name")
			fs.StringVar(&digest, "digest", "", "sha256:<64 hex> of the weights or data manifest (required)")
			fs.StringVar(&spdx, "spdx", "", "SPDX licence ID")
			fs.StringVar(&card, "model-card", "", "model card URI")
			fs.StringVar(&legal, "legal-text-hash", "", "sha256:<hex> of the legal text")
			fs.Var(&owners, "owner", "member=share_bp (repeat; default: the signer owns 10000)")
			fs.Var(&parents, "parent", "asset[:grant[:territory[:purpose]]] it derives from (repeat)")
			fs.Var(&cosign, "cosign", "key file of a co-owner who signs too (repeat)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if id == "" || kind == "" || digest == "" {
				return usagef("--id, --kind and --digest are required")
			}
			s, err := e.signer()
			if err != nil {
				return err
			}
			body := ledger.AssetRegister{ID: id, Kind: ledger.AssetKind(kind), Name: name, Digest: digest, SPDX: spdx, ModelCardURI: card, LegalTextHash: legal}
			for _, o := range owners {
				m, bp, ok := strings.Cut(o, "=")
				n, err := strconv.ParseUint(bp, 10, 32)
				if !ok || err != nil {
					return usagef("--owner %q: want member=share_bp", o)
				}
				body.Owners = append(body.Owners, ledger.Owner{Member: m, ShareBP: uint32(n)})
			}
			if len(body.Owners) == 0 {
				body.Owners = []ledger.Owner{{Member: memberOfKey(s), ShareBP: 10000}}
			}
			for _, p := range parents {
				parts := strings.Split(p, ":")
				for len(parts) < 4 {
					parts = append(parts, "")
				}
				body.Parents = append(body.Parents, ledger.Parent{Asset: parts[0], Grant: parts[1], Territory: parts[2], Purpose: parts[3]})
			}
			return e.propose("asset.register", "", body, cosign...)
		},
	}
	var lf listFlags
	list := reader("list", "", "List assets", func(e *env, c *client.Client, args []string) error {
		as, next, err := c.Assets(e.ctx, lf.opts()...)
		if err != nil {
			return err
		}
		err = e.show(as, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tKIND\tOWNERS\tPARENTS\tDIGEST")
			for _, a := range as {
				var os, ps []string
				for _, o := range a.Owners {
					os = append(os, fmt.Sprintf("%s(%d)", o.Member, o.ShareBP))
				}
				for _, p := range a.Parents {
					ps = append(ps, p.Asset)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%.23s…\n", a.ID, a.Kind, strings.Join(os, ","), dash(strings.Join(ps, ",")), a.Digest)
			}
		})
		printNext(e.stderr, next)
		return err
	})
	list.flags = lf.register
	show := reader("show", "<asset>", "Show one asset", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "an asset ID"); err != nil {
			return err
		}
		a, err := c.Asset(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.json(a)
	})
	lineage := reader("lineage", "<asset>", "Show an asset's ancestors and descendants", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "an asset ID"); err != nil {
			return err
		}
		l, err := c.Lineage(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.show(l, func(w io.Writer) {
			for _, a := range l.Ancestors {
				fmt.Fprintf(w, "ancestor\t%s\t%s\n", a.ID, a.Kind)
			}
			for _, a := range l.Descendants {
				fmt.Fprintf(w, "descendant\t%s\t%s\n", a.ID, a.Kind)
			}
		})
	})
	var from, to string
	var share uint
	transfer := &command{
		name: "transfer", args: "<asset>", summary: "Transfer an ownership share (signed by both sides)", client: true, signs: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "giving owner (default: the signer)")
			fs.StringVar(&to, "to", "", "receiving member (required)")
			fs.UintVar(&share, "share", 10000, "share in basis points")
			fs.Var(&cosign, "cosign", "key file of the receiving member")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "an asset ID"); err != nil {
				return err
			}
			if from == "" {
				s, err := e.signer()
				if err != nil {
					return err
				}
				from = memberOfKey(s)
			}
			return e.propose("asset.transfer", "", ledger.AssetTransfer{Asset: args[0], From: from, To: to, ShareBP: uint32(share)}, cosign...)
		},
	}
	return &command{name: "asset", summary: "Register, transfer, list and show assets", subs: []*command{register, list, show, lineage, transfer}}
}

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

func bundleCmd() *command {
	var file string
	var cosign multiFlag
	offer := &command{
		name: "offer", summary: "Offer a bundle of grants that activate together", client: true, signs: true,
		example: "  charta bundle offer --key alpha.key --file cross-licence.json [--cosign beta.key]",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&file, "file", "", "JSON bundle: {id, deadline, linked_termination, grants:[{id, licensors, licensees, terms}]} (required)")
			fs.Var(&cosign, "cosign", "key file of another party signing in the same envelope (repeat)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if file == "" {
				return usagef("--file is required")
			}
			var b ledger.BundleOffer
			if err := readJSONFile(file, &b); err != nil {
				return err
			}
			return e.propose("bundle.offer", "", b, cosign...)
		},
	}
	accept := &command{
		name: "accept", args: "<bundle>", summary: "Sign a bundle as one of its parties", client: true, signs: true,
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a bundle ID"); err != nil {
				return err
			}
			return e.propose("bundle.accept", "", ledger.BundleAccept{Bundle: args[0]})
		},
	}
	var lf listFlags
	list := reader("list", "", "List the bundles you can see", func(e *env, c *client.Client, args []string) error {
		bs, next, err := c.Bundles(e.ctx, lf.opts()...)
		if err != nil {
			return err
		}
		err = e.show(bs, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tSTATUS\tPARTIES\tGRANTS\tDEADLINE")
			for _, b := range bs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", b.ID, b.Status, strings.Join(b.Parties, ","), strings.Join(b.Grants, ","), b.Deadline.UTC().Format(time.RFC3339))
			}
		})
		printNext(e.stderr, next)
		return err
	})
	list.flags = lf.register
	show := reader("show", "<bundle>", "Show one bundle", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "a bundle ID"); err != nil {
			return err
		}
		b, err := c.Bundle(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.json(b)
	})
	return &command{name: "bundle", summary: "Offer and accept cross-licence bundles", subs: []*command{offer, accept, list, show}}
}

func ballotCmd() *command {
	var id, action, params, reason, deadline string
	open := &command{
		name: "open", summary: "Open a governance ballot (your own vote counts as yes)", client: true, signs: true,
		example: `  charta ballot open --key alpha.key --id admit-delta --action member.admit --params delta.json --deadline 2027-01-01
  charta ballot open --key alpha.key --id drop-x --action member.remove --params '{"member":"x"}'`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&id, "id", "", "ballot ID (required)")
			fs.StringVar(&action, "action", "", "member.admit, member.suspend, member.remove, key.revoke or charter.amend (required)")
			fs.StringVar(&params, "params", "", "the action's parameters: a JSON file or inline JSON (required)")
			fs.StringVar(&deadline, "deadline", "", "when the ballot expires (default: in 7 days)")
			fs.StringVar(&reason, "reason", "", "why")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if id == "" || action == "" || params == "" {
				return usagef("--id, --action and --params are required")
			}
			raw := []byte(params)
			if !strings.HasPrefix(strings.TrimSpace(params), "{") {
				b, err := os.ReadFile(params)
				if err != nil {
					return err
				}
				raw = b
			}
			if !json.Valid(raw) {
				return usagef("--params: not valid JSON")
			}
			d := time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)
			if deadline != "" {
				t, err := parseTime("deadline", deadline)
				if err != nil {
					return err
				}
				d = *t
			}
			return e.propose("ballot.open", "", ledger.BallotOpenBody{ID: id, Action: action, Params: raw, Deadline: d, Reason: reason})
		},
	}
	var no bool
	vote := &command{
		name: "vote", args: "<ballot>", summary: "Vote on a ballot (yes unless --no)", client: true, signs: true,
		flags: func(fs *flag.FlagSet) { fs.BoolVar(&no, "no", false, "vote against") },
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a ballot ID"); err != nil {
				return err
			}
			return e.propose("ballot.vote", "", ledger.BallotVoteBody{Ballot: args[0], Approve: !no})
		},
	}
	var lf listFlags
	list := reader("list", "", "List ballots", func(e *env, c *client.Client, args []string) error {
		bs, next, err := c.Ballots(e.ctx, lf.opts()...)
		if err != nil {
			return err
		}
		err = e.show(bs, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tACTION\tSTATUS\tPROPOSER\tDEADLINE")
			for _, b := range bs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", b.ID, b.Action, b.Status, b.Proposer, b.Deadline.UTC().Format(time.RFC3339))
			}
		})
		printNext(e.stderr, next)
		return err
	})
	list.flags = lf.register
	show := reader("show", "<ballot>", "Show one ballot and its votes", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "a ballot ID"); err != nil {
			return err
		}
		b, err := c.Ballot(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.json(b)
	})
	return &command{name: "ballot", summary: "Open, vote on and list governance ballots", subs: []*command{open, vote, list, show}}
}

func journalCmd() *command {
	var from uint64
	var limit int
	list := reader("list", "", "List journal entries with their outcomes", func(e *env, c *client.Client, args []string) error {
		es, next, err := c.Journal(e.ctx, from, limit)
		if err != nil {
			return err
		}
		err = e.show(es, func(w io.Writer) {
			fmt.Fprintln(w, "SEQ\tINDEX\tTIME\tTYPE\tID\tSIGNER\tSTATUS\tCODE")
			for _, x := range es {
				fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Seq, x.Index, x.LedgerTime.UTC().Format(time.RFC3339),
					dash(x.Outcome.Type), dash(x.Outcome.ID), dash(x.Outcome.Signer), x.Outcome.Status, dash(string(x.Outcome.Code)))
			}
		})
		printNext(e.stderr, next)
		return err
	})
	list.flags = func(fs *flag.FlagSet) {
		fs.Uint64Var(&from, "from", 0, "first entry (sequence number)")
		fs.IntVar(&limit, "limit", 100, "most entries")
	}
	show := reader("show", "<seq>", "Show one journal entry", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "an entry sequence number"); err != nil {
			return err
		}
		n, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			return usagef("%q is not an entry number", args[0])
		}
		x, err := c.JournalEntry(e.ctx, n)
		if err != nil {
			return err
		}
		return e.json(x)
	})
	return &command{name: "journal", summary: "Read the journal", subs: []*command{list, show, journalExportCmd(), journalReceiptCmd()}}
}

func checkCmd() *command {
	var req ledger.CheckRequest
	var action, at, consistency string
	var proof bool
	return &command{
		name: "check", summary: "Ask whether a member may act on an asset, and why (exit 0 allowed, 1 denied, 2 error)", client: true,
		example: `  charta check --member beta --asset model-x --action train --territory DE --purpose research`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&req.Member, "member", "", "member asking (required)")
			fs.StringVar(&req.Asset, "asset", "", "asset (required)")
			fs.StringVar(&action, "action", "", "right asked for, e.g. train (required)")
			fs.StringVar(&req.Territory, "territory", "", "ISO 3166-1 alpha-2 country of use")
			fs.StringVar(&req.Purpose, "purpose", "", "purpose of use")
			fs.StringVar(&req.Industry, "industry", "", "industry of use")
			fs.Int64Var(&req.Quantity, "quantity", 0, "seats or deployments asked for")
			fs.StringVar(&at, "at", "", "time of use (default: ledger time)")
			fs.StringVar(&consistency, "consistency", "leader", "stale, leader or linearizable")
			fs.BoolVar(&proof, "proof", false, "print a proof-carrying answer (JSON) that charta verify checks offline")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if req.Member == "" || req.Asset == "" || action == "" {
				return usagef("--member, --asset and --action are required")
			}
			req.Action = ledger.Right(action)
			t, err := parseTime("at", at)
			if err != nil {
				return err
			}
			if t != nil {
				req.At = *t
			}
			c, err := e.client()
			if err != nil {
				return &exitError{2, e.path + ": " + err.Error()}
			}
			if proof {
				return printCheckProof(e, c, req, client.Consistency(consistency))
			}
			d, err := c.Check(e.ctx, req, client.Consistency(consistency))
			if err != nil {
				return &exitError{2, e.path + ": " + explain(err).Error()}
			}
			if err := e.show(d, func(w io.Writer) { printDecision(w, d) }); err != nil {
				return err
			}
			if !d.Allowed {
				return &exitError{code: 1}
			}
			return nil
		},
	}
}

func printDecision(w io.Writer, d *ledger.Decision) {
	verdict := "DENIED"
	if d.Allowed {
		verdict = "ALLOWED"
	}
	fmt.Fprintf(w, "%s\t%s\n", verdict, d.Reason)
	if len(d.Chain) > 0 {
		fmt.Fprintf(w, "chain\t%s\n", strings.Join(d.Chain, " ← "))
	}
	for _, c := range d.Candidates {
		fmt.Fprintf(w, "grant %s\t%s: %s\n", c.Grant, c.Status, c.Reason)
	}
	for _, du := range d.Duties {
		what := du.Text
		if du.Kind == ledger.DutyReportUsage {
			what = fmt.Sprintf("report %s every %s within %d days", du.Metric, du.Period, du.DueDays)
		}
		fmt.Fprintf(w, "duty\t%s: %s\n", du.Kind, what)
	}
	if d.SeatsLeft != nil {
		fmt.Fprintf(w, "seats left\t%d\n", *d.SeatsLeft)
	}
	for _, c := range d.Caps {
		fmt.Fprintf(w, "cap %s\t%d of %d %s left in %s (grant %s)\n", c.Metric, c.Remaining, c.Cap, c.Unit, c.Period, c.Grant)
	}
}
