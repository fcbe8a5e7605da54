package main

import (
	"fmt"
	"io"

	"github.com/charta/charta/node/client"
)

func memberCmd() *command {
	var lf listFlags
	list := reader("list", "", "List members", func(e *env, c *client.Client, args []string) error {
		ms, next, err := c.Members(e.ctx, lf.opts()...)
		if err != nil {
			return err
		}
		err = e.show(ms, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tROLE\tSTATUS\tKEYS\tRAFT\tAPI")
			for _, m := range ms {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.Role, m.Status, len(m.Keys), dash(m.Node.RaftAddr), dash(m.Node.APIAddr))
			}
		})
		printNext(e.stderr, next)
		return err
	})
	list.flags = lf.register
	show := reader("show", "<member>", "Show one member", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "a member ID"); err != nil {
			return err
		}
		m, err := c.Member(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.json(m)
	})
	return &command{name: "member", summary: "List and show members", subs: []*command{list, show}}
}
