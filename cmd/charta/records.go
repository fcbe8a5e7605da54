package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charta/charta/node/client"
)

// read commands share these list flags.
type listFlags struct {
	limit  int
	cursor string
}

func (l *listFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&l.limit, "limit", 100, "most items to list")
	fs.StringVar(&l.cursor, "cursor", "", "continue a listing from this cursor")
}

func (l *listFlags) opts() []client.ReadOption {
	o := []client.ReadOption{client.Limit(l.limit)}
	if l.cursor != "" {
		o = append(o, client.Cursor(l.cursor))
	}
	return o
}

func printNext(w io.Writer, next string) {
	if next != "" {
		fmt.Fprintf(w, "(more: --cursor %s)\n", next)
	}
}

// reader is a client read command taking one optional ID.
func reader(name, args, summary string, run func(e *env, c *client.Client, args []string) error) *command {
	return &command{name: name, args: args, summary: summary, client: true,
		run: func(e *env, _ *flag.FlagSet, a []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			return explain(run(e, c, a))
		}}
}

func statusCmd() *command {
	return reader("status", "", "Show the node's role, leader, applied index, journal head and state digest", func(e *env, c *client.Client, args []string) error {
		s, err := c.Status(e.ctx)
		if err != nil {
			return err
		}
		return e.show(s, func(w io.Writer) {
			fmt.Fprintf(w, "node\t%s (%s)\n", s.ID, s.Role)
			fmt.Fprintf(w, "leader\t%s (term %d)\n", dash(s.Leader), s.Term)
			fmt.Fprintf(w, "consortium\t%s\n", s.Consortium)
			fmt.Fprintf(w, "applied index\t%d (commit %d)\n", s.AppliedIndex, s.CommitIndex)
			fmt.Fprintf(w, "ledger time\t%s\n", s.LedgerTime.UTC().Format(time.RFC3339))
			head, _ := json.Marshal(s.JournalHead)
			fmt.Fprintf(w, "journal head\t%s\n", head)
			fmt.Fprintf(w, "state digest\t%x\n", s.StateDigest[:])
			fmt.Fprintf(w, "voters\t%s\n", strings.Join(s.Voters, ", "))
			fmt.Fprintf(w, "non-voters\t%s\n", orNone(s.Nonvoters))
			fmt.Fprintf(w, "version\t%s\n", s.Version)
		})
	})
}
