package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/charta/charta/node/client"
)

func journalCmd() *command {
	var from uint64
	var limit int
	list := reader("list", "", "List journal entries with their outcomes", func(e *env, c *client.Client, args []string) error {
		es, next, err := c.Journal(e.ctx, from, limit)
		if err != nil {
			return err
		}
		err = e.show(es, func(w io.Writer) {
			fmt.Fprintln(w, "SEQ\tINDEX\tTIME\tTYPE\tID\tSIGNER\tSTATUS\tCODE")
			for _, x := range es {
				fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Seq, x.Index, x.LedgerTime.UTC().Format(time.RFC3339),
					dash(x.Outcome.Type), dash(x.Outcome.ID), dash(x.Outcome.Signer), x.Outcome.Status, dash(string(x.Outcome.Code)))
			}
		})
		printNext(e.stderr, next)
		return err
	})
	list.flags = func(fs *flag.FlagSet) {
		fs.Uint64Var(&from, "from", 0, "first entry (sequence number)")
		fs.IntVar(&limit, "limit", 100, "most entries")
	}
	show := reader("show", "<seq>", "Show one journal entry", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "an entry sequence number"); err != nil {
			return err
		}
		n, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			return usagef("%q is not an entry number", args[0])
		}
		x, err := c.JournalEntry(e.ctx, n)
		if err != nil {
			return err
		}
		return e.json(x)
	})
	return &command{name: "journal", summary: "Read the journal", subs: []*command{list, show, journalExportCmd(), journalReceiptCmd()}}
}
