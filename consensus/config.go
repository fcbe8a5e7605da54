package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/charta/charta/ledger"
)

// TLSFiles names the PEM files of a node's mutual-TLS identity.
type TLSFiles struct {
	CAFile   string // consortium CA certificate(s): the only roots trusted for peers
	CertFile string // this node's certificate, bound to its ID by a URI SAN charta://node/<id>
	KeyFile  string // this node's private key
}

// Config configures a Node.
type Config struct {
	ID                 string                // Raft server ID = the member ID (stable across address changes)
	Dir                string                // data dir: raft/raft.db (log + stable store), snapshots/, state.db (ledger)
	BindAddr           string                // Raft TCP listen address host:port
	AdvertiseAddr      string                // address peers dial; default BindAddr
	Genesis            *ledger.Genesis       // the consortium's genesis; founders bootstrap from it
	Bootstrap          bool                  // true for a founder's first start; ignored if Raft state exists
	TLS                TLSFiles              // mTLS identity; mandatory
	MaxVoters          int                   // most Raft voters; 0 = the genesis charter's max_voters, or 5
	SnapshotThreshold  uint64                // log entries between snapshots; 0 = 8192
	SnapshotInterval   time.Duration         // how often to check whether to snapshot; 0 = 2m
	TrailingLogs       uint64                // log entries kept after a snapshot; 0 = 10240
	HeartbeatTimeout   time.Duration         // follower timeout without a leader contact; 0 = 500ms
	ElectionTimeout    time.Duration         // candidate timeout without a majority; 0 = 500ms
	LeaderLeaseTimeout time.Duration         // leader steps down without quorum contact for this long; 0 = 250ms
	CommitTimeout      time.Duration         // longest wait before a heartbeat carries the commit index; 0 = 20ms
	ApplyTimeout       time.Duration         // longest wait for a proposal to commit; 0 = 10s
	VoterDeadAfter     time.Duration         // a voter unreachable this long is replaced by a nonvoter; 0 = 10s
	ReconcileInterval  time.Duration         // period of the membership reconciler besides its event wake-ups; 0 = 2s
	NoSync             bool                  // skip fsync of the stores; tests only
	OnStoreFailure     func(err error)       // the state store cannot commit: stop the process (see ledger.Options); default panic
	BootIDFile         string                // the kernel's boot ID (see durability.go); default /proc/sys/kernel/random/boot_id
	Clock              func() time.Time      // stamps records; default time.Now (tests inject offsets)
	Registerer         prometheus.Registerer // where Raft's metrics are registered; nil = not exported
	Logger             *slog.Logger          // default slog.Default(); Raft logs at Warn and above unless Debug is enabled
	// VouchSnapshot, if set, is asked about every snapshot a peer offers
	// once the ledger has checked it (see Ledger.CheckSnapshot), with a
	// view of the snapshot's state; an error refuses the snapshot before
	// Raft keeps it. A node sets it to gather the other member nodes'
	// cosignatures of the snapshot's journal head. Nil: peers' snapshots
	// are checked but not vouched for (in-process tests).
	VouchSnapshot func(ctx context.Context, v *ledger.View) error
}

// DefaultConfig returns a Config with every tunable set to its default.
// The caller fills in ID, Dir, BindAddr, Genesis and TLS.
func DefaultConfig() Config {
	return Config{
		SnapshotThreshold:  8192,
		SnapshotInterval:   2 * time.Minute,
		BootIDFile:         "/proc/sys/kernel/random/boot_id",
		TrailingLogs:       10240,
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		CommitTimeout:      20 * time.Millisecond,
		ApplyTimeout:       10 * time.Second,
		VoterDeadAfter:     10 * time.Second,
		ReconcileInterval:  2 * time.Second,
		Clock:              time.Now,
	}
}

// RPCsInFlight is the transport's MaxRPCsInFlight: 1, which turns off
// hashicorp/raft's pipelined replication. Its pipeline can deadlock when a
// follower answers an AppendEntries with Success=false while more entries
// are being sent (the decoder stops reading responses, the sender blocks
// handing over the next one, and the pipeline is never closed): that
// follower then gets heartbeats but no entries, and Shutdown hangs. A
// consensus test hung this way once. Replication without the pipeline sends
// the next batch after the previous one is answered, batching up to
// MaxAppendEntries; HashiCorp's measurements found the pipeline of little
// benefit with batching (hashicorp/raft#541).
const RPCsInFlight = 1

// RaftConfig returns the hashicorp/raft settings a node with c runs Raft
// with, as server c.ID logging to logger. The raw-Raft baseline of charta
// bench takes its settings from here too.
func (c Config) RaftConfig(logger hclog.Logger) *raft.Config {
	c = c.withDefaults()
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.ID)
	rc.Logger = logger
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	rc.BatchApplyCh = true
	// The ledger's state store is durable and at least as new as any
	// snapshot, so restoring one on start would only throw work away
	// (catchUpFromSnapshot covers the one case where it is not).
	rc.NoSnapshotRestoreOnStart = true
	return rc
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.AdvertiseAddr == "" {
		c.AdvertiseAddr = c.BindAddr
	}
	if c.MaxVoters == 0 {
		c.MaxVoters = 5
		if c.Genesis != nil && c.Genesis.Charter.MaxVoters > 0 {
			c.MaxVoters = c.Genesis.Charter.MaxVoters
		}
	}
	setDefault(&c.SnapshotThreshold, d.SnapshotThreshold)
	setDefault(&c.SnapshotInterval, d.SnapshotInterval)
	setDefault(&c.BootIDFile, d.BootIDFile)
	setDefault(&c.TrailingLogs, d.TrailingLogs)
	setDefault(&c.HeartbeatTimeout, d.HeartbeatTimeout)
	setDefault(&c.ElectionTimeout, d.ElectionTimeout)
	setDefault(&c.LeaderLeaseTimeout, d.LeaderLeaseTimeout)
	setDefault(&c.CommitTimeout, d.CommitTimeout)
	setDefault(&c.ApplyTimeout, d.ApplyTimeout)
	setDefault(&c.VoterDeadAfter, d.VoterDeadAfter)
	setDefault(&c.ReconcileInterval, d.ReconcileInterval)
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Validate reports the first problem with c. Zero values of tunables are
// valid: they stand for the defaults.
func (c *Config) Validate() error {
	switch {
	case !ledger.ValidMemberID(c.ID):
		return fmt.Errorf("consensus: config: id %q is not a member ID", c.ID)
	case c.Dir == "":
		return errors.New("consensus: config: dir is required")
	case c.Genesis == nil:
		return errors.New("consensus: config: genesis is required")
	case c.TLS.CAFile == "" || c.TLS.CertFile == "" || c.TLS.KeyFile == "":
		return errors.New("consensus: config: tls ca, cert and key files are required (mTLS is mandatory)")
	case c.MaxVoters < 0 || c.MaxVoters > 9:
		return fmt.Errorf("consensus: config: max voters %d is outside [0, 9]", c.MaxVoters)
	case c.SnapshotInterval < 0 || c.HeartbeatTimeout < 0 || c.ElectionTimeout < 0 || c.LeaderLeaseTimeout < 0 ||
		c.CommitTimeout < 0 || c.ApplyTimeout < 0 || c.VoterDeadAfter < 0 || c.ReconcileInterval < 0:
		return errors.New("consensus: config: durations must not be negative")
	}
	if _, _, err := net.SplitHostPort(c.BindAddr); err != nil {
		return fmt.Errorf("consensus: config: bind address %q: %w", c.BindAddr, err)
	}
	if c.AdvertiseAddr != "" {
		host, port, err := net.SplitHostPort(c.AdvertiseAddr)
		if err != nil {
			return fmt.Errorf("consensus: config: advertise address %q: %w", c.AdvertiseAddr, err)
		}
		if ip := net.ParseIP(host); (ip != nil && ip.IsUnspecified()) || port == "0" {
			return fmt.Errorf("consensus: config: advertise address %q is not dialable", c.AdvertiseAddr)
		}
	}
	return nil
}
