package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// gatewayProc is a charta gateway process under test.
type gatewayProc struct {
	t    *testing.T
	bin  string
	args []string
	addr string // callers'
	ops  string // --metrics-listen
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan error
}

func (g *gatewayProc) start() {
	g.t.Helper()
	g.cmd = exec.Command(g.bin, append([]string{"gateway"}, g.args...)...)
	g.log = &syncBuffer{}
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(g.cmd, g.done)
	waitFor(g.t, 15*time.Second, "the gateway to be ready", func() error {
		select {
		case err := <-g.done:
			g.t.Fatalf("the gateway exited (%v):\n%s", err, g.log.String())
		default:
		}
		resp, err := http.Get("http://" + g.addr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
}

// kill sends SIGKILL and waits for the process to be gone.
func (g *gatewayProc) kill() {
	g.cmd.Process.Kill()
	<-g.done
}

// stop sends SIGTERM and waits for a clean exit.
func (g *gatewayProc) stop() error {
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		return err
	case <-time.After(20 * time.Second):
		g.cmd.Process.Kill()
		return errors.New("the gateway did not stop within 20 s of SIGTERM")
	}
}

// metric reads one unlabelled sample of the gateway's /metrics, on its
// operations address.
func (g *gatewayProc) metric(name string) (float64, error) {
	resp, err := http.Get("http://" + g.ops + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestGateway_EndToEnd runs charta gateway as its own process in front of
// a test upstream, on a real 3-node cluster: allowed and denied requests,
// 401 and 502, metering that the ledger's usage totals and pool balances
// match exactly, a kill -9 in the middle of traffic followed by a restart
// that neither loses nor repeats a count, and a revocation that takes
// effect within the documented bound although the decision TTL is long.
func TestGateway_EndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium and a gateway")
	}
	bin := chartaBin(t)
	dir, base, _ := devConsortium(t, bin)
	token := func(m string) string {
		b, err := os.ReadFile(filepath.Join(dir, m+".token"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	nodeURL := func(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", base+i) }
	g, err := readGenesis(filepath.Join(dir, "genesis.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	as := func(m string) *client.Client {
		c, err := client.New(nodeURL(1), client.WithToken(token(m)), client.WithKeyFile(filepath.Join(dir, m+".key")),
			client.WithConsortium(g.ID()), client.WithConsistency(client.ConsistencyLinearizable))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	alpha, beta := as("alpha"), as("beta")
	propose := func(c *client.Client, typ, id string, body any) {
		t.Helper()
		if _, err := c.Propose(ctx, typ, id, body); err != nil {
			t.Fatalf("%s %s: %v", typ, id, err)
		}
	}
	propose(alpha, "asset.register", "reg-model-x", ledger.AssetRegister{ID: "model-x", Kind: ledger.AssetModel,
		Digest: "sha256:" + strings.Repeat("ab", 32), Owners: []ledger.Owner{{Member: "alpha", ShareBP: 10000}}})
	propose(alpha, "grant.offer", "offer-g-1", ledger.GrantOffer{ID: "g-1", Licensors: []string{"alpha"}, Licensees: []string{"beta"},
		Terms: ledger.Terms{Assets: []string{"model-x"}, Rights: []ledger.Right{ledger.RightUse},
			Termination: ledger.Termination{LicensorMayRevoke: true},
			Usage: &ledger.UsageTerms{Period: ledger.PeriodMonth, GraceDays: 5, Meters: []string{"alpha"},
				Metrics: []ledger.UsageMetric{{Name: "requests", Unit: "request", HardCap: 1_000_000,
					Pricing: ledger.Pricing{Model: ledger.PricingGraduated, Currency: "EUR", Tiers: []ledger.Tier{{UnitMicros: 10}}}}}}}})
	propose(beta, "grant.accept", "accept-g-1", ledger.GrantRef{Grant: "g-1"})
	propose(alpha, "pool.create", "pool-gpu", ledger.PoolCreate{ID: "gpu", Resource: "gpu", Unit: "gpu-second", Period: ledger.PeriodMonth,
		Capacity: 1_000_000, Mode: ledger.QuotaFixed, Owners: []string{"alpha"},
		Quotas: []ledger.QuotaSpec{{Member: "alpha", Amount: 500_000}, {Member: "beta", Amount: 500_000}}})

	// The upstream: answers after a short wait (so that a kill lands
	// while requests wait on it) with the GPU seconds it used.
	var upHits atomic.Int64
	var lastMember atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upHits.Add(1)
		lastMember.Store(r.Header.Get("Charta-Member") + "|" + r.Header.Get("Authorization"))
		time.Sleep(20 * time.Millisecond)
		w.Header().Set("X-Gpu-Seconds", "3")
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	cfg := fmt.Sprintf(`{"routes":[
  {"name":"infer","prefix":"/infer","upstream":%q,"asset":"model-x","action":"use",
   "meters":[{"count":"requests","metric":"requests","usage":true}]},
  {"name":"gpu","prefix":"/gpu","upstream":%q,"asset":"model-x","action":"use",
   "meters":[{"count":"header","header":"X-Gpu-Seconds","metric":"gpu_seconds","pool":"gpu"}]},
  {"name":"down","prefix":"/down","upstream":"http://127.0.0.1:1","asset":"model-x","action":"use"}]}`, up.URL, up.URL)
	cfgFile := filepath.Join(t.TempDir(), "gateway.json")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	gw := &gatewayProc{t: t, bin: bin, addr: freePort(t), ops: freePort(t)}
	gw.args = []string{"--listen", gw.addr, "--metrics-listen", gw.ops, "--node", nodeURL(1) + "," + nodeURL(2), "--token-file", filepath.Join(dir, "alpha.token"),
		"--key", filepath.Join(dir, "alpha.key"), "--state", filepath.Join(t.TempDir(), "gw-state"), "--config", cfgFile,
		"--decision-ttl", "30s", "--flush-interval", "300ms", "--log-level", "debug"}
	gw.start()
	defer func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", lastLines(gw.log.String(), 40))
		}
	}()
	defer gw.cmd.Process.Kill()

	hc := &http.Client{Timeout: 10 * time.Second}
	do := func(path, who string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+gw.addr+path, nil)
		if who != "" {
			req.Header.Set("Authorization", "Bearer "+token(who))
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var p map[string]any
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatalf("%s: %v: %s", path, err, b)
			}
		}
		return resp.StatusCode, p
	}

	// /metrics, which shows every member's metered quantities, is on the
	// operations address only; the health endpoints are on both.
	if code, _ := do("/metrics", "beta"); code != 404 {
		t.Fatalf("/metrics on the callers' address: %d, want 404", code)
	}
	if v, err := gw.metric("charta_gateway_decision_cache_misses_total"); err != nil || v != 0 {
		t.Fatalf("/metrics on the operations address: %v, %v", v, err)
	}
	for _, addr := range []string{gw.addr, gw.ops} {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/healthz on %s: %d", addr, resp.StatusCode)
		}
	}

	// 401, allowed, denied (with the reasons, and the upstream never
	// hit), 502.
	if code, p := do("/infer", ""); code != 401 || p["code"] != "unauthorized" {
		t.Fatalf("no token: %d %v", code, p)
	}
	if code, _ := do("/infer", "beta"); code != 200 || lastMember.Load() != "beta|" {
		t.Fatalf("beta: %d, upstream saw %v", code, lastMember.Load())
	}
	hits := upHits.Load()
	code, p := do("/infer", "gamma")
	if code != 403 || p["code"] != "forbidden" || !strings.Contains(fmt.Sprint(p["reason"]), "gamma holds no grant over model-x") {
		t.Fatalf("gamma: %d %v", code, p)
	}
	if upHits.Load() != hits {
		t.Fatal("a denied request reached the upstream")
	}
	if code, p := do("/down", "alpha"); code != 502 || p["code"] != "unavailable" {
		t.Fatalf("upstream down: %d %v", code, p)
	}

	// Metering, with a kill -9 in the middle of traffic: every request
	// that got a response is in the ledger once.
	var served, gpuServed atomic.Int64
	served.Add(1) // beta's request above
	traffic := func(stop *atomic.Bool, wg *sync.WaitGroup) {
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path, who, n := "/infer", "beta", &served
				if i%2 == 1 {
					path, who, n = "/gpu", "alpha", &gpuServed
				}
				c := &http.Client{Timeout: 5 * time.Second}
				for !stop.Load() {
					req, _ := http.NewRequest(http.MethodGet, "http://"+gw.addr+path, nil)
					req.Header.Set("Authorization", "Bearer "+token(who))
					resp, err := c.Do(req)
					if err != nil {
						time.Sleep(20 * time.Millisecond)
						continue
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode == 200 && string(b) == "ok" {
						n.Add(1)
					}
				}
			}()
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	traffic(&stop, &wg)
	time.Sleep(1500 * time.Millisecond)
	gw.kill()
	stop.Store(true)
	wg.Wait()
	killedAt := served.Load() + gpuServed.Load()
	gw.start()
	stop.Store(false)
	traffic(&stop, &wg)
	time.Sleep(time.Second)
	stop.Store(true)
	wg.Wait()
	if served.Load()+gpuServed.Load() <= killedAt || killedAt < 10 {
		t.Fatalf("too little traffic: %d responses before the kill, %d in all", killedAt, served.Load()+gpuServed.Load())
	}
	waitFor(t, 15*time.Second, "every count reported", func() error {
		if v, err := gw.metric("charta_gateway_reports_pending"); err != nil || v != 0 {
			return fmt.Errorf("pending %v %v", v, err)
		}
		return nil
	})
	d, err := beta.Check(ctx, ledger.CheckRequest{Member: "beta", Asset: "model-x", Action: ledger.RightUse})
	if err != nil {
		t.Fatal(err)
	}
	// A count is journaled before its response leaves, so a kill -9 can
	// count a use whose response was lost with the process (the upstream
	// did the work): at most one per client with a request in flight at
	// the kill. A count reported twice would be a whole batch too many.
	const inFlight = 3 // clients per path
	if len(d.Caps) != 1 || d.Caps[0].Used < served.Load() || d.Caps[0].Used > served.Load()+inFlight {
		t.Fatalf("the ledger holds %+v requests of g-1; %d got responses", d.Caps, served.Load())
	}
	u, err := alpha.PoolUsage(ctx, "gpu")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range u.Members {
		if m.Member == "alpha" && (m.Used%3 != 0 || m.Used < 3*gpuServed.Load() || m.Used > 3*(gpuServed.Load()+inFlight)) {
			t.Fatalf("pool gpu: alpha used %d; %d responses of 3 GPU seconds", m.Used, gpuServed.Load())
		}
	}
	t.Logf("metered %d requests and %d GPU requests across a kill -9", served.Load(), gpuServed.Load())

	// Revocation: the decision TTL is 30 s, so only the event stream can
	// end the cached allow; the documented bound is the TTL, and the
	// stream brings it down to well under a second.
	if code, _ := do("/infer", "beta"); code != 200 {
		t.Fatalf("beta before the revocation: %d", code)
	}
	res, err := alpha.Propose(ctx, "grant.revoke", "revoke-g-1", ledger.GrantRef{Grant: "g-1"})
	if err != nil {
		t.Fatal(err)
	}
	committed := time.Now()
	for {
		code, p := do("/infer", "beta")
		if code == 403 {
			if !strings.Contains(fmt.Sprint(p["reason"]), "revoked") {
				t.Fatalf("denied, but not for the revocation: %v", p)
			}
			break
		}
		if time.Since(committed) > 2*time.Second {
			t.Fatalf("still allowed %s after the revocation committed at index %d", time.Since(committed), res.Index)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("the revocation took effect at the gateway %s after it committed", time.Since(committed).Round(time.Millisecond))

	if err := gw.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}
