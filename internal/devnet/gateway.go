package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/charta/charta/internal/demo"
	"github.com/charta/charta/internal/gateway"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// GatewayMember runs the demo's gateway: the owner of atlas-chat and of
// chat-pool, and the licensor of g-chat-beta.
const GatewayMember = "alpha"

// GatewayCallers are the members with a caller token for the demo's
// gateway, in <dir>/gateway/<member>.token.
var GatewayCallers = []string{"beta", "gamma"}

// GatewayAddr is where the demo's gateway listens: base+10.
func (c *Cluster) GatewayAddr() string { return "127.0.0.1:" + strconv.Itoa(c.Base+10) }

// ModelAddr is where the toy model behind it listens: base+9.
func (c *Cluster) ModelAddr() string { return "127.0.0.1:" + strconv.Itoa(c.Base+9) }

// GatewayOpsAddr is where the demo's gateway serves its metrics and
// health to operators: base+11.
func (c *Cluster) GatewayOpsAddr() string { return "127.0.0.1:" + strconv.Itoa(c.Base+11) }

// Gateway is the demo's gateway process: `charta gateway` in front of the
// toy model, run by GatewayMember with a key delegated for metering only
// and a read-only token.
type Gateway struct {
	c    *Cluster
	cmd  *exec.Cmd
	done chan error
}

// PrepareGateway creates, once per directory, what the demo's gateway runs
// with, in <dir>/gateway: a key GatewayMember delegates exactly what the
// gateway signs to (pool consumption from chat-pool, usage reports of
// g-chat-beta, observations on atlas-chat), a read-only token for the
// gateway and one for each of GatewayCallers (so that no caller hands its
// admin token to another member's gateway), and the configuration for the
// model at upstream. The demo data must be seeded.
func (c *Cluster) PrepareGateway(ctx context.Context, upstream string) error {
	if err := os.MkdirAll(c.Path("gateway", "state"), 0o700); err != nil {
		return err
	}
	for _, m := range append([]string{GatewayMember}, GatewayCallers...) {
		if err := c.readToken(ctx, m); err != nil {
			return fmt.Errorf("demo gateway: %s's token: %w", m, err)
		}
	}
	if _, err := os.Stat(c.gatewayKey()); errors.Is(err, os.ErrNotExist) {
		if err := c.delegateGatewayKey(ctx); err != nil {
			return fmt.Errorf("demo gateway: delegating its key: %w", err)
		}
	}
	return writeGatewayConfig(c.Path("gateway", "gateway.json"), upstream)
}

func (c *Cluster) gatewayKey() string { return c.Path("gateway", GatewayMember+"-gateway.key") }

// readToken registers a read-only token of member m in
// <dir>/gateway/<m>.token, unless one is there.
func (c *Cluster) readToken(ctx context.Context, m string) error {
	path := c.Path("gateway", m+".token")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	cl, err := c.MemberClient(0, m)
	if err != nil {
		return err
	}
	tok := client.NewToken()
	body := ledger.TokenRegister{Hash: ledger.HashToken(tok), Scopes: []string{"read"},
		ExpiresAt: time.Now().AddDate(1, 0, 0).UTC().Truncate(time.Second)}
	if _, err := cl.Propose(ctx, "token.register", "demo-gateway-token-"+m, body); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(tok+"\n"), 0o600)
}

// delegateGatewayKey creates the gateway's key and delegates its scope to
// it in GatewayMember's name; a refused delegation leaves no key file.
func (c *Cluster) delegateGatewayKey(ctx context.Context) error {
	main, err := c.Signer(GatewayMember)
	if err != nil {
		return err
	}
	path := c.gatewayKey()
	pub, err := ledger.CreateKeyFiles(path, GatewayMember, main.Key.Scheme(), false)
	if err != nil {
		return err
	}
	cl, err := c.MemberClient(0, GatewayMember)
	if err != nil {
		return err
	}
	scope := ledger.KeyScope{
		Types:  []string{"infraction.observe", "pool.consume", "usage.report"},
		Grants: []string{demo.ChatGrant}, Pools: []string{demo.ChatPool}, Assets: []string{demo.ChatAsset},
		NotAfter: time.Now().UTC().AddDate(1, 0, 0).Truncate(time.Second),
	}
	if _, err := cl.DelegateKey(ctx, "demo-gateway-key", pub.Public, scope); err != nil {
		os.Remove(path)
		os.Remove(strings.TrimSuffix(path, ".key") + ".pub")
		return err
	}
	return nil
}

// writeGatewayConfig writes the gateway's one route: completions of
// atlas-chat, used in DE for research unless the caller says otherwise,
// each call taken from the caller's chat-pool quota and its tokens
// reported as usage of the grant that allows it; three refused calls in a
// minute are an observed infraction.
func writeGatewayConfig(path, upstream string) error {
	f := gateway.File{
		Routes: []gateway.Route{{
			Name: "completions", Prefix: "/v1/completions", Upstream: upstream,
			Asset: demo.ChatAsset, Action: "use", Territory: "DE", Purpose: "research",
			Override: []string{gateway.AxisTerritory, gateway.AxisPurpose},
			Meters: []gateway.Meter{
				{Count: gateway.CountRequests, Metric: "calls", Pool: demo.ChatPool},
				{Count: gateway.CountHeader, Header: TokensHeader, Metric: demo.ChatMetric, Usage: true},
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

// StartGateway starts bin's `charta gateway` with what PrepareGateway
// made, logging to <dir>/gateway.log, and waits until it is ready.
func (c *Cluster) StartGateway(ctx context.Context, bin string) (*Gateway, error) {
	nodes := make([]string, len(Members))
	for i := range Members {
		nodes[i] = c.APIURL(i)
	}
	log, err := os.OpenFile(c.Path("gateway.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child holds its own descriptor
	g := &Gateway{c: c, done: make(chan error, 1)}
	g.cmd = exec.Command(bin, "gateway", "--listen", c.GatewayAddr(), "--metrics-listen", c.GatewayOpsAddr(), "--node", strings.Join(nodes, ","),
		"--token-file", c.Path("gateway", GatewayMember+".token"), "--key", c.gatewayKey(),
		"--state", c.Path("gateway", "state"), "--config", c.Path("gateway", "gateway.json"))
	g.cmd.Stdout, g.cmd.Stderr = log, log
	if err := g.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { g.done <- g.cmd.Wait() }()
	if err := g.waitReady(ctx); err != nil {
		g.Stop()
		return nil, fmt.Errorf("demo gateway: %w (its log: %s)", err, c.Path("gateway.log"))
	}
	return g, nil
}

// waitReady waits until the gateway answers /readyz.
func (g *Gateway) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	url := "http://" + g.c.GatewayAddr() + "/readyz"
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

// Stop ends the gateway with SIGTERM, so that it reports what it counted,
// and waits for it (SIGKILL after 15 s).
func (g *Gateway) Stop() {
	if g == nil || g.cmd == nil || g.cmd.Process == nil {
		return
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		g.done <- err
	case <-time.After(15 * time.Second):
		g.cmd.Process.Kill()
	}
}
