package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTime_IdleConsortiumMovesOn offers a grant that expires, and another
// whose offer lapses, a few seconds ahead, then writes nothing: within
// seconds the checks say expired, the grants show it, and the journal
// holds the time entry that moved ledger time past both, which an audit
// replays.
func TestTime_IdleConsortiumMovesOn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node consortium")
	}
	bin := chartaBin(t)
	dir, _, c := devConsortium(t, bin)
	beta := filepath.Join(dir, "beta.key")
	c.ok("asset", "register", "--id", "model-t", "--kind", "model",
		"--digest", "sha256:00000000000000000000000000000000000000000000000000000000000000aa")
	end := time.Now().Add(6 * time.Second).UTC().Truncate(time.Second)
	c.ok("grant", "offer", "--id", "g-ends", "--asset", "model-t", "--to", "beta", "--rights", "train",
		"--not-after", end.Format(time.RFC3339))
	c.ok("grant", "accept", "--key", beta, "g-ends")
	c.ok("grant", "offer", "--id", "g-lapses", "--asset", "model-t", "--to", "gamma", "--rights", "use",
		"--offer-expires", end.Format(time.RFC3339))
	if _, _, code := c.run("check", "--member", "beta", "--asset", "model-t", "--action", "train"); code != 0 {
		t.Fatal("beta may not train before the grant ends")
	}
	var headBefore uint64
	var st struct {
		JournalHead struct {
			Size uint64 `json:"size"`
		} `json:"journal_head"`
		LedgerTime time.Time `json:"ledger_time"`
	}
	if err := json.Unmarshal([]byte(c.ok("status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	headBefore = st.JournalHead.Size

	// Nobody writes from here on.
	waitFor(t, 8*time.Second+time.Until(end), "the grant's end to show without a write", func() error {
		var g struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal([]byte(c.ok("grant", "show", "g-ends", "-o", "json")), &g); err != nil {
			return err
		}
		if g.Status != "expired" {
			return fmt.Errorf("g-ends is %s", g.Status)
		}
		return nil
	})
	out, _, code := c.run("check", "--member", "beta", "--asset", "model-t", "--action", "train", "-o", "json")
	var d struct {
		Allowed bool      `json:"allowed"`
		At      time.Time `json:"at"`
		Index   uint64    `json:"index"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("check: %v: %s", err, out)
	}
	if code == 0 || d.Allowed || time.Since(d.At).Abs() > 5*time.Second || d.Index == 0 {
		t.Fatalf("check after the end: exit %d, %+v", code, d)
	}
	var g struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(c.ok("grant", "show", "g-lapses", "-o", "json")), &g); err != nil || g.Status != "expired" {
		t.Fatalf("g-lapses is %q (%v), want expired", g.Status, err)
	}

	// One time entry, and no more while idle.
	if err := json.Unmarshal([]byte(c.ok("status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.LedgerTime.Before(end) || st.JournalHead.Size <= headBefore {
		t.Fatalf("ledger time %s (the grant ends at %s), journal %d entries (was %d)", st.LedgerTime, end, st.JournalHead.Size, headBefore)
	}
	var after []struct {
		Outcome struct {
			Type string `json:"type"`
		} `json:"outcome"`
	}
	if err := json.Unmarshal([]byte(c.ok("journal", "list", "--from", fmt.Sprint(headBefore), "-o", "json")), &after); err != nil {
		t.Fatal(err)
	}
	times := 0
	for _, e := range after {
		if e.Outcome.Type != "ledger.time" {
			t.Fatalf("entry of type %s while nobody wrote", e.Outcome.Type)
		}
		times++
	}
	if times == 0 || times > 3 {
		t.Fatalf("%d time entries after entry %d, want 1 to 3 (one per deadline passed)", times, headBefore)
	}
	// The journal, time entries and all, replays.
	export := filepath.Join(dir, "journal.jsonl")
	op, err := os.ReadFile(filepath.Join(dir, "alpha", "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	note := filepath.Join(dir, "checkpoint.note")
	if err := os.WriteFile(note, []byte(c.ok("checkpoint", "show")), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("journal", "export", "--token", strings.TrimSpace(string(op)), "--out", export)
	c.ok("audit", "--genesis", filepath.Join(dir, "genesis.json"), "--checkpoint", note, export)
	// A proof-carrying answer about the expired grant verifies offline,
	// though the journal it rests on holds time entries.
	proof := filepath.Join(dir, "proof.json")
	out, _, _ = c.run("check", "--member", "beta", "--asset", "model-t", "--action", "train", "--proof")
	if err := os.WriteFile(proof, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("verify", "--genesis", filepath.Join(dir, "genesis.json"), proof)
	size := st.JournalHead.Size
	time.Sleep(4 * time.Second)
	if err := json.Unmarshal([]byte(c.ok("status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.JournalHead.Size != size {
		t.Fatalf("the idle consortium wrote %d more entries with no deadline due", st.JournalHead.Size-size)
	}
}
