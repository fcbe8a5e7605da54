package main

import (
	"context"
	"fmt"
	"io"

	"github.com/charta/charta/internal/demo"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// seedDemo seeds the demo consortium's story (package demo) into d,
// signing as its members with their keys.
func seedDemo(ctx context.Context, d *devCluster, out io.Writer) error {
	clients := map[string]*client.Client{}
	for _, m := range devMembers {
		c, err := d.memberClient(m)
		if err != nil {
			return err
		}
		clients[m] = c
	}
	propose := func(m, typ, id string, body any, cosigners ...string) error {
		signers := []ledger.Signer{}
		for _, s := range append([]string{m}, cosigners...) {
			sg, err := loadSigner(d.path(s + ".key"))
			if err != nil {
				return err
			}
			signers = append(signers, sg)
		}
		_, err := clients[m].ProposeMulti(ctx, typ, id, body, signers...)
		if err != nil {
			return fmt.Errorf("%s %s: %w", m, typ, explain(err))
		}
		return nil
	}
	if err := demo.Seed(propose, out); err != nil {
		return err
	}
	fmt.Fprintln(out, `  try: charta check --member beta --asset atlas-7b --action train --territory DE --purpose healthcare
       charta check --member beta --asset atlas-7b --action train --territory US --purpose research
       charta check --member beta --asset atlas-7b --action train --territory DE --purpose military
       charta pool usage gpu-pool
       charta statement show g-inference
       charta infraction list`)
	return nil
}
