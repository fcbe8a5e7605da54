package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// vkeyLine is one member node's checkpoint verifier keys, as
// "charta checkpoint vkeys -o json" prints them.
type vkeyLine struct {
	Member          string `json:"member"`
	NoteVKey        string `json:"note_vkey"`
	CosignatureVKey string `json:"cosignature_vkey"`
}

func checkpointCmd() *command {
	show := reader("show", "", "Print the newest checkpoint as a signed note, with every cosignature the node gathered", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 0, "no arguments"); err != nil {
			return err
		}
		note, _, err := c.SignedCheckpoint(e.ctx)
		if err != nil {
			return err
		}
		_, err = io.WriteString(e.stdout, note)
		return err
	})
	var cosig bool
	vkeys := reader("vkeys", "", "Print the active member nodes' checkpoint verifier keys, one per line, in the golang.org/x/mod/sumdb/note vkey format", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 0, "no arguments"); err != nil {
			return err
		}
		var out []vkeyLine
		for m, err := range c.AllMembers(e.ctx) {
			if err != nil {
				return err
			}
			if m.Status == ledger.MemberActive && m.Node.NoteVKey != "" {
				out = append(out, vkeyLine{Member: m.ID, NoteVKey: m.Node.NoteVKey, CosignatureVKey: m.Node.CosignatureVKey})
			}
		}
		if len(out) == 0 {
			return fmt.Errorf("no active member has a key with an Ed25519 part, so no node makes a signature a stock note verifier can check")
		}
		return e.show(out, func(w io.Writer) {
			for _, l := range out {
				if cosig {
					fmt.Fprintln(w, l.CosignatureVKey)
				} else {
					fmt.Fprintln(w, l.NoteVKey)
				}
			}
		})
	})
	vkeys.flags = func(fs *flag.FlagSet) {
		fs.BoolVar(&cosig, "cosignature", false, "print the C2SP tlog-cosignature (cosignature/v1, type 0x04) verifier keys instead, for witness policies")
	}
	vkeys.example = "  charta checkpoint vkeys > vkeys.txt\n  charta checkpoint show > checkpoint.note"
	return &command{name: "checkpoint", summary: "Print the cosigned checkpoint and the keys that verify it", subs: []*command{show, vkeys}}
}
