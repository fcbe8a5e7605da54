package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charta/charta/node/client"
)

// Table mode prints a list as a table with a header (or one line saying
// there is nothing), and a single record as an aligned key/value block.
// -o json prints what the node answered. Both go through env.show.

// rows returns the table of a list for env.show: the header, tab
// separated, and one row per item; with no items, the line "no <what>".
func rows[T any](items []T, what, header string, row func(w io.Writer, x T)) func(io.Writer) {
	return func(w io.Writer) {
		if len(items) == 0 {
			fmt.Fprintf(w, "no %s\n", what)
			return
		}
		fmt.Fprintln(w, header)
		for _, x := range items {
			row(w, x)
		}
	}
}

// field writes one line of a key/value block; an empty value shows as "-".
func field(w io.Writer, key, value string) { fmt.Fprintf(w, "%s\t%s\n", key, dash(value)) }

// fieldIf writes the line only if the value is set: for fields most
// records leave empty.
func fieldIf(w io.Writer, key, value string) {
	if value != "" {
		field(w, key, value)
	}
}

// fieldLines writes a field with several values, one a line; none shows
// as "-".
func fieldLines(w io.Writer, key string, values []string) {
	if len(values) == 0 {
		field(w, key, "")
	}
	for i, v := range values {
		if i > 0 {
			key = ""
		}
		field(w, key, v)
	}
}

// commas joins values for one cell or field.
func commas(values []string) string { return strings.Join(values, ", ") }

// yesNo is a flag as a field value.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// atIndex is when a record was written: its ledger time and log index.
func atIndex(t time.Time, index uint64) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s (index %d)", t.UTC().Format(time.RFC3339), index)
}

// fmtMoney writes an amount of micro-units exactly: at least two decimals,
// and as many more as the amount has.
func fmtMoney(micros int64, currency string) string {
	sign, u := "", uint64(micros)
	if micros < 0 {
		sign, u = "-", -u
	}
	frac := strings.TrimRight(fmt.Sprintf("%06d", u%1_000_000), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	s := fmt.Sprintf("%s%d.%s", sign, u/1_000_000, frac)
	if currency != "" {
		s += " " + currency
	}
	return s
}

// fmtBP writes basis points as a percentage, exactly.
func fmtBP(bp int64) string {
	sign := ""
	if bp < 0 {
		sign, bp = "-", -bp
	}
	if bp%100 == 0 {
		return fmt.Sprintf("%s%d%%", sign, bp/100)
	}
	return fmt.Sprintf("%s%d.%02d%%", sign, bp/100, bp%100)
}

// decodeRaw decodes items the client returns as raw JSON into T.
func decodeRaw[T any](raw []json.RawMessage) ([]T, error) {
	out := make([]T, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return nil, fmt.Errorf("decoding the node's answer: %w", err)
		}
	}
	return out, nil
}

// tableList is rawList with a table: -o json prints the items as the node
// sent them, as rawList does; table mode decodes rawList's output into T
// and prints a row per item, or "no <what>".
func tableList[T any](name, summary, what, header string, fetch func(e *env, c *client.Client, lf *listFlags) ([]json.RawMessage, string, error), row func(io.Writer, T)) *command {
	cmd := rawList(name, summary, fetch)
	printJSON := cmd.run
	cmd.run = func(e *env, fs *flag.FlagSet, args []string) error {
		if e.g.output == "json" {
			return printJSON(e, fs, args)
		}
		var out, more bytes.Buffer
		je := *e
		je.stdout, je.stderr = &out, &more
		if err := printJSON(&je, fs, args); err != nil {
			return err
		}
		var items []T
		if err := json.Unmarshal(out.Bytes(), &items); err != nil {
			return fmt.Errorf("decoding the node's answer: %w", err)
		}
		err := e.show(items, rows(items, what, header, row))
		e.stderr.Write(more.Bytes())
		return err
	}
	return cmd
}
