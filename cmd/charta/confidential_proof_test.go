package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/internal/devnet"
	"github.com/charta/charta/ledger"
)

// cappedTermsJSON are the terms of g-cap: GPU hours with a sealed hard
// cap of 1000 a month, and a sealed governing law.
const cappedTermsJSON = `{
  "assets": ["model-p"], "rights": ["use"],
  "constraints": {"territory": {"allow": ["DE"]}},
  "clauses": {"governing_law": "` + markerLaw + `"},
  "termination": {},
  "usage": {"period": "month", "grace_days": 7, "metrics": [{"name": "gpu_hours", "unit": "hour", "hard_cap": 1000,
    "pricing": {"model": "graduated", "currency": "EUR", "tiers": [{"unit_micros": 1000}]}}]}
}`

// TestConfidentialGrant_ProofsAndCertificatesVerifyWithAPartysKey runs a
// confidential grant with a sealed hard cap on a real 3-node cluster.
// beta's node answers a proof-carrying check with the cap and what the
// sealed usage report used of it; charta verify checks it offline with
// either party's key, says that it cannot without one (never that it
// was tampered with), refuses gamma's key, and rejects a proof whose
// claim was changed. gamma's node answers "confidential", which verifies
// with no key. A licence certificate of the grant verifies without a key
// showing the commitment, and with a party's key shows the terms.
func TestConfidentialGrant_ProofsAndCertificatesVerifyWithAPartysKey(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	bin := chartaBin(t)
	d := &devnet.Cluster{Dir: filepath.Join(t.TempDir(), "proof"), Base: freeBase(t), Scheme: ledger.SchemeEd25519}
	if _, err := d.Prepare(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		startNode(t, bin, d, i, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.WaitReady(ctx, make(chan error)); err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterTokens(ctx); err != nil {
		t.Fatal(err)
	}
	token := func(m string) string { return strings.TrimSpace(string(mustRead(t, d.Path(m+".token")))) }
	as := func(i int) *cli {
		m := devMembers[i]
		return &cli{t: t, bin: bin, env: []string{"CHARTA_SERVER=" + d.APIURL(i), "CHARTA_TOKEN=" + token(m), "CHARTA_KEY=" + d.Path(m+".key")}}
	}
	alpha, beta := as(0), as(1)
	gammaOp := &cli{t: t, bin: bin, env: []string{"CHARTA_SERVER=" + d.APIURL(2),
		"CHARTA_TOKEN=" + strings.TrimSpace(string(mustRead(t, filepath.Join(d.DataDir("gamma"), "operator.token"))))}}
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	genesis := d.Path("genesis.json")

	alpha.ok("asset", "register", "--id", "model-p", "--kind", "model", "--digest", "sha256:"+strings.Repeat("cd", 32))
	alpha.ok("grant", "offer", "--id", "g-cap", "--to", "beta", "--terms", write("terms.json", cappedTermsJSON), "--confidential")
	beta.ok("grant", "accept", "g-cap")
	var active struct {
		ActivatedAt time.Time `json:"activated_at"`
	}
	if err := json.Unmarshal([]byte(beta.ok("grant", "show", "g-cap", "-o", "json")), &active); err != nil {
		t.Fatal(err)
	}
	start := active.ActivatedAt.Add(time.Second)
	beta.ok("usage", "report", "--grant", "g-cap", "--report-id", "r1", "--period", start.Format("2006-01"),
		"--start", start.Format(time.RFC3339), "--end", start.Add(time.Minute).Format(time.RFC3339), "--metrics", "gpu_hours=400")

	ask := []string{"check", "--member", "beta", "--asset", "model-p", "--action", "use", "--territory", "DE", "--proof", "-o", "json"}
	var p struct {
		Decision struct {
			Allowed bool     `json:"allowed"`
			Basis   string   `json:"basis"`
			Sealed  []string `json:"sealed"`
			Caps    []struct {
				Used      int64 `json:"used"`
				Remaining int64 `json:"remaining"`
			} `json:"caps"`
		} `json:"decision"`
	}
	raw := beta.ok(ask...)
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		t.Fatal(err)
	}
	if dc := p.Decision; !dc.Allowed || dc.Basis != "grant" || len(dc.Caps) != 1 || dc.Caps[0].Used != 400 || dc.Caps[0].Remaining != 600 {
		t.Fatalf("beta's node decides %+v", dc)
	}
	proof := write("proof.json", raw)

	for _, m := range []string{"beta", "alpha"} {
		out := beta.ok("verify", "--genesis", genesis, "--key", d.Path(m+".key"), proof)
		if !strings.Contains(out, "ok: beta may use model-p") || !strings.Contains(out, "confidential grant(s) g-cap, opened with "+m+"'s key") {
			t.Errorf("verify with %s's key:\n%s", m, out)
		}
	}
	out, errs, code := beta.run("verify", "--genesis", genesis, proof)
	if code == 0 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "not verified") ||
		!strings.Contains(errs, "confidential grant g-cap, whose terms are sealed to its parties (alpha, beta)") || !strings.Contains(errs, "--key") ||
		strings.Contains(errs, "rejected") {
		t.Errorf("verify without a key: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	out, errs, code = beta.run("verify", "--genesis", genesis, "--key", d.Path("gamma.key"), proof)
	if code == 0 || !strings.Contains(errs, "gamma is not a recipient of grant g-cap") {
		t.Errorf("verify with gamma's key: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	forged := write("forged.json", strings.Replace(raw, `"remaining": 600`, `"remaining": 900`, 1))
	if forged == proof || !strings.Contains(string(mustRead(t, forged)), `"remaining": 900`) {
		t.Fatalf("the proof has no remaining cap to forge:\n%s", raw)
	}
	out, errs, code = beta.run("verify", "--genesis", genesis, "--key", d.Path("beta.key"), forged)
	if code == 0 || !strings.Contains(errs, "rejected") || !strings.Contains(errs, "they differ in caps") {
		t.Errorf("verify of a forged claim: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}

	// gamma's node does not guess, and says so in a proof anyone checks.
	gammaRaw, errs, code := gammaOp.run(ask...)
	if code != 1 {
		t.Fatalf("proof from gamma's node: exit %d, %s", code, errs)
	}
	if err := json.Unmarshal([]byte(gammaRaw), &p); err != nil {
		t.Fatal(err)
	}
	if p.Decision.Allowed || p.Decision.Basis != "confidential" || len(p.Decision.Sealed) != 1 {
		t.Fatalf("gamma's node decides %+v", p.Decision)
	}
	if out := gammaOp.ok("verify", "--genesis", genesis, write("gamma-proof.json", gammaRaw)); !strings.Contains(out, "ok: beta may use model-p") {
		t.Errorf("verify of gamma's answer:\n%s", out)
	}

	// A licence certificate carries the grant as the ledger holds it.
	cert := filepath.Join(dir, "cert.json")
	beta.ok("grant", "certificate", "g-cap", "--ttl", "1h", "--out", cert)
	var c struct {
		Grant struct {
			Confidential struct {
				Commitment string          `json:"commitment"`
				Sealed     json.RawMessage `json:"sealed"`
			} `json:"confidential"`
		} `json:"grant"`
	}
	if err := json.Unmarshal(mustRead(t, cert), &c); err != nil {
		t.Fatal(err)
	}
	if c.Grant.Confidential.Commitment == "" || len(c.Grant.Confidential.Sealed) < 1000 {
		t.Fatalf("the certificate's grant lacks its sealed part: %+v", c.Grant.Confidential)
	}
	if strings.Contains(string(mustRead(t, cert)), markerLaw) {
		t.Errorf("the certificate holds the sealed governing law in the clear")
	}
	out = gammaOp.ok("verify", "--genesis", genesis, cert)
	if !strings.Contains(out, "ok: grant g-cap") || !strings.Contains(out, "the terms are sealed to alpha, beta under commitment "+c.Grant.Confidential.Commitment) ||
		strings.Contains(out, markerLaw) {
		t.Errorf("verify of the certificate without a key:\n%s", out)
	}
	out = alpha.ok("verify", "--genesis", genesis, "--key", d.Path("alpha.key"), cert)
	if !strings.Contains(out, "opened with alpha's key; the terms match the commitment "+c.Grant.Confidential.Commitment) ||
		!strings.Contains(out, "[confidential] governing law: "+markerLaw) || !strings.Contains(out, "1000") {
		t.Errorf("verify of the certificate with alpha's key:\n%s", out)
	}
	out, errs, code = gammaOp.run("verify", "--genesis", genesis, "--key", d.Path("gamma.key"), cert)
	if code == 0 || !strings.Contains(errs, "not verified") || !strings.Contains(errs, "gamma is not a recipient of grant g-cap") {
		t.Errorf("verify of the certificate with gamma's key: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
}
