package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// vouch asks member's node to vouch for the state of from's ledger, as if
// from's node had offered it as a snapshot.
func (c *cluster) vouch(t *testing.T, member, from string, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	if verr := c.nodes[from].w.l.View(func(v *ledger.View) error {
		err = c.nodes[member].s.vouchSnapshot(ctx, v)
		return nil
	}); verr != nil {
		t.Fatal(verr)
	}
	return err
}

// token registers a token for member on the nodes named, each in its own
// journal.
func (c *cluster) token(t *testing.T, member, id string, nodes ...string) {
	t.Helper()
	for _, n := range nodes {
		c.nodes[n].w.accept(member, "token.register", id, ledger.TokenRegister{
			Hash: ledger.HashToken("token-" + id + "-0123456789abcdefghij"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)})
	}
}

// TestVouchSnapshot_NeedsAQuorumOfOtherClockKeepers: the four founders'
// nodes keep the clock (each has a Raft address), so a node needs the
// cosignatures of three of them, and can count only the other three. The
// honest state is vouched for when all three answer; with one down it is
// not, and the refusal says how many cosigned and why the others did not.
func TestVouchSnapshot_NeedsAQuorumOfOtherClockKeepers(t *testing.T) {
	c := newClusterOf(t, "alpha", "audit", "beta", "gamma")
	if err := c.vouch(t, "gamma", "alpha", 10*time.Second); err != nil {
		t.Fatalf("the honest state is not vouched for: %v", err)
	}

	d := newClusterOf(t, "alpha", "beta", "gamma") // audit's node is down
	err := d.vouch(t, "gamma", "alpha", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "not vouched: 2 of 3 cosignatures") || !strings.Contains(err.Error(), "audit: ") {
		t.Fatalf("with audit's node down: %v, want 2 of 3 cosignatures and audit's reason", err)
	}
}

// TestVouchSnapshot_FalseJournalRefused: alpha's node offers a state
// whose journal the others do not have. An extra entry validly signed by
// alpha, which the cluster never committed: the others never reach that
// size, and only alpha cosigns. A journal that forked at the same size:
// the others refuse to cosign it. Either way the refusal names the count.
func TestVouchSnapshot_FalseJournalRefused(t *testing.T) {
	c := newClusterOf(t, "alpha", "audit", "beta", "gamma")
	c.token(t, "alpha", "tok-extra", "alpha")
	start := time.Now()
	err := c.vouch(t, "gamma", "alpha", 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "not vouched: 1 of 3 cosignatures") || !strings.Contains(err.Error(), "did not reach the snapshot's size") {
		t.Fatalf("an extra entry: %v, want 1 of 3 cosignatures, the others behind", err)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("the refusal took %v", took)
	}

	f := newClusterOf(t, "alpha", "audit", "beta", "gamma")
	f.token(t, "alpha", "tok-fork", "alpha")
	f.token(t, "beta", "tok-honest", "audit", "beta", "gamma")
	err = f.vouch(t, "gamma", "alpha", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "not vouched: 1 of 3 cosignatures") || !strings.Contains(err.Error(), "409") {
		t.Fatalf("a forked journal: %v, want 1 of 3 cosignatures and the others' conflicts", err)
	}
	// The honest journal of the same size gets the honest nodes'
	// cosignatures; alpha's, which a majority of four needs, is missing.
	err = f.vouch(t, "gamma", "beta", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "not vouched: 2 of 3 cosignatures: alpha: ") {
		t.Fatalf("the honest journal without alpha: %v, want 2 of 3 cosignatures", err)
	}
}

// TestVouchSnapshot_NoKeyNoVouch: a node without a member key cannot ask
// its peers, and refuses every snapshot, saying why.
func TestVouchSnapshot_NoKeyNoVouch(t *testing.T) {
	c := newClusterOf(t, "alpha", "audit", "beta", "gamma")
	c.nodes["gamma"].s.signer.Store(nil)
	err := c.vouch(t, "gamma", "alpha", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "no signing key") {
		t.Fatalf("without a key: %v", err)
	}
}

// TestVouchSnapshot_TrustedJournalHead: in a cluster restored from a
// backup the joining nodes cannot be vouched for by their peers; the
// operator names the backup's journal head (--trust-journal-head), and a
// snapshot that extends it is installed, one that does not is not.
func TestVouchSnapshot_TrustedJournalHead(t *testing.T) {
	c := newClusterOf(t, "alpha", "gamma") // audit's and beta's nodes are down
	if err := c.vouch(t, "gamma", "alpha", 3*time.Second); err == nil {
		t.Fatal("vouched for with two of four nodes up and no trusted head")
	}
	var head ledger.Head
	c.nodes["alpha"].w.l.View(func(v *ledger.View) error { head = v.Head(); return nil })
	gamma := c.nodes["gamma"].s
	gamma.cfg.TrustJournalHead = &ledger.Head{Size: head.Size - 1}
	c.nodes["alpha"].w.l.View(func(v *ledger.View) error {
		cp, err := checkpointAt(v, head.Size-1)
		gamma.cfg.TrustJournalHead.Root = cp.Root
		return err
	})
	if err := c.vouch(t, "gamma", "alpha", 3*time.Second); err != nil {
		t.Fatalf("a snapshot extending the trusted head: %v", err)
	}
	gamma.cfg.TrustJournalHead.Root[0] ^= 1
	if err := c.vouch(t, "gamma", "alpha", 3*time.Second); err == nil || !strings.Contains(err.Error(), "not vouched") {
		t.Fatalf("a snapshot that does not extend the trusted head: %v", err)
	}
}
