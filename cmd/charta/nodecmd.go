package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/internal/version"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node"
)

func nodeCmd() *command {
	cfg := node.DefaultConfig()
	cfg.API.Version = version.Version
	var logLevel, logFormat, joinTokenFile, pprofAddr string
	var clockOffset time.Duration
	return &command{
		name: "node", summary: "Run a member node: Raft replication, the ledger and the HTTP API",
		example: `  # a founder's node, first start
  charta node --id alpha --data-dir /var/lib/charta --genesis genesis.json \
      --http 0.0.0.0:8080 --raft 0.0.0.0:7000 --raft-advertise 10.0.0.1:7000 \
      --tls-ca certs/ca.crt --tls-cert certs/alpha.crt --tls-key certs/alpha.key --bootstrap
  # a newly admitted member's node
  charta node --id delta ... --join 10.0.0.1:8080 --join-token-file delta.token`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cfg.ID, "id", "", "this node's member ID, which is its Raft server ID (required)")
			fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for Raft, snapshots, state and operator.token (required)")
			fs.StringVar(&cfg.GenesisFile, "genesis", "", "the consortium's signed genesis document (required)")
			fs.StringVar(&cfg.KeyFile, "key", "", "this member's key file: it signs the node's clock readings, which move ledger time, and its checkpoint cosignatures")
			fs.Func("enc-key", "a key file of this member holding an encryption key it has retired, to open confidential grants sealed to it (repeat); the --key file's encryption key is always used", func(v string) error {
				cfg.EncKeyFiles = append(cfg.EncKeyFiles, v)
				return nil
			})
			fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "API listen address")
			fs.StringVar(&cfg.RaftAddr, "raft", cfg.RaftAddr, "Raft listen address")
			fs.StringVar(&cfg.AdvertiseRaft, "raft-advertise", "", "Raft address peers dial (default --raft)")
			fs.StringVar(&cfg.TLS.CAFile, "tls-ca", "", "consortium CA certificate (PEM)")
			fs.StringVar(&cfg.TLS.CertFile, "tls-cert", "", "this node's certificate, naming charta://node/<id> (PEM)")
			fs.StringVar(&cfg.TLS.KeyFile, "tls-key", "", "this node's certificate key (PEM)")
			fs.BoolVar(&cfg.APITLS, "api-tls", false, "serve the API over HTTPS with the node certificate")
			fs.BoolVar(&cfg.Bootstrap, "bootstrap", false, "founder's first start: bootstrap Raft from genesis (ignored once state exists)")
			fs.StringVar(&cfg.Join, "join", "", "API address of any node, to join through after the member was admitted")
			fs.StringVar(&joinTokenFile, "join-token-file", "", "file with this member's API token, sent with the join request")
			fs.IntVar(&cfg.MaxVoters, "max-voters", 0, "most Raft voters (default: the charter's)")
			fs.Uint64Var(&cfg.Raft.SnapshotThreshold, "snapshot-threshold", cfg.Raft.SnapshotThreshold, "Raft entries between snapshots")
			fs.DurationVar(&cfg.Raft.SnapshotInterval, "snapshot-interval", cfg.Raft.SnapshotInterval, "how often Raft checks whether to snapshot")
			fs.Uint64Var(&cfg.Raft.TrailingLogs, "trailing-logs", cfg.Raft.TrailingLogs, "Raft entries kept behind a snapshot, for slow followers")
			fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
			fs.StringVar(&logFormat, "log-format", "text", "text or json")
			fs.Float64Var(&cfg.API.RateLimit, "rate-limit", cfg.API.RateLimit, "API requests per second allowed per token (per signer for proposals; per address for requests without a valid token or signature)")
			fs.IntVar(&cfg.API.RateBurst, "rate-burst", cfg.API.RateBurst, "API token-bucket burst per token")
			fs.Func("min-free-mib", "refuse proposals (507) while the data directory's file system has fewer than this many MiB free; 0 turns the guard off (default 256)", func(v string) error {
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return fmt.Errorf("%q is not a number of MiB", v)
				}
				cfg.API.MinFreeBytes = n << 20
				return nil
			})
			fs.Func("trust-journal-head", "SIZE:ROOT, as charta restore prints it: install a snapshot whose journal extends this head without the other member nodes' cosignatures (joining a cluster restored from a backup)", func(v string) error {
				h, err := parseJournalHead(v)
				cfg.API.TrustJournalHead = h
				return err
			})
			fs.DurationVar(&cfg.API.MaxClockOffset, "max-clock-offset", cfg.API.MaxClockOffset, "raise the clock alarm and give up leadership while this node's clock is further than this from the median of the member nodes' clocks")
			fs.Uint64Var(&cfg.API.ReadyMaxLag, "ready-max-lag", cfg.API.ReadyMaxLag, "/readyz answers 503 while the node has more than this many committed entries left to apply")
			// Hidden (no usage text): shifts the clock that stamps this
			// node's records, so that the chaos tests can run nodes whose
			// clocks disagree. Never for production.
			fs.DurationVar(&clockOffset, "clock-offset", 0, "")
			fs.StringVar(&pprofAddr, "pprof", "", "serve net/http/pprof on this operator-only address, e.g. 127.0.0.1:6060 (default off)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if cfg.ID == "" || cfg.DataDir == "" || cfg.GenesisFile == "" {
				return usagef("--id, --data-dir and --genesis are required")
			}
			if joinTokenFile != "" {
				b, err := os.ReadFile(joinTokenFile)
				if err != nil {
					return err
				}
				cfg.JoinToken = strings.TrimSpace(string(b))
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usagef("--log-level: %v", err)
			}
			opts := &slog.HandlerOptions{Level: level}
			var h slog.Handler = slog.NewTextHandler(e.stderr, opts)
			switch logFormat {
			case "json":
				h = slog.NewJSONHandler(e.stderr, opts)
			case "text":
			default:
				return usagef("--log-format must be text or json")
			}
			log := slog.New(h)
			if clockOffset != 0 {
				log.Warn("this node runs on a shifted clock (--clock-offset, for tests only)", "offset", clockOffset)
			}
			// A state store that cannot commit (a full disk) stops the
			// node with one clear line, not a stack: it restarts from the
			// Raft log with nothing acknowledged lost.
			fatal := func(err error) {
				log.Error("stopping: the node cannot store what the cluster committed; free disk space and restart it", "err", err)
				os.Exit(74)
			}
			deps := node.Deps{Logger: log, Fatal: fatal}
			if clockOffset != 0 {
				deps.Clock = func() time.Time { return time.Now().Add(clockOffset) }
			}
			n, err := node.New(cfg, deps)
			if err != nil {
				return err
			}
			log.Info("node started", "api", n.APIAddr(), "raft", cfg.RaftAddr)
			if pprofAddr != "" {
				go func() {
					if err := node.ServePprof(e.ctx, pprofAddr, log); err != nil {
						log.Error("pprof listener", "err", err)
					}
				}()
			}
			if cfg.KeyFile != "" {
				go reloadKeyOnHangup(e.ctx, n, log)
			}
			return n.Run(e.ctx)
		},
	}
}

// reloadKeyOnHangup reloads the node's --key file on each SIGHUP, so that
// an operator who replaced it after a key rotation need not wait for the
// node to notice the change.
func reloadKeyOnHangup(ctx context.Context, n *node.Node, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := n.ReloadKey(); err != nil {
				log.Warn("SIGHUP: key not reloaded", "err", err)
			}
		}
	}
}

func restoreCmd() *command {
	var id, dir, genesis, raftAddr, backup string
	return &command{
		name: "restore", summary: "Prepare an empty data directory to start a new cluster from a backup",
		example: `  charta restore --backup charta.backup --id alpha --data-dir /var/lib/charta \
      --genesis genesis.json --raft-advertise 10.0.0.1:7000
  charta node --id alpha --data-dir /var/lib/charta ...        # without --bootstrap
  # the other members start their nodes with empty data directories, also without --bootstrap`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&backup, "backup", "", "backup file written by charta backup (required)")
			fs.StringVar(&id, "id", "", "this node's member ID (required)")
			fs.StringVar(&dir, "data-dir", "", "empty data directory to restore into (required)")
			fs.StringVar(&genesis, "genesis", "", "the consortium's genesis document (required)")
			fs.StringVar(&raftAddr, "raft-advertise", "", "the Raft address this node will be reached at (required)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if backup == "" || id == "" || dir == "" || genesis == "" || raftAddr == "" {
				return usagef("--backup, --id, --data-dir, --genesis and --raft-advertise are required")
			}
			g, err := readGenesis(genesis, true)
			if err != nil {
				return err
			}
			f, err := os.Open(backup)
			if err != nil {
				return err
			}
			defer f.Close()
			cfg := consensus.DefaultConfig()
			cfg.ID, cfg.Dir, cfg.Genesis, cfg.AdvertiseAddr = id, dir, g, raftAddr
			applied, err := consensus.RestoreBackup(cfg, f)
			if err != nil {
				return err
			}
			head, err := restoredHead(dir, g)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "restored the ledger at index %d into %s; start this node without --bootstrap, then the others with empty data directories and --trust-journal-head %d:%s\n",
				applied, dir, head.Size, head.Root)
			return nil
		},
	}
}

// restoredHead reads the journal head of the state charta restore wrote.
func restoredHead(dir string, g *ledger.Genesis) (ledger.Head, error) {
	l, err := ledger.Open(filepath.Join(dir, "state.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		return ledger.Head{}, err
	}
	defer l.Close()
	var h ledger.Head
	err = l.View(func(v *ledger.View) error { h = v.Head(); return nil })
	return h, err
}

// parseJournalHead reads SIZE:ROOT, a journal size and its Merkle root in
// hex.
func parseJournalHead(s string) (*ledger.Head, error) {
	size, root, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(size, 10, 64)
	var h ledger.Hash
	if !ok || err != nil || n == 0 || h.UnmarshalText([]byte(root)) != nil {
		return nil, fmt.Errorf("%q is not SIZE:ROOT (a journal size and 64 hex digits)", s)
	}
	return &ledger.Head{Size: n, Root: h}, nil
}
