package node

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/charta/charta/ledger"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// volatile are response members that differ from run to run; they are
// replaced before comparison.
// consortium_time and clock_offset_ms follow the wall clock.
var volatile = map[string]bool{"request_id": true, "consortium_time": true, "clock_offset_ms": true}

// normalise re-indents a JSON document and blanks volatile members.
func normalise(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				if volatile[k] {
					x[k] = "<volatile>"
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
	return buf.Bytes()
}

// TestGolden_Responses pins the JSON of the main routes over a seeded
// ledger. Refresh with go test ./node -run TestGolden -update.
func TestGolden_Responses(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct {
		name, path, as string
		status         int
	}{
		{"members", "/v1/members", "gamma", 200},
		{"member", "/v1/members/alpha", "gamma", 200},
		{"members_page", "/v1/members?limit=2", "gamma", 200},
		{"assets", "/v1/assets", "beta", 200},
		{"asset", "/v1/assets/model-a", "beta", 200},
		{"asset_lineage", "/v1/assets/model-a/lineage", "beta", 200},
		{"grants_alpha", "/v1/grants", "alpha", 200},
		{"grants_beta", "/v1/grants", "beta", 200},
		{"grants_filtered", "/v1/grants?licensee=gamma&status=active", "audit", 200},
		{"grant", "/v1/grants/g-ab", "beta", 200},
		{"grant_history", "/v1/grants/g-ab/history", "beta", 200},
		{"grant_statements", "/v1/grants/g-ab/statements", "beta", 200},
		{"bundles", "/v1/bundles", "gamma", 200},
		{"bundle", "/v1/bundles/x-ag", "alpha", 200},
		{"pools", "/v1/pools", "alpha", 200},
		{"pool", "/v1/pools/gpu", "alpha", 404},
		{"statements", "/v1/statements?grant=g-ab", "alpha", 200},
		{"infractions", "/v1/infractions", "alpha", 200},
		{"ballots", "/v1/ballots", "beta", 200},
		{"ballot", "/v1/ballots/admit-delta", "beta", 200},
		{"check_allowed", "/v1/check?asset=model-a&action=train&at=2026-01-05T09:01:00Z", "beta", 200},
		{"check_owner", "/v1/check?member=beta&asset=model-a&action=train&at=2026-01-05T09:01:00Z", "alpha", 200},
		{"journal", "/v1/journal?from=1&limit=2", "gamma", 200},
		{"journal_entry", "/v1/journal/5", "gamma", 200},
		{"checkpoint", "/v1/checkpoint", "gamma", 200},
		{"proof_inclusion", "/v1/proofs/inclusion?index=3&size=11", "gamma", 200},
		{"proof_consistency", "/v1/proofs/consistency?from=5&to=12", "gamma", 200},
		{"status", "/v1/status", "gamma", 200},
		{"cluster", "/v1/cluster", "gamma", 200},
		{"not_found", "/v1/grants/g-ab", "gamma", 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.get(c.path, c.as)
			if r.status != c.status {
				t.Fatalf("GET %s: status %d, want %d: %s", c.path, r.status, c.status, r.body)
			}
			if r.header.Get(IndexHeader) == "" {
				t.Errorf("no %s header", IndexHeader)
			}
			checkGolden(t, c.name, normalise(t, r.body))
		})
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
}

// TestGolden_Proposal pins the answers to an accepted and a rejected
// proposal.
func TestGolden_Proposal(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	env := w.envelope("beta", "asset.register", "reg-data-b", map[string]any{"id": "data-b", "kind": "dataset", "digest": digestA,
		"owners": []map[string]any{{"member": "beta", "share_bp": 10000}}})
	r := ts.do(http.MethodPost, "/v1/proposals", "", env)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	checkGolden(t, "proposal_accepted", normalise(t, r.body))
	// The same envelope again: its original result, marked duplicate.
	r = ts.do(http.MethodPost, "/v1/proposals", "", env)
	checkGolden(t, "proposal_duplicate", normalise(t, r.body))
	// A grant of an asset beta does not own: journaled, rejected.
	env = w.envelope("beta", "grant.offer", "offer-bad", grantOffer("g-bad", "beta", "gamma", "model-a", ledger.RightUse))
	r = ts.do(http.MethodPost, "/v1/proposals", "", env)
	r.problem(t, http.StatusUnprocessableEntity, "forbidden")
	checkGolden(t, "proposal_rejected", normalise(t, r.body))
}
