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
)

// TestKeyDelegate_GatewayKeyOnRealCluster runs the gateway's key through
// the CLI on a real three-node consortium: alpha, the owner of model-x,
// the licensor of its metered grants and the owner of pool gpu, delegates
// a key that may report usage of g-gpu and consume from gpu. With that key
// file, usage reports and consumption for beta in scope succeed; anything
// else fails with one line and exit status 1, and nothing changes. An
// observation of beta then shows in beta's check and in the infraction
// list, and revoking the key ends it at once.
func TestKeyDelegate_GatewayKeyOnRealCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium")
	}
	bin := chartaBin(t)
	dir, _, c := devConsortium(t, bin)
	beta := filepath.Join(dir, "beta.key")
	gwKey := filepath.Join(dir, "gateway.key")

	c.ok("asset", "register", "--id", "model-x", "--kind", "model", "--digest", "sha256:"+strings.Repeat("ab", 32))
	terms := filepath.Join(t.TempDir(), "terms.json")
	writeFile(t, terms, `{"assets": ["model-x"], "rights": ["use"], "constraints": {"territory": {}}, "clauses": {}, "termination": {},
	  "usage": {"period": "month", "grace_days": 7, "meters": ["alpha"], "metrics": [{"name": "gpu_hours", "unit": "hour",
	    "pricing": {"model": "graduated", "currency": "EUR", "tiers": [{"unit_micros": 1000000}]}}]}}`)
	for _, g := range []string{"g-gpu", "g-other"} {
		c.ok("grant", "offer", "--id", g, "--to", "beta", "--terms", terms)
		c.ok("grant", "accept", "--key", beta, g)
	}
	for _, p := range []string{"gpu", "cpu"} {
		c.ok("pool", "create", "--id", p, "--resource", p, "--unit", "hour", "--period", "month", "--capacity", "100",
			"--quotas", "alpha=50,beta=50", "--owners", "alpha")
	}

	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	out := c.ok("key", "delegate", "--types", "usage.report,pool.consume", "--grant", "g-gpu", "--pool", "gpu", "--until", until, "--out", gwKey)
	m := regexp.MustCompile(`delegated key (alpha/[0-9a-f]{16}) written to `).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "key.delegate") || !strings.Contains(out, "pool.consume, usage.report on grants [g-gpu], pools [gpu] until "+until) {
		t.Fatalf("key delegate printed:\n%s", out)
	}
	gwID := m[1]
	if fi, err := os.Stat(gwKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	var member struct {
		PublicKeys []struct {
			ID    string `json:"id"`
			Scope *struct {
				Types  []string `json:"types"`
				Grants []string `json:"grants"`
				Pools  []string `json:"pools"`
			} `json:"scope"`
		} `json:"public_keys"`
	}
	if err := json.Unmarshal([]byte(c.ok("member", "show", "alpha", "-o", "json")), &member); err != nil {
		t.Fatal(err)
	}
	last := member.PublicKeys[len(member.PublicKeys)-1]
	if last.ID != gwID || last.Scope == nil || strings.Join(last.Scope.Types, ",") != "pool.consume,usage.report" ||
		strings.Join(last.Scope.Grants, ",") != "g-gpu" || strings.Join(last.Scope.Pools, ",") != "gpu" {
		t.Fatalf("alpha's newest key: %+v", last)
	}
	if member.PublicKeys[0].Scope != nil {
		t.Fatalf("alpha's main key shows a scope: %+v", member.PublicKeys[0])
	}

	var g struct {
		ActivatedAt time.Time `json:"activated_at"`
	}
	if err := json.Unmarshal([]byte(c.ok("grant", "show", "g-gpu", "-o", "json")), &g); err != nil {
		t.Fatal(err)
	}
	start := g.ActivatedAt.UTC()
	end := time.Date(start.Year(), start.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	report := func(grant, id string) []string {
		return []string{"usage", "report", "--key", gwKey, "--grant", grant, "--report-id", id, "--period", start.Format("2006-01"),
			"--start", start.Format(time.RFC3339Nano), "--end", end.Format(time.RFC3339), "--metrics", "gpu_hours=7"}
	}

	// In scope.
	waitFor(t, 10*time.Second, "the gateway's usage report", func() error {
		if out, errs, code := c.run(report("g-gpu", "r-1")...); code != 0 || !strings.Contains(out, "usage.report") {
			return fmt.Errorf("exit %d: %s%s", code, out, errs)
		}
		return nil
	})
	c.ok("pool", "consume", "--key", gwKey, "--pool", "gpu", "--amount", "4", "--member", "beta", "--ref", "call-1")
	var usage struct {
		Members []struct {
			Member string `json:"member"`
			Used   int64  `json:"used"`
		} `json:"members"`
	}
	out = c.ok("pool", "usage", "gpu", "-o", "json")
	if err := json.Unmarshal([]byte(out), &usage); err != nil || len(usage.Members) != 2 || usage.Members[0].Used != 0 ||
		usage.Members[1].Member != "beta" || usage.Members[1].Used != 4 {
		t.Fatalf("pool usage after the gateway's consumption (%v):\n%s", err, out)
	}

	// Out of scope: one line, exit 1, naming the key and the bound.
	bound := "key " + gwID + " is a delegated key; "
	for _, bad := range []struct {
		args []string
		want string
	}{
		{report("g-other", "r-2"), "it may not sign usage.report for grant g-other"},
		{[]string{"pool", "consume", "--key", gwKey, "--pool", "cpu", "--amount", "1", "--member", "beta"}, "it may not sign pool.consume for pool cpu"},
		{[]string{"pool", "transfer", "--key", gwKey, "--pool", "gpu", "--to", "beta", "--amount", "1"}, "it may not sign pool.transfer"},
		{[]string{"asset", "register", "--key", gwKey, "--id", "model-gw", "--kind", "model", "--digest", "sha256:" + strings.Repeat("cd", 32)}, "it may not sign asset.register"},
		{[]string{"key", "delegate", "--key", gwKey, "--types", "pool.consume", "--pool", "gpu", "--until", until, "--out", filepath.Join(dir, "gw2.key")}, "it may not sign key.delegate"},
	} {
		out, errs, code := c.run(bad.args...)
		if code != 1 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, bound) || !strings.Contains(errs, bad.want) {
			t.Errorf("charta %s: exit %d\nstdout: %s\nstderr: %s\nwant one line with %q", strings.Join(bad.args[:2], " "), code, out, errs, bad.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "gw2.key")); !os.IsNotExist(err) {
		t.Errorf("a refused delegation left its key file behind (%v)", err)
	}

	// An observation of beta by alpha (its main key) shows in beta's check.
	from := time.Now().Add(-time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	to := time.Now().Add(-time.Minute).UTC().Truncate(time.Second).Format(time.RFC3339)
	c.ok("infraction", "observe", "--id", "obs-1", "--grant", "g-gpu", "--licensee", "beta", "--asset", "model-x", "--action", "train",
		"--attempts", "12", "--from", from, "--to", to, "--reason", "12 denied train calls at the gateway")
	out = c.ok("check", "--member", "beta", "--asset", "model-x", "--action", "use")
	if !strings.Contains(out, "ALLOWED") || !strings.Contains(out, "warning: 1 open observed infraction(s) against beta on model-x: g-gpu/observed_infraction/alpha:obs-1") ||
		!strings.Contains(out, "alpha saw 12 train attempt(s)") {
		t.Fatalf("check after the observation:\n%s", out)
	}
	out = c.ok("infraction", "list", "--kind", "observed_infraction")
	if !strings.Contains(out, "g-gpu") || !strings.Contains(out, "alpha observed 12 train attempt(s) on model-x") {
		t.Fatalf("infraction list:\n%s", out)
	}

	// Revoked at once by its member; the key file no longer signs.
	out = c.ok("key", "revoke", gwID)
	if !strings.Contains(out, "key.revoke") || !strings.Contains(out, "accepted") {
		t.Fatalf("key revoke printed:\n%s", out)
	}
	waitFor(t, 10*time.Second, "the revoked key to be refused", func() error {
		_, errs, code := c.run(report("g-gpu", "r-3")...)
		if code != 1 || !strings.Contains(errs, gwID) {
			return fmt.Errorf("exit %d: %s", code, errs)
		}
		return nil
	})
}
