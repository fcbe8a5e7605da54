package chaos

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// TestRogue_MemberProcessAppendsToHonestNodes is the rogue member against
// honest nodes that are real `charta node` processes. The test binary takes
// over alpha's node: it stops alpha's process and runs alpha's Raft server
// itself, from alpha's data directory, certificate and key, becomes the
// leader, and appends records straight to the Raft log, bypassing the API.
// beta's and gamma's processes must journal the same refusal for each and
// reach the rogue's own state (applied index, journal head, digest), and
// nothing refused may take effect.
func TestRogue_MemberProcessAppendsToHonestNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a consortium of node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := Start(ctx, Config{Nodes: 3, Dir: dir, Bin: chartaBin(t), Seed: 1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Take over alpha's node.
	alpha := c.Nodes[0]
	c.Kill(0)
	cfg := consensus.DefaultConfig()
	cfg.ID, cfg.Dir, cfg.BindAddr, cfg.AdvertiseAddr = alpha.ID, alpha.DataDir, alpha.Raft, alpha.proxy.Addr()
	cfg.Genesis, cfg.Bootstrap = c.Genesis, true
	cfg.TLS = consensus.TLSFiles{CAFile: c.caPath,
		CertFile: filepath.Join(dir, "certs", alpha.ID+".crt"), KeyFile: filepath.Join(dir, "certs", alpha.ID+".key")}
	cfg.Logger = slog.New(slog.DiscardHandler)
	rogue, err := consensus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Shutdown()
	lead := func() {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !rogue.IsLeader() {
			if time.Now().After(deadline) {
				t.Fatal("the rogue never became leader")
			}
			if i := c.Leader(ctx); i > 0 {
				c.TransferLeadership(ctx, i) // to some other voter; the rogue is one of two
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	// honest waits until beta's and gamma's processes report the rogue's
	// state at index or later, and returns it.
	honest := func(index uint64) nodeState {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			var want nodeState
			want.applied = rogue.Ledger().AppliedIndex()
			rogue.Ledger().View(func(v *ledger.View) error { want.digest, want.head = v.Digest(), v.Head(); return nil })
			same := want.applied >= index
			var got []string
			for i := 1; i < len(c.Nodes); i++ {
				s, err := c.Status(ctx, i)
				if err != nil {
					same = false
					got = append(got, err.Error())
					continue
				}
				got = append(got, c.Nodes[i].ID+": applied "+strconv.FormatUint(s.AppliedIndex, 10)+" head "+strconv.FormatUint(s.JournalHead.Size, 10))
				same = same && s.AppliedIndex == want.applied && s.JournalHead == want.head && s.StateDigest == want.digest
			}
			if same {
				return want
			}
			if time.Now().After(deadline) {
				t.Fatalf("the honest nodes did not reach the rogue's state (applied %d, head %d): %v", want.applied, want.head.Size, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// propose appends env through the rogue's log; after a leader change
	// mid-append it settles as proposeSettled does.
	propose := func(env []byte, before nodeState) *ledger.Result {
		t.Helper()
		for attempt := 1; attempt <= 3; attempt++ {
			lead()
			res, err := rogue.Propose(ctx, env)
			if err == nil {
				return res
			}
			if !errors.Is(err, consensus.ErrAmbiguous) && !errors.Is(err, consensus.ErrNotLeader) {
				t.Fatalf("the log refused the append itself: %v", err)
			}
			t.Logf("attempt %d: %v; settling", attempt, err)
			now := honest(0)
			if now.head.Size == before.head.Size+1 {
				var r *ledger.Result
				rogue.Ledger().View(func(v *ledger.View) error {
					if e, ok := v.Entry(before.head.Size); ok {
						r = &ledger.Result{Index: e.Index, Seq: e.Seq, EntryHash: e.Hash, Outcome: e.Outcome}
					}
					return nil
				})
				if r != nil {
					return r
				}
			}
		}
		t.Fatal("no settled append after 3 attempts")
		return nil
	}

	g := c.Genesis
	now := time.Now().UTC()
	token := func(secret string) ledger.TokenRegister {
		return ledger.TokenRegister{Hash: ledger.HashToken(secret), Scopes: []string{"read"}, ExpiresAt: now.Add(time.Hour)}
	}
	signer := c.Signer(alpha.ID) // the one key the rogue holds
	first := ledgertest.Propose(g.ID(), "alpha", "token.register", "rogue-honest-1", now, token("honest"), signer).Encode()
	lead()
	res := propose(first, honest(0))
	if res.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("the rogue's own proposal: %+v", res.Outcome)
	}
	honest(res.Index)

	for _, rc := range rogueCases(g.ID(), now, "rogue-honest-1", signer, c.Signer("beta")) {
		t.Run(rc.name, func(t *testing.T) {
			before := honest(0)
			res := propose(rc.env, before)
			after := honest(res.Index)
			if rc.code == "" {
				if !res.Duplicate || after.head != before.head {
					t.Fatalf("replay: %+v; head %d -> %d", res, before.head.Size, after.head.Size)
				}
				return
			}
			if res.Outcome.Status != ledger.StatusRejected || res.Outcome.Code != rc.code {
				t.Fatalf("outcome %s %s (%s), want rejected %s", res.Outcome.Status, res.Outcome.Code, res.Outcome.Message, rc.code)
			}
			if after.head.Size != before.head.Size+1 {
				t.Fatalf("journal %d -> %d, want one rejected entry", before.head.Size, after.head.Size)
			}
			for i := 1; i < len(c.Nodes); i++ {
				entries, err := c.Journal(ctx, i)
				if err != nil {
					t.Fatal(err)
				}
				e := entries[before.head.Size]
				if e.Outcome.Status != ledger.StatusRejected || e.Outcome.Code != rc.code || e.Hash != res.EntryHash {
					t.Errorf("%s journaled %s %s (hash %s), the rogue %s", c.Nodes[i].ID, e.Outcome.Status, e.Outcome.Code, e.Hash, res.EntryHash)
				}
			}
			rogue.Ledger().View(func(v *ledger.View) error {
				for _, s := range rc.secrets {
					if _, ok := v.Token(ledger.HashToken(s)); ok {
						t.Errorf("the token of a refused proposal (%s) is registered", s)
					}
				}
				return nil
			})
		})
	}

	// The honest nodes still take honest writes through their API, once
	// one of them leads (the rogue serves no API to forward to).
	if err := rogue.TransferLeadership(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitLeader(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	tok, err := c.OperatorToken(1)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.Client(1, "beta", tok)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cl.Propose(ctx, "token.register", "after-the-rogue", token("after"))
	if err != nil {
		t.Fatalf("an honest write after the rogue: %v", err)
	}
	honest(r.Index)
}
