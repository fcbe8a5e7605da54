package main

import (
	"context"
	"fmt"
	"io"

	"github.com/charta/charta/internal/demo"
	"github.com/charta/charta/internal/devnet"
)

// demoGateway is the demo's gateway and the toy model behind it (package
// devnet): alpha's atlas-chat endpoint behind `charta gateway`.
type demoGateway struct {
	gw     *devnet.Gateway
	cancel context.CancelFunc // stops the toy model
}

// startDemoGateway starts the toy model and the gateway in front of it,
// preparing the gateway's key, tokens and configuration on first use. The
// demo data must be seeded.
func startDemoGateway(ctx context.Context, c *devnet.Cluster, bin string) (*demoGateway, error) {
	model := &devnet.ModelServer{Name: demo.ChatAsset}
	if err := model.Listen(c.ModelAddr()); err != nil {
		return nil, fmt.Errorf("demo gateway: the toy model: %w", err)
	}
	mctx, cancel := context.WithCancel(ctx)
	go model.Serve(mctx)
	if err := c.PrepareGateway(ctx, model.URL()); err != nil {
		cancel()
		return nil, explain(err)
	}
	gw, err := c.StartGateway(ctx, bin)
	if err != nil {
		cancel()
		return nil, err
	}
	return &demoGateway{gw: gw, cancel: cancel}, nil
}

// stop stops the gateway, which reports what it counted, then the model.
func (d *demoGateway) stop() {
	d.gw.Stop()
	d.cancel()
}

func printGatewayWelcome(c *devnet.Cluster, out io.Writer) {
	d, addr := c.Dir, c.GatewayAddr()
	fmt.Fprintf(out, `
The demo's gateway guards alpha's atlas-chat endpoint (a toy model) at
http://%s, metering each call into chat-pool and its tokens into g-chat-beta.
Callers use read-only tokens made for it:

  curl -s -H "Authorization: Bearer $(cat %s/gateway/beta.token)" -d '{"prompt":"hello consortium"}' \
      http://%s/v1/completions         beta: allowed, and metered
  curl -s -H "Authorization: Bearer $(cat %s/gateway/gamma.token)" -d '{"prompt":"hello"}' \
      http://%s/v1/completions         gamma: 403, with the check's reasons
  charta pool usage chat-pool           beta's calls, a second later

Its configuration, key and journal are in %s/gateway, its log in %s/gateway.log.
`, addr, d, addr, d, addr, d, d)
}
