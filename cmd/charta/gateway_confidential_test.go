package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// confidentialGatewayTerms are the terms of g-gw: alpha licenses model-g
// to beta and meters its requests; the usage terms are sealed.
const confidentialGatewayTerms = `{
  "assets": ["model-g"], "rights": ["use"], "termination": {},
  "usage": {"period": "month", "grace_days": 7, "meters": ["alpha"], "metrics": [{"name": "requests", "unit": "request",
    "hard_cap": 1000000, "pricing": {"model": "graduated", "currency": "EUR", "tiers": [{"unit_micros": 10}]}}]}
}`

// TestGateway_ConfidentialGrant meters a confidential grant through charta
// gateway on a real 3-node cluster: alpha's gateway reads with a read-only
// token of alpha's (a party's token, so alpha's node answers its checks
// with the opened terms) and signs with a key alpha delegated for the
// grant's usage reports. It is killed with SIGKILL between two bursts of
// traffic and restarted; then the statements of alpha's and beta's nodes,
// each asked with its own member's token, count exactly the requests that
// got a response, the journal holds the reports' quantities only sealed,
// and gamma's node computes no statement.
func TestGateway_ConfidentialGrant(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium and a gateway")
	}
	bin := chartaBin(t)
	dir, base, alpha := devConsortium(t, bin)
	token := func(path string) string {
		b, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	nodeURL := func(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", base+i) }
	beta := &cli{t: t, bin: bin, env: []string{"CHARTA_SERVER=" + nodeURL(2), "CHARTA_TOKEN=" + token("beta.token"),
		"CHARTA_KEY=" + filepath.Join(dir, "beta.key")}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	alpha.ok("asset", "register", "--id", "model-g", "--kind", "model", "--digest", "sha256:"+strings.Repeat("cd", 32))
	tmp := t.TempDir()
	terms := filepath.Join(tmp, "terms.json")
	if err := os.WriteFile(terms, []byte(confidentialGatewayTerms), 0o600); err != nil {
		t.Fatal(err)
	}
	alpha.ok("grant", "offer", "--id", "g-gw", "--to", "beta", "--terms", terms, "--confidential")
	beta.ok("grant", "accept", "g-gw")
	readToken := filepath.Join(tmp, "alpha-read.token")
	alpha.ok("token", "create", "--scopes", "read", "--out", readToken)
	gwKey := filepath.Join(tmp, "gateway.key")
	alpha.ok("key", "delegate", "--types", "usage.report", "--grant", "g-gw",
		"--until", time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339), "--out", gwKey)
	for _, c := range []*cli{alpha, beta} {
		waitFor(t, 15*time.Second, "the terms of g-gw opened", func() error {
			var g struct {
				Confidential struct {
					Terms json.RawMessage `json:"terms"`
				} `json:"confidential"`
			}
			if err := json.Unmarshal([]byte(c.ok("grant", "show", "g-gw", "-o", "json")), &g); err != nil {
				return err
			}
			if g.Confidential.Terms == nil {
				return errors.New("not opened yet")
			}
			return nil
		})
	}

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond)
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	cfg := fmt.Sprintf(`{"routes":[{"name":"infer","prefix":"/infer","upstream":%q,"asset":"model-g","action":"use",
  "meters":[{"count":"requests","metric":"requests","usage":true}]}]}`, up.URL)
	cfgFile := filepath.Join(tmp, "gateway.json")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	gw := &gatewayProc{t: t, bin: bin, addr: freePort(t), ops: freePort(t)}
	gw.args = []string{"--listen", gw.addr, "--metrics-listen", gw.ops, "--node", nodeURL(1), "--token-file", readToken,
		"--key", gwKey, "--state", filepath.Join(tmp, "gw-state"), "--config", cfgFile, "--flush-interval", "300ms"}
	gw.start()
	defer func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", lastLines(gw.log.String(), 40))
		}
	}()
	defer gw.cmd.Process.Kill()

	call := func(who string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+gw.addr+"/infer", nil)
		req.Header.Set("Authorization", "Bearer "+token(who+".token"))
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// alpha's node answers its own member's token with the opened terms:
	// an allow, where any other node or token answers "confidential".
	if code, body := call("beta"); code != 200 || body != "ok" {
		t.Fatalf("beta through the gateway: %d %s", code, body)
	}
	if code, body := call("gamma"); code != 403 || !strings.Contains(body, "gamma holds no grant over model-g") {
		t.Fatalf("gamma through the gateway: %d %s", code, body)
	}
	var served atomic.Int64
	served.Add(1)
	burst := func(d time.Duration) {
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					if code, body := call("beta"); code == 200 && body == "ok" {
						served.Add(1)
					}
				}
			}()
		}
		wg.Wait()
	}
	// No request is in flight at the kill, so every count journaled got
	// its response: the ledger must hold exactly what was served.
	burst(time.Second)
	gw.kill()
	killedAt := served.Load()
	gw.start()
	burst(time.Second)
	if err := gw.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if served.Load() <= killedAt || killedAt < 10 {
		t.Fatalf("too little traffic: %d responses before the kill, %d in all", killedAt, served.Load())
	}
	if strings.Contains(gw.log.String(), "level=ERROR") {
		t.Errorf("the gateway logged an error:\n%s", lastLines(gw.log.String(), 20))
	}

	// Both parties' nodes count exactly what was served.
	for i, m := range []string{"alpha", "beta"} {
		c, err := client.New(nodeURL(i+1), client.WithToken(token(m+".token")))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, m+"'s node to count every request", func() error {
			raw, _, err := c.GrantStatements(ctx, "g-gw")
			if err != nil {
				return err
			}
			var n int64
			for _, r := range raw {
				var st ledger.Statement
				if err := json.Unmarshal(r, &st); err != nil {
					return err
				}
				for _, l := range st.Metrics {
					if l.Metric == "requests" {
						n += l.Quantity
					}
				}
			}
			if n != served.Load() {
				return fmt.Errorf("%s's node counts %d requests; %d got a response", m, n, served.Load())
			}
			return nil
		})
	}
	t.Logf("metered %d requests of confidential grant g-gw across a kill -9", served.Load())

	// The journal, which every node holds, has each report's quantities
	// sealed only; gamma's node computes no statement of the grant.
	op, err := client.New(nodeURL(3), client.WithToken(token(filepath.Join("gamma", "operator.token"))))
	if err != nil {
		t.Fatal(err)
	}
	reports := 0
	for e, err := range op.AllJournal(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Outcome.Type != "usage.report" {
			continue
		}
		env, err := ledger.DecodeEnvelope(e.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ledger.DecodePayload(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var b ledger.UsageReportBody
		if err := ledger.DecodeStrict(p.Body, &b); err != nil {
			t.Fatal(err)
		}
		if e.Outcome.Status != ledger.StatusAccepted || b.Grant != "g-gw" || len(b.Metrics) != 0 || b.Confidential == nil {
			t.Errorf("journal entry %d: %s %s: %s", e.Seq, e.Outcome.Status, e.Outcome.Message, p.Body)
		}
		reports++
	}
	if reports == 0 {
		t.Error("no usage report in gamma's journal")
	}
	if _, _, err := op.GrantStatements(ctx, "g-gw"); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("statements on gamma's node: %v, want forbidden", err)
	}
}
