package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
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
		name: "revoke", args: "<key-id>", summary: "Revoke one of your delegated keys at once, or open a key.revoke ballot for a member key", client: true, signs: true,
		example: `  charta key revoke --key alpha.key alpha/0123456789abcdef     # alpha's delegated key: revoked at once
  charta key revoke --key alpha.key --id revoke-beta-1 beta/0123456789abcdef --reason "laptop stolen"
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
			if delegated, err := ownDelegatedKey(e, args[0]); err != nil {
				return err
			} else if delegated {
				return e.propose("key.revoke", id, ledger.KeyRevoke{Key: args[0]})
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
	return &command{name: "key", summary: "Rotate, delegate and revoke member keys", subs: []*command{rotate, encryptionRotateCmd(), delegateCmd(), revoke}}
}

// encryptionRotateCmd is charta key rotate-encryption: the member makes the
// encryption key of another key file its current one (the first one, for a
// member that has none).
func encryptionRotateCmd() *command {
	var newKey string
	return &command{
		name: "rotate-encryption", summary: "Register a new encryption key for your member, retiring the current one", client: true, signs: true,
		example: `  charta keygen --member alpha --out alpha-2.key
  charta key rotate-encryption --key alpha.key --new alpha-2.key`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&newKey, "new", "", "key file (or its .pub) holding the new encryption key, from charta keygen (required)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if newKey == "" {
				return usagef("--new is required: the key file of the new encryption key (create it with charta keygen)")
			}
			s, err := e.signer()
			if err != nil {
				return err
			}
			pub, err := readPublicKey(newKey)
			if err != nil {
				return usagef("--new: %v", err)
			}
			member := memberOfKey(s)
			if pub.Member != member {
				return usagef("--new: %s holds a key of member %s, not %s", newKey, pub.Member, member)
			}
			if pub.EncryptionKey == nil {
				return usagef("--new: %s holds no encryption key (it predates them); create a new key file with charta keygen", newKey)
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			m, err := c.Member(e.ctx, member)
			if err != nil {
				return explain(err)
			}
			body := ledger.EncryptionKeyRotate{New: *pub.EncryptionKey}
			if cur, ok := m.CurrentEncryptionKey(); ok {
				body.Old = cur.Fingerprint
			}
			return e.propose("key.encryption.rotate", "", body)
		},
	}
}

// ownDelegatedKey reports whether keyID is a delegated key of the --key
// signer's member, which the member revokes by itself.
func ownDelegatedKey(e *env, keyID string) (bool, error) {
	s, err := e.signer()
	if err != nil {
		return false, err
	}
	member, _, _ := strings.Cut(keyID, "/")
	if member != memberOfKey(s) {
		return false, nil
	}
	c, err := e.client()
	if err != nil {
		return false, err
	}
	m, err := c.Member(e.ctx, member)
	if err != nil {
		return false, explain(err)
	}
	for _, k := range m.PublicKeys {
		if k.ID == keyID {
			return k.Scope != nil, nil
		}
	}
	return false, nil
}

// delegateCmd is charta key delegate: a new key pair that may sign only
// within a scope, for a gateway that must not hold the member's main key.
func delegateCmd() *command {
	var types, grants, pools, assets multiFlag
	var until, out, scheme, id string
	return &command{
		name: "delegate", summary: "Create a key that may sign only some proposal types, for some grants or pools, until a time", client: true, signs: true,
		example: `  charta key delegate --key alpha.key --types usage.report,pool.consume --grant g1 --pool p1 \
      --until 2027-01-01T00:00:00Z --out gateway.key
  charta pool consume --key gateway.key --pool p1 --amount 3 --member beta`,
		flags: func(fs *flag.FlagSet) {
			fs.Var(&types, "types", "proposal types it may sign, comma-separated: "+strings.Join(ledger.DelegableTypes(), ", ")+" (required)")
			fs.Var(&grants, "grant", "grant it may sign usage.report or infraction.observe for (repeat or comma-separate)")
			fs.Var(&pools, "pool", "pool it may sign pool.consume for (repeat or comma-separate)")
			fs.Var(&assets, "asset", "asset it may sign an infraction.observe with no grant for (repeat or comma-separate)")
			fs.StringVar(&until, "until", "", "when the delegation ends, RFC 3339 (required)")
			fs.StringVar(&out, "out", "", "key file to create, mode 0600 (required)")
			fs.StringVar(&scheme, "scheme", "", "signature scheme of the new key (default: that of the --key key)")
			fs.StringVar(&id, "id", "", "proposal ID (default: random)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if len(types) == 0 || until == "" || out == "" {
				return usagef("--types, --until and --out are required")
			}
			notAfter, err := parseTime("until", until)
			if err != nil {
				return err
			}
			s, err := e.signer()
			if err != nil {
				return err
			}
			if scheme == "" {
				scheme = string(s.Key.Scheme())
			}
			if _, err := os.Stat(out); err == nil {
				return usagef("--out: %s already exists; remove it first or choose another file", out)
			}
			scope := ledger.KeyScope{Types: splitAll(types), Grants: splitAll(grants), Pools: splitAll(pools), Assets: splitAll(assets), NotAfter: *notAfter}
			pub, err := createKey(out, memberOfKey(s), ledger.Scheme(scheme), false)
			if err != nil {
				return err
			}
			if err := e.propose("key.delegate", id, ledger.KeyDelegate{Key: pub.Public, Scope: scope}); err != nil {
				// The ledger holds no such key: leave no file that looks usable.
				os.Remove(out)
				os.Remove(strings.TrimSuffix(out, ".key") + ".pub")
				return err
			}
			if e.g.output != "json" {
				fmt.Fprintf(e.stdout, "delegated key %s written to %s: %s\n", pub.KeyID, out, &scope)
			}
			return nil
		},
	}
}

// splitAll splits each comma-separated value of a repeatable flag, sorted.
func splitAll(m multiFlag) []string {
	var out []string
	for _, v := range m {
		out = append(out, split(v)...)
	}
	slices.Sort(out) // the order the ledger stores a scope in
	return out
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
			c, err := e.client()
			if err != nil {
				return err
			}
			if err := sealSLA(e, c, &b); err != nil {
				return err
			}
			return e.propose("sla.report", "", b)
		},
	}
	return &command{name: "sla", summary: "Report measured service levels", subs: []*command{report}}
}
