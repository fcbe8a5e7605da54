package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// nodes is the member's nodes, asked one at a time: the one that answered
// last, then the others in turn when it does not answer.
type nodes struct {
	addrs   []string         // base URLs
	clients []*client.Client // one per address, with the gateway's token
	hc      *http.Client     // shared by every client, also those made per caller
	timeout time.Duration    // bound on one request
	cur     atomic.Int32     // index of the node asked first
	lastOK  atomic.Int64     // unix nanoseconds of the last answer from any node
	// floor is the log index of the gateway's newest committed report:
	// reads wait until their node has applied it, so that what is left of
	// a cap or quota never leaves out a report the gateway already made.
	floor atomic.Uint64
}

// newNodes builds clients of addrs. Addresses without a scheme are http,
// or https when caFile is set. signer, if not nil, signs proposals.
func newNodes(addrs []string, token, caFile string, timeout time.Duration, signer *ledger.Signer) (*nodes, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("gateway: ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("gateway: ca: %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	n := &nodes{hc: &http.Client{Transport: tr}, timeout: timeout}
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if !strings.Contains(a, "://") {
			if caFile != "" {
				a = "https://" + a
			} else {
				a = "http://" + a
			}
		}
		opts := []client.Option{client.WithToken(token), client.WithHTTPClient(n.hc), client.WithRetry(client.RetryPolicy{}),
			client.WithUserAgent("charta-gateway/1")}
		if signer != nil {
			opts = append(opts, client.WithSigner(*signer))
		}
		c, err := client.New(a, opts...)
		if err != nil {
			return nil, fmt.Errorf("gateway: node %s: %w", a, err)
		}
		n.addrs = append(n.addrs, a)
		n.clients = append(n.clients, c)
	}
	return n, nil
}

// errNoNode is every node failing to answer.
var errNoNode = errors.New("gateway: no node answers")

// do calls fn with each node's client in turn, starting with the one that
// answered last, until one answers (fn returns nil or an error the node
// sent that another node would send too). k is the node's index. Each
// call gets the timeout.
func (n *nodes) do(ctx context.Context, fn func(ctx context.Context, k int, c *client.Client) error) error {
	start := int(n.cur.Load())
	var last error
	for i := range n.clients {
		k := (start + i) % len(n.clients)
		cctx, cancel := context.WithTimeout(ctx, n.timeout)
		err := fn(cctx, k, n.clients[k])
		cancel()
		if err == nil || !unreachable(err) {
			n.answered(k)
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = err
	}
	return fmt.Errorf("%w: %v", errNoNode, last)
}

// answered notes that node k answered.
func (n *nodes) answered(k int) {
	n.cur.Store(int32(k))
	n.lastOK.Store(time.Now().UnixNano())
}

// reachable reports whether a node answered within d.
func (n *nodes) reachable(d time.Duration) bool {
	t := n.lastOK.Load()
	return t != 0 && time.Since(time.Unix(0, t)) <= d
}

// raiseFloor raises the index reads wait for to i.
func (n *nodes) raiseFloor(i uint64) {
	for {
		cur := n.floor.Load()
		if i <= cur || n.floor.CompareAndSwap(cur, i) {
			return
		}
	}
}

// readOpts are the options of every read: wait for the floor.
func (n *nodes) readOpts() []client.ReadOption {
	if f := n.floor.Load(); f > 0 {
		return []client.ReadOption{client.MinIndex(f)}
	}
	return nil
}

// asCaller returns a client of node k that sends token, for a caller's
// whoami.
func (n *nodes) asCaller(k int, token string) (*client.Client, error) {
	return client.New(n.addrs[k], client.WithToken(token), client.WithHTTPClient(n.hc), client.WithRetry(client.RetryPolicy{}),
		client.WithUserAgent("charta-gateway/1"))
}

// unreachable reports whether err means that the node did not answer the
// question: no response, a timeout, or a node that is unavailable, rate
// limiting or failing. Another node may answer it.
func unreachable(err error) bool {
	var ce *client.Error
	if !errors.As(err, &ce) {
		return true
	}
	return errors.Is(err, client.ErrUnavailable) || errors.Is(err, client.ErrRateLimited) || errors.Is(err, client.ErrInternal)
}
