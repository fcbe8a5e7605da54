package main

import (
	"flag"
	"fmt"
	"io"

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
