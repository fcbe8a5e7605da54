package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/internal/version"
	"github.com/charta/charta/ledger"
)

func versionCmd() *command {
	return &command{
		name: "version", summary: "Print the version",
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			fmt.Fprintln(e.stdout, "charta", version.Version)
			return nil
		},
	}
}

func keygenCmd() *command {
	var member, scheme, out string
	return &command{
		name: "keygen", summary: "Create a member's signing and encryption keys (and their .pub file)",
		example: "  charta keygen --member acme --out acme.key\n  charta keygen --member acme --scheme ed25519 --out acme-fast.key",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&member, "member", "", "member ID the key belongs to (required)")
			fs.StringVar(&scheme, "scheme", string(ledger.SchemeComposite), "ed25519, ml-dsa-44, ml-dsa-65 or ml-dsa-65+ed25519")
			fs.StringVar(&out, "out", "", "key file to create, mode 0600 (default <member>.key)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if !ledger.ValidMemberID(member) {
				return usagef("--member: %q is not a member ID (a-z, 0-9, -, starting with a letter)", member)
			}
			if out == "" {
				out = member + ".key"
			}
			pub, err := createKey(out, member, ledger.Scheme(scheme), true)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "signing key %s (%s) and encryption key %s (%s) written to %s; public keys in %s.pub\n",
				pub.KeyID, scheme, pub.EncryptionKey.Fingerprint(), pub.EncryptionKey.Scheme, out, strings.TrimSuffix(out, ".key"))
			return nil
		},
	}
}

// createKey writes a new key file, with an encryption key when encryption
// is set, and its public .pub companion.
func createKey(path, member string, scheme ledger.Scheme, encryption bool) (*ledger.PublicKeyFile, error) {
	if !scheme.Valid() {
		return nil, usagef("--scheme: %q is not ed25519, ml-dsa-44, ml-dsa-65 or ml-dsa-65+ed25519", scheme)
	}
	return ledger.CreateKeyFiles(path, member, scheme, encryption)
}

// readPublicKey reads a .pub file, or the public half of a key file.
func readPublicKey(path string) (*ledger.PublicKeyFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p ledger.PublicKeyFile
	if json.Unmarshal(b, &p) == nil && p.Public.Scheme != "" {
		if err := p.Public.Validate(); err != nil {
			return nil, err
		}
		if p.EncryptionKey != nil {
			if err := p.EncryptionKey.Validate(); err != nil {
				return nil, fmt.Errorf("%s: encryption_key.%w", path, err)
			}
		}
		return &p, nil
	}
	var kf ledger.KeyFile
	if err := json.Unmarshal(b, &kf); err != nil || kf.Scheme == "" {
		return nil, fmt.Errorf("%s is neither a public key file nor a key file", path)
	}
	return ledger.ReadKeyFilePublic(path)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func genesisCmd() *command {
	var name, out string
	var founders, auditors multiFlag
	var maxVoters int
	init := &command{
		name: "init", summary: "Write an unsigned genesis document for the founders to sign",
		example: `  charta genesis init --name "Open Model Consortium" --out genesis.json \
      --founder alpha=alpha.pub,raft=10.0.0.1:7000,api=http://10.0.0.1:8080 \
      --founder beta=beta.pub,raft=10.0.0.2:7000,api=http://10.0.0.2:8080 \
      --auditor audit=audit.pub`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "consortium name (required)")
			fs.StringVar(&out, "out", "genesis.json", "file to write")
			fs.Var(&founders, "founder", "member=<pub file>,raft=<host:port>,api=<url> (repeat per founder)")
			fs.Var(&auditors, "auditor", "member=<pub file> (repeat per auditor)")
			fs.IntVar(&maxVoters, "max-voters", 5, "Raft voters; further nodes are non-voters")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if name == "" {
				return usagef("--name is required")
			}
			if len(founders) == 0 {
				return usagef("at least one --founder is required")
			}
			g, err := buildGenesis(name, founders, auditors, maxVoters, time.Now())
			if err != nil {
				return err
			}
			if err := writeNew(out, g.Encode(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "genesis for consortium %s written to %s; every founder now runs: charta genesis sign --key <member>.key %s\n", g.ID(), out, out)
			return nil
		},
	}
	var key string
	sign := &command{
		name: "sign", args: "<genesis file>", summary: "Add a founder's signature to a genesis document",
		example: "  charta genesis sign --key alpha.key genesis.json",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&key, "key", os.Getenv("CHARTA_KEY"), "founder's key file (env CHARTA_KEY)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "the genesis file"); err != nil {
				return err
			}
			g, err := readGenesis(args[0], false)
			if err != nil {
				return err
			}
			s, err := loadSigner(key)
			if err != nil {
				return err
			}
			if err := g.Sign(s); err != nil {
				return err
			}
			if err := os.WriteFile(args[0], g.Encode(), 0o644); err != nil {
				return err
			}
			missing := unsignedFounders(g)
			fmt.Fprintf(e.stdout, "signed by %s; still to sign: %s\n", s.KeyID, orNone(missing))
			return nil
		},
	}
	show := &command{
		name: "show", args: "<genesis file>", summary: "Show a genesis document's consortium ID, founders and signatures",
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "the genesis file"); err != nil {
				return err
			}
			g, err := readGenesis(args[0], false)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "consortium %s (%s)\n", g.ID(), g.Name)
			for _, m := range g.Members {
				fmt.Fprintf(e.stdout, "  %-12s %-8s raft=%s api=%s\n", m.ID, m.Role, m.Node.RaftAddr, m.Node.APIAddr)
			}
			fmt.Fprintf(e.stdout, "unsigned by: %s\n", orNone(unsignedFounders(g)))
			if err := g.Verify(); err != nil {
				return fmt.Errorf("not valid yet: %w", err)
			}
			fmt.Fprintln(e.stdout, "valid: every founder has signed")
			return nil
		},
	}
	return &command{name: "genesis", summary: "Create and sign the genesis document", subs: []*command{init, sign, show}}
}

// buildGenesis reads the founders' and auditors' --founder and --auditor
// specs and their public keys into a new genesis document.
func buildGenesis(name string, founders, auditors []string, maxVoters int, now time.Time) (*ledger.Genesis, error) {
	var members []ledger.GenesisMember
	add := func(spec string, role ledger.Role) error {
		kv := map[string]string{}
		var member, pubPath string
		for i, part := range strings.Split(spec, ",") {
			k, v, ok := strings.Cut(part, "=")
			if !ok {
				return usagef("%q: want member=<pub file>,raft=...,api=...", spec)
			}
			if i == 0 {
				member, pubPath = k, v
				continue
			}
			kv[k] = v
		}
		pub, err := readPublicKey(pubPath)
		if err != nil {
			return err
		}
		if pub.Member != member {
			return fmt.Errorf("%s holds a key of %s, not %s", pubPath, pub.Member, member)
		}
		members = append(members, ledger.GenesisMember{
			ID: member, Role: role, Keys: []ledger.PublicKey{pub.Public}, EncryptionKey: pub.EncryptionKey,
			Node: ledger.NodeInfo{RaftAddr: kv["raft"], APIAddr: kv["api"]},
		})
		return nil
	}
	for _, f := range founders {
		if err := add(f, ledger.RoleMember); err != nil {
			return nil, err
		}
	}
	for _, a := range auditors {
		if err := add(a, ledger.RoleAuditor); err != nil {
			return nil, err
		}
	}
	return ledger.NewGenesis(name, now, maxVoters, members)
}

func unsignedFounders(g *ledger.Genesis) []string {
	var out []string
	for _, m := range g.Members {
		if !slices.ContainsFunc(g.Signatures, func(s ledger.Signature) bool { return strings.HasPrefix(s.KeyID, m.ID+"/") }) {
			out = append(out, m.ID)
		}
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// readGenesis reads a genesis file; verified demands every signature.
func readGenesis(path string, verified bool) (*ledger.Genesis, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	g, err := ledger.DecodeGenesis(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if verified {
		if err := g.Verify(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return g, nil
}

func loadSigner(path string) (ledger.Signer, error) {
	if path == "" {
		return ledger.Signer{}, usagef("--key (or CHARTA_KEY) is required to sign")
	}
	return ledger.ReadSigner(path)
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; remove it first", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func certCmd() *command {
	var dir, caName string
	ca := &command{
		name: "ca", summary: "Create a development consortium CA (ca.crt, ca.key) for node mTLS",
		example: "  charta cert ca --dir certs",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", ".", "directory to write ca.crt and ca.key into")
			fs.StringVar(&caName, "name", "Charta consortium CA", "CA common name")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			certPEM, keyPEM, err := consensus.NewCA(caName, 10*365*24*time.Hour)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := writeNew(dir+"/ca.crt", certPEM, 0o644); err != nil {
				return err
			}
			if err := writeNew(dir+"/ca.key", keyPEM, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "CA written to %s/ca.crt and %s/ca.key (keep ca.key offline)\n", dir, dir)
			return nil
		},
	}
	var id, hosts string
	issue := &command{
		name: "node", summary: "Issue a node certificate bound to a member ID, signed by the CA",
		example: "  charta cert node --dir certs --id alpha --hosts 10.0.0.1,alpha.example.org",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", ".", "directory holding ca.crt and ca.key; writes <id>.crt and <id>.key")
			fs.StringVar(&id, "id", "", "the node's member ID (required)")
			fs.StringVar(&hosts, "hosts", "127.0.0.1,localhost", "DNS names and IPs the node is reached at")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if !ledger.ValidMemberID(id) {
				return usagef("--id: %q is not a member ID", id)
			}
			return issueNodeCert(dir, id, split(hosts))
		},
	}
	return &command{name: "cert", summary: "Create node mTLS certificates (development CA)", subs: []*command{ca, issue}}
}

func issueNodeCert(dir, id string, hosts []string) error {
	caCert, err := os.ReadFile(dir + "/ca.crt")
	if err != nil {
		return err
	}
	caKey, err := os.ReadFile(dir + "/ca.key")
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := consensus.IssueNodeCert(caCert, caKey, id, hosts, 2*365*24*time.Hour)
	if err != nil {
		return err
	}
	if err := writeNew(dir+"/"+id+".crt", certPEM, 0o644); err != nil {
		return err
	}
	return writeNew(dir+"/"+id+".key", keyPEM, 0o600)
}
