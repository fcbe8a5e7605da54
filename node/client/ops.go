package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/status", retry: true}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Cluster returns the Raft configuration as the node sees it.
func (c *Client) Cluster(ctx context.Context) (*Cluster, error) {
	var cl Cluster
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/cluster", retry: true}, &cl); err != nil {
		return nil, err
	}
	return &cl, nil
}

// Join asks the cluster to add the node of member id, reachable for Raft at
// raftAddr. The node forwards the request to the leader, which checks that
// the member was admitted. It is not retried.
func (c *Client) Join(ctx context.Context, id, raftAddr string) error {
	in := struct {
		ID       string `json:"id"`
		RaftAddr string `json:"raft_addr"`
	}{id, raftAddr}
	_, err := c.postJSON(ctx, "/v1/cluster/join", nil, in, false, nil)
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
	var raw json.RawMessage
	idx, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/cluster/read-index", retry: true}, &raw)
	if err != nil {
		return 0, err
	}
	var n uint64
	if json.Unmarshal(raw, &n) == nil {
		return n, nil
	}
	var w struct {
		ReadIndex *uint64 `json:"read_index"`
		Index     *uint64 `json:"index"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return 0, fmt.Errorf("client: GET /v1/cluster/read-index: decode response: %w", err)
	}
	switch {
	case w.ReadIndex != nil:
		return *w.ReadIndex, nil
	case w.Index != nil:
		return *w.Index, nil
	}
	return idx, nil
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

// Healthz returns nil if the node's process serves requests.
func (c *Client) Healthz(ctx context.Context) error {
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/healthz"}, nil)
	return err
}

// Readyz returns nil if the node knows a leader and has caught up with the
// commit index, and an *Error with CodeUnavailable (or another code) if not.
func (c *Client) Readyz(ctx context.Context) error {
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/readyz"}, nil)
	return err
}
