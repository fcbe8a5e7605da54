package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/charta/charta/ledger"
)

// defaultKeyPoll is how often a node looks at its --key file for a change
// when Config.KeyPoll is not set.
const defaultKeyPoll = 3 * time.Second

// SigningKey returns the member key the server signs its checkpoint
// cosignatures and clock readings with, or nil if it has none. It changes
// when the key is rotated (UseSigningKey), so callers read it once per
// signature.
func (s *Server) SigningKey() *ledger.Signer { return s.signer.Load() }

// UseSigningKey switches the server to k if the ledger holds k as a key of
// this node's member that may sign now. Otherwise the key in use stays and
// the error says why. It reports whether the key changed.
func (s *Server) UseSigningKey(k *ledger.Signer) (bool, error) {
	if cur := s.SigningKey(); cur != nil && cur.KeyID == k.KeyID {
		return false, nil
	}
	if err := s.keyUsable(k.KeyID); err != nil {
		return false, err
	}
	old := s.signer.Swap(k)
	from := ""
	if old != nil {
		from = old.KeyID
	}
	s.log.Info("switched the member key this node signs with", "from", from, "to", k.KeyID)
	return true, nil
}

// keyUsable returns why key id may not sign for this node now, or nil.
func (s *Server) keyUsable(id string) error {
	var err error
	s.l.View(func(v *ledger.View) error {
		next := v.AppliedIndex() + 1
		k, ok := v.Key(id)
		switch {
		case !ok:
			err = fmt.Errorf("key %s is not in the ledger's key table (yet): submit its key.rotate first", id)
		case k.Member != s.c.ID():
			err = fmt.Errorf("key %s belongs to member %s, not to this node's member %s", id, k.Member, s.c.ID())
		case !k.ValidAt(next):
			err = fmt.Errorf("key %s is no longer valid: it was %s at index %d", id, k.EndedBy, k.ValidUntil)
		case k.Delegated():
			err = fmt.Errorf("key %s is a delegated key (%s); a node signs with one of its member's ordinary keys", id, k.Scope)
		}
		return nil
	})
	return err
}

// keyWatch is what the node remembers of its --key file between looks.
type keyWatch struct {
	mod     time.Time
	size    int64
	pending bool   // the file's key could not be used yet; try again
	warned  string // the retired key in use that was last warned about
}

// ReloadKey reads the --key file again and switches to its key if the
// ledger lets it sign (see Server.UseSigningKey). The node calls it when
// the file changes and, through the command line, on SIGHUP.
func (n *Node) ReloadKey() error {
	if n.cfg.KeyFile == "" {
		return errors.New("node: no --key file to reload")
	}
	member, k, err := ledger.ReadKeyFile(n.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("node: reload key file %s: %w", n.cfg.KeyFile, err)
	}
	if member != n.cfg.ID {
		return fmt.Errorf("node: key file %s holds a key of member %s, not %s", n.cfg.KeyFile, member, n.cfg.ID)
	}
	s := ledger.NewSigner(member, k)
	if _, err := n.srv.UseSigningKey(&s); err != nil {
		return fmt.Errorf("node: key file %s: keeping key %s: %w", n.cfg.KeyFile, n.srv.SigningKey().KeyID, err)
	}
	return nil
}

// watchKey looks at the --key file every KeyPoll and reloads it when it
// changed, or while its key is not yet usable (the file may be replaced
// before the key.rotate commits). It also warns, once per key, when the
// key in use was retired and the file still holds it.
func (n *Node) watchKey(ctx context.Context) {
	if n.cfg.KeyFile == "" {
		return
	}
	poll := n.cfg.KeyPoll
	if poll <= 0 {
		poll = defaultKeyPoll
	}
	var w keyWatch
	if fi, err := os.Stat(n.cfg.KeyFile); err == nil {
		w.mod, w.size = fi.ModTime(), fi.Size()
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.lookAtKey(&w)
	}
}

func (n *Node) lookAtKey(w *keyWatch) {
	fi, err := os.Stat(n.cfg.KeyFile)
	if err != nil {
		n.log.Warn("cannot read the key file", "file", n.cfg.KeyFile, "err", err)
		return
	}
	changed := !fi.ModTime().Equal(w.mod) || fi.Size() != w.size
	w.mod, w.size = fi.ModTime(), fi.Size()
	if changed || w.pending {
		err := n.ReloadKey()
		if err != nil && (changed || !w.pending) {
			n.log.Warn("key file changed but its key cannot sign yet", "err", err)
		}
		w.pending = err != nil
	}
	if cur := n.srv.SigningKey(); cur != nil && w.warned != cur.KeyID {
		if err := n.srv.keyUsable(cur.KeyID); err != nil {
			w.warned = cur.KeyID
			n.log.Warn("this node's member key was retired: its checkpoint cosignatures and clock readings no longer verify; put the new key in the key file (the node picks it up)",
				"file", n.cfg.KeyFile, "err", err)
		}
	}
}
