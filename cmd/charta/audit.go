package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
	"github.com/charta/charta/ledger/verify"
	"github.com/charta/charta/node/client"
)

func journalExportCmd() *command {
	var out string
	return &command{
		name: "export", summary: "Export the whole journal as JSON Lines, for charta audit", client: true,
		example: "  charta journal export --out journal.jsonl",
		flags:   func(fs *flag.FlagSet) { fs.StringVar(&out, "out", "", "file to write (default stdout)") },
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			w := e.stdout
			if out != "" {
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriter(w)
			enc := json.NewEncoder(bw)
			consortium, err := c.Consortium(e.ctx)
			if err != nil {
				return explain(err)
			}
			if err := enc.Encode(verify.ExportHeader{Format: verify.ExportFormat, Consortium: consortium, ExportedAt: time.Now().UTC().Truncate(time.Second)}); err != nil {
				return err
			}
			p := newProgress(e.stderr, "export", 0)
			n := 0
			for x, err := range c.AllJournal(e.ctx, 0) {
				if err != nil {
					return explain(err)
				}
				if err := enc.Encode(x); err != nil {
					return err
				}
				n++
				p.set(n)
			}
			p.done(fmt.Sprintf("%d entries", n))
			return bw.Flush()
		},
	}
}

func journalReceiptCmd() *command {
	return reader("receipt", "<seq>", "Fetch an entry's receipt (entry, inclusion proof, cosigned checkpoint) for offline verification", func(e *env, c *client.Client, args []string) error {
		if err := needArgs(args, 1, "an entry sequence number"); err != nil {
			return err
		}
		seq, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			return usagef("%q is not an entry number", args[0])
		}
		r, err := c.Receipt(e.ctx, seq)
		if err != nil {
			return explain(err)
		}
		return e.json(r)
	})
}

// withReceipt adds the receipt of an accepted write to its JSON output.
// A receipt that cannot be fetched is reported, not fatal: the write
// happened.
func withReceipt(e *env, c *client.Client, r *ledger.Result) any {
	out := struct {
		*ledger.Result
		Receipt *verify.Receipt `json:"receipt,omitempty"`
	}{Result: r}
	rc, err := c.Receipt(e.ctx, r.Seq)
	if err != nil {
		fmt.Fprintf(e.stderr, "warning: no receipt for entry %d: %v\n", r.Seq, err)
		return out
	}
	out.Receipt = rc
	return out
}

func verifyCmd() *command {
	var consortium, genesis, at, keyFile string
	var threshold int
	var trustKeys multiFlag
	return &command{
		name: "verify", args: "<receipt, check proof or certificate file>",
		summary: "Verify a receipt, a proof-carrying check or a licence certificate offline",
		example: "  charta journal receipt 42 -o json > r.json && charta verify --genesis genesis.json r.json\n" +
			"  charta verify --consortium <id> --threshold 3 cert.json\n" +
			"  # a proof or certificate about a confidential grant, opened with a party's key\n" +
			"  charta verify --genesis genesis.json --key beta.key proof.json",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&consortium, "consortium", "", "the consortium ID to trust (64 hex digits)")
			fs.StringVar(&genesis, "genesis", "", "the consortium's genesis file, whose ID is trusted (instead of --consortium)")
			fs.IntVar(&threshold, "threshold", 0, "cosignatures required on the checkpoint (default: the charter's voting threshold over the founders)")
			fs.StringVar(&at, "at", "", "RFC 3339 time at which to judge a certificate (default now)")
			fs.Var(&trustKeys, "trust-key", "member=<.pub file>: also accept cosignatures by this key, e.g. a rotated or later-admitted member's (repeat; needs --genesis)")
			fs.StringVar(&keyFile, "key", "", "a party's member key file: opens the sealed terms and usage of a confidential grant the document rests on")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a document to verify"); err != nil {
				return err
			}
			opts := verify.Options{Threshold: threshold}
			if genesis != "" {
				g, err := readGenesis(genesis, true)
				if err != nil {
					return err
				}
				if consortium != "" && consortium != g.ID() {
					return usagef("--consortium %s is not the ID of --genesis (%s)", consortium, g.ID())
				}
				consortium = g.ID()
				if len(trustKeys) > 0 {
					trust, err := verify.TrustGenesis(g, consortium)
					if err != nil {
						return err
					}
					for _, tk := range trustKeys {
						m, path, ok := strings.Cut(tk, "=")
						if !ok {
							return usagef("--trust-key %q: want member=<.pub file>", tk)
						}
						pub, err := readPublicKey(path)
						if err != nil {
							return err
						}
						if pub.Member != m {
							return fmt.Errorf("%s holds a key of %s, not %s", path, pub.Member, m)
						}
						trust.AddKey(m, pub.Public)
					}
					opts.Trust = trust
				}
			} else if len(trustKeys) > 0 {
				return usagef("--trust-key needs --genesis")
			}
			if consortium == "" {
				return usagef("--consortium or --genesis is required: a document proves nothing without the consortium you trust")
			}
			now := time.Now()
			if at != "" {
				t, err := time.Parse(time.RFC3339Nano, at)
				if err != nil {
					return usagef("--at: %v", err)
				}
				now = t
			}
			if keyFile != "" {
				member, k, err := seal.ReadKeyFile(keyFile)
				if err != nil {
					return fmt.Errorf("--key: %w", err)
				}
				opts.Key = &verify.RecipientKey{Member: member, Keys: []*seal.PrivateKey{k}}
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			return verifyDocument(e.stdout, b, consortium, now, opts)
		},
	}
}

// verifyDocument verifies a receipt, check proof or certificate and
// prints what it established. A document that rests on terms the
// verifier cannot open is not verified, rather than rejected: nothing
// says it was tampered with.
func verifyDocument(w io.Writer, b []byte, consortium string, now time.Time, o verify.Options) error {
	err := verifyDecoded(w, b, consortium, now, o)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, verify.ErrSealed):
		return fmt.Errorf("not verified: %w", err)
	}
	return fmt.Errorf("rejected: %w", err)
}

func verifyDecoded(w io.Writer, b []byte, consortium string, now time.Time, o verify.Options) error {
	doc, err := verify.Decode(b)
	if err != nil {
		return err
	}
	switch d := doc.(type) {
	case *verify.Receipt:
		cp, signers, err := d.Verify(consortium, o)
		if err != nil {
			return err
		}
		x := d.Entry.Entry
		fmt.Fprintf(w, "ok: entry %d (%s %s: %s) is in the journal of %d entries with root %s, cosigned by %v\n",
			x.Seq, x.Outcome.Type, x.Outcome.ID, x.Outcome.Status, cp.Size, cp.Root, signers)
	case *verify.CheckProof:
		v, err := d.Verify(consortium, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "ok: %s may %s %s at %s: %t (%s)\n", d.Request.Member, d.Request.Action, d.Request.Asset,
			d.Request.At.Format(time.RFC3339), d.Decision.Allowed, d.Decision.Reason)
		fmt.Fprintf(w, "re-derived from %d proven entries under checkpoint %d (ledger time %s), cosigned by %v\n",
			v.Entries, v.Checkpoint.Size, v.Checkpoint.LedgerTime.Format(time.RFC3339), v.Signers)
		if len(v.Opened) > 0 {
			fmt.Fprintf(w, "with the sealed terms and usage of confidential grant(s) %s, opened with %s's key\n", strings.Join(v.Opened, ", "), o.Key.Member)
		}
		fmt.Fprintln(w, "this shows the journal up to that checkpoint; it cannot show that nothing changed after it")
	case *verify.Certificate:
		v, err := d.Verify(consortium, now, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "ok: grant %s (version %d, %s) licenses %s to %s, rights %v\n", d.Grant.ID, d.Grant.Version, d.Grant.Status,
			d.Grant.Terms.Assets, d.Licensee, d.Grant.Terms.Rights)
		fmt.Fprintf(w, "certificate valid until %s; evidence: %d entries under checkpoint %d (ledger time %s), cosigned by %v\n",
			d.ExpiresAt.Format(time.RFC3339), v.Entries, v.Checkpoint.Size, v.Checkpoint.LedgerTime.Format(time.RFC3339), v.Signers)
		if c := v.Confidential; c != nil {
			if c.Terms == nil {
				fmt.Fprintf(w, "confidential: the terms are sealed to %s under commitment %s; verify with a party's key (--key) to open them\n",
					strings.Join(c.Parties, ", "), c.Commitment)
				break
			}
			fmt.Fprintf(w, "confidential: opened with %s's key; the terms match the commitment %s:\n", c.OpenedBy, c.Commitment)
			printConfidentialTerms(w, c.Terms)
		}
	}
	return nil
}

func auditCmd() *command {
	var genesis, digest string
	var checkpoints multiFlag
	var threshold int
	var allowUnanchored, memberView bool
	return &command{
		name: "audit", args: "<journal.jsonl>", summary: "Replay an exported journal offline from genesis: signatures, chain, checkpoints and final state digest",
		example: "  charta journal export --out journal.jsonl\n  curl -H 'Accept: text/plain' -H \"Authorization: Bearer $CHARTA_TOKEN\" $CHARTA_SERVER/v1/checkpoint > cp.note\n" +
			"  charta audit --genesis genesis.json --checkpoint cp.note --digest <state digest from charta status> journal.jsonl\n" +
			"  charta audit --genesis genesis.json --checkpoint cp.note --member-view my-journal.jsonl",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&genesis, "genesis", "", "the consortium's genesis file (required)")
			fs.StringVar(&digest, "digest", "", "expected final state digest, hex (from charta status at the same applied index)")
			fs.Var(&checkpoints, "checkpoint", "a cosigned checkpoint note whose root the replayed journal must reach (repeat); entries beyond the newest are an error")
			fs.IntVar(&threshold, "threshold", 0, "cosignatures each checkpoint needs (default: the charter's voting threshold over the founders)")
			fs.BoolVar(&allowUnanchored, "allow-unanchored", false, "accept entries beyond the newest checkpoint, or no --checkpoint at all (completeness then unchecked)")
			fs.BoolVar(&memberView, "member-view", false, "audit a member's own export, whose entries about others' grants are withheld; reports what it could not check")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "a journal export"); err != nil {
				return err
			}
			if genesis == "" {
				return usagef("--genesis is required")
			}
			if memberView && digest != "" {
				return usagef("--digest cannot be checked with --member-view: the withheld entries' effects are not replayed")
			}
			g, err := readGenesis(genesis, true)
			if err != nil {
				return err
			}
			roots, err := readCheckpoints(e.stdout, g, checkpoints, threshold)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			st, _ := f.Stat()
			res, err := auditJournal(g, f, verify.AuditOptions{Roots: roots, MemberView: memberView}, newProgress(e.stderr, "audit", st.Size()))
			if err != nil {
				return err
			}
			if len(res.Unreached) > 0 {
				return fmt.Errorf("the export ends at %d entries, before the checkpoint(s) of size %v", res.Entries, res.Unreached)
			}
			if memberView {
				printMemberView(e.stdout, g, res, len(roots))
			} else {
				fmt.Fprintf(e.stdout, "ok: %d entries replayed from genesis %s; every signature, hash and outcome matches, and %d checkpoint root(s)\n",
					res.Entries, g.ID(), len(roots))
				fmt.Fprintf(e.stdout, "final state digest %x at index %d\n", res.Digest[:], res.Applied)
				if digest != "" && digest != hex.EncodeToString(res.Digest[:]) {
					return fmt.Errorf("state digest mismatch: replay gives %x, expected %s", res.Digest[:], digest)
				}
			}
			return checkAnchored(e, res, len(roots) > 0, allowUnanchored)
		},
	}
}

// readCheckpoints verifies each checkpoint note file against the genesis
// founders' keys, prints what it established and returns the roots by
// tree size.
func readCheckpoints(w io.Writer, g *ledger.Genesis, paths []string, threshold int) (map[uint64]ledger.Hash, error) {
	roots := map[uint64]ledger.Hash{}
	if len(paths) == 0 {
		return roots, nil
	}
	trust, err := verify.TrustGenesis(g, g.ID())
	if err != nil {
		return nil, err
	}
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		cp, signers, err := trust.VerifyCheckpoint(string(b), threshold)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintf(w, "checkpoint %s: size %d cosigned by %s\n", path, cp.Size, strings.Join(signers, ", "))
		roots[cp.Size] = cp.Root
	}
	return roots, nil
}

// checkAnchored says which entries a cosigned checkpoint anchors. Entries
// beyond the newest checkpoint, or an audit without any, are an error
// unless allowed: nothing shows that such entries were ever committed, or
// that none were dropped from the end.
func checkAnchored(e *env, res *verify.Audited, haveCheckpoints, allow bool) error {
	var problem string
	switch n := uint64(res.Entries); {
	case !haveCheckpoints:
		problem = "completeness not checked: without --checkpoint nothing shows that entries were not dropped from or added to the end of this export"
	case res.Anchored < n:
		fmt.Fprintf(e.stdout, "anchored: entries 0-%d are under the cosigned checkpoint of size %d\n", res.Anchored-1, res.Anchored)
		problem = fmt.Sprintf("entries %d-%d (%d) lie beyond the newest cosigned checkpoint (size %d): nothing shows they were committed; audit with a newer checkpoint",
			res.Anchored, n-1, n-res.Anchored, res.Anchored)
	default:
		fmt.Fprintf(e.stdout, "anchored: entries 0-%d, the whole export, are under the cosigned checkpoint of size %d\n", n-1, res.Anchored)
		return nil
	}
	if !allow {
		return &exitError{1, e.path + ": " + problem + " (--allow-unanchored accepts this)"}
	}
	fmt.Fprintln(e.stderr, "warning: "+problem)
	return nil
}

// printMemberView reports a member-view audit: what it checked, and
// plainly what it could not.
func printMemberView(w io.Writer, g *ledger.Genesis, res *verify.Audited, roots int) {
	visible := res.Entries - len(res.Withheld)
	fmt.Fprintf(w, "ok (member view): %d entries from genesis %s; every entry's place in the chain, every visible entry's hash, every signature of the %d visible entries, and %d checkpoint root(s) verify\n",
		res.Entries, g.ID(), visible, roots)
	if len(res.Withheld) == 0 {
		fmt.Fprintln(w, "no entry is withheld: every entry was replayed and matches")
		return
	}
	fmt.Fprintf(w, "not checked: %d withheld entries (%s): their content and effects; the chain and the Merkle roots bind their hashes, nothing more\n",
		len(res.Withheld), seqList(res.Withheld))
	if len(res.Unverified) > 0 {
		fmt.Fprintf(w, "not checked: %d visible entries (%s) replay with another outcome on a ledger that lacks the withheld entries; they may depend on them\n",
			len(res.Unverified), seqList(res.Unverified))
	}
	fmt.Fprintln(w, "not checked: the final state digest, which the withheld entries change; audit an auditor's or the operator's export for it")
}

// seqList lists entry numbers, the first ten of them.
func seqList(seqs []uint64) string {
	var b strings.Builder
	for i, s := range seqs {
		if i == 10 {
			fmt.Fprintf(&b, ", … %d more", len(seqs)-10)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(s, 10))
	}
	return b.String()
}

// auditJournal audits an export (verify.AuditExport), showing its
// progress on p.
func auditJournal(g *ledger.Genesis, r io.Reader, o verify.AuditOptions, p *progress) (*verify.Audited, error) {
	o.Progress = func(read int64) { p.set(int(read)) }
	res, err := verify.AuditExport(g, r, o)
	if err != nil {
		return nil, err
	}
	p.done(fmt.Sprintf("%d entries", res.Entries))
	return res, nil
}

func backupCmd() *command {
	var out string
	return &command{
		name: "backup", summary: "Stream a consistent snapshot of the ledger state (operator token)", client: true,
		example: "  charta backup --token $(cat data/operator.token) --out charta.backup",
		flags:   func(fs *flag.FlagSet) { fs.StringVar(&out, "out", "", "file to write (required)") },
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if out == "" {
				return usagef("--out is required")
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			n, err := c.Backup(e.ctx, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(out)
				return explain(err)
			}
			fmt.Fprintf(e.stdout, "backup of %d bytes written to %s\n", n, out)
			return nil
		},
	}
}

// rawReader lists or shows records the client returns as raw JSON.
func rawList(name, summary string, list func(e *env, c *client.Client, lf *listFlags) ([]json.RawMessage, string, error)) *command {
	var lf listFlags
	cmd := reader(name, "", summary, func(e *env, c *client.Client, args []string) error {
		items, next, err := list(e, c, &lf)
		if err != nil {
			return err
		}
		if items == nil {
			items = []json.RawMessage{}
		}
		if err := e.json(items); err != nil {
			return err
		}
		printNext(e.stderr, next)
		return nil
	})
	cmd.flags = lf.register
	return cmd
}

// printCheckProof asks a question with proof=true and prints the
// proof-carrying answer as JSON; the exit code follows the decision, as
// charta check's does.
func printCheckProof(e *env, c *client.Client, req ledger.CheckRequest, opts ...client.ReadOption) error {
	p, err := c.CheckProof(e.ctx, req, opts...)
	if err != nil {
		return &exitError{2, e.path + ": " + explain(err).Error()}
	}
	if err := e.json(p); err != nil {
		return err
	}
	if !p.Decision.Allowed {
		return &exitError{1, ""}
	}
	return nil
}
