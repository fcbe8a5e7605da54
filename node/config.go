package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
	"github.com/prometheus/client_golang/prometheus"
)

// ServerConfig configures the HTTP API server.
type ServerConfig struct {
	DataDir           string             // directory holding operator.token (created 0600 if absent, reused if present)
	APIAddr           string             // address the API listens on, host:port
	TLS               bool               // the API is served over HTTPS, so peers' API addresses are called with https://
	BodyLimit         int64              // largest request body other than a proposal, in bytes (proposals use the charter's MaxProposalBytes)
	RateLimit         float64            // requests per second allowed per token (or per client address without one)
	RateBurst         int                // token-bucket burst per token
	MaxInFlight       int                // proposals being checked, forwarded or committed at once; more get 429
	MaxWait           time.Duration      // longest a read waits for min_index or a linearizable read index before 503
	LeaderLease       time.Duration      // a follower serves consistency=leader reads, and is ready, while its last leader contact is younger than this
	ReadyMaxLag       uint64             // /readyz is 200 while the applied index is at most this many entries behind the last committed proposal
	StreamsPerMember  int                // event streams (/v1/events) one member (or the operator) may hold open at once; more get 429
	StreamWriteLimit  time.Duration      // an event stream whose client takes longer than this to accept a batch is closed
	MinFreeBytes      uint64             // below this much free space in DataDir's file system, proposals get 507 and the nospace alarm is raised; 0: off
	MaxClockOffset    time.Duration      // a node whose clock is further than this from the consortium's raises the clock alarm and gives up leadership
	TrustJournalHead  *ledger.Head       // a snapshot whose journal extends this head is installed without peers' cosignatures (a cluster restored from a backup); nil: none
	ForwardTimeout    time.Duration      // longest a forwarded proposal, join or read-index call to the leader may take
	ReadHeaderTimeout time.Duration      // http.Server ReadHeaderTimeout
	ReadTimeout       time.Duration      // http.Server ReadTimeout
	WriteTimeout      time.Duration      // http.Server WriteTimeout; lifted for /v1/events and /v1/backup
	IdleTimeout       time.Duration      // http.Server IdleTimeout
	Version           string             // version reported by /v1/status
	SigningKey        *ledger.Signer     // this node's member key, which cosigns journal checkpoints; nil: the node gathers cosignatures but signs none
	Member            string             // this node's member ID: the party whose confidential grants it opens
	EncryptionKeys    []*seal.PrivateKey // Member's encryption keys, current and retired, to open its confidential grants into the private store; none: the node opens none
}

// DefaultServerConfig returns the defaults of the API contract: a 1 MiB body
// limit, 50 requests per second with a burst of 100 per token, 256 proposals
// in flight and a 10 s bound on waits.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		APIAddr:           "127.0.0.1:8080",
		BodyLimit:         1 << 20,
		RateLimit:         50,
		RateBurst:         100,
		MaxInFlight:       256,
		MaxWait:           10 * time.Second,
		LeaderLease:       3 * time.Second,
		ReadyMaxLag:       8,
		StreamsPerMember:  4,
		StreamWriteLimit:  5 * time.Second,
		MinFreeBytes:      256 << 20,
		MaxClockOffset:    5 * time.Second,
		ForwardTimeout:    15 * time.Second,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		Version:           "dev",
	}
}

// Validate checks the configuration.
func (c *ServerConfig) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("node: DataDir is required (it holds the operator token)"))
	}
	if c.BodyLimit <= 0 {
		errs = append(errs, fmt.Errorf("node: BodyLimit %d must be positive", c.BodyLimit))
	}
	if c.RateLimit <= 0 || c.RateBurst <= 0 {
		errs = append(errs, fmt.Errorf("node: RateLimit %v and RateBurst %d must be positive", c.RateLimit, c.RateBurst))
	}
	if c.MaxInFlight <= 0 {
		errs = append(errs, fmt.Errorf("node: MaxInFlight %d must be positive", c.MaxInFlight))
	}
	if c.StreamsPerMember <= 0 {
		errs = append(errs, fmt.Errorf("node: StreamsPerMember %d must be positive", c.StreamsPerMember))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"MaxWait", c.MaxWait}, {"LeaderLease", c.LeaderLease}, {"ForwardTimeout", c.ForwardTimeout},
		{"ReadHeaderTimeout", c.ReadHeaderTimeout}, {"ReadTimeout", c.ReadTimeout},
		{"WriteTimeout", c.WriteTimeout}, {"IdleTimeout", c.IdleTimeout}, {"StreamWriteLimit", c.StreamWriteLimit},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("node: %s %v must be positive", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Deps are the server's collaborators. Zero fields get defaults.
type Deps struct {
	Logger     *slog.Logger                     // default: discard
	Registerer prometheus.Registerer            // where the server registers its metrics; default: a new registry
	Gatherer   prometheus.Gatherer              // what /metrics serves; default: the new registry (or Registerer if it is one)
	HTTPClient *http.Client                     // calls to the leader's API (forwarding); default: a client with ForwardTimeout
	Clock      func() time.Time                 // wall clock for logs and readiness; default: time.Now
	FreeSpace  func(dir string) (uint64, error) // free bytes of dir's file system; default: statfs
	// Fatal is called when the node's state store cannot commit what Raft
	// committed (a full or failing disk): it must stop the process, which
	// restarts from the Raft log with nothing acknowledged lost. Default:
	// panic.
	Fatal func(err error)
}
