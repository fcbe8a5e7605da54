package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// jsonKey matches a key of a JSON object, indented or compact.
var jsonKey = regexp.MustCompile(`"[a-z_]+": |\{"[a-z_]+":`)

// TestOutput_EveryReadCommandHasATable runs every client command that reads
// and prints records against a real consortium: in table mode (the
// default) the output is not JSON and shows the record's key fields; with
// -o json it parses as JSON. An empty list prints a one-line message in
// table mode and [] in JSON.
func TestOutput_EveryReadCommandHasATable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium")
	}
	dir, _, c := devConsortium(t, chartaBin(t))
	beta := filepath.Join(dir, "beta.key")

	// Nothing yet: an empty list is a message, not [].
	if out := c.ok("infraction", "list"); strings.TrimSpace(out) != "no infractions" {
		t.Errorf("infraction list with none, table: %q", out)
	}
	if out := c.ok("infraction", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("infraction list with none, json: %q", out)
	}

	writeOutputFixtures(t, c, dir, beta)
	// An empty page of a non-empty listing is a message too.
	if out := c.ok("grant", "list", "--status", "revoked"); strings.TrimSpace(out) != "no grants" {
		t.Errorf("grant list --status revoked, table: %q", out)
	}

	for _, tc := range []struct {
		args []string
		want []string // in the table output
	}{
		{[]string{"status"}, []string{"leader", "journal head", "state digest", "alpha, beta, gamma"}},
		{[]string{"status", "--all"}, []string{"NODE", "alpha", "beta", "gamma"}},
		{[]string{"member", "list"}, []string{"ROLE", "alpha", "beta", "gamma"}},
		{[]string{"member", "show", "alpha"}, []string{"role", "member", "status", "active", "keys", "alpha/"}},
		{[]string{"asset", "list"}, []string{"KIND", "model-x", "model-y", "alpha(10000)"}},
		{[]string{"asset", "show", "model-y"}, []string{"kind", "model", "owners", "alpha (10000 bp)", "parents", "model-x", "digest", "sha256:" + strings.Repeat("cd", 32)}},
		{[]string{"asset", "lineage", "model-x"}, []string{"RELATION", "descendant", "model-y"}},
		{[]string{"grant", "list"}, []string{"LICENSEES", "g-1", "g-gpu"}},
		{[]string{"grant", "show", "g-1"}, []string{"status", "active", "licensors", "alpha", "licensees", "beta", "assets", "model-x", "rights", "train, use", "territory", "DE, FR", "purposes", "research", "not after", "2030-01-01T00:00:00Z"}},
		{[]string{"grant", "show", "g-gpu"}, []string{"usage", "month", "gpu_hours", "graduated", "EUR", "soft cap 10"}},
		{[]string{"grant", "history", "g-1"}, []string{"KIND", "offered", "active"}},
		{[]string{"bundle", "list"}, []string{"PARTIES", "bx-1", "offered"}},
		{[]string{"bundle", "show", "bx-1"}, []string{"status", "offered", "proposer", "alpha", "parties", "alpha, beta", "not signed", "beta", "grants", "bx-1-a", "deadline"}},
		{[]string{"ballot", "list"}, []string{"ACTION", "b-1", "member.suspend", "open"}},
		{[]string{"ballot", "show", "b-1"}, []string{"action", "member.suspend", "params", "member=gamma", "votes", "alpha", "yes"}},
		{[]string{"pool", "list"}, []string{"CAPACITY", "gpu", "gpu-hour", "1000", "alpha=100"}},
		{[]string{"pool", "usage", "gpu"}, []string{"REMAINING", "alpha", "100", "93"}},
		{[]string{"statement", "show", "g-gpu"}, []string{"PERIOD", "provisional", "gpu_hours", "20 hour", "20.00 EUR", "total"}},
		{[]string{"infraction", "list"}, []string{"KIND", "soft_cap_exceeded", "g-gpu", "beta"}},
		{[]string{"journal", "list"}, []string{"TYPE", "grant.offer", "accepted"}},
		{[]string{"journal", "show", "1"}, []string{"seq", "1", "status", "accepted", "hash", "envelope"}},
		{[]string{"check", "--member", "beta", "--asset", "model-x", "--action", "train", "--territory", "DE", "--purpose", "research"}, []string{"ALLOWED", "g-1"}},
	} {
		name := strings.Join(tc.args, " ")
		out := c.ok(tc.args...)
		if looksLikeJSON(out) {
			t.Errorf("charta %s prints JSON in table mode:\n%s", name, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("charta %s: table lacks %q:\n%s", name, w, out)
			}
		}
		var v any
		if js := c.ok(append(tc.args, "-o", "json")...); json.Unmarshal([]byte(js), &v) != nil {
			t.Errorf("charta %s -o json does not parse:\n%s", name, js)
		}
	}
}

// looksLikeJSON reports whether s is JSON, starts like it or holds an
// indented JSON object.
func looksLikeJSON(s string) bool {
	t := strings.TrimSpace(s)
	return json.Valid([]byte(t)) || strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") || jsonKey.MatchString(t)
}

// writeOutputFixtures records one of everything the read commands show:
// assets with lineage, an active grant, a metered grant with a statement
// and an infraction, an offered bundle, an open ballot and a pool in use.
func writeOutputFixtures(t *testing.T, c *cli, dir, beta string) {
	t.Helper()
	c.ok("asset", "register", "--id", "model-x", "--kind", "model", "--digest", "sha256:"+strings.Repeat("ab", 32))
	c.ok("asset", "register", "--id", "model-y", "--kind", "model", "--digest", "sha256:"+strings.Repeat("cd", 32), "--parent", "model-x")
	c.ok("grant", "offer", "--id", "g-1", "--asset", "model-x", "--to", "beta", "--rights", "use,train",
		"--territory", "DE,FR", "--purpose", "research", "--not-after", "2030-01-01T00:00:00Z")
	c.ok("grant", "accept", "--key", beta, "g-1")

	terms := filepath.Join(t.TempDir(), "terms.json")
	writeFile(t, terms, `{"assets": ["model-x"], "rights": ["use"], "constraints": {"territory": {}}, "clauses": {}, "termination": {},
	  "usage": {"period": "month", "grace_days": 7, "metrics": [{"name": "gpu_hours", "unit": "hour", "soft_cap": 10,
	    "pricing": {"model": "graduated", "currency": "EUR", "tiers": [{"unit_micros": 1000000}]}}],
	    "sla_reporter": "alpha", "sla_credits": [{"metric": "availability_bp", "below": 9900, "discount_bp": 1000}]}}`)
	c.ok("grant", "offer", "--id", "g-gpu", "--to", "beta", "--terms", terms)
	c.ok("grant", "accept", "--key", beta, "g-gpu")
	var g struct {
		ActivatedAt time.Time `json:"activated_at"`
	}
	if err := json.Unmarshal([]byte(c.ok("grant", "show", "g-gpu", "-o", "json")), &g); err != nil {
		t.Fatal(err)
	}
	start := g.ActivatedAt.UTC()
	end := time.Date(start.Year(), start.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	// 20 hours pass the soft cap of 10: accepted, and an infraction.
	waitFor(t, 10*time.Second, "a usage report", func() error {
		_, errs, code := c.run("usage", "report", "--key", beta, "--grant", "g-gpu", "--report-id", "r-1", "--period", start.Format("2006-01"),
			"--start", start.Format(time.RFC3339Nano), "--end", end.Format(time.RFC3339), "--metrics", "gpu_hours=20")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, errs)
		}
		return nil
	})

	// The SLA reporter's measurements, through the CLI: a 10 % credit.
	c.ok("sla", "report", "--grant", "g-gpu", "--report-id", "sla-1", "--period", start.Format("2006-01"), "--measurements", "availability_bp=9800")
	if st := c.ok("statement", "show", "g-gpu", "--period", start.Format("2006-01"), "-o", "json"); !strings.Contains(strings.ReplaceAll(st, " ", ""), `"sla_reports":1`) {
		t.Fatalf("the statement does not count the SLA report:\n%s", st)
	}

	bundle := filepath.Join(t.TempDir(), "bundle.json")
	writeFile(t, bundle, fmt.Sprintf(`{"id": "bx-1", "deadline": %q, "grants": [{"id": "bx-1-a", "licensors": ["alpha"], "licensees": ["beta"],
	  "terms": {"assets": ["model-y"], "rights": ["use"], "constraints": {"territory": {}}, "clauses": {}, "termination": {}}}]}`,
		time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339)))
	c.ok("bundle", "offer", "--file", bundle)
	c.ok("ballot", "open", "--id", "b-1", "--action", "member.suspend", "--params", `{"member":"gamma"}`)
	c.ok("pool", "create", "--key", filepath.Join(dir, "gamma.key"), "--id", "gpu", "--resource", "gpu", "--unit", "gpu-hour",
		"--capacity", "1000", "--quotas", "alpha=100,beta=450,gamma=450", "--owners", "gamma")
	c.ok("pool", "consume", "--pool", "gpu", "--amount", "7")
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFmtMoney_Exact(t *testing.T) {
	for _, tc := range []struct {
		micros   int64
		currency string
		want     string
	}{
		{0, "EUR", "0.00 EUR"},
		{20_000_000, "EUR", "20.00 EUR"},
		{1_500, "EUR", "0.0015 EUR"},
		{1_234_567, "", "1.234567"},
		{-115_000_000, "EUR", "-115.00 EUR"},
		{-9223372036854775808, "", "-9223372036854.775808"},
	} {
		if got := fmtMoney(tc.micros, tc.currency); got != tc.want {
			t.Errorf("fmtMoney(%d, %q) = %q, want %q", tc.micros, tc.currency, got, tc.want)
		}
	}
	for bp, want := range map[int64]string{1000: "10%", 1050: "10.50%", 5: "0.05%", -250: "-2.50%"} {
		if got := fmtBP(bp); got != want {
			t.Errorf("fmtBP(%d) = %q, want %q", bp, got, want)
		}
	}
}

func TestParamStrings_SortedNameValue(t *testing.T) {
	got := paramStrings(json.RawMessage(`{"member":"gamma","charter":{"threshold":{"num":2,"den":3}},"at":5}`))
	want := []string{"at=5", `charter={"threshold":{"num":2,"den":3}}`, "member=gamma"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("paramStrings = %q, want %q", got, want)
	}
}

// TestJournal_MarksWithheldEntries: an entry the node withheld (between
// other members) says so, instead of showing empty fields.
func TestJournal_MarksWithheldEntries(t *testing.T) {
	var b strings.Builder
	printEntry(&b, &ledger.Entry{Seq: 4, Index: 9, Outcome: ledger.Outcome{Type: "grant.offer", Status: "accepted"}})
	if !strings.Contains(b.String(), "withheld: the entry is between other members") {
		t.Fatalf("a withheld entry:\n%s", b.String())
	}
	b.Reset()
	printEntry(&b, &ledger.Entry{Seq: 4, Index: 9, Envelope: []byte(`{}`), Outcome: ledger.Outcome{Type: "grant.offer", Status: "accepted"}})
	if strings.Contains(b.String(), "withheld") || !strings.Contains(b.String(), "2 bytes") {
		t.Fatalf("a whole entry:\n%s", b.String())
	}
}
