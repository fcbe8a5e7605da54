package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

func assetCmd() *command {
	var id, kind, name, digest, spdx, card, legal string
	var open bool
	var owners, parents, cosign multiFlag
	register := &command{
		name: "register", summary: "Register an asset (signed by every owner)", client: true, signs: true,
		example: `  charta asset register --key alpha.key --id model-x --kind model --digest sha256:<64 hex>
  charta asset register --key beta.key --id model-y --kind model --digest sha256:<64 hex> \
      --parent model-x:g-1          # derived from model-x under grant g-1`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&id, "id", "", "asset ID (required)")
			fs.StringVar(&kind, "kind", "", "model, dataset, algorithm, software, output, patent or compute (required)")
			fs.StringVar(&name, "name", "", "human-readable name")
			fs.StringVar(&digest, "digest", "", "sha256:<64 hex> of the weights or data manifest (required)")
			fs.StringVar(&spdx, "spdx", "", "SPDX licence expression, e.g. Apache-2.0 or MIT OR Apache-2.0")
			fs.BoolVar(&open, "open", false, "the --spdx licence is open to every member (see docs/entitlements.md for the families)")
			fs.StringVar(&card, "model-card", "", "model card URI")
			fs.StringVar(&legal, "legal-text-hash", "", "sha256:<hex> of the legal text")
			fs.Var(&owners, "owner", "member=share_bp (repeat; default: the signer owns 10000)")
			fs.Var(&parents, "parent", "asset[:grant[:territory[:purpose[:industry]]]] it derives from (repeat)")
			fs.Var(&cosign, "cosign", "key file of a co-owner who signs too (repeat)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if id == "" || kind == "" || digest == "" {
				return usagef("--id, --kind and --digest are required")
			}
			s, err := e.signer()
			if err != nil {
				return err
			}
			body := ledger.AssetRegister{ID: id, Kind: ledger.AssetKind(kind), Name: name, Digest: digest, SPDX: spdx, ModelCardURI: card, LegalTextHash: legal, Open: open}
			for _, o := range owners {
				m, bp, ok := strings.Cut(o, "=")
				n, err := strconv.ParseUint(bp, 10, 32)
				if !ok || err != nil {
					return usagef("--owner %q: want member=share_bp", o)
				}
				body.Owners = append(body.Owners, ledger.Owner{Member: m, ShareBP: uint32(n)})
			}
			if len(body.Owners) == 0 {
				body.Owners = []ledger.Owner{{Member: memberOfKey(s), ShareBP: 10000}}
			}
			for _, p := range parents {
				parts := strings.Split(p, ":")
				if len(parts) > 5 {
					return usagef("--parent %q: want asset[:grant[:territory[:purpose[:industry]]]]", p)
				}
				for len(parts) < 5 {
					parts = append(parts, "")
				}
				body.Parents = append(body.Parents, ledger.Parent{Asset: parts[0], Grant: parts[1], Territory: parts[2], Purpose: parts[3], Industry: parts[4]})
			}
			return e.propose("asset.register", "", body, cosign...)
		},
	}
	var lf listFlags
	list := reader("list", "", "List assets", func(e *env, c *client.Client, args []string) error {
		as, next, err := c.Assets(e.ctx, lf.opts()...)
		if err != nil {
			return err
		}
		err = e.show(as, rows(as, "assets", "ID\tKIND\tOWNERS\tPARENTS\tDIGEST", func(w io.Writer, a ledger.Asset) {
			var os, ps []string
			for _, o := range a.Owners {
				os = append(os, fmt.Sprintf("%s(%d)", o.Member, o.ShareBP))
			}
			for _, p := range a.Parents {
				ps = append(ps, p.Asset)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%.23s…\n", a.ID, a.Kind, strings.Join(os, ","), dash(strings.Join(ps, ",")), a.Digest)
		}))
		printNext(e.stderr, next)
		return err
	})
	list.flags = lf.register
	show := reader("show", "<asset>", "Show one asset", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "an asset ID"); err != nil {
			return err
		}
		a, err := c.Asset(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.show(a, func(w io.Writer) { printAsset(w, a) })
	})
	lineage := reader("lineage", "<asset>", "Show an asset's ancestors and descendants", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "an asset ID"); err != nil {
			return err
		}
		l, err := c.Lineage(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.show(l, func(w io.Writer) { printLineage(w, args[0], l) })
	})
	var from, to string
	var share uint
	transfer := &command{
		name: "transfer", args: "<asset>", summary: "Transfer an ownership share (signed by both sides)", client: true, signs: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "giving owner (default: the signer)")
			fs.StringVar(&to, "to", "", "receiving member (required)")
			fs.UintVar(&share, "share", 10000, "share in basis points")
			fs.Var(&cosign, "cosign", "key file of the receiving member")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "an asset ID"); err != nil {
				return err
			}
			if from == "" {
				s, err := e.signer()
				if err != nil {
					return err
				}
				from = memberOfKey(s)
			}
			return e.propose("asset.transfer", "", ledger.AssetTransfer{Asset: args[0], From: from, To: to, ShareBP: uint32(share)}, cosign...)
		},
	}
	return &command{name: "asset", summary: "Register, transfer, list and show assets", subs: []*command{register, list, show, lineage, transfer}}
}

// printAsset writes an asset as a key/value block.
func printAsset(w io.Writer, a *ledger.Asset) {
	field(w, "id", a.ID)
	field(w, "kind", string(a.Kind))
	fieldIf(w, "name", a.Name)
	field(w, "digest", a.Digest)
	var owners, parents []string
	for _, o := range a.Owners {
		owners = append(owners, fmt.Sprintf("%s (%d bp)", o.Member, o.ShareBP))
	}
	fieldLines(w, "owners", owners)
	for _, p := range a.Parents {
		parents = append(parents, parentString(p))
	}
	fieldLines(w, "parents", parents)
	fieldIf(w, "spdx", a.SPDX)
	if a.Open {
		fieldIf(w, "open to", "every member: "+joinRightsCLI(a.OpenRights))
	}
	fieldIf(w, "model card", a.ModelCardURI)
	fieldIf(w, "legal text", a.LegalTextHash)
	if len(a.Prohibitions) > 0 {
		fieldLines(w, "prohibitions", prohibitionStrings(a.Prohibitions))
	}
	field(w, "registered", atIndex(a.RegisteredAt, a.Index))
}

// parentString says what an asset derives from and on what basis.
func parentString(p ledger.Parent) string {
	s := p.Asset
	if p.Grant == "" {
		return s + " (owned)"
	}
	s += " under grant " + p.Grant
	if where := commas(slices.DeleteFunc([]string{p.Territory, p.Purpose, p.Industry}, func(s string) bool { return s == "" })); where != "" {
		s += " (" + where + ")"
	}
	return s
}

// printLineage writes an asset's ancestors and descendants as a table.
func printLineage(w io.Writer, id string, l *client.Lineage) {
	if len(l.Ancestors) == 0 && len(l.Descendants) == 0 {
		fmt.Fprintf(w, "%s has no ancestors or descendants\n", id)
		return
	}
	fmt.Fprintln(w, "RELATION\tID\tKIND\tOWNERS")
	row := func(rel string, a *ledger.Asset) {
		var os []string
		for _, o := range a.Owners {
			os = append(os, o.Member)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", rel, a.ID, a.Kind, strings.Join(os, ","))
	}
	for _, a := range l.Ancestors {
		row("ancestor", a)
	}
	for _, a := range l.Descendants {
		row("descendant", a)
	}
	if l.Truncated {
		fmt.Fprintln(w, "(truncated: the lineage is longer than the node lists)")
	}
}
