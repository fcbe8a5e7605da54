package consensus

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// PeersFile is the name, inside Dir/raft, of the file an operator writes to
// recover from lost quorum: a JSON list of the surviving servers,
// [{"id": "alpha", "address": "10.0.0.1:7000", "non_voter": false}, ...]
// (hashicorp/raft's peers.json format). On the next start the node replaces
// its Raft configuration with that list, then renames the file so that it
// is used once.
const PeersFile = "peers.json"

// recoverFromPeersJSON applies an operator's peers.json before Raft
// starts. raft.RecoverCluster replays the committed log into the FSM (the
// ledger skips what it already applied), takes a snapshot, and writes the
// new configuration; it must run on every surviving server with the same
// list.
func recoverFromPeersJSON(rc *raft.Config, n *Node, log *slog.Logger) error {
	path := filepath.Join(n.cfg.Dir, "raft", PeersFile)
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	conf, err := raft.ReadConfigJSON(path)
	if err != nil {
		return fmt.Errorf("consensus: %s: %w", path, err)
	}
	found := false
	for _, s := range conf.Servers {
		found = found || s.ID == raft.ServerID(n.cfg.ID)
	}
	if !found {
		return fmt.Errorf("consensus: %s does not list this node (%s); list every surviving server, this one included", path, n.cfg.ID)
	}
	if err := raft.RecoverCluster(rc, n.fsm, n.st.logs, n.st.bolt, n.st.snaps, n.trans, conf); err != nil {
		return fmt.Errorf("consensus: recover from %s: %w", path, err)
	}
	if err := os.Rename(path, path+".applied"); err != nil {
		return fmt.Errorf("consensus: %w", err)
	}
	log.Warn("raft configuration replaced from peers.json (quorum recovery)", "servers", len(conf.Servers), "file", path+".applied")
	return nil
}
