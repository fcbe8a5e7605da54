package chaos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/charta/charta/node/client"
)

// SlowReaders opens n streams of every journal entry (GET
// /v1/events?from=0) on the leader, spread over the members' tokens, whose
// client never reads, and holds them for d. The leader must keep its
// leadership (the same leader in the same term) through the flood, and
// serve each member no more streams than its cap.
func SlowReaders(n int, d time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, _ *rand.Rand) error {
		l, before, err := c.leaderStatus(ctx)
		if err != nil {
			return err
		}
		u, err := url.Parse(c.Nodes[l].API)
		if err != nil {
			return err
		}
		ids := c.IDs()
		var conns []net.Conn
		defer func() {
			for _, conn := range conns {
				conn.Close()
			}
		}()
		for i := range n {
			conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
			if err != nil {
				return fmt.Errorf("chaos: slow reader %d: %w", i, err)
			}
			conns = append(conns, conn)
			fmt.Fprintf(conn, "GET /v1/events?from=0 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", u.Host, c.tokens[ids[i%len(ids)]])
		}
		c.log.Info("slow readers opened", "node", c.Nodes[l].ID, "streams", n)
		sleep(ctx, d)
		after, err := c.Status(ctx, l)
		if err != nil {
			return fmt.Errorf("chaos: the leader did not answer after %d slow readers: %w", n, err)
		}
		if after.Role != "leader" || after.Term != before.Term {
			return fmt.Errorf("chaos: %d slow readers cost %s its leadership (term %d, now %s in term %d)",
				n, c.Nodes[l].ID, before.Term, after.Role, after.Term)
		}
		return nil
	}
}

// ReadTokenClusterRoutes registers a read-only token for each member and
// calls every route that changes the cluster on every node with it, with a
// bogus Raft address: each must answer 403, and the Raft configuration
// must stay as it was.
func ReadTokenClusterRoutes() Fault {
	return func(ctx context.Context, c *Cluster, _ *rand.Rand) error {
		l, before, err := c.leaderStatus(ctx)
		if err != nil {
			return err
		}
		hc := &http.Client{Timeout: 5 * time.Second}
		for _, m := range c.IDs() {
			tok := client.NewToken()
			if err := c.RegisterTokenScoped(ctx, m, tok, "read"); err != nil {
				return err
			}
			for _, n := range c.Nodes {
				if err := waitToken(ctx, hc, n.API, tok); err != nil {
					return fmt.Errorf("chaos: %s's new read token on %s: %w", m, n.ID, err)
				}
				for _, call := range []struct{ path, body string }{
					{"/v1/cluster/join", fmt.Sprintf(`{"id":%q,"raft_addr":"127.0.0.1:1"}`, m)},
					{"/v1/cluster/transfer-leadership", ""},
				} {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.API+call.path, strings.NewReader(call.body))
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Content-Type", "application/json")
					resp, err := hc.Do(req)
					if err != nil {
						return fmt.Errorf("chaos: %s %s: %w", n.ID, call.path, err)
					}
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
					resp.Body.Close()
					if resp.StatusCode != http.StatusForbidden {
						return fmt.Errorf("chaos: %s's read token on %s %s: %d %s, want 403", m, n.ID, call.path, resp.StatusCode, bytes.TrimSpace(body))
					}
				}
			}
		}
		after, err := c.Status(ctx, l)
		if err != nil {
			return err
		}
		if fmt.Sprint(after.Voters, after.Nonvoters) != fmt.Sprint(before.Voters, before.Nonvoters) {
			return fmt.Errorf("chaos: read tokens changed the cluster: voters %v %v, were %v %v", after.Voters, after.Nonvoters, before.Voters, before.Nonvoters)
		}
		return nil
	}
}

// waitToken waits until the node at api knows tok (a follower applies the
// token's registration a moment after the leader).
func waitToken(ctx context.Context, hc *http.Client, api, tok string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not known within 10 s (%v)", err)
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

// leaderStatus waits for a leader and returns its index and status.
func (c *Cluster) leaderStatus(ctx context.Context) (int, *client.Status, error) {
	l, err := c.leader(ctx)
	if err != nil {
		return -1, nil, err
	}
	st, err := c.Status(ctx, l)
	return l, st, err
}
