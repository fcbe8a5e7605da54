package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
	"github.com/charta/charta/node/client"
)

func poolCmd() *command {
	var pc ledger.PoolCreate
	var period, quotas, owners string
	create := &command{
		name: "create", summary: "Create a pool owned by its contributors (every owner signs: use --cosign)", client: true, signs: true,
		example: `  charta pool create --key gamma.key --id gpu --resource gpu --unit gpu-hour --period month \
      --capacity 1000 --quotas alpha=400,beta=300,gamma=300`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&pc.ID, "id", "", "pool ID (required)")
			fs.StringVar(&pc.Resource, "resource", "", "what is shared, e.g. gpu (required)")
			fs.StringVar(&pc.Unit, "unit", "", "unit of amounts, e.g. gpu-hour (required)")
			fs.StringVar(&period, "period", "month", "day, week, month, quarter or year (calendar, UTC)")
			fs.Int64Var(&pc.Capacity, "capacity", 0, "capacity per period (required)")
			fs.StringVar(&pc.Mode, "mode", "fixed", "fixed (amounts) or weighted (weights normalised to the capacity)")
			fs.StringVar(&quotas, "quotas", "", "member=amount (or weight), comma-separated (required)")
			fs.StringVar(&owners, "owners", "", "owning members (default: the signer)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if pc.ID == "" || pc.Resource == "" || pc.Unit == "" || pc.Capacity == 0 || quotas == "" {
				return usagef("--id, --resource, --unit, --capacity and --quotas are required")
			}
			s, err := e.signer()
			if err != nil {
				return err
			}
			pc.Period = ledger.Period(period)
			for _, q := range split(quotas) {
				m, v, ok := strings.Cut(q, "=")
				n, err := strconv.ParseInt(v, 10, 64)
				if !ok || err != nil {
					return usagef("--quotas %q: want member=number", q)
				}
				spec := ledger.QuotaSpec{Member: m, Amount: n}
				if pc.Mode == "weighted" {
					spec = ledger.QuotaSpec{Member: m, Weight: n}
				}
				pc.Quotas = append(pc.Quotas, spec)
			}
			pc.Owners = split(owners)
			if len(pc.Owners) == 0 {
				pc.Owners = []string{memberOfKey(s)}
			}
			return e.propose("pool.create", "", pc)
		},
	}
	var pool, ref, to, forPeriod, member string
	var amount int64
	consume := &command{
		name: "consume", summary: "Use an amount of your quota, or as a pool owner of a member's (rejected if it would overdraw it)", client: true, signs: true,
		example: "  charta pool consume --key beta.key --pool gpu --amount 12 --ref job-4711\n" +
			"  charta pool consume --key gateway.key --pool gpu --amount 3 --member gamma   # an owner metering gamma",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&pool, "pool", "", "pool ID (required)")
			fs.Int64Var(&amount, "amount", 0, "amount (required)")
			fs.StringVar(&ref, "ref", "", "your reference, e.g. a job ID")
			fs.StringVar(&member, "member", "", "whose quota to consume (default: yours; another member's only as a pool owner)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if pool == "" || amount == 0 {
				return usagef("--pool and --amount are required")
			}
			return e.propose("pool.consume", "", ledger.PoolConsume{Pool: pool, Amount: amount, Ref: ref, Member: member})
		},
	}
	transfer := &command{
		name: "transfer", summary: "Give part of your quota to another member (total is conserved)", client: true, signs: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&pool, "pool", "", "pool ID (required)")
			fs.StringVar(&to, "to", "", "receiving member (required)")
			fs.Int64Var(&amount, "amount", 0, "amount (required)")
			fs.StringVar(&forPeriod, "for-period", "", "period key, e.g. 2026-12 (default: the current one)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if pool == "" || to == "" || amount == 0 {
				return usagef("--pool, --to and --amount are required")
			}
			return e.propose("pool.transfer", "", ledger.PoolTransfer{Pool: pool, To: to, Amount: amount, Period: forPeriod})
		},
	}
	list := tableList("list", "List pools", "pools", "ID\tRESOURCE\tUNIT\tPERIOD\tCAPACITY\tMODE\tQUOTAS\tOWNERS",
		func(e *env, c *client.Client, lf *listFlags) ([]json.RawMessage, string, error) {
			return c.Pools(e.ctx, lf.opts()...)
		},
		func(w io.Writer, p ledger.Pool) {
			quotas := make([]string, len(p.Quotas))
			for i, q := range p.Quotas {
				quotas[i] = fmt.Sprintf("%s=%d", q.Member, q.Quota)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", p.ID, p.Resource, p.Unit, p.Period, p.Capacity, p.Mode,
				strings.Join(quotas, ","), dash(strings.Join(p.Owners, ",")))
		})
	usage := reader("usage", "<pool>", "Show each member's quota, use and remaining amount this period", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "a pool ID"); err != nil {
			return err
		}
		u, err := c.PoolUsage(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.show(u, rows(u.Members, "members", "MEMBER\tPERIOD\tQUOTA\tUSED\tHELD\tREMAINING", func(w io.Writer, m ledger.MemberUsage) {
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\n", m.Member, m.Period, m.Quota, m.Used, m.Held, m.Remaining)
		}))
	})
	return &command{name: "pool", summary: "Shared-resource pools with quotas", subs: []*command{create, consume, transfer, list, usage}}
}

func usageCmd() *command {
	var b ledger.UsageReportBody
	var metrics, start, end string
	report := &command{
		name: "report", summary: "Report metered usage of a grant for a period (licensee or its meter)", client: true, signs: true,
		example: `  charta usage report --key beta.key --grant g-gpu --report-id r-2026-11-a --period 2026-11 \
      --start 2026-11-01 --end 2026-11-15 --metrics gpu_hours=420`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&b.Grant, "grant", "", "grant ID (required)")
			fs.StringVar(&b.ReportID, "report-id", "", "your ID for the report; resubmitting it is harmless (required)")
			fs.StringVar(&b.Period, "period", "", "period key, e.g. 2026-11 (required)")
			fs.StringVar(&start, "start", "", "start of the usage window (required)")
			fs.StringVar(&end, "end", "", "end of the usage window (required)")
			fs.StringVar(&metrics, "metrics", "", "metric=quantity, comma-separated (required)")
			fs.StringVar(&b.Territory, "territory", "", "where the use took place")
			fs.StringVar(&b.Purpose, "purpose", "", "for what purpose")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if b.Grant == "" || b.ReportID == "" || b.Period == "" || metrics == "" {
				return usagef("--grant, --report-id, --period, --start, --end and --metrics are required")
			}
			s, err := parseTime("start", start)
			if err != nil {
				return err
			}
			t, err := parseTime("end", end)
			if err != nil {
				return err
			}
			if s == nil || t == nil {
				return usagef("--start and --end are required")
			}
			b.Window = ledger.Window{Start: *s, End: *t}
			for _, m := range split(metrics) {
				k, v, ok := strings.Cut(m, "=")
				n, err := strconv.ParseInt(v, 10, 64)
				if !ok || err != nil {
					return usagef("--metrics %q: want metric=quantity", m)
				}
				b.Metrics = append(b.Metrics, ledger.MetricQuantity{Metric: k, Quantity: n})
			}
			slices.SortFunc(b.Metrics, func(x, y ledger.MetricQuantity) int { return strings.Compare(x.Metric, y.Metric) })
			c, err := e.client()
			if err != nil {
				return err
			}
			if err := sealUsage(e, c, &b); err != nil {
				return err
			}
			return e.propose("usage.report", "", b)
		},
	}
	return &command{name: "usage", summary: "Report metered usage", subs: []*command{report}}
}

func statementCmd() *command {
	var period string
	show := reader("show", "<grant>", "Compute a grant's statements: tiers, credits, multipliers, minimum, revenue share", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "a grant ID"); err != nil {
			return err
		}
		opts := []client.ReadOption{}
		if period != "" {
			opts = append(opts, client.Param("period", period))
		}
		raw, _, err := c.GrantStatements(e.ctx, args[0], opts...)
		if err != nil {
			return err
		}
		if e.g.output == "json" {
			return e.json(raw)
		}
		sts, err := decodeRaw[ledger.Statement](raw)
		if err != nil {
			return err
		}
		return e.show(sts, rows(sts, "statements", "PERIOD\tSTATUS\tLINE\tQUANTITY\tAMOUNT", printStatement))
	})
	show.flags = func(fs *flag.FlagSet) { fs.StringVar(&period, "period", "", "one period, e.g. 2026-11") }
	var ab ledger.StatementAttestBody
	var encKey string
	attest := &command{
		name: "attest", args: "<grant>", summary: "Attest a confidential grant's statement for a period, as your node computes it (a party)", client: true, signs: true,
		example: `  charta statement attest --key beta.key --period 2026-11 g-c`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&ab.Period, "period", "", "the period, e.g. 2026-11 (required)")
			fs.StringVar(&encKey, "enc-key", "", "key file holding your encryption key (default: the --key file)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a grant ID"); err != nil {
				return err
			}
			if ab.Period == "" {
				return usagef("--period is required")
			}
			if encKey == "" {
				encKey = e.g.key
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			og, err := openGrant(e, c, args[0], encKey)
			if err != nil {
				return err
			}
			raw, _, err := c.GrantStatements(e.ctx, args[0], client.Param("period", ab.Period))
			if err != nil {
				return explain(err)
			}
			sts, err := decodeRaw[ledger.Statement](raw)
			if err != nil {
				return err
			}
			if len(sts) != 1 {
				return fmt.Errorf("%s answered %d statements for grant %s period %s, not one", e.g.server, len(sts), args[0], ab.Period)
			}
			tag, err := seal.StatementTag(og.opening, sts[0].Encode())
			if err != nil {
				return err
			}
			ab.Grant, ab.Tag = args[0], tag
			fmt.Fprintf(e.stderr, "attesting the statement of grant %s for %s (total %d micro-units, %s) with tag %s\n", ab.Grant, ab.Period, sts[0].TotalMicros, sts[0].Status, ab.Tag)
			return e.propose("statement.attest", "", ab)
		},
	}
	attestations := reader("attestations", "<grant>", "Show where the parties' attestations of a confidential grant's statements stand", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "a grant ID"); err != nil {
			return err
		}
		as, err := c.GrantAttestations(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.show(as, func(tw io.Writer) {
			fmt.Fprintln(tw, "PERIOD\tMEMBER\tTAG\tINDEX\tAGREED")
			for _, a := range as {
				agreed := "no"
				if a.Agreed != nil {
					agreed = "yes, at index " + strconv.FormatUint(a.AgreedIndex, 10)
				}
				for _, b := range a.By {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", a.Period, b.Member, b.Tag, b.Index, agreed)
				}
			}
		})
	})
	return &command{name: "statement", summary: "Fee statements computed from usage and terms", subs: []*command{show, attest, attestations}}
}

func infractionCmd() *command {
	var member, grant, kind string
	list := tableList("list", "List infractions of grants you are a party to", "infractions", "AT\tGRANT\tKIND\tMEMBERS\tPERIOD\tDETAIL",
		func(e *env, c *client.Client, lf *listFlags) ([]json.RawMessage, string, error) {
			opts := lf.opts()
			for k, v := range map[string]string{"member": member, "grant": grant, "kind": kind} {
				if v != "" {
					opts = append(opts, client.Param(k, v))
				}
			}
			return c.Infractions(e.ctx, opts...)
		},
		func(w io.Writer, in ledger.Infraction) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", in.At.UTC().Format(time.RFC3339), infractionSubject(&in), in.Kind, strings.Join(in.Members, ","),
				dash(in.Period), infractionDetail(&in))
		})
	inner := list.flags
	list.flags = func(fs *flag.FlagSet) {
		inner(fs)
		fs.StringVar(&member, "member", "", "only this member's")
		fs.StringVar(&grant, "grant", "", "only this grant's")
		fs.StringVar(&kind, "kind", "", "only this kind")
	}
	return &command{name: "infraction", summary: "Compliance infractions recorded by the ledger or observed by licensors", subs: []*command{list, observeCmd()}}
}

// infractionSubject is the grant an infraction is about, or the asset of
// an observed infraction that names no grant.
func infractionSubject(in *ledger.Infraction) string {
	if in.Grant == "" && in.Asset != "" {
		return "asset " + in.Asset
	}
	return in.Grant
}

// infractionDetail is the detail, with who observed what for an observed
// infraction.
func infractionDetail(in *ledger.Infraction) string {
	if in.Kind != ledger.InfractionObserved || in.Window == nil {
		return in.Detail
	}
	return fmt.Sprintf("%s observed %d %s attempt(s) on %s in [%s, %s): %s", in.Observer, in.Attempts, in.Action, in.Asset,
		in.Window.Start.Format(time.RFC3339), in.Window.End.Format(time.RFC3339), in.Detail)
}

// observeCmd is charta infraction observe: a licensor or an asset's owner
// reports what it observed of a member's use.
func observeCmd() *command {
	var b ledger.InfractionObserve
	var action, from, to string
	return &command{
		name: "observe", summary: "Report a member's observed misuse of an asset (as its owner or a licensor of the grant)", client: true, signs: true,
		example: `  charta infraction observe --key alpha.key --grant g1 --licensee beta --asset atlas-7b --action train \
      --attempts 12 --from 2026-11-02T10:00:00Z --to 2026-11-02T11:00:00Z --reason "12 denied train calls at the gateway"`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&b.ID, "id", "", "your ID for the observation (default: the proposal's)")
			fs.StringVar(&b.Grant, "grant", "", "the grant it concerns; none for a member with no grant")
			fs.StringVar(&b.Licensee, "licensee", "", "the member observed (required)")
			fs.StringVar(&b.Asset, "asset", "", "the asset (required)")
			fs.StringVar(&action, "action", "", "what was attempted, a right such as use or train (required)")
			fs.Int64Var(&b.Attempts, "attempts", 0, "how many attempts (required)")
			fs.StringVar(&from, "from", "", "start of the window observed, RFC 3339 (required)")
			fs.StringVar(&to, "to", "", "end of the window observed, RFC 3339 (required)")
			fs.StringVar(&b.Reason, "reason", "", "what was observed, in words (required)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if b.Licensee == "" || b.Asset == "" || action == "" || b.Attempts == 0 || from == "" || to == "" || b.Reason == "" {
				return usagef("--licensee, --asset, --action, --attempts, --from, --to and --reason are required")
			}
			start, err := parseTime("from", from)
			if err != nil {
				return err
			}
			end, err := parseTime("to", to)
			if err != nil {
				return err
			}
			b.Action, b.WindowStart, b.WindowEnd = ledger.Right(action), *start, *end
			return e.propose("infraction.observe", "", b)
		},
	}
}

// printStatement writes a statement as table rows: one per metric, one per
// adjustment, the total, and what is owed up the lineage.
func printStatement(w io.Writer, st ledger.Statement) {
	line := func(what, quantity string, micros int64) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", st.Period, st.Status, what, quantity, fmtMoney(micros, st.Currency))
	}
	for _, m := range st.Metrics {
		line(m.Metric+" ("+m.Model+")", fmt.Sprintf("%d %s", m.Quantity, m.Unit), m.AmountMicros)
	}
	line("base", "", st.BaseMicros)
	for _, a := range st.Adjustments {
		line(adjustmentString(a), "", a.AmountMicros)
	}
	line("total", "", st.TotalMicros)
	for _, r := range st.RevenueShare {
		line(fmt.Sprintf("revenue share %s to %s (%s via %s)", fmtBP(r.BP), strings.Join(r.To, ","), r.Asset, r.Via), "", r.AmountMicros)
	}
}

// adjustmentString names a statement's adjustment and what triggered it.
func adjustmentString(a ledger.Adjustment) string {
	var what string
	switch a.Kind {
	case ledger.AdjustMultiplier:
		what = "multiplier ×" + fmtMoney(a.BP*100, "")
	case ledger.AdjustSLACredit:
		what = "sla credit " + fmtBP(a.BP)
	case ledger.AdjustMinCommitment:
		what = "minimum commitment top-up"
	default:
		what = a.Kind
	}
	if a.Metric != "" && a.Value != nil {
		what += fmt.Sprintf(" (%s = %d)", a.Metric, *a.Value)
	}
	return what
}
