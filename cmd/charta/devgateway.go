package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/charta/charta/internal/demo"
	"github.com/charta/charta/internal/devnet"
	"github.com/charta/charta/internal/gateway"
	"github.com/charta/charta/ledger"
)

// demoGateway is the demo's gateway: alpha's atlas-chat endpoint (the toy
// model of package devnet) behind `charta gateway`, run by alpha with a key
// delegated for metering only. The model serves on base+9, the gateway on
// base+10; its key, configuration, journal and log are in <dir>/gateway.
type demoGateway struct {
	c     *devnet.Cluster
	model *devnet.ModelServer
	cmd   *exec.Cmd
	done  chan error
}

// The member that runs the demo's gateway: the owner of atlas-chat and of
// chat-pool, and the licensor of g-chat-beta.
const demoGatewayMember = "alpha"

func demoGatewayAddr(c *devnet.Cluster) string { return "127.0.0.1:" + strconv.Itoa(c.Base+10) }
func demoModelAddr(c *devnet.Cluster) string   { return "127.0.0.1:" + strconv.Itoa(c.Base+9) }

// startDemoGateway starts the toy model and the gateway in front of it,
// delegating the gateway's key on first use. The demo data must be seeded.
func startDemoGateway(ctx context.Context, c *devnet.Cluster, bin string, out io.Writer) (*demoGateway, error) {
	dir := c.Path("gateway")
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, demoGatewayMember+"-gateway.key")
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		if err := delegateDemoGatewayKey(ctx, c, keyFile); err != nil {
			return nil, fmt.Errorf("demo gateway: delegating its key: %w", explain(err))
		}
	}
	g := &demoGateway{c: c, model: &devnet.ModelServer{Name: demo.ChatAsset}}
	if err := g.model.Listen(demoModelAddr(c)); err != nil {
		return nil, fmt.Errorf("demo gateway: the toy model: %w", err)
	}
	go g.model.Serve(ctx)
	configFile := filepath.Join(dir, "gateway.json")
	if err := writeDemoGatewayConfig(configFile, g.model.URL()); err != nil {
		return nil, err
	}
	nodes := make([]string, len(devMembers))
	for i := range devMembers {
		nodes[i] = c.APIURL(i)
	}
	log, err := os.OpenFile(c.Path("gateway.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	g.cmd = exec.Command(bin, "gateway", "--listen", demoGatewayAddr(c), "--node", strings.Join(nodes, ","),
		"--token-file", c.Path(demoGatewayMember+".token"), "--key", keyFile, "--state", filepath.Join(dir, "state"),
		"--config", configFile)
	g.cmd.Stdout, g.cmd.Stderr = log, log
	if err := g.cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	log.Close() // the child holds its own descriptor
	g.done = make(chan error, 1)
	go func() { g.done <- g.cmd.Wait() }()
	if err := g.waitReady(ctx); err != nil {
		g.stop()
		return nil, fmt.Errorf("demo gateway: %w (its log: %s)", err, c.Path("gateway.log"))
	}
	return g, nil
}

// delegateDemoGatewayKey creates the gateway's key and delegates to it, in
// alpha's name, exactly what the gateway signs: pool consumption from
// chat-pool, usage reports of g-chat-beta and observations on atlas-chat.
func delegateDemoGatewayKey(ctx context.Context, c *devnet.Cluster, keyFile string) error {
	main, err := c.Signer(demoGatewayMember)
	if err != nil {
		return err
	}
	pub, err := createKey(keyFile, demoGatewayMember, main.Key.Scheme(), false)
	if err != nil {
		return err
	}
	cl, err := c.MemberClient(0, demoGatewayMember)
	if err != nil {
		return err
	}
	scope := ledger.KeyScope{
		Types:  []string{"infraction.observe", "pool.consume", "usage.report"},
		Grants: []string{demo.ChatGrant}, Pools: []string{demo.ChatPool}, Assets: []string{demo.ChatAsset},
		NotAfter: time.Now().UTC().AddDate(1, 0, 0).Truncate(time.Second),
	}
	if _, err := cl.DelegateKey(ctx, "demo-gateway-key", pub.Public, scope); err != nil {
		os.Remove(keyFile)
		os.Remove(strings.TrimSuffix(keyFile, ".key") + ".pub")
		return err
	}
	return nil
}

// writeDemoGatewayConfig writes the gateway's one route: completions of
// atlas-chat, used in DE for research unless the caller says otherwise,
// each call taken from the caller's chat-pool quota and its tokens
// reported as g-chat-beta's usage; three denied calls in a minute are an
// observed infraction.
func writeDemoGatewayConfig(path, upstream string) error {
	f := gateway.File{
		Routes: []gateway.Route{{
			Name: "completions", Prefix: "/v1/completions", Upstream: upstream,
			Asset: demo.ChatAsset, Action: "use", Territory: "DE", Purpose: "research",
			Override: []string{gateway.AxisTerritory, gateway.AxisPurpose},
			Meters: []gateway.Meter{
				{Count: gateway.CountRequests, Metric: "calls", Pool: demo.ChatPool},
				{Count: gateway.CountHeader, Header: devnet.TokensHeader, Metric: demo.ChatMetric, Usage: true},
			},
		}},
		Infractions: &gateway.InfractionRule{Enabled: true, Threshold: 3, Window: gateway.Duration(time.Minute),
			Reason: "repeated calls to atlas-chat without a grant"},
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("demo gateway: %w", err)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// waitReady waits until the gateway answers /readyz.
func (g *demoGateway) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	url := "http://" + demoGatewayAddr(g.c) + "/readyz"
	for {
		select {
		case err := <-g.done:
			g.done <- err
			return fmt.Errorf("it exited: %v", err)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("it was not ready within 30 s")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop ends the gateway with SIGTERM, so that it flushes its counts, and
// waits for it.
func (g *demoGateway) stop() {
	if g == nil || g.cmd == nil || g.cmd.Process == nil {
		return
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(15 * time.Second):
		g.cmd.Process.Kill()
		<-g.done
	}
}
