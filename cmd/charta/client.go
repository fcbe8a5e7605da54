package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// client builds an API client from the global settings.
func (e *env) client() (*client.Client, error) { return e.clientFor(e.g.server) }

// clientFor is client for another server of the same consortium.
func (e *env) clientFor(server string) (*client.Client, error) {
	opts := []client.Option{client.WithToken(e.g.token), client.WithRetryNotice(e.retryNotice())}
	if e.g.caFile != "" {
		opts = append(opts, client.WithTLS(e.g.caFile))
	}
	if e.g.key != "" {
		opts = append(opts, client.WithKeyFile(e.g.key))
	}
	return client.New(server, opts...)
}

// retryNotice returns the client's retry hook: on the first retry of a
// command it says on stderr, once, why the command is waiting, so that a
// node that is down does not look like a hung command.
func (e *env) retryNotice() func(client.RetryNotice) {
	var once sync.Once
	return func(n client.RetryNotice) {
		once.Do(func() {
			fmt.Fprintf(e.stderr, "charta: %s is unavailable (%v); retrying for up to %v (Ctrl-C stops; --server picks another node)\n",
				n.Server, retryReason(n.Err), n.Budget)
		})
	}
}

// retryReason is the short cause of a retried failure.
func retryReason(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		return fmt.Sprintf("%d %s", ce.Status, ce.Code)
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// signer loads the --key signer, which signing commands require.
func (e *env) signer() (ledger.Signer, error) { return loadSigner(e.g.key) }

// propose signs and submits one proposal with the --key signer plus any
// co-signers, and prints its outcome.
func (e *env) propose(typ, id string, body any, cosigners ...string) error {
	s, err := e.signer()
	if err != nil {
		return err
	}
	signers := []ledger.Signer{s}
	for _, path := range cosigners {
		cs, err := loadSigner(path)
		if err != nil {
			return err
		}
		signers = append(signers, cs)
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	if id == "" {
		id = client.NewProposalID()
	}
	r, err := c.ProposeMulti(e.ctx, typ, id, body, signers...)
	if err != nil {
		return explain(err)
	}
	if e.g.output == "json" {
		return e.json(withReceipt(e, c, r))
	}
	dup := ""
	if r.Duplicate {
		dup = " (already applied; nothing changed)"
	}
	fmt.Fprintf(e.stdout, "%s %s: %s at index %d, entry %d%s\n", typ, r.Outcome.ID, r.Outcome.Status, r.Index, r.Seq, dup)
	return nil
}

// explain turns an API error into one line a person can act on.
func explain(err error) error {
	var ce *client.Error
	if errors.As(err, &ce) {
		msg := ce.Detail
		if msg == "" {
			msg = ce.Title
		}
		if ce.With != "" && !strings.Contains(msg, ce.With) {
			msg += " (clashes with " + ce.With + ")"
		}
		if ce.Index != 0 {
			msg += fmt.Sprintf(" [journaled as rejected at index %d]", ce.Index)
		}
		return fmt.Errorf("%s: %s", ce.Code, msg)
	}
	return err
}

func (e *env) json(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// show prints v as JSON, or as a table written by table.
func (e *env) show(v any, table func(w io.Writer)) error {
	if e.g.output == "json" {
		return e.json(v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// readJSONFile decodes a JSON file strictly into v.
func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := ledger.DecodeStrict(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// parseTime accepts RFC 3339 or a date (midnight UTC).
func parseTime(flagName, s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, usagef("--%s: %q is not an RFC 3339 time or a YYYY-MM-DD date", flagName, s)
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func rightsString(rs []ledger.Right) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// memberOfKey is the member a signer signs for.
func memberOfKey(s ledger.Signer) string {
	m, _, _ := ledger.SplitKeyID(s.KeyID)
	return m
}
