package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

const rogueScheme = ledger.SchemeEd25519

// rogueCase is one record a rogue member appends straight to the Raft log.
type rogueCase struct {
	name    string
	env     []byte
	code    ledger.Code // "" for a replay: the original result, no new entry
	secrets []string    // tokens that must not be registered afterwards
}

// rogueCases are the records a rogue holding alpha's key (own) appends:
// forged and relabelled signatures of beta (whose real key is other), a
// replay of its accepted proposal honestID, a conflicting body under that
// ID, an oversized and an undecodable envelope, a proposal for another
// consortium and one issued a day ago.
func rogueCases(consortium string, now time.Time, honestID string, own, other ledger.Signer) []rogueCase {
	token := func(secret string) ledger.TokenRegister {
		return ledger.TokenRegister{Hash: ledger.HashToken(secret), Scopes: []string{"read"}, ExpiresAt: now.Add(time.Hour)}
	}
	forged := ledgertest.Propose(consortium, "beta", "token.register", "forged-1", now, token("forged-1"), other)
	forged.Signatures[0].Sig[0] ^= 0xff
	relabelled := ledgertest.Propose(consortium, "beta", "token.register", "forged-3", now, token("forged-3"), own)
	relabelled.Signatures[0].KeyID = other.KeyID
	replay := ledgertest.Propose(consortium, "alpha", "token.register", honestID, now, token("honest"), own)
	return []rogueCase{
		{"forged signature of beta", forged.Encode(), ledger.CodeUnauthorized, []string{"forged-1"}},
		{"beta's proposal signed by alpha", ledgertest.Propose(consortium, "beta", "token.register", "forged-2", now, token("forged-2"), own).Encode(),
			ledger.CodeUnauthorized, []string{"forged-2"}},
		{"alpha's signature relabelled as beta's", relabelled.Encode(), ledger.CodeUnauthorized, []string{"forged-3"}},
		{"replay of an applied proposal", replay.Encode(), "", nil},
		{"same ID, other body", ledgertest.Propose(consortium, "alpha", "token.register", honestID, now, token("other"), own).Encode(),
			ledger.CodeConflict, []string{"other"}},
		{"oversized envelope", ledgertest.Propose(consortium, "alpha", "asset.register", "big-1", now, map[string]any{
			"id": "big", "kind": "model", "digest": "sha256:" + strings.Repeat("ab", 32), "name": strings.Repeat("x", 1<<20),
			"owners": []map[string]any{{"member": "alpha", "share_bp": 10000}}}, own).Encode(), ledger.CodeTooLarge, nil},
		{"other consortium", ledgertest.Propose(ledgertest.Consortium, "alpha", "token.register", "other-c", now, token("other-c"), own).Encode(),
			ledger.CodeInvalid, []string{"other-c"}},
		{"issued_at a day old", ledgertest.Propose(consortium, "alpha", "token.register", "stale-1", now.Add(-24*time.Hour), token("stale"), own).Encode(),
			ledger.CodeRejected, []string{"stale"}},
		{"undecodable envelope", []byte("\x00\x01 not an envelope"), ledger.CodeInvalid, nil},
		{"JSON that is not an envelope", []byte(`{"payloadType":"x"}`), ledger.CodeInvalid, nil},
	}
}

// inproc is an in-process 3-node cluster of consensus.Node over mTLS.
type inproc struct {
	g     *ledger.Genesis
	nodes []*consensus.Node
	cfgs  []consensus.Config // each node's config, to restart it from its data directory
}

func newInproc(t *testing.T) *inproc {
	t.Helper()
	ids := []string{"alpha", "beta", "gamma"}
	caCert, caKey, err := consensus.NewCA("rogue test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caCert, 0o600); err != nil {
		t.Fatal(err)
	}
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: "Rogue test consortium",
		CreatedAt: time.Now().UTC().Truncate(time.Second).Add(-time.Minute), Charter: ledger.DefaultCharter()}
	var addrs []string
	for _, id := range ids {
		a, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a)
		g.Members = append(g.Members, ledger.GenesisMember{ID: id, Role: ledger.RoleMember,
			Keys: []ledger.PublicKey{ledgertest.Key(id, rogueScheme).Public()}, Node: ledger.NodeInfo{RaftAddr: a}})
	}
	for _, id := range ids {
		if err := g.Sign(ledgertest.Signer(id, rogueScheme)); err != nil {
			t.Fatal(err)
		}
	}
	c := &inproc{g: g}
	for i, id := range ids {
		cert, key, err := consensus.IssueNodeCert(caCert, caKey, id, []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tf := consensus.TLSFiles{CAFile: caFile, CertFile: filepath.Join(dir, id+".crt"), KeyFile: filepath.Join(dir, id+".key")}
		os.WriteFile(tf.CertFile, cert, 0o600)
		os.WriteFile(tf.KeyFile, key, 0o600)
		cfg := consensus.DefaultConfig()
		cfg.ID, cfg.Dir, cfg.BindAddr, cfg.Genesis, cfg.Bootstrap, cfg.TLS = id, filepath.Join(dir, id), addrs[i], g, true, tf
		// Generous timeouts: this cluster runs beside the rest of the
		// suite under -race, and a leader change mid-test is handled by
		// proposeSettled but only slows it down.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
		cfg.CommitTimeout, cfg.ApplyTimeout, cfg.NoSync = 5*time.Millisecond, 5*time.Second, true
		cfg.Logger = slog.New(slog.DiscardHandler)
		n, err := consensus.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
		c.cfgs = append(c.cfgs, cfg)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Shutdown()
		}
	})
	return c
}

func (c *inproc) leader(t *testing.T) *consensus.Node {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if n.IsLeader() {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no leader")
	return nil
}

// proposeSettled proposes env through the leader and returns its result.
// If leadership changes while the entry is in flight (the outcome is
// ambiguous), it waits until every node has applied everything the new
// leader has committed: if the journal grew past before, the entry did
// commit and its journaled outcome is returned; otherwise it proposes
// again. The rogue's append is thereby judged exactly once.
func (c *inproc) proposeSettled(t *testing.T, env []byte, before nodeState) *ledger.Result {
	t.Helper()
	ctx := context.Background()
	for attempt := 1; ; attempt++ {
		res, err := c.leader(t).Propose(ctx, env)
		if err == nil {
			return res
		}
		if attempt == 3 || !(errors.Is(err, consensus.ErrAmbiguous) || errors.Is(err, consensus.ErrNotLeader)) {
			t.Fatalf("the log refused the append itself (attempt %d): %v", attempt, err)
		}
		t.Logf("attempt %d: %v; settling", attempt, err)
		var index uint64
		for {
			index, err = c.leader(t).ReadIndex(ctx)
			if err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		now := c.converged(t, index)
		if now.head.Size == before.head.Size {
			continue
		}
		if now.head.Size != before.head.Size+1 {
			t.Fatalf("journal %d -> %d after one ambiguous append", before.head.Size, now.head.Size)
		}
		var committed *ledger.Result
		c.nodes[0].Ledger().View(func(v *ledger.View) error {
			if e, ok := v.Entry(before.head.Size); ok {
				committed = &ledger.Result{Index: e.Index, Seq: e.Seq, EntryHash: e.Hash, Outcome: e.Outcome}
			}
			return nil
		})
		if committed == nil {
			t.Fatalf("entry %d is counted in the head but not readable", before.head.Size)
		}
		return committed
	}
}

type nodeState struct {
	applied uint64
	digest  ledger.Hash
	head    ledger.Head
}

// converged waits until every node has applied index and reports one
// state, and returns it.
func (c *inproc) converged(t *testing.T, index uint64) nodeState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var states []nodeState
		for _, n := range c.nodes {
			var s nodeState
			s.applied = n.Ledger().AppliedIndex()
			n.Ledger().View(func(v *ledger.View) error { s.digest, s.head = v.Digest(), v.Head(); return nil })
			states = append(states, s)
		}
		same := states[0].applied >= index
		for _, s := range states[1:] {
			same = same && s == states[0]
		}
		if same {
			return states[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not converge on index %d: %+v", index, states)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRogue_AppendsStraightToRaft plays a rogue member holding alpha's key
// and the leader's Raft log: it appends, bypassing the API's checks,
// proposals with forged signatures of other members, replays, an
// oversized envelope and undecodable envelopes. Every node must refuse each
// one with the same journaled outcome and reach the same state (the same
// digest, journal head and applied index), and none may take effect; a
// replay returns the original result and adds no journal entry. (The digest
// covers the ledger time, which every committed entry advances, so it is
// compared across nodes rather than before and after.)
func TestRogue_AppendsStraightToRaft(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an in-process cluster")
	}
	c := newInproc(t)
	now := time.Now().UTC()
	tokenBody := func(secret string) ledger.TokenRegister {
		return ledger.TokenRegister{Hash: ledger.HashToken(secret), Scopes: []string{"read"}, ExpiresAt: now.Add(time.Hour)}
	}
	alpha := ledgertest.Signer("alpha", rogueScheme)
	honest := ledgertest.Propose(c.g.ID(), "alpha", "token.register", "honest-1", now, tokenBody("honest"), alpha).Encode()
	res := c.proposeSettled(t, honest, c.converged(t, 0))
	if res.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("honest proposal: %+v", res)
	}
	c.converged(t, res.Index)

	for _, rc := range rogueCases(c.g.ID(), now, "honest-1", alpha, ledgertest.Signer("beta", rogueScheme)) {
		t.Run(rc.name, func(t *testing.T) {
			before := c.converged(t, 0)
			res := c.proposeSettled(t, rc.env, before)
			after := c.converged(t, res.Index)
			if rc.code == "" {
				if !res.Duplicate || res.Outcome.ID != "honest-1" || after.head != before.head {
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
			for _, n := range c.nodes {
				n.Ledger().View(func(v *ledger.View) error {
					e, ok := v.Entry(before.head.Size)
					if !ok || e.Outcome.Status != ledger.StatusRejected || e.Outcome.Code != rc.code {
						t.Errorf("%s journaled %+v", n.ID(), e)
					}
					for _, s := range rc.secrets {
						if _, ok := v.Token(ledger.HashToken(s)); ok {
							t.Errorf("%s registered the token of a refused proposal (%s)", n.ID(), s)
						}
					}
					return nil
				})
			}
		})
	}
	// The honest record is still the only token, on every node.
	for _, n := range c.nodes {
		n.Ledger().View(func(v *ledger.View) error {
			if _, ok := v.Token(ledger.HashToken("honest")); !ok {
				t.Errorf("%s lost the honest token", n.ID())
			}
			return nil
		})
	}
}

// TestRogue_UndecodableRecordStopsTheNode commits a record that is not in
// the record framing at all (only a rogue writing the Raft log directly
// can): the ledger must stop with a message that says why, rather than
// skip it and diverge from peers that might decode it.
func TestRogue_UndecodableRecordStopsTheNode(t *testing.T) {
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: "Rogue test consortium", CreatedAt: time.Now().UTC().Truncate(time.Second),
		Charter: ledger.DefaultCharter()}
	g.Members = []ledger.GenesisMember{{ID: "alpha", Role: ledger.RoleMember, Keys: []ledger.PublicKey{ledgertest.Key("alpha", rogueScheme).Public()},
		Node: ledger.NodeInfo{RaftAddr: "127.0.0.1:1"}}}
	if err := g.Sign(ledgertest.Signer("alpha", rogueScheme)); err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{nil, []byte("garbage"), bytes.Repeat([]byte{0xff}, 64)} {
		t.Run(fmt.Sprintf("%q", data[:min(len(data), 8)]), func(t *testing.T) {
			l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), g, ledger.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var d0 ledger.Hash
			l.View(func(v *ledger.View) error { d0 = v.Digest(); return nil })
			msg := func() (msg string) {
				defer func() { msg = fmt.Sprint(recover()) }()
				l.Apply([]ledger.LogEntry{{Index: 1, Data: data}})
				return "<no panic>"
			}()
			if !strings.Contains(msg, "committed entry 1 cannot be decoded") || !strings.Contains(msg, "stopping rather than diverging") {
				t.Fatalf("panic %q, want the operator message naming entry 1 and why the node stops", msg)
			}
			var d1 ledger.Hash
			l.View(func(v *ledger.View) error { d1 = v.Digest(); return nil })
			if d1 != d0 || l.AppliedIndex() != 0 {
				t.Fatalf("the undecodable record changed the state (applied %d)", l.AppliedIndex())
			}
		})
	}
}
