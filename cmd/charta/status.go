package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/charta/charta/node/client"
)

func statusCmd() *command {
	var all bool
	return &command{name: "status", summary: "Show the node's role, leader, applied index, journal head and state digest", client: true,
		example: "  charta status\n  charta status --all   # every member's node: role, applied index, state digest",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&all, "all", false, "ask every active member's node, at the API address the ledger records for it")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			if all {
				return explain(statusAll(e, c))
			}
			s, err := c.Status(e.ctx)
			if err != nil {
				return explain(err)
			}
			return e.show(s, func(w io.Writer) {
				fmt.Fprintf(w, "node\t%s (%s)\n", s.ID, s.Role)
				fmt.Fprintf(w, "leader\t%s (term %d)\n", dash(s.Leader), s.Term)
				fmt.Fprintf(w, "consortium\t%s\n", s.Consortium)
				fmt.Fprintf(w, "applied index\t%d (commit %d)\n", s.AppliedIndex, s.CommitIndex)
				fmt.Fprintf(w, "ledger time\t%s\n", s.LedgerTime.UTC().Format(time.RFC3339))
				fmt.Fprintf(w, "consortium time\t%s (%d clock readings; this node's clock is %s off)\n",
					s.Time.ConsortiumTime.UTC().Format(time.RFC3339), s.Time.Readings, time.Duration(s.Time.ClockOffsetMS)*time.Millisecond)
				fmt.Fprintf(w, "alarms\t%s\n", orNone(s.Alarms))
				h := s.JournalHead
				fmt.Fprintf(w, "journal head\t%d entries, last %s, root %s\n", h.Size, h.LastHash, h.Root)
				fmt.Fprintf(w, "state digest\t%x\n", s.StateDigest[:])
				fmt.Fprintf(w, "voters\t%s\n", strings.Join(s.Voters, ", "))
				fmt.Fprintf(w, "non-voters\t%s\n", orNone(s.Nonvoters))
				fmt.Fprintf(w, "version\t%s\n", s.Version)
			})
		}}
}

// memberNodeStatus is one member node's answer to `charta status --all`:
// the full status of the --server node, which gets the token, and the
// public health of the others, which do not.
type memberNodeStatus struct {
	Member string         `json:"member"`
	API    string         `json:"api"`
	Status *client.Status `json:"status,omitempty"` // the --server node's
	Health *api.Health    `json:"health,omitempty"` // the other nodes'
	Error  string         `json:"error,omitempty"`  // why the node did not answer
}

// statusAll asks the --server node for its status and every other active
// member's node for its public health (the token goes to the --server
// node only: another member's node must never see it), concurrently, and
// prints one line per node. A node that does not answer within a few
// seconds is shown as down; that is not an error of the command.
func statusAll(e *env, c *client.Client) error {
	self, err := c.Status(e.ctx)
	if err != nil {
		return err
	}
	var members []api.Member
	var after []client.ReadOption
	for {
		page, next, err := c.Members(e.ctx, after...)
		if err != nil {
			return err
		}
		members = append(members, page...)
		if next == "" {
			break
		}
		after = []client.ReadOption{client.Cursor(next)}
	}
	var out []memberNodeStatus
	for _, m := range members {
		if m.Status == ledger.MemberActive && m.Node.APIAddr != "" {
			out = append(out, memberNodeStatus{Member: m.ID, API: api.BaseURL(m.Node.APIAddr, e.g.caFile != "")})
		}
	}
	var wg sync.WaitGroup
	for i := range out {
		if out[i].Member == self.ID {
			out[i].Status = self
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(e.ctx, 3*time.Second)
			defer cancel()
			var opts []client.Option
			if e.g.caFile != "" {
				opts = append(opts, client.WithTLS(e.g.caFile))
			}
			nc, err := client.New(out[i].API, opts...)
			if err == nil {
				out[i].Health, err = nc.Health(ctx)
			}
			if err != nil {
				out[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	return e.show(out, func(w io.Writer) {
		fmt.Fprintln(w, "NODE\tROLE\tAPPLIED\tTERM\tCOMMIT\tSTATE DIGEST\tAPI")
		for _, n := range out {
			switch {
			case n.Status != nil:
				s := n.Status
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%x\t%s (this server)\n", n.Member, s.Role, s.AppliedIndex, s.Term, s.CommitIndex, s.StateDigest[:8], n.API)
			case n.Health != nil:
				fmt.Fprintf(w, "%s\t%s\t%d\t-\t-\t-\t%s\n", n.Member, n.Health.Role, n.Health.AppliedIndex, n.API)
			default:
				fmt.Fprintf(w, "%s\tdown\t-\t-\t-\t-\t%s\n", n.Member, n.API)
			}
		}
	})
}
