package node

import (
	"context"
	"io"
	"sync"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// fakeConsensus is a Consensus made of function fields, so that each test
// says exactly what the replication layer does.
type fakeConsensus struct {
	IDFn                 func() string
	LedgerFn             func() *ledger.Ledger
	ProposeFn            func(ctx context.Context, envelope []byte) (*ledger.Result, error)
	IsLeaderFn           func() bool
	LeaderFn             func() (string, string)
	ReadIndexFn          func(ctx context.Context) (uint64, error)
	WaitAppliedFn        func(ctx context.Context, index uint64) error
	StatusFn             func() consensus.Status
	ServersFn            func() ([]api.ClusterServer, error)
	JoinFn               func(ctx context.Context, id, addr string) error
	TransferLeadershipFn func() error
	ProposeTimeFn        func(ctx context.Context, body []byte) (*ledger.Result, error)
	BackupFn             func(w io.Writer) (int64, error)
	ObserveApplyFn       func(fn consensus.ApplyObserver) // nil: observers are ignored

	mu      sync.Mutex
	avoided []string          // the avoid list of the last TransferLeadership
	decoded []*ledger.Decoded // what each Propose was handed
}

var _ Consensus = (*fakeConsensus)(nil)

func (f *fakeConsensus) ID() string             { return f.IDFn() }
func (f *fakeConsensus) Ledger() *ledger.Ledger { return f.LedgerFn() }
func (f *fakeConsensus) Propose(ctx context.Context, env []byte, decoded *ledger.Decoded) (*ledger.Result, error) {
	f.mu.Lock()
	f.decoded = append(f.decoded, decoded)
	f.mu.Unlock()
	return f.ProposeFn(ctx, env)
}
func (f *fakeConsensus) IsLeader() bool                                { return f.IsLeaderFn() }
func (f *fakeConsensus) Leader() (string, string)                      { return f.LeaderFn() }
func (f *fakeConsensus) ReadIndex(ctx context.Context) (uint64, error) { return f.ReadIndexFn(ctx) }
func (f *fakeConsensus) WaitApplied(ctx context.Context, index uint64) error {
	return f.WaitAppliedFn(ctx, index)
}
func (f *fakeConsensus) Status() consensus.Status                     { return f.StatusFn() }
func (f *fakeConsensus) Servers() ([]api.ClusterServer, error)        { return f.ServersFn() }
func (f *fakeConsensus) Join(ctx context.Context, id, a string) error { return f.JoinFn(ctx, id, a) }
func (f *fakeConsensus) TransferLeadership(avoid ...string) error {
	f.mu.Lock()
	f.avoided = append(f.avoided[:0], avoid...)
	f.mu.Unlock()
	return f.TransferLeadershipFn()
}
func (f *fakeConsensus) ProposeTime(ctx context.Context, body []byte) (*ledger.Result, error) {
	return f.ProposeTimeFn(ctx, body)
}
func (f *fakeConsensus) Backup(w io.Writer) (int64, error) { return f.BackupFn(w) }
func (f *fakeConsensus) ObserveApply(fn consensus.ApplyObserver) {
	if f.ObserveApplyFn != nil {
		f.ObserveApplyFn(fn)
	}
}
