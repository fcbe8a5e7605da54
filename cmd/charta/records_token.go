package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

func tokenCmd() *command {
	var scopes, out string
	var ttl time.Duration
	create := &command{
		name: "create", summary: "Create an API token for the signing member and register its hash",
		example: "  charta token create --key acme.key --scopes read,write --ttl 720h --out acme.token",
		client:  true, signs: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&scopes, "scopes", "read", "comma-separated: read, write, admin")
			fs.DurationVar(&ttl, "ttl", 365*24*time.Hour, "how long the token is valid")
			fs.StringVar(&out, "out", "", "write the token to this file (mode 0600) instead of printing it")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			tok := client.NewToken()
			body := ledger.TokenRegister{Hash: ledger.HashToken(tok), Scopes: split(scopes), ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Second)}
			if err := e.propose("token.register", "", body); err != nil {
				return err
			}
			if out != "" {
				return writeNew(out, []byte(tok+"\n"), 0o600)
			}
			fmt.Fprintln(e.stdout, tok)
			return nil
		},
	}
	revoke := &command{
		name: "revoke", args: "<token or its sha256 hex>", summary: "Revoke an API token", client: true, signs: true,
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a token or its hash"); err != nil {
				return err
			}
			h := args[0]
			if len(h) != 64 {
				h = ledger.HashToken(h)
			}
			return e.propose("token.revoke", "", ledger.TokenRevoke{Hash: h})
		},
	}
	return &command{name: "token", summary: "Create and revoke API tokens", subs: []*command{create, revoke}}
}
