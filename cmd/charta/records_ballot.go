package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

func ballotCmd() *command {
	var id, action, params, reason, deadline string
	open := &command{
		name: "open", summary: "Open a governance ballot (your own vote counts as yes)", client: true, signs: true,
		example: `  charta ballot open --key alpha.key --id admit-delta --action member.admit --params delta.json --deadline 2027-01-01
  charta ballot open --key alpha.key --id drop-x --action member.remove --params '{"member":"x"}'`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&id, "id", "", "ballot ID (required)")
			fs.StringVar(&action, "action", "", "member.admit, member.suspend, member.reinstate, member.remove, key.revoke, charter.amend or pool.create (required)")
			fs.StringVar(&params, "params", "", "the action's parameters: a JSON file or inline JSON (required)")
			fs.StringVar(&deadline, "deadline", "", "when the ballot expires (default: in 7 days)")
			fs.StringVar(&reason, "reason", "", "why")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if id == "" || action == "" || params == "" {
				return usagef("--id, --action and --params are required")
			}
			raw := []byte(params)
			if !strings.HasPrefix(strings.TrimSpace(params), "{") {
				b, err := os.ReadFile(params)
				if err != nil {
					return err
				}
				raw = b
			}
			if !json.Valid(raw) {
				return usagef("--params: not valid JSON")
			}
			d := time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)
			if deadline != "" {
				t, err := parseTime("deadline", deadline)
				if err != nil {
					return err
				}
				d = *t
			}
			return e.propose("ballot.open", "", ledger.BallotOpenBody{ID: id, Action: action, Params: raw, Deadline: d, Reason: reason})
		},
	}
	var no bool
	vote := &command{
		name: "vote", args: "<ballot>", summary: "Vote on a ballot (yes unless --no)", client: true, signs: true,
		flags: func(fs *flag.FlagSet) { fs.BoolVar(&no, "no", false, "vote against") },
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a ballot ID"); err != nil {
				return err
			}
			return e.propose("ballot.vote", "", ledger.BallotVoteBody{Ballot: args[0], Approve: !no})
		},
	}
	var lf listFlags
	list := reader("list", "", "List ballots", func(e *env, c *client.Client, args []string) error {
		bs, next, err := c.Ballots(e.ctx, lf.opts()...)
		if err != nil {
			return err
		}
		err = e.show(bs, rows(bs, "ballots", "ID\tACTION\tSTATUS\tPROPOSER\tDEADLINE", func(w io.Writer, b ledger.Ballot) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", b.ID, b.Action, b.Status, b.Proposer, b.Deadline.UTC().Format(time.RFC3339))
		}))
		printNext(e.stderr, next)
		return err
	})
	list.flags = lf.register
	show := reader("show", "<ballot>", "Show one ballot and its votes", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "a ballot ID"); err != nil {
			return err
		}
		b, err := c.Ballot(e.ctx, args[0])
		if err != nil {
			return err
		}
		return e.show(b, func(w io.Writer) { printBallot(w, b) })
	})
	return &command{name: "ballot", summary: "Open, vote on and list governance ballots", subs: []*command{open, vote, list, show}}
}

// printBallot writes a ballot as a key/value block, with its votes.
func printBallot(w io.Writer, b *ledger.Ballot) {
	field(w, "id", b.ID)
	field(w, "action", b.Action)
	fieldLines(w, "params", paramStrings(b.Params))
	field(w, "status", b.Status)
	fieldIf(w, "result", b.Result)
	if b.Decided != 0 {
		field(w, "decided", fmt.Sprintf("index %d", b.Decided))
	}
	field(w, "proposer", b.Proposer)
	fieldIf(w, "reason", b.Reason)
	field(w, "opened", atIndex(b.OpenedAt, b.Index))
	field(w, "deadline", b.Deadline.UTC().Format(time.RFC3339))
	votes := make([]string, len(b.Votes))
	for i, v := range b.Votes {
		votes[i] = fmt.Sprintf("%s %s (index %d)", v.Member, yesNo(v.Approve), v.Index)
	}
	fieldLines(w, "votes", votes)
}

// paramStrings lists a ballot's parameters as name=value, in name order;
// a value that is not a string stays JSON.
func paramStrings(raw json.RawMessage) []string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return []string{string(raw)}
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := string(m[k])
		var s string
		if json.Unmarshal(m[k], &s) == nil {
			v = s
		}
		out = append(out, k+"="+v)
	}
	return out
}
