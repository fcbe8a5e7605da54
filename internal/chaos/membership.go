package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/charta/charta/internal/faultproxy"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// propose submits one proposal by member through node 0, resubmitting the
// same envelope while the outcome is unknown. A journaled rejection is
// returned as an error wrapping client.ErrRejected.
func (c *Cluster) propose(ctx context.Context, member, typ, id string, body any) error {
	cl, err := c.Client(0, member, "")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = cl.Propose(ctx, typ, id, body)
	return err
}

// ballot opens a ballot by the first genesis member and has the others vote
// for it; votes after it passed are refused by the ledger and ignored.
func (c *Cluster) ballot(ctx context.Context, id, action string, params any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	open := ledger.BallotOpenBody{ID: id, Action: action, Params: raw, Deadline: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
	if err := c.propose(ctx, c.Nodes[0].ID, "ballot.open", id+"-open", open); err != nil {
		return fmt.Errorf("open %s: %w", id, err)
	}
	for _, n := range c.Nodes[1:] {
		err := c.propose(ctx, n.ID, "ballot.vote", id+"-vote-"+n.ID, ledger.BallotVoteBody{Ballot: id, Approve: true})
		if err != nil && !errors.Is(err, client.ErrRejected) {
			return fmt.Errorf("vote on %s by %s: %w", id, n.ID, err)
		}
	}
	return nil
}

// inConfiguration reports whether member id's node is a Raft server, as
// node 0 sees it.
func (c *Cluster) inConfiguration(ctx context.Context, id string) (bool, error) {
	st, err := c.Status(ctx, 0)
	if err != nil {
		return false, err
	}
	return slices.Contains(st.Voters, id) || slices.Contains(st.Nonvoters, id), nil
}

func (c *Cluster) waitConfiguration(ctx context.Context, id string, want bool, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		in, err := c.inConfiguration(ctx, id)
		if err == nil && in == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("member %s's node in the Raft configuration: want %v after %v (last error %v)", id, want, within, err)
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

// AdmitAndJoin admits member id by a ballot of the genesis members while
// the workload runs, registers a token for it, starts its node with --join
// behind its own fault proxy, and waits until Raft has it.
func (c *Cluster) AdmitAndJoin(ctx context.Context, id string) (*Node, error) {
	api, err := freeAddr()
	if err != nil {
		return nil, err
	}
	raft, err := freeAddr()
	if err != nil {
		return nil, err
	}
	n := &Node{ID: id, API: "http://" + api, Raft: raft, DataDir: filepath.Join(c.cfg.Dir, id), LogFile: filepath.Join(c.cfg.Dir, id+".log")}
	pcfg := faultproxy.DefaultConfig()
	pcfg.Target, pcfg.Self, pcfg.CAs, pcfg.Certs, pcfg.Links = n.Raft, n.ID, c.caPool, c.certs, c.Links
	pcfg.Seed, pcfg.Logger = c.cfg.Seed*31+uint64(len(c.Nodes)+len(c.Joined)), c.log
	if n.proxy, err = faultproxy.New(pcfg); err != nil {
		return nil, err
	}
	c.Joined = append(c.Joined, n) // closed with the cluster from here on
	params := ledger.AdmitParams{Member: id, Role: ledger.RoleMember, Keys: []ledger.PublicKey{c.signers[id].Key.Public()},
		EncryptionKey: new(c.encKeys[id]), Node: ledger.NodeInfo{RaftAddr: n.proxy.Addr(), APIAddr: n.API}}
	if err := c.ballot(ctx, "admit-"+id, "member.admit", params); err != nil {
		return nil, err
	}
	tok := client.NewToken()
	if err := c.RegisterToken(ctx, id, tok); err != nil {
		return nil, fmt.Errorf("token for %s: %w", id, err)
	}
	c.tokens[id] = tok
	tokFile := filepath.Join(c.cfg.Dir, id+".token")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := c.start(n, "--join", c.Nodes[0].API, "--join-token-file", tokFile); err != nil {
		return nil, err
	}
	c.log.Info("member admitted, node joining", "member", id)
	return n, c.waitConfiguration(ctx, id, true, 30*time.Second)
}

// RemoveJoined removes a joined member by ballot, waits until its node has
// left Raft, and stops the process.
func (c *Cluster) RemoveJoined(ctx context.Context, n *Node) error {
	if err := c.ballot(ctx, "remove-"+n.ID, "member.remove", ledger.MemberParams{Member: n.ID}); err != nil {
		return err
	}
	if err := c.waitConfiguration(ctx, n.ID, false, 30*time.Second); err != nil {
		return err
	}
	c.log.Info("member removed, node left Raft", "member", n.ID)
	c.kill(n)
	return nil
}

// MembershipChange admits the next possible member and joins its node
// while the workload runs, keeps it for hold, then removes it again.
func MembershipChange(hold time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, _ *rand.Rand) error {
		id := memberIDs[len(c.Nodes)+len(c.Joined)]
		n, err := c.AdmitAndJoin(ctx, id)
		if err != nil {
			return err
		}
		sleep(ctx, hold)
		return c.RemoveJoined(ctx, n)
	}
}
