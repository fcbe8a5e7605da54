package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/charta/charta/ledger"
)

// Rebuild opens a fresh ledger from genesis in dir and applies the
// entries' envelopes in order, each at its own Raft index and ledger time,
// with every signature checked. Each replayed outcome must equal the
// journaled one; the first that does not is reported. Entry 0, if given,
// must be this genesis. The caller closes the ledger and removes dir.
//
// The entries need not be the whole journal: a subset rebuilds the state
// those entries describe, and Rebuild fails if one of them depended on an
// entry left out.
func Rebuild(dir string, g *ledger.Genesis, entries []ledger.Entry) (*ledger.Ledger, error) {
	l, err := ledger.Open(filepath.Join(dir, "state.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		return nil, fmt.Errorf("verify: open a ledger from genesis: %w", err)
	}
	var genesisHash ledger.Hash
	l.View(func(v *ledger.View) error {
		e, _ := v.Entry(0)
		genesisHash = e.Hash
		return nil
	})
	var last uint64
	for i := range entries {
		x := &entries[i]
		if x.Seq == 0 {
			if x.Hash != genesisHash {
				l.Close()
				return nil, fmt.Errorf("%w: entry 0 is not this genesis", ErrReplay)
			}
			continue
		}
		if x.Index <= last {
			l.Close()
			return nil, fmt.Errorf("%w: entry %d (index %d) is out of order after index %d", ErrReplay, x.Seq, x.Index, last)
		}
		last = x.Index
		rs := l.Apply([]ledger.LogEntry{{Index: x.Index, Data: ledger.EncodeRecord(x.LedgerTime, x.Envelope)}})
		if rs[0] == nil {
			l.Close()
			return nil, fmt.Errorf("%w: entry %d (index %d) was not applied", ErrReplay, x.Seq, x.Index)
		}
		got, want := mustJSON(rs[0].Outcome), mustJSON(x.Outcome)
		if !bytes.Equal(got, want) {
			l.Close()
			return nil, fmt.Errorf("%w: entry %d (index %d) replays as %s, the journal says %s (an entry it depends on may be missing)",
				ErrReplay, x.Seq, x.Index, truncate(string(got)), truncate(string(want)))
		}
	}
	return l, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
