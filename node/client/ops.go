package client

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/charta/charta/node/api"
)

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/status", retry: true}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Cluster returns the servers of the Raft configuration as the node sees
// it; the leader's has Leader set.
func (c *Client) Cluster(ctx context.Context) ([]ClusterServer, error) {
	var l api.List[ClusterServer]
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/cluster", retry: true}, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Join asks the cluster to add the node of member id, reachable for Raft at
// raftAddr. The node forwards the request to the leader, which checks that
// the member was admitted. It is not retried.
func (c *Client) Join(ctx context.Context, id, raftAddr string) error {
	_, err := c.postJSON(ctx, "/v1/cluster/join", nil, api.JoinRequest{ID: id, RaftAddr: raftAddr}, false, nil)
	return err
}

// TransferLeadership asks the leader to hand leadership to another voter.
// It needs the operator token and is not retried.
func (c *Client) TransferLeadership(ctx context.Context) error {
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/cluster/transfer-leadership"}, nil)
	return err
}

// ReadIndex asks the leader for its read index: the commit index a
// linearizable read must wait for. Only the leader answers.
func (c *Client) ReadIndex(ctx context.Context) (uint64, error) {
	var ri api.ReadIndex
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/cluster/read-index", retry: true}, &ri); err != nil {
		return 0, err
	}
	return ri.Index, nil
}

// Backup streams a consistent snapshot of the node's state to w and returns
// the number of bytes written. It needs the operator token. It is not
// retried, since part of the stream may already have been written.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/backup",
		header: http.Header{"Accept": {"application/octet-stream, application/problem+json"}}})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("client: backup: %w", err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("client: backup: got %d of %d bytes", n, resp.ContentLength)
	}
	return n, nil
}

// Health returns the node's public health: whether it serves, its role,
// applied index and alarms. It sends no token.
func (c *Client) Health(ctx context.Context) (*api.Health, error) {
	var h api.Health
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/healthz", noToken: true}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// Healthz returns nil if the node's process serves requests.
func (c *Client) Healthz(ctx context.Context) error {
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/healthz"}, nil)
	return err
}

// Readyz returns nil if the node knows a leader and has caught up with the
// commit index, and an *Error with api.CodeUnavailable (or another code) if not.
func (c *Client) Readyz(ctx context.Context) error {
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/readyz"}, nil)
	return err
}

// Whoami returns who the client's token authenticates as: GET /v1/whoami.
// With MinIndex (or Consistency) the node authenticates the token once it
// has applied that index.
// Any valid token may ask, whatever its scopes.
func (c *Client) Whoami(ctx context.Context, opts ...ReadOption) (*api.Whoami, error) {
	var w api.Whoami
	if _, err := c.get(ctx, "/v1/whoami", nil, opts, &w); err != nil {
		return nil, err
	}
	return &w, nil
}
