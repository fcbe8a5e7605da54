package main

import (
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/charta/charta/internal/gateway"
)

// gatewayCmd runs charta gateway. Every flag also reads CHARTA_GATEWAY_<NAME>
// (upper case, dashes as underscores), which the flag overrides.
func gatewayCmd() *command {
	cfg := gateway.DefaultConfig()
	var nodes, tokenFile, configFile, logLevel, logFormat string
	// envErrs are bad durations in the environment, by flag; a flag given
	// on the command line wins, and removes its variable's error.
	envErrs := map[string]error{}
	return &command{
		name: "gateway", summary: "Enforce the ledger's grants in front of an AI resource, and meter its use into the ledger",
		example: `  charta gateway --listen 0.0.0.0:8443 --node https://10.0.0.1:8080,https://10.0.0.2:8080 \
      --token-file gateway.token --ca certs/ca.crt --key gateway.key --state /var/lib/charta-gateway \
      --config gateway.json --tls-cert certs/gw.crt --tls-key certs/gw.key --client-ca certs/ca.crt
  # docs/gateway.md describes the configuration file`,
		flags: func(fs *flag.FlagSet) {
			str := func(p *string, name, def, usage string) {
				fs.StringVar(p, name, envOr(gatewayEnv(name), def), usage+" (env "+gatewayEnv(name)+")")
			}
			dur := func(p *time.Duration, name string, def time.Duration, usage string) {
				fs.Func(name, fmt.Sprintf("%s (env %s; default %s)", usage, gatewayEnv(name), def), func(v string) error {
					d, err := time.ParseDuration(v)
					if err != nil || d <= 0 {
						return fmt.Errorf("%q is not a positive duration", v)
					}
					*p = d
					delete(envErrs, name)
					return nil
				})
				*p = def
				if v := os.Getenv(gatewayEnv(name)); v != "" {
					d, err := time.ParseDuration(v)
					if err != nil || d <= 0 {
						envErrs[name] = usagef("%s: %q is not a positive duration", gatewayEnv(name), v)
					}
					*p = d
				}
			}
			str(&cfg.Listen, "listen", cfg.Listen, "address to serve callers on")
			str(&cfg.MetricsListen, "metrics-listen", cfg.MetricsListen, "operations address of /metrics, /healthz and /readyz, apart from callers; empty for none")
			str(&nodes, "node", "", "API addresses of the member's nodes, comma-separated, tried in turn (required)")
			// No default shown: --help must not print the token.
			fs.StringVar(&cfg.Token, "token", "", "the gateway's API token for reading the ledger (default: env "+gatewayEnv("token")+")")
			str(&tokenFile, "token-file", "", "file holding the gateway's API token")
			str(&cfg.CAFile, "ca", "", "CA certificate of https nodes (PEM)")
			str(&cfg.KeyFile, "key", "", "key file that signs usage reports and pool consumption: a key delegated for them")
			str(&cfg.StateDir, "state", "", "directory of the gateway's journal (required)")
			str(&configFile, "config", "", "configuration file: routes, metering, infractions (required)")
			dur(&cfg.DecisionTTL, "decision-ttl", cfg.DecisionTTL, "longest a check's answer is served from the cache")
			dur(&cfg.IdentityTTL, "identity-ttl", cfg.IdentityTTL, "longest a token's identity is cached (never past its expiry)")
			dur(&cfg.FlushInterval, "flush-interval", cfg.FlushInterval, "how often counts are signed and reported")
			dur(&cfg.NodeTimeout, "node-timeout", cfg.NodeTimeout, "bound on one request to a node")
			dur(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long shutdown waits for requests in flight")
			fs.BoolVar(&cfg.FailOpen, "fail-open", os.Getenv(gatewayEnv("fail-open")) == "true",
				"let requests through unchecked while no node answers (default: fail closed; env "+gatewayEnv("fail-open")+"=true)")
			str(&cfg.TLSCert, "tls-cert", "", "certificate to serve callers over HTTPS (PEM)")
			str(&cfg.TLSKey, "tls-key", "", "its key (PEM)")
			str(&cfg.ClientCA, "client-ca", "", "CA whose client certificates (charta://node/<member>) identify callers: mTLS")
			str(&logLevel, "log-level", "info", "debug, info, warn or error")
			str(&logFormat, "log-format", "text", "text or json")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if len(envErrs) > 0 {
				return envErrs[slices.Min(slices.Collect(maps.Keys(envErrs)))]
			}
			if nodes == "" || cfg.StateDir == "" || configFile == "" {
				return usagef("--node, --state and --config are required")
			}
			cfg.Nodes = split(nodes)
			if cfg.Token == "" {
				cfg.Token = os.Getenv(gatewayEnv("token"))
			}
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return err
				}
				cfg.Token = strings.TrimSpace(string(b))
			}
			if cfg.Token == "" {
				return usagef("--token or --token-file is required")
			}
			f, err := gateway.ReadFile(configFile)
			if err != nil {
				return err
			}
			cfg.File = f
			log, err := newLogger(e, logLevel, logFormat)
			if err != nil {
				return err
			}
			g, err := gateway.New(cfg, gateway.Deps{Logger: log})
			if err != nil {
				return err
			}
			return g.Run(e.ctx, nil)
		},
	}
}

// gatewayEnv is the environment variable of gateway flag name.
func gatewayEnv(name string) string {
	return "CHARTA_GATEWAY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// newLogger builds the slog logger of --log-level and --log-format,
// writing to stderr.
func newLogger(e *env, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level: %v", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	}
	return nil, usagef("--log-format must be text or json")
}
