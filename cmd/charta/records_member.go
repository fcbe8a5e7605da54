package main

import (
	"fmt"
	"io"

	"github.com/charta/charta/node/api"
	"github.com/charta/charta/node/client"
)

func memberCmd() *command {
	var lf listFlags
	list := reader("list", "", "List members", func(e *env, c *client.Client, args []string) error {
		ms, next, err := c.Members(e.ctx, lf.opts()...)
		if err != nil {
			return err
		}
		err = e.show(ms, rows(ms, "members", "ID\tROLE\tSTATUS\tKEYS\tRAFT\tAPI", func(w io.Writer, m api.Member) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.Role, m.Status, len(m.Keys), dash(m.Node.RaftAddr), dash(m.Node.APIAddr))
		}))
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
		return e.show(m, func(w io.Writer) { printMember(w, m) })
	})
	return &command{name: "member", summary: "List and show members", subs: []*command{list, show}}
}

// printMember writes a member as a key/value block, with each key's
// scheme, whether it is active or retired (rotated or revoked), the
// indices it was valid at, and the node's checkpoint verifier keys; and
// the same for its encryption keys, by fingerprint.
func printMember(w io.Writer, m *api.Member) {
	field(w, "id", m.ID)
	fieldIf(w, "name", m.Name)
	field(w, "role", string(m.Role))
	field(w, "status", string(m.Status))
	field(w, "raft", m.Node.RaftAddr)
	field(w, "api", m.Node.APIAddr)
	fieldIf(w, "note vkey", m.Node.NoteVKey)
	fieldIf(w, "cosignature vkey", m.Node.CosignatureVKey)
	var keys []string
	for _, k := range m.PublicKeys {
		state, valid := "active", fmt.Sprintf("valid from index %d", k.ValidFrom)
		if k.ValidUntil != 0 {
			state = "retired"
			valid += fmt.Sprintf(" until %d (%s)", k.ValidUntil, k.EndedBy)
		}
		keys = append(keys, fmt.Sprintf("%s  %s  %s, %s", k.ID, k.Scheme, state, valid))
	}
	if len(keys) == 0 {
		keys = m.Keys
	}
	fieldLines(w, "keys", keys)
	var encKeys []string
	for _, k := range m.EncryptionKeys {
		state, valid := "current", fmt.Sprintf("from index %d", k.ValidFrom)
		if k.ValidUntil != 0 {
			state = "retired"
			valid += fmt.Sprintf(" until %d (%s)", k.ValidUntil, k.EndedBy)
		}
		encKeys = append(encKeys, fmt.Sprintf("%s  %s  %s, %s", k.Fingerprint, k.Public.Scheme, state, valid))
	}
	if len(encKeys) == 0 {
		encKeys = []string{"none"}
	}
	fieldLines(w, "encryption keys", encKeys)
	field(w, "since", fmt.Sprintf("index %d", m.Since))
	field(w, "updated", fmt.Sprintf("index %d", m.UpdatedAt))
}
