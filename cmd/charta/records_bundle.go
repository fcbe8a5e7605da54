package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

func bundleCmd() *command {
	var file string
	var cosign multiFlag
	offer := &command{
		name: "offer", summary: "Offer a bundle of grants that activate together", client: true, signs: true,
		example: "  charta bundle offer --key alpha.key --file cross-licence.json [--cosign beta.key]",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&file, "file", "", "JSON bundle: {id, deadline, linked_termination, grants:[{id, licensors, licensees, terms}]} (required)")
			fs.Var(&cosign, "cosign", "key file of another party signing in the same envelope (repeat)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if file == "" {
				return usagef("--file is required")
			}
			var b ledger.BundleOffer
			if err := readJSONFile(file, &b); err != nil {
				return err
			}
			return e.propose("bundle.offer", "", b, cosign...)
		},
	}
	accept := &command{
		name: "accept", args: "<bundle>", summary: "Sign a bundle as one of its parties", client: true, signs: true,
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a bundle ID"); err != nil {
				return err
			}
			return e.propose("bundle.accept", "", ledger.BundleAccept{Bundle: args[0]})
		},
	}
	var lf listFlags
	list := reader("list", "", "List the bundles you can see", func(e *env, c *client.Client, args []string) error {
		bs, next, err := c.Bundles(e.ctx, lf.opts()...)
		if err != nil {
			return err
		}
		err = e.show(bs, rows(bs, "bundles", "ID\tSTATUS\tPARTIES\tGRANTS\tDEADLINE", func(w io.Writer, b ledger.Bundle) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", b.ID, b.Status, strings.Join(b.Parties, ","), strings.Join(b.Grants, ","), b.Deadline.UTC().Format(time.RFC3339))
		}))
		printNext(e.stderr, next)
		return err
	})
	list.flags = lf.register
	show := reader("show", "<bundle>", "Show one bundle", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "a bundle ID"); err != nil {
			return err
		}
		b, err := c.Bundle(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.show(b, func(w io.Writer) { printBundle(w, b) })
	})
	return &command{name: "bundle", summary: "Offer and accept cross-licence bundles", subs: []*command{offer, accept, list, show}}
}

// printBundle writes a bundle as a key/value block, with the parties whose
// signature it still waits for.
func printBundle(w io.Writer, b *ledger.Bundle) {
	field(w, "id", b.ID)
	field(w, "status", b.Status)
	field(w, "proposer", b.Proposer)
	field(w, "parties", commas(b.Parties))
	field(w, "signed", commas(b.Signed))
	missing := slices.DeleteFunc(slices.Clone(b.Parties), func(p string) bool { return slices.Contains(b.Signed, p) })
	field(w, "not signed", commas(missing))
	fieldLines(w, "grants", b.Grants)
	field(w, "deadline", b.Deadline.UTC().Format(time.RFC3339))
	field(w, "linked termination", yesNo(b.LinkedTermination))
	field(w, "offered", atIndex(b.OfferedAt, b.Index))
	field(w, "activated", fmtTime(&b.ActivatedAt))
}
