package chaos

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// at builds an operation between call and ret milliseconds.
func at(op Op, call, ret int) Op {
	base := time.Unix(1000, 0)
	op.Call, op.Return = base.Add(time.Duration(call)*time.Millisecond), base.Add(time.Duration(ret)*time.Millisecond)
	return op
}

func TestModels_CatchViolations(t *testing.T) {
	html := filepath.Join(t.TempDir(), "x.html")
	for _, c := range []struct {
		name  string
		quota int64
		grant bool
		ops   []Op
		ok    bool
	}{
		{"grant: check sees the accept", 0, true, []Op{
			at(Op{Key: "g", Kind: "accept", Outcome: OK}, 0, 10),
			at(Op{Key: "g", Kind: "check", Outcome: OK, Allowed: true}, 20, 30),
		}, true},
		{"grant: stale check after a suspend returned", 0, true, []Op{
			at(Op{Key: "g", Kind: "accept", Outcome: OK}, 0, 10),
			at(Op{Key: "g", Kind: "suspend", Outcome: OK}, 20, 30),
			at(Op{Key: "g", Kind: "check", Outcome: OK, Allowed: true}, 40, 50),
		}, false},
		{"grant: an ambiguous suspend may take effect later", 0, true, []Op{
			at(Op{Key: "g", Kind: "accept", Outcome: OK}, 0, 10),
			at(Op{Key: "g", Kind: "suspend", Outcome: Ambiguous}, 20, 30),
			at(Op{Key: "g", Kind: "check", Outcome: OK, Allowed: true}, 40, 50),
			at(Op{Key: "g", Kind: "check", Outcome: OK, Allowed: false}, 60, 70),
		}, true},
		{"grant: a rejected resume of an active grant", 0, true, []Op{
			at(Op{Key: "g", Kind: "accept", Outcome: OK}, 0, 10),
			at(Op{Key: "g", Kind: "resume", Outcome: Failed}, 20, 30),
		}, true},
		{"pool: consume over quota accepted", 5, false, []Op{
			at(Op{Key: "p/a", Kind: "consume", Amount: 4, Outcome: OK}, 0, 10),
			at(Op{Key: "p/a", Kind: "consume", Amount: 2, Outcome: OK}, 20, 30),
		}, false},
		{"pool: consume within quota refused", 5, false, []Op{
			at(Op{Key: "p/a", Kind: "consume", Amount: 4, Outcome: OK}, 0, 10),
			at(Op{Key: "p/a", Kind: "consume", Amount: 1, Outcome: Failed}, 20, 30),
		}, false},
		{"pool: concurrent consumes, one refused", 5, false, []Op{
			at(Op{Key: "p/a", Kind: "consume", Amount: 3, Outcome: OK}, 0, 30),
			at(Op{Key: "p/a", Kind: "consume", Amount: 3, Outcome: Failed}, 5, 20),
			at(Op{Key: "p/a", Kind: "usage", Outcome: OK, Used: 3}, 40, 50),
		}, true},
		{"pool: a lost acknowledged consume", 5, false, []Op{
			at(Op{Key: "p/a", Kind: "consume", Amount: 3, Outcome: OK}, 0, 10),
			at(Op{Key: "p/a", Kind: "usage", Outcome: OK, Used: 0}, 20, 30),
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := poolModel(c.quota)
			if c.grant {
				m = grantModel()
			}
			err := CheckLinearizable(m, c.ops, 5*time.Second, html)
			if (err == nil) != c.ok {
				t.Fatalf("linearizable: %v, want %v", err, c.ok)
			}
		})
	}
}

func TestModels_Ballots(t *testing.T) {
	html := filepath.Join(t.TempDir(), "b.html")
	voters := []string{"alpha", "beta", "gamma"}
	late := time.Unix(1000, 0).Add(time.Hour) // a deadline no operation reaches
	soon := time.Unix(1000, 0).Add(100 * time.Millisecond)
	b := func(kind, member string, approve bool, out Outcome, code string, d time.Time) Op {
		return Op{Key: "ballot/b", Kind: kind, Member: member, Approve: approve, Outcome: out, Rejected: code, Deadline: d}
	}
	read := func(status, votes string, d time.Time) Op {
		return Op{Key: "ballot/b", Kind: "ballot.read", Outcome: OK, Status: status, Votes: votes, Deadline: d}
	}
	for _, c := range []struct {
		name string
		ops  []Op
		ok   bool
	}{
		{"the second yes passes it; later votes are refused", []Op{
			at(b("ballot.open", "alpha", true, OK, "", late), 0, 10),
			at(b("ballot.vote", "alpha", true, Failed, "conflict", late), 20, 30),
			at(read("open", "alpha:y", late), 40, 50),
			at(b("ballot.vote", "beta", true, OK, "", late), 60, 70),
			at(b("ballot.vote", "gamma", false, Failed, "rejected", late), 80, 90),
			at(read("passed", "alpha:y,beta:y", late), 100, 110),
		}, true},
		{"a duplicate vote took effect", []Op{
			at(b("ballot.open", "alpha", true, OK, "", late), 0, 10),
			at(b("ballot.vote", "alpha", true, OK, "", late), 20, 30),
		}, false},
		{"a vote accepted after the ballot passed", []Op{
			at(b("ballot.open", "alpha", true, OK, "", late), 0, 10),
			at(b("ballot.vote", "beta", true, OK, "", late), 20, 30),
			at(b("ballot.vote", "gamma", true, OK, "", late), 40, 50),
		}, false},
		{"two noes reject it", []Op{
			at(b("ballot.open", "alpha", true, OK, "", late), 0, 10),
			at(b("ballot.vote", "beta", false, OK, "", late), 20, 30),
			at(b("ballot.vote", "gamma", false, OK, "", late), 40, 50),
			at(read("rejected", "alpha:y,beta:n,gamma:n", late), 60, 70),
		}, true},
		{"a read misses an acknowledged vote", []Op{
			at(b("ballot.open", "alpha", true, OK, "", late), 0, 10),
			at(b("ballot.vote", "beta", false, OK, "", late), 20, 30),
			at(read("open", "alpha:y", late), 40, 50),
		}, false},
		{"an ambiguous vote may pass it later", []Op{
			at(b("ballot.open", "alpha", true, OK, "", late), 0, 10),
			at(b("ballot.vote", "beta", true, Ambiguous, "", late), 20, 30),
			at(read("open", "alpha:y", late), 40, 50),
			at(read("passed", "alpha:y,beta:y", late), 60, 70),
		}, true},
		{"expiry, then a vote refused", []Op{
			at(b("ballot.open", "alpha", true, OK, "", soon), 0, 10),
			at(b("ballot.vote", "beta", false, OK, "", soon), 20, 30),
			at(read("expired", "alpha:y,beta:n", soon), 200, 210),
			at(b("ballot.vote", "gamma", true, Failed, "rejected", soon), 220, 230),
		}, true},
		{"a vote accepted after the deadline, while ledger time lags", []Op{
			at(b("ballot.open", "alpha", true, OK, "", soon), 0, 10),
			at(b("ballot.vote", "gamma", true, OK, "", soon), 200, 210),
		}, true},
		{"a vote accepted later after the deadline than ledger time lags", []Op{
			at(b("ballot.open", "alpha", true, OK, "", soon), 0, 10),
			at(b("ballot.vote", "gamma", true, OK, "", soon), 100+int(ledgerTimeLag/time.Millisecond)+10, 100+int(ledgerTimeLag/time.Millisecond)+20),
		}, false},
		{"open again after expiry was seen", []Op{
			at(b("ballot.open", "alpha", true, OK, "", soon), 0, 10),
			at(read("expired", "alpha:y", soon), 200, 210),
			at(read("open", "alpha:y", soon), 220, 230),
		}, false},
		{"expired before the deadline", []Op{
			at(b("ballot.open", "alpha", true, OK, "", soon), 0, 10),
			at(read("expired", "alpha:y", soon), 20, 30),
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckLinearizable(ballotModel(voters, ledger.Fraction{Num: 2, Den: 3}), c.ops, 5*time.Second, html)
			if (err == nil) != c.ok {
				t.Fatalf("linearizable: %v, want %v", err, c.ok)
			}
		})
	}
}

func TestModels_Keys(t *testing.T) {
	html := filepath.Join(t.TempDir(), "k.html")
	k := func(kind string, gen int, out Outcome, code string) Op {
		return Op{Key: "key/rot-0", Kind: kind, Gen: gen, Outcome: out, Rejected: code}
	}
	for _, c := range []struct {
		name string
		ops  []Op
		ok   bool
	}{
		{"rotate, then the old key is refused and the new one accepted", []Op{
			at(k("key.write", 0, OK, ""), 0, 10),
			at(k("key.rotate", 0, OK, ""), 20, 30),
			at(k("key.write", 0, Refused, "unauthorized"), 40, 50),
			at(k("key.write", 1, OK, ""), 60, 70),
			at(k("key.read", 1, OK, ""), 80, 90),
		}, true},
		{"a retired key accepted", []Op{
			at(k("key.rotate", 0, OK, ""), 0, 10),
			at(k("key.write", 0, OK, ""), 20, 30),
		}, false},
		{"the current key refused", []Op{
			at(k("key.rotate", 0, OK, ""), 0, 10),
			at(k("key.write", 1, Refused, "unauthorized"), 20, 30),
		}, false},
		{"a retired key refused with the wrong code", []Op{
			at(k("key.rotate", 0, OK, ""), 0, 10),
			at(k("key.write", 0, Failed, "forbidden"), 20, 30),
		}, false},
		{"a rotation from a retired generation accepted", []Op{
			at(k("key.rotate", 0, OK, ""), 0, 10),
			at(k("key.rotate", 0, OK, ""), 20, 30),
		}, false},
		{"an ambiguous rotation may land later", []Op{
			at(k("key.rotate", 0, Ambiguous, ""), 0, 10),
			at(k("key.write", 0, OK, ""), 20, 30),
			at(k("key.read", 1, OK, ""), 40, 50),
			at(k("key.write", 0, Failed, "unauthorized"), 60, 70),
		}, true},
		{"a read behind an acknowledged rotation", []Op{
			at(k("key.rotate", 0, OK, ""), 0, 10),
			at(k("key.read", 0, OK, ""), 20, 30),
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := CheckLinearizable(keyModel(), c.ops, 5*time.Second, html); (err == nil) != c.ok {
				t.Fatalf("linearizable: %v, want %v", err, c.ok)
			}
		})
	}
}

func TestCheckAdversary(t *testing.T) {
	hash := func(b string) string { h := sha256.Sum256([]byte(b)); return hex.EncodeToString(h[:]) }
	entry := func(env string, status string, code ledger.Code) ledger.Entry {
		return ledger.Entry{Envelope: []byte(env), Outcome: ledger.Outcome{Status: status, Code: code}}
	}
	journal := []ledger.Entry{
		entry("honest", ledger.StatusAccepted, ""),
		entry("conflict", ledger.StatusRejected, ledger.CodeConflict),
		entry("forged-in", ledger.StatusAccepted, ""),
	}
	for _, c := range []struct {
		name string
		op   Op
		ok   bool
	}{
		{"a replay answered with the original", Op{Kind: "adv.replay", Envelope: hash("honest"), Outcome: OK, Duplicate: true, Index: 4, Orig: 4}, true},
		{"a replay answered with another index", Op{Kind: "adv.replay", Envelope: hash("honest"), Outcome: OK, Duplicate: true, Index: 5, Orig: 4}, false},
		{"a replay refused", Op{Kind: "adv.replay", Envelope: hash("honest"), Outcome: Refused, Rejected: "unauthorized"}, false},
		{"a conflict journaled once", Op{Kind: "adv.conflict", Envelope: hash("conflict"), Outcome: Failed, Rejected: "conflict", Expect: "conflict"}, true},
		{"a forgery refused", Op{Kind: "adv.forge", Envelope: hash("forged"), Outcome: Refused, Rejected: "unauthorized", Expect: "unauthorized"}, true},
		{"a forgery refused with the wrong code", Op{Kind: "adv.forge", Envelope: hash("forged"), Outcome: Refused, Rejected: "invalid", Expect: "unauthorized"}, false},
		{"a forgery in the journal", Op{Kind: "adv.forge", Envelope: hash("forged-in"), Outcome: Ambiguous, Expect: "unauthorized"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := CheckAdversary([]Op{c.op}, journal, "n"); (err == nil) != c.ok {
				t.Fatalf("CheckAdversary: %v, want ok %v", err, c.ok)
			}
		})
	}
}
