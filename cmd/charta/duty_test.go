package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDuty_OverdueOnIdleConsortium offers a grant whose daily fairness
// audit falls due a few seconds ahead and makes commercialize wait for
// it, then writes nothing: within seconds, without a client write, the
// overdue audit is listed as an infraction, because a time entry moved
// ledger time past its due date. The licensee then attests it from the
// CLI and may commercialize. An open Apache-2.0 asset is allowed to a
// member without a grant.
func TestDuty_OverdueOnIdleConsortium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node consortium")
	}
	bin := chartaBin(t)
	dir, _, c := devConsortium(t, bin)
	beta := filepath.Join(dir, "beta.key")
	c.ok("asset", "register", "--id", "model-fa", "--kind", "model",
		"--digest", "sha256:00000000000000000000000000000000000000000000000000000000000000fa")
	due := time.Now().Add(6 * time.Second).UTC().Truncate(time.Second)
	start := due.Add(-24 * time.Hour)
	c.ok("grant", "offer", "--id", "g-fa", "--asset", "model-fa", "--to", "beta", "--rights", "use,commercialize",
		"--not-before", start.Format(time.RFC3339), "--duty", "fairness_audit:day:0", "--require-attested", "fairness_audit:commercialize")
	c.ok("grant", "accept", "--key", beta, "g-fa")
	out, _, code := c.run("check", "--member", "beta", "--asset", "model-fa", "--action", "commercialize")
	if code != 1 || !strings.Contains(out, "allows commercialize only once its fairness_audit duty is attested") {
		t.Fatalf("commercialize before the audit: exit %d\n%s", code, out)
	}
	out = c.ok("check", "--member", "beta", "--asset", "model-fa", "--action", "use")
	if !strings.Contains(out, "duties pending: fairness_audit for period 1 is due by "+due.Format(time.RFC3339)) {
		t.Fatalf("check does not list the pending audit:\n%s", out)
	}

	// Nobody writes from here on.
	waitFor(t, 10*time.Second+time.Until(due), "the overdue audit to show without a write", func() error {
		out := c.ok("infraction", "list", "--grant", "g-fa", "-o", "json")
		if !strings.Contains(out, `"duty_overdue"`) || !strings.Contains(out, "fairness_audit for duty period 1") {
			return fmt.Errorf("infractions: %s", out)
		}
		return nil
	})
	var st struct {
		LedgerTime time.Time `json:"ledger_time"`
	}
	if err := json.Unmarshal([]byte(c.ok("status", "-o", "json")), &st); err != nil || st.LedgerTime.Before(due) {
		t.Fatalf("ledger time %s, due %s (%v)", st.LedgerTime, due, err)
	}

	// The licensee attests with the evidence file; commercialize follows.
	evidence := filepath.Join(dir, "fairness-audit.txt")
	if err := os.WriteFile(evidence, []byte("fairness audit report\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.ok("duty", "attest", "--key", beta, "--grant", "g-fa", "--kind", "fairness_audit", "--period", "1",
		"--evidence", evidence, "--uri", "https://audits.example/fa-1", "--statement", "no disparate impact found")
	c.ok("check", "--member", "beta", "--asset", "model-fa", "--action", "commercialize")
	if out := c.ok("grant", "history", "g-fa"); !strings.Contains(out, "attested") {
		t.Fatalf("history has no attestation:\n%s", out)
	}

	// An open licence: gamma holds no grant and may distribute.
	c.ok("asset", "register", "--id", "acc-open", "--kind", "software", "--spdx", "Apache-2.0", "--open",
		"--digest", "sha256:00000000000000000000000000000000000000000000000000000000000000ab")
	out = c.ok("check", "--member", "gamma", "--asset", "acc-open", "--action", "distribute")
	if !strings.Contains(out, "the licence Apache-2.0 of acc-open is open to all members and permits distribute") {
		t.Fatalf("open licence:\n%s", out)
	}

	// Bad input: one line on stderr; exit 2 for a bad command line, 1 for
	// a proposal the ledger refuses.
	for _, c2 := range []struct {
		code int
		want string
		args []string
	}{
		{2, "want kind:period:due_days", []string{"grant", "offer", "--id", "g-x", "--asset", "model-fa", "--to", "beta", "--rights", "use", "--duty", "fairness_audit:day"}},
		{2, "give one of --digest and --evidence", []string{"duty", "attest", "--key", beta, "--grant", "g-fa", "--kind", "fairness_audit", "--period", "1", "--statement", "x"}},
		{1, `duties[0].kind: "ethics" is not`, []string{"grant", "offer", "--id", "g-x", "--asset", "model-fa", "--to", "beta", "--rights", "use", "--duty", "ethics:day:0"}},
		{1, `body.spdx: "Foo-Proprietary-1" is not an SPDX licence expression`, []string{"asset", "register", "--id", "bad", "--kind", "model", "--spdx", "Foo-Proprietary-1",
			"--digest", "sha256:00000000000000000000000000000000000000000000000000000000000000ac"}},
	} {
		_, errs, code := c.run(c2.args...)
		if code != c2.code || !strings.Contains(errs, c2.want) {
			t.Errorf("charta %s: exit %d, stderr %q; want exit %d with %q", strings.Join(c2.args, " "), code, errs, c2.code, c2.want)
		}
	}
}
