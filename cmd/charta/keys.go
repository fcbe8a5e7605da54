package main

import (
	"encoding/json"
	"flag"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
)

func keyCmd() *command {
	var newKey, old string
	rotate := &command{
		name: "rotate", summary: "Replace one of your member keys with a new one (signed by both)", client: true, signs: true,
		example: `  charta keygen --member alpha --out alpha-2.key
  charta key rotate --key alpha.key --new alpha-2.key
  # a node started with --key alpha.key: replace that file by alpha-2.key; the node switches on its own (or on SIGHUP)`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&newKey, "new", "", "key file of the new key, from charta keygen (required)")
			fs.StringVar(&old, "old", "", "key ID to replace (default: the --key file's key)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if newKey == "" {
				return usagef("--new is required: the key file of the new key (create it with charta keygen)")
			}
			s, err := e.signer()
			if err != nil {
				return err
			}
			pub, err := readPublicKey(newKey)
			if err != nil {
				return usagef("--new: %v", err)
			}
			member, _, _ := strings.Cut(s.KeyID, "/")
			if pub.Member != member {
				return usagef("--new: %s holds a key of member %s, not %s", newKey, pub.Member, member)
			}
			if old == "" {
				old = s.KeyID
			}
			return e.propose("key.rotate", "", ledger.KeyRotate{Old: old, New: pub.Public}, newKey)
		},
	}
	var id, deadline, reason string
	revoke := &command{
		name: "revoke", args: "<key-id>", summary: "Open a key.revoke ballot for a member key (members vote on it)", client: true, signs: true,
		example: `  charta key revoke --key alpha.key --id revoke-beta-1 beta/0123456789abcdef --reason "laptop stolen"
  charta ballot vote --key beta.key revoke-beta-1`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&id, "id", "", "ballot ID (default: revoke-<fingerprint>)")
			fs.StringVar(&deadline, "deadline", "", "when the ballot expires (default: in 7 days)")
			fs.StringVar(&reason, "reason", "", "why")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a key ID (<member>/<fingerprint>)"); err != nil {
				return err
			}
			member, fp, ok := strings.Cut(args[0], "/")
			if !ok || !ledger.ValidMemberID(member) || len(fp) != 16 || strings.Trim(fp, "0123456789abcdef") != "" {
				return usagef("%q is not a key ID (<member>/<16 hex digits>, as charta member show lists them)", args[0])
			}
			if id == "" {
				id = "revoke-" + member + "-" + fp
			}
			d := time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)
			if deadline != "" {
				t, err := parseTime("deadline", deadline)
				if err != nil {
					return err
				}
				d = *t
			}
			params, _ := json.Marshal(ledger.KeyRevokeParams{Key: args[0]})
			return e.propose("ballot.open", "", ledger.BallotOpenBody{ID: id, Action: "key.revoke", Params: params, Deadline: d, Reason: reason})
		},
	}
	return &command{name: "key", summary: "Rotate and revoke member keys", subs: []*command{rotate, revoke}}
}

func slaCmd() *command {
	var b ledger.SLAReportBody
	var measurements string
	report := &command{
		name: "report", summary: "Report measured service levels of a grant for a period (the grant's SLA reporter)", client: true, signs: true,
		example: `  charta sla report --key meter.key --grant g-api --report-id sla-2026-11 --period 2026-11 \
      --measurements availability_bp=9950,p99_latency_ms=180`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&b.Grant, "grant", "", "grant ID (required)")
			fs.StringVar(&b.ReportID, "report-id", "", "your ID for the report; resubmitting it is harmless (required)")
			fs.StringVar(&b.Period, "period", "", "period key, e.g. 2026-11 (required)")
			fs.StringVar(&measurements, "measurements", "", "metric=value, comma-separated integers (required)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if b.Grant == "" || b.ReportID == "" || b.Period == "" || measurements == "" {
				return usagef("--grant, --report-id, --period and --measurements are required")
			}
			b.Measurements = nil
			for _, m := range split(measurements) {
				k, v, ok := strings.Cut(m, "=")
				n, err := strconv.ParseInt(v, 10, 64)
				if !ok || k == "" || err != nil {
					return usagef("--measurements %q: want metric=integer", m)
				}
				b.Measurements = append(b.Measurements, ledger.SLAMeasurement{Metric: k, Value: n})
			}
			slices.SortFunc(b.Measurements, func(x, y ledger.SLAMeasurement) int { return strings.Compare(x.Metric, y.Metric) })
			for i := 1; i < len(b.Measurements); i++ {
				if b.Measurements[i].Metric == b.Measurements[i-1].Metric {
					return usagef("--measurements: %s is given twice", b.Measurements[i].Metric)
				}
			}
			return e.propose("sla.report", "", b)
		},
	}
	return &command{name: "sla", summary: "Report measured service levels", subs: []*command{report}}
}
