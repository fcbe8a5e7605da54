package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

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
			fs.StringVar(&at, "at", "", "time of use, RFC 3339 (default: now, the consortium's time: the median of the member nodes' clocks)")
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
		switch {
		case du.Kind == ledger.DutyReportUsage:
			what = fmt.Sprintf("report %s every %s within %d days", du.Metric, du.Period, du.DueDays)
		case du.Status == ledger.DutyStatusAttested:
			what = "attested for every period so far"
		case du.Due != nil:
			what = fmt.Sprintf("%s: period %d, due by %s", du.Status, du.PeriodNumber, du.Due.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(w, "duty\t%s: %s\n", du.Kind, what)
	}
	if d.SeatsLeft != nil {
		fmt.Fprintf(w, "seats left\t%d\n", *d.SeatsLeft)
	}
	for _, c := range d.Caps {
		fmt.Fprintf(w, "cap %s\t%d of %d %s left in %s (grant %s)\n", c.Metric, c.Remaining, c.Cap, c.Unit, c.Period, c.Grant)
	}
	for _, o := range d.Observed {
		fmt.Fprintf(w, "observed %s\t%s saw %d %s attempt(s) in [%s, %s): %s\n", o.ID, o.Observer, o.Attempts, o.Action,
			o.Window.Start.UTC().Format(time.RFC3339), o.Window.End.UTC().Format(time.RFC3339), o.Detail)
	}
	answered := "answered for\t" + d.At.UTC().Format(time.RFC3339)
	if d.Index != 0 {
		answered += fmt.Sprintf(" at index %d", d.Index)
	}
	fmt.Fprintln(w, answered)
}
