package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
)

// vouchTimeout bounds how long a node waits for its peers' cosignatures
// on the checkpoint of a snapshot it was offered. A peer a little behind
// the snapshot is waited for (askCosign retries) within it.
const vouchTimeout = 5 * time.Second

// vouchSnapshot is the node's snapshot voucher (consensus.Config's
// VouchSnapshot): a snapshot a peer offers is installed only if the other
// member nodes that keep the clock cosign the checkpoint of its journal,
// each checking it against its own journal at that size (handleCheckpointCosign).
// It needs a majority of the clock keepers (ledger.TimeQuorum), not
// counting this node, which lacks those entries and cannot vouch; with
// only one other keeper, that one.
//
// v is the snapshot's state, which the ledger has already shown to follow
// from its journal: its member table names the keepers, their keys and
// their API addresses. A false journal can change them only by entries
// signed by the members concerned, so a rogue can alter its own member's
// entry and no other's, and its one cosignature never makes a quorum.
//
// This node asks with a cosign request line (verify.CosignRequest), not
// a cosignature of its own: it has not checked the checkpoint, and a
// rogue peer must not be able to keep the request as this node's word.
func (s *Server) vouchSnapshot(ctx context.Context, v *ledger.View) error {
	size := v.Head().Size
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("node: snapshot at journal size %d not vouched: "+format, append([]any{size}, a...)...)
	}
	if trusted := s.cfg.TrustJournalHead; trusted != nil {
		// The operator vouches: a cluster restored from a backup, whose
		// restored node alone holds the journal.
		if size >= trusted.Size {
			if cp, err := checkpointAt(v, trusted.Size); err == nil && cp.Root == trusted.Root {
				s.log.Info("snapshot vouched for by --trust-journal-head", "size", size, "trusted_size", trusted.Size)
				return nil
			}
		}
		s.log.Warn("a snapshot does not extend the journal head --trust-journal-head names; asking peers", "size", size, "trusted_size", trusted.Size)
	}
	cp, err := checkpointAt(v, size)
	if err != nil {
		return refuse("%v", err)
	}
	self := s.c.ID()
	keepers := v.TimeKeepers()
	others := len(keepers)
	if slices.Contains(keepers, self) {
		others--
	}
	need := min(ledger.TimeQuorum(len(keepers)), others)
	if need < 1 {
		return refuse("no other member node keeps the clock")
	}
	signer := s.SigningKey()
	if signer == nil {
		return refuse("0 of %d cosignatures: this node has no signing key (start it with --key) to ask its peers with", need)
	}
	member, _, _ := strings.Cut(signer.KeyID, "/")
	line, err := verify.CosignRequest(cp.Body(), cp.Origin, member, signer.Key)
	if err != nil {
		return refuse("%v", err)
	}
	req := (&verify.Note{Text: cp.Body(), Sigs: []verify.NoteSignature{line}}).String()

	var asked []peer
	for _, p := range s.peers(v, cp.Origin) {
		if slices.Contains(keepers, p.member) {
			asked = append(asked, p)
		}
	}
	cosigners, reasons := s.askVouch(ctx, asked, req)
	for _, k := range keepers {
		if k != self && !slices.ContainsFunc(asked, func(p peer) bool { return p.member == k }) {
			reasons = append(reasons, k+": no API address recorded")
		}
	}
	if len(cosigners) < need {
		slices.Sort(reasons)
		return refuse("%d of %d cosignatures: %s", len(cosigners), need, strings.Join(reasons, "; "))
	}
	s.log.Info("snapshot vouched for by peers' cosigned checkpoint", "size", size, "root", cp.Root, "cosigners", cosigners, "needed", need)
	return nil
}

// askVouch asks every peer in ps, concurrently and within vouchTimeout, to
// cosign the request note, and returns the members that did, sorted, and
// why each other did not.
func (s *Server) askVouch(ctx context.Context, ps []peer, req string) (cosigners, reasons []string) {
	ctx, cancel := context.WithTimeout(ctx, vouchTimeout)
	defer cancel()
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for _, p := range ps {
		wg.Go(func() {
			_, err := s.askCosign(ctx, p, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if errors.Is(err, errPeerBehind) {
					err = errors.New("its journal did not reach the snapshot's size in time")
				}
				reasons = append(reasons, p.member+": "+err.Error())
				return
			}
			cosigners = append(cosigners, p.member)
		})
	}
	wg.Wait()
	slices.Sort(cosigners)
	return cosigners, reasons
}
