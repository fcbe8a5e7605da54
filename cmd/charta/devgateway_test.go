package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// TestDev_DemoGateway follows the README's gateway lines on a real
// `charta dev --demo`: beta's calls to atlas-chat go through alpha's
// gateway and are metered into chat-pool and g-chat-beta's usage by the
// key alpha delegated to the gateway; gamma's are refused with the check's
// reasons, and three of them are an observed infraction that a check of
// gamma reports; once beta's quota is used up its next call is refused
// with 429, naming the pool.
func TestDev_DemoGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium and a gateway")
	}
	dir, base, c, _ := devConsortiumScheme(t, chartaBin(t), ledger.SchemeEd25519, "--demo")
	gw := fmt.Sprintf("http://127.0.0.1:%d/v1/completions", base+10)
	call := func(member, prompt string) (int, map[string]any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, gw, strings.NewReader(`{"prompt":"`+prompt+`"}`))
		if member != "" {
			tok, err := os.ReadFile(filepath.Join(dir, "gateway", member+".token"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("%s: %d %s", member, resp.StatusCode, b)
		}
		return resp.StatusCode, body, resp.Header
	}

	const calls = 4
	for range calls {
		code, body, h := call("beta", "hello consortium of friends")
		if code != 200 || body["member"] != "beta" || h.Get("X-Tokens") != "8" {
			t.Fatalf("beta: %d %v %v", code, body, h)
		}
	}
	for range 3 {
		code, p, h := call("gamma", "hello")
		if code != 403 || p["code"] != "forbidden" || !strings.Contains(fmt.Sprint(p["reason"]), "gamma holds no grant over atlas-chat") ||
			h.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("gamma: %d %v", code, p)
		}
	}
	if code, p, _ := call("", "hello"); code != 401 || p["code"] != "unauthorized" {
		t.Fatalf("no token: %d %v", code, p)
	}

	// Metered, by the delegated key, within a flush or two.
	waitFor(t, 15*time.Second, "beta's calls in chat-pool and g-chat-beta", func() error {
		var u struct {
			Members []struct {
				Member string `json:"member"`
				Used   int64  `json:"used"`
			} `json:"members"`
		}
		if err := json.Unmarshal([]byte(c.ok("pool", "usage", "chat-pool", "-o", "json")), &u); err != nil {
			return err
		}
		for _, m := range u.Members {
			if m.Member == "beta" && m.Used != calls {
				return fmt.Errorf("beta used %d calls of chat-pool, want %d", m.Used, calls)
			}
		}
		out, _, _ := c.run("check", "--member", "beta", "--asset", "atlas-chat", "--action", "use", "--territory", "DE", "--purpose", "research", "-o", "json")
		var d ledger.Decision
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			return err
		}
		if !d.Allowed || len(d.Caps) != 1 || d.Caps[0].Used != 8*calls {
			return fmt.Errorf("beta's decision %+v, want %d tokens used", d, 8*calls)
		}
		return nil
	})
	waitFor(t, 15*time.Second, "gamma's observed infraction", func() error {
		out, _, code := c.run("check", "--member", "gamma", "--asset", "atlas-chat", "--action", "use", "--territory", "DE", "--purpose", "research")
		if code != 1 || !strings.Contains(out, "1 open observed infraction(s) against gamma on atlas-chat") {
			return fmt.Errorf("exit %d:\n%s", code, out)
		}
		return nil
	})
	// A quota that runs out refuses the next call, and names the pool:
	// alpha, the pool's owner, takes what is left of beta's quota.
	c.ok("pool", "consume", "--pool", "chat-pool", "--member", "beta", "--amount", fmt.Sprint(2000-calls), "--ref", "use-it-up")
	waitFor(t, 10*time.Second, "beta refused for its quota", func() error {
		code, p, _ := call("beta", "one more")
		if l, _ := p["limit"].(map[string]any); code != 429 || p["code"] != "rate_limited" || l["kind"] != "pool_quota" || l["pool"] != "chat-pool" || l["member"] != "beta" {
			return fmt.Errorf("%d %v", code, p)
		}
		return nil
	})

	// What signed the metering: the delegated key, never alpha's main key.
	var m struct {
		PublicKeys []struct {
			ID    string          `json:"id"`
			Scope json.RawMessage `json:"scope"`
		} `json:"public_keys"`
	}
	if err := json.Unmarshal([]byte(c.ok("member", "show", "alpha", "-o", "json")), &m); err != nil {
		t.Fatal(err)
	}
	var delegated string
	for _, k := range m.PublicKeys {
		if len(k.Scope) > 0 && string(k.Scope) != "null" {
			delegated = k.ID
		}
	}
	if delegated == "" {
		t.Fatalf("alpha has no delegated key: %+v", m)
	}
	var entries []ledger.Entry
	if err := json.Unmarshal([]byte(c.ok("journal", "list", "--limit", "1000", "-o", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	metered := 0
	for _, e := range entries {
		if e.Outcome.Type != "pool.consume" && e.Outcome.Type != "usage.report" && e.Outcome.Type != "infraction.observe" {
			continue
		}
		if !strings.HasPrefix(e.Outcome.ID, "gw") {
			continue // the demo story's own, signed by its members
		}
		env, err := ledger.DecodeEnvelope(e.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		if len(env.Signatures) != 1 || env.Signatures[0].KeyID != delegated || e.Outcome.Status != ledger.StatusAccepted {
			t.Fatalf("entry %d (%s) signed by %+v, %s; want the delegated key %s", e.Seq, e.Outcome.Type, env.Signatures, e.Outcome.Status, delegated)
		}
		metered++
	}
	if metered < 3 {
		t.Fatalf("%d entries signed by the gateway, want a pool.consume, a usage.report and an infraction.observe at least", metered)
	}
}
