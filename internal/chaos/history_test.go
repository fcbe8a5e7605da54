package chaos

import (
	"path/filepath"
	"testing"
	"time"
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
