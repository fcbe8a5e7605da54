package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
	"github.com/charta/charta/node/api"
)

// checkpointStateFile records, in the data directory, the newest
// checkpoint this node cosigned, so that it never cosigns one that is
// inconsistent with it, across restarts and restores.
const checkpointStateFile = "checkpoint.signed"

// cosignTimeout bounds one round of gathering cosignatures from peers.
const cosignTimeout = 3 * time.Second

// cosignBackoff is how long a peer that did not cosign is left out of
// gathering rounds, so that one node that is down does not make every
// checkpoint read (gathering is one round at a time) wait cosignTimeout.
const cosignBackoff = 15 * time.Second

// checkpointer holds a node's checkpoint cosigning state: its key, the
// newest checkpoint it cosigned, and the newest note it gathered.
type checkpointer struct {
	path string // checkpointStateFile in the data directory

	mu         sync.Mutex
	last       *verify.Checkpoint // newest checkpoint this node cosigned
	cached     *verify.Note       // newest gathered note
	cachedSize uint64
	gather     sync.Mutex           // one gathering round at a time
	resting    map[string]time.Time // peer → when it is asked again, after a failure
	// cosigned is when this node last gathered a note with the charter's
	// threshold of cosignatures; until it does, when it started.
	cosigned time.Time
}

func newCheckpointer(cfg ServerConfig, now time.Time) *checkpointer {
	c := &checkpointer{path: filepath.Join(cfg.DataDir, checkpointStateFile), resting: map[string]time.Time{}, cosigned: now}
	if b, err := os.ReadFile(c.path); err == nil {
		if cp, err := verify.ParseCheckpoint(string(b)); err == nil {
			c.last = cp
		}
	}
	return c
}

// checkpointAt is the checkpoint of the first size journal entries as this
// node's journal has them.
func checkpointAt(v *ledger.View, size uint64) (*verify.Checkpoint, error) {
	if size == 0 || size > v.Head().Size {
		return nil, errorf(ledger.CodeInvalid, "size: %d is not between 1 and the journal's %d entries", size, v.Head().Size)
	}
	root, err := rootAt(v, size)
	if err != nil {
		return nil, err
	}
	e, ok := v.Entry(size - 1)
	if !ok {
		return nil, fmt.Errorf("node: journal entry %d is missing", size-1)
	}
	cp := &verify.Checkpoint{Origin: verify.Origin(v.Consortium()), Size: size, LedgerTime: e.LedgerTime.UTC()}
	copy(cp.Root[:], root)
	return cp, nil
}

// cosign checks a checkpoint against this node's own journal and, if it
// matches and is consistent with the newest checkpoint this node cosigned
// before, cosigns it (verify.Cosign: C2SP cosignature/v1 and the log's
// signature for a key with an Ed25519 part, the post-quantum cosignature
// for one with an ML-DSA part), timestamped with this node's clock. A
// node with no key returns (nil, nil).
func (s *Server) cosign(v *ledger.View, cp *verify.Checkpoint) ([]verify.NoteSignature, error) {
	if cp.Origin != verify.Origin(v.Consortium()) {
		return nil, errorf(ledger.CodeInvalid, "checkpoint: origin %q is not this consortium's", cp.Origin)
	}
	if cp.Size > v.Head().Size {
		return nil, errorf(api.CodeUnavailable, "checkpoint: size %d is beyond this node's journal of %d entries; retry once it caught up", cp.Size, v.Head().Size).retry(1)
	}
	mine, err := checkpointAt(v, cp.Size)
	if err != nil {
		return nil, err
	}
	if mine.Root != cp.Root || !mine.LedgerTime.Equal(cp.LedgerTime) {
		s.log.Warn("refusing to cosign a checkpoint that contradicts this node's journal", "size", cp.Size, "root", cp.Root, "mine", mine.Root)
		return nil, errorf(ledger.CodeConflict, "checkpoint: the journal of %d entries has root %s and ledger time %s here, not %s and %s",
			cp.Size, mine.Root, mine.LedgerTime.Format(time.RFC3339Nano), cp.Root, cp.LedgerTime.Format(time.RFC3339Nano))
	}
	c, signer := s.ckpt, s.SigningKey()
	if signer == nil {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Consistency with the newest checkpoint cosigned before: this node's
	// own tree must still have that root at that size. It fails only if
	// the state was replaced by a divergent one.
	if c.last != nil && c.last.Size <= v.Head().Size {
		old, err := checkpointAt(v, c.last.Size)
		if err != nil {
			return nil, err
		}
		if old.Root != c.last.Root {
			s.log.Error("this node's journal is inconsistent with the checkpoint it cosigned before", "size", c.last.Size)
			return nil, errorf(ledger.CodeConflict, "checkpoint: this node cosigned root %s at size %d before and its journal now has %s there; it cosigns nothing until an operator resolves it",
				c.last.Root, c.last.Size, old.Root)
		}
	}
	member, _, _ := strings.Cut(signer.KeyID, "/")
	sigs, err := verify.Cosign(cp.Body(), cp.Origin, member, signer.Key, uint64(max(s.clock().Unix(), 0)))
	if err != nil {
		return nil, err
	}
	if c.last == nil || cp.Size > c.last.Size {
		c.last = cp
		if err := os.WriteFile(c.path, []byte(cp.Body()), 0o600); err != nil {
			s.log.Warn("recording the cosigned checkpoint", "err", err)
		}
	}
	return sigs, nil
}

// memberKeys returns the current public keys of a member, for checking
// its cosignatures.
func memberKeys(v *ledger.View, member string) []ledger.PublicKey {
	m, ok := v.Member(member)
	if !ok {
		return nil
	}
	var out []ledger.PublicKey
	for _, kid := range m.Keys {
		if k, ok := v.Key(kid); ok && k.Delegated() {
			continue // a delegated key never cosigns
		}
		if pk, ok := v.KeyValidNow(kid); ok {
			out = append(out, pk)
		}
	}
	return out
}

// signedCheckpoint returns the checkpoint of the first size entries
// (0: the whole journal) as a note with this node's cosignature and, when
// gather is set, every peer cosignature it could gather.
func (s *Server) signedCheckpoint(ctx context.Context, size uint64, gather bool) (*verify.Note, *verify.Checkpoint, error) {
	var (
		cp    *verify.Checkpoint
		note  *verify.Note
		peers []peer
		need  int // cosignatures a verifier wants, by default
	)
	err := s.l.View(func(v *ledger.View) error {
		if size == 0 {
			size = v.Head().Size
		}
		var err error
		if cp, err = checkpointAt(v, size); err != nil {
			return err
		}
		note = &verify.Note{Text: cp.Body()}
		sigs, err := s.cosign(v, cp)
		if err != nil {
			return err
		}
		note.Add(sigs...)
		peers = s.peers(v, cp.Origin)
		need = verify.DefaultThreshold(v.Charter().Threshold, len(peers)+1)
		return nil
	})
	if err != nil || !gather {
		return note, cp, err
	}
	s.gatherInto(ctx, note, cp, peers, need)
	return note, cp, nil
}

// cosignedSince is when this node last gathered a checkpoint cosigned by
// the charter's threshold of members, or when it started if it has not.
func (c *checkpointer) cosignedSince() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cosigned
}

// gatherInto asks every peer whose cosignature the note lacks to cosign
// it, concurrently and within cosignTimeout, and adds the valid answers.
// The newest gathered note is cached, so that repeated reads of an
// unchanged journal do not ask again. A note that ends with need distinct
// cosigners counts as cosigned for charta_checkpoint_age_seconds.
func (s *Server) gatherInto(ctx context.Context, note *verify.Note, cp *verify.Checkpoint, peers []peer, need int) {
	c := s.ckpt
	c.gather.Lock()
	defer c.gather.Unlock()
	c.mu.Lock()
	if c.cached != nil && c.cachedSize == cp.Size && c.cached.Text == note.Text {
		note.Add(c.cached.Sigs...)
	}
	c.mu.Unlock()
	have := map[string]bool{}
	for _, sg := range note.Sigs {
		have[sg.Name] = true
	}
	gctx, cancel := context.WithTimeout(ctx, cosignTimeout)
	defer cancel()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got []verify.NoteSignature
	)
	req := note.String()
	now := s.clock()
	var ask []peer
	for _, p := range peers {
		if !have[verify.KeyName(cp.Origin, p.member)] && !now.Before(c.resting[p.member]) {
			ask = append(ask, p)
		}
	}
	for _, p := range ask {
		wg.Go(func() {
			sigs, err := s.askCosign(gctx, p, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.log.Debug("peer did not cosign the checkpoint", "peer", p.member, "size", cp.Size, "err", err)
				// A peer rests for its own failures only: not when the
				// caller went away, nor when it was merely behind.
				if ctx.Err() == nil && !errors.Is(err, errPeerBehind) {
					c.resting[p.member] = now.Add(cosignBackoff)
				}
				return
			}
			delete(c.resting, p.member)
			got = append(got, sigs...)
		})
	}
	wg.Wait()
	note.Add(got...)
	sort.Slice(note.Sigs, func(i, j int) bool { return note.Sigs[i].Name < note.Sigs[j].Name })
	c.mu.Lock()
	if cp.Size >= c.cachedSize {
		c.cached, c.cachedSize = &verify.Note{Text: note.Text, Sigs: append([]verify.NoteSignature(nil), note.Sigs...)}, cp.Size
	}
	if signers := signersOf(cp.Origin, note); len(slices.Compact(slices.Sorted(slices.Values(signers)))) >= need {
		c.cosigned = s.clock()
	}
	c.mu.Unlock()
}

// peer is another member's node.
type peer struct {
	member string
	url    string
	keys   []ledger.PublicKey
}

// peers lists the other active members' nodes with an API address.
func (s *Server) peers(v *ledger.View, origin string) []peer {
	self := s.c.ID()
	var out []peer
	after := ""
	for {
		ms, next := v.Members(after, 100)
		for _, m := range ms {
			if m.ID == self || m.Status != ledger.MemberActive || m.Node.APIAddr == "" {
				continue
			}
			out = append(out, peer{member: m.ID, url: s.peerURL(m.Node.APIAddr), keys: memberKeys(v, m.ID)})
		}
		if next == "" {
			return out
		}
		after = next
	}
}

func (s *Server) peerURL(addr string) string { return api.BaseURL(addr, s.cfg.TLS) }

// askCosign posts the note to a peer's /v1/checkpoint/cosign and keeps
// the peer's signatures that verify under its current keys.
func (s *Server) askCosign(ctx context.Context, p peer, note string) ([]verify.NoteSignature, error) {
	for {
		sigs, err := s.askCosignOnce(ctx, p, note)
		if !errors.Is(err, errPeerBehind) {
			return sigs, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// errPeerBehind: the peer has not applied the checkpoint's entries yet.
var errPeerBehind = errors.New("node: the peer's journal is behind the checkpoint")

func (s *Server) askCosignOnce(ctx context.Context, p peer, note string) ([]verify.NoteSignature, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/v1/checkpoint/cosign", strings.NewReader(note))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("Accept", "text/plain")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusServiceUnavailable && bytes.Contains(b, []byte("caught up")) {
		return nil, errPeerBehind
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("node: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	answer, err := verify.ParseNote(string(b))
	if err != nil {
		return nil, err
	}
	text, _, _ := strings.Cut(note, "\n\n")
	if answer.Text != text+"\n" {
		return nil, errors.New("node: the peer answered a different checkpoint")
	}
	cp, err := verify.ParseCheckpoint(answer.Text)
	if err != nil {
		return nil, err
	}
	peerTrust := verify.Trust{Consortium: cp.Consortium(), Keys: map[string][]ledger.PublicKey{p.member: p.keys}}
	members, valid, err := peerTrust.Cosigners(answer)
	if err != nil {
		return nil, fmt.Errorf("node: the peer's answer: %w", err)
	}
	if len(members) == 0 {
		return nil, errors.New("node: the peer's answer carries no valid cosignature of its own")
	}
	return valid, nil
}

// handleCheckpointCosign answers POST /v1/checkpoint/cosign: the body is a
// checkpoint note signed by at least one active member's current key (the
// requesting node's), with a cosignature or a cosign request. If the checkpoint matches this node's journal, the
// answer is the note with this node's cosignature; otherwise a problem.
// No token is needed: the requester's signature authenticates it, and the
// node signs only what its own journal shows.
func (s *Server) handleCheckpointCosign(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<10))
	if err != nil {
		s.writeProblem(w, r, errorf(ledger.CodeTooLarge, "the checkpoint note is too large"))
		return
	}
	n, err := verify.ParseNote(string(b))
	if err != nil {
		s.writeProblem(w, r, errorf(ledger.CodeInvalid, "note: %v", err))
		return
	}
	cp, err := verify.ParseCheckpoint(n.Text)
	if err != nil {
		s.writeProblem(w, r, errorf(ledger.CodeInvalid, "checkpoint: %v", err))
		return
	}
	var sigs []verify.NoteSignature
	err = s.view(w, func(v *ledger.View) error {
		if !signedByMember(v, cp, n) {
			return errorf(ledger.CodeUnauthorized, "note: no signature by an active member's current key; a node asks for cosignatures with its own signed note")
		}
		var err error
		sigs, err = s.cosign(v, cp)
		return err
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if sigs == nil {
		s.writeProblem(w, r, errorf(api.CodeUnavailable, "this node has no signing key (start it with --key) and cosigns nothing"))
		return
	}
	out := verify.Note{Text: n.Text, Sigs: sigs}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(out.String()))
}

// signedByMember reports whether a note carries, by an active member's
// current key, a valid cosignature in a form that counts or a valid cosign
// request (verify.CosignRequest: a node vouching for a snapshot asks so).
func signedByMember(v *ledger.View, cp *verify.Checkpoint, n *verify.Note) bool {
	t := verify.Trust{Consortium: cp.Consortium(), Keys: map[string][]ledger.PublicKey{}}
	for _, sg := range n.Sigs {
		member, ok := strings.CutPrefix(sg.Name, cp.Origin+"/")
		if !ok || t.Keys[member] != nil {
			continue
		}
		if m, ok := v.Member(member); ok && m.Status == ledger.MemberActive {
			t.Keys[member] = memberKeys(v, member)
		}
	}
	members, _, err := t.Cosigners(n)
	if err == nil && len(members) > 0 {
		return true
	}
	requesters, err := t.Requesters(n)
	return err == nil && len(requesters) > 0
}

// signersOf lists the members whose cosignatures a note carries by name,
// once each (not verified here; clients verify).
func signersOf(origin string, n *verify.Note) []string {
	var out []string
	for _, sg := range n.Sigs {
		if m, ok := strings.CutPrefix(sg.Name, origin+"/"); ok && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// checkpointJSON is the JSON shape of GET /v1/checkpoint.
func checkpointJSON(v *ledger.View, cp *verify.Checkpoint, note *verify.Note) api.Checkpoint {
	h := v.Head()
	out := api.Checkpoint{
		Origin: cp.Origin, Size: cp.Size, Root: cp.Root, LedgerTime: cp.LedgerTime,
		Index: v.AppliedIndex(), Body: cp.Body(), Note: note.String(), Cosigners: append([]string{}, signersOf(cp.Origin, note)...),
	}
	if e, ok := v.Entry(cp.Size - 1); ok {
		out.LastHash = e.Hash
	} else {
		out.LastHash = h.LastHash
	}
	return out
}
