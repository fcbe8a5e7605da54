package chaos

import (
	"testing"

	"github.com/charta/charta/ledger"
)

// TestCheckDurable_RefusedRetryOfARejectedEntry: a write refused on a
// retry may be in the journal once, rejected with the same code (an
// earlier attempt committed before a failover); accepted, twice, or for
// another reason, it is a violation.
func TestCheckDurable_RefusedRetryOfARejectedEntry(t *testing.T) {
	op := Op{Kind: "key.write", ID: "c6-151", Outcome: Refused, Rejected: "unauthorized"}
	entry := func(status string, code ledger.Code) ledger.Entry {
		return ledger.Entry{Envelope: []byte(`{}`), Outcome: ledger.Outcome{ID: "c6-151", Status: status, Code: code}}
	}
	for _, tc := range []struct {
		name    string
		entries []ledger.Entry
		ok      bool
	}{
		{"not in the journal", nil, true},
		{"rejected for the same reason", []ledger.Entry{entry(ledger.StatusRejected, ledger.CodeUnauthorized)}, true},
		{"accepted", []ledger.Entry{entry(ledger.StatusAccepted, "")}, false},
		{"rejected for another reason", []ledger.Entry{entry(ledger.StatusRejected, ledger.CodeConflict)}, false},
		{"twice", []ledger.Entry{entry(ledger.StatusRejected, ledger.CodeUnauthorized), entry(ledger.StatusRejected, ledger.CodeUnauthorized)}, false},
	} {
		if err := CheckDurable([]Op{op}, tc.entries, "alpha"); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
