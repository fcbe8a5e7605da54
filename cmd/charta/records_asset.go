package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

func assetCmd() *command {
	var id, kind, name, digest, spdx, card, legal string
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
			fs.StringVar(&spdx, "spdx", "", "SPDX licence ID")
			fs.StringVar(&card, "model-card", "", "model card URI")
			fs.StringVar(&legal, "legal-text-hash", "", "sha256:<hex> of the legal text")
			fs.Var(&owners, "owner", "member=share_bp (repeat; default: the signer owns 10000)")
			fs.Var(&parents, "parent", "asset[:grant[:territory[:purpose]]] it derives from (repeat)")
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
			body := ledger.AssetRegister{ID: id, Kind: ledger.AssetKind(kind), Name: name, Digest: digest, SPDX: spdx, ModelCardURI: card, LegalTextHash: legal}
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
				for len(parts) < 4 {
					parts = append(parts, "")
				}
				body.Parents = append(body.Parents, ledger.Parent{Asset: parts[0], Grant: parts[1], Territory: parts[2], Purpose: parts[3]})
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
		err = e.show(as, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tKIND\tOWNERS\tPARENTS\tDIGEST")
			for _, a := range as {
				var os, ps []string
				for _, o := range a.Owners {
					os = append(os, fmt.Sprintf("%s(%d)", o.Member, o.ShareBP))
				}
				for _, p := range a.Parents {
					ps = append(ps, p.Asset)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%.23s…\n", a.ID, a.Kind, strings.Join(os, ","), dash(strings.Join(ps, ",")), a.Digest)
			}
		})
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
		return e.json(a)
	})
	lineage := reader("lineage", "<asset>", "Show an asset's ancestors and descendants", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "an asset ID"); err != nil {
			return err
		}
		l, err := c.Lineage(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.show(l, func(w io.Writer) {
			for _, a := range l.Ancestors {
				fmt.Fprintf(w, "ancestor\t%s\t%s\n", a.ID, a.Kind)
			}
			for _, a := range l.Descendants {
				fmt.Fprintf(w, "descendant\t%s\t%s\n", a.ID, a.Kind)
			}
		})
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
