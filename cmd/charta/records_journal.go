package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/charta/charta/ledger"
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
		err = e.show(es, rows(es, "entries", "SEQ\tINDEX\tTIME\tTYPE\tID\tSIGNER\tSTATUS\tCODE", func(w io.Writer, x ledger.Entry) {
			id := dash(x.Outcome.ID)
			if withheld(&x) {
				id = "(withheld)"
			}
			fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Seq, x.Index, x.LedgerTime.UTC().Format(time.RFC3339),
				dash(x.Outcome.Type), id, dash(x.Outcome.Signer), x.Outcome.Status, dash(string(x.Outcome.Code)))
		}))
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
		return e.show(x, func(w io.Writer) { printEntry(w, x) })
	})
	return &command{name: "journal", summary: "Read the journal", subs: []*command{list, show, journalExportCmd(), journalReceiptCmd()}}
}

// printEntry writes a journal entry as a key/value block: its outcome and
// hashes, and the size of the envelope (-o json has the envelope itself).
func printEntry(w io.Writer, x *ledger.Entry) {
	o := &x.Outcome
	field(w, "seq", fmt.Sprint(x.Seq))
	field(w, "index", fmt.Sprint(x.Index))
	field(w, "ledger time", x.LedgerTime.UTC().Format(time.RFC3339Nano))
	field(w, "type", o.Type)
	field(w, "id", o.ID)
	field(w, "signer", o.Signer)
	field(w, "status", o.Status)
	fieldIf(w, "code", string(o.Code))
	fieldIf(w, "message", o.Message)
	fieldIf(w, "with", o.With)
	if len(o.Events) > 0 {
		events := make([]string, len(o.Events))
		for i, ev := range o.Events {
			events[i] = ev.Kind + " " + ev.Subject
		}
		fieldLines(w, "events", events)
	}
	if withheld(x) {
		field(w, "envelope", "withheld: the entry is between other members (an auditor's or the operator's token shows it); its hashes still prove its place")
	} else {
		field(w, "envelope", fmt.Sprintf("%d bytes, sha256 %s", len(x.Envelope), x.EnvelopeHash))
	}
	field(w, "prev hash", x.PrevHash.String())
	field(w, "hash", x.Hash.String())
}

// withheld reports whether the node withheld the entry from this caller:
// every entry but genesis has an envelope, and the node strips it (with the
// outcome's ID, signer and details) from entries between other members.
func withheld(x *ledger.Entry) bool { return x.Seq > 0 && len(x.Envelope) == 0 }
