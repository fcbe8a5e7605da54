package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/charta/charta/internal/devnet"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
	"github.com/charta/charta/node/client"
)

// Markers of the confidential terms: values that appear nowhere else, so
// finding one in a file means the plaintext is there.
const (
	markerPrice    = "7777123"
	markerLaw      = "Law-of-Marker-Q9Z"
	markerContract = "c0ffee77d00dfeedc0ffee77d00dfeedc0ffee77d00dfeedc0ffee77d00dfeed"
)

// markerQuantity is the quantity of the sealed usage report, and
// markerTotal the statement's total it gives at markerPrice.
const (
	markerQuantity = "8642917"
	markerTotal    = "67217028587791" // 8642917 × 7777123
)

var (
	termMarkers = []string{markerPrice, markerLaw, markerContract}
	markers     = append(slices.Clone(termMarkers), markerQuantity, markerTotal)
)

// markerTermsJSON are the whole terms of the confidential grant, with the
// markers in its usage terms and clauses, which offer --confidential seals.
const markerTermsJSON = `{
  "assets": ["model-m"], "rights": ["use"],
  "constraints": {"territory": {"allow": ["DE"]}},
  "clauses": {"governing_law": "` + markerLaw + `", "contract_hash": "sha256:` + markerContract + `", "outputs_owner": "licensee"},
  "termination": {},
  "usage": {"period": "month", "grace_days": 7, "metrics": [{"name": "gpu_hours", "unit": "hour",
    "pricing": {"model": "graduated", "currency": "EUR", "tiers": [{"unit_micros": ` + markerPrice + `}]}}]}
}`

// TestConfidentialGrant_MarkersStayWithTheParties runs a confidential
// grant between alpha and beta on a real 3-node cluster and checks that
// gamma, which is not a party, never holds its terms: after the offer, the
// acceptance, a sealed usage report, statements and their attestation,
// snapshots and a restart of gamma, neither gamma's data directory, its
// log, a backup from it, a data directory restored from that backup nor a
// journal export from it holds any marker, while alpha's and beta's nodes show the terms with equal
// private digests. A tampered offer is refused by beta's node (logged,
// counted) and by charta grant accept, and the public state stays equal
// on every node.
func TestConfidentialGrant_MarkersStayWithTheParties(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	bin := chartaBin(t)
	d := &devnet.Cluster{Dir: filepath.Join(t.TempDir(), "conf"), Base: freeBase(t), Scheme: ledger.SchemeEd25519}
	if _, err := d.Prepare(); err != nil {
		t.Fatal(err)
	}
	snapFlags := []string{"--snapshot-threshold", "16", "--trailing-logs", "8", "--snapshot-interval", "200ms"}
	nodes := make([]*failpointNode, 3)
	for i := range nodes {
		nodes[i] = startNode(t, bin, d, i, nil, snapFlags...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := d.WaitReady(ctx, make(chan error)); err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterTokens(ctx); err != nil {
		t.Fatal(err)
	}
	token := func(m string) string { return strings.TrimSpace(string(mustRead(t, d.Path(m+".token")))) }
	opToken := func(m string) string {
		return strings.TrimSpace(string(mustRead(t, filepath.Join(d.DataDir(m), "operator.token"))))
	}
	as := func(i int) *cli {
		m := devMembers[i]
		return &cli{t: t, bin: bin, env: []string{"CHARTA_SERVER=" + d.APIURL(i), "CHARTA_TOKEN=" + token(m), "CHARTA_KEY=" + d.Path(m+".key")}}
	}
	alpha, beta := as(0), as(1)

	alpha.ok("asset", "register", "--id", "model-m", "--kind", "model", "--digest", "sha256:"+strings.Repeat("ab", 32))
	termsFile := filepath.Join(t.TempDir(), "terms.json")
	if err := os.WriteFile(termsFile, []byte(markerTermsJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	alpha.ok("grant", "offer", "--id", "g-mark", "--to", "beta", "--terms", termsFile, "--confidential")
	out := beta.ok("grant", "accept", "g-mark")
	if !strings.Contains(out, "grant.accept") || !strings.Contains(out, "accepted") {
		t.Fatalf("accept: %s", out)
	}

	// beta reports usage of the grant: the CLI seals the quantity to the
	// parties, and both parties' nodes price it with the sealed terms.
	var active struct {
		ActivatedAt time.Time `json:"activated_at"`
	}
	if err := json.Unmarshal([]byte(beta.ok("grant", "show", "g-mark", "-o", "json")), &active); err != nil {
		t.Fatal(err)
	}
	start := active.ActivatedAt.Add(time.Second)
	period := start.Format("2006-01")
	beta.ok("usage", "report", "--grant", "g-mark", "--report-id", "r1", "--period", period,
		"--start", start.Format(time.RFC3339), "--end", start.Add(time.Minute).Format(time.RFC3339), "--metrics", "gpu_hours="+markerQuantity)

	// Enough entries for several snapshots on every node.
	ac, err := d.MemberClient(0, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		body := ledger.AssetRegister{ID: fmt.Sprintf("pad-%d", i), Kind: ledger.AssetDataset, Digest: "sha256:" + strings.Repeat("1f", 32),
			Owners: []ledger.Owner{{Member: "alpha", ShareBP: 10000}}}
		if _, err := ac.Propose(ctx, "asset.register", fmt.Sprintf("pad-%d", i), body); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "a snapshot on gamma", func() error {
		if !hasSnapshot(d.DataDir("gamma")) {
			return fmt.Errorf("no snapshot in %s yet", d.DataDir("gamma"))
		}
		return nil
	})

	// Restart gamma from its data directory.
	nodes[2].cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-nodes[2].done:
	case <-time.After(20 * time.Second):
		t.Fatal("gamma did not stop")
	}
	gammaLog := nodes[2].log.String()
	nodes[2] = startNode(t, bin, d, 2, nil, snapFlags...)
	sameState(t, alpha, d)

	// The parties' nodes show the terms, marked confidential, with equal
	// private digests; gamma's shows that they are sealed.
	var digests []string
	for _, c := range []*cli{alpha, beta} {
		var g struct {
			Confidential struct {
				Classification string          `json:"classification"`
				Sealed         bool            `json:"sealed"`
				Terms          json.RawMessage `json:"terms"`
				PrivateDigest  string          `json:"private_digest"`
			} `json:"confidential"`
		}
		waitFor(t, 10*time.Second, "the terms opened", func() error {
			if err := json.Unmarshal([]byte(c.ok("grant", "show", "g-mark", "-o", "json")), &g); err != nil {
				return err
			}
			if g.Confidential.Terms == nil {
				return fmt.Errorf("not opened yet")
			}
			return nil
		})
		for _, m := range termMarkers {
			if !bytes.Contains(g.Confidential.Terms, []byte(m)) {
				t.Errorf("the opened terms lack %s: %s", m, g.Confidential.Terms)
			}
		}
		if g.Confidential.Classification != "confidential" || g.Confidential.Sealed || g.Confidential.PrivateDigest == "" {
			t.Errorf("confidential part: %+v", g.Confidential)
		}
		digests = append(digests, g.Confidential.PrivateDigest)
		text := c.ok("grant", "show", "g-mark")
		if !strings.Contains(text, "[confidential] governing law: "+markerLaw) {
			t.Errorf("grant show on a party's node:\n%s", text)
		}
	}
	if digests[0] != digests[1] {
		t.Errorf("private digests differ: alpha %s, beta %s", digests[0], digests[1])
	}
	gammaOp := &cli{t: t, bin: bin, env: []string{"CHARTA_SERVER=" + d.APIURL(2), "CHARTA_TOKEN=" + opToken("gamma")}}
	confidentialUsage(t, alpha, beta, gammaOp, period)
	if text := gammaOp.ok("grant", "show", "g-mark"); !strings.Contains(text, "confidential (sealed; ask a party's node)") || containsAny(text, markers) != "" {
		t.Errorf("grant show on gamma:\n%s", text)
	}

	// Nothing of gamma's holds a marker: data directory, log, backup,
	// journal export.
	backup := filepath.Join(t.TempDir(), "gamma.backup")
	gammaOp.ok("backup", "--out", backup)
	export := filepath.Join(t.TempDir(), "gamma.jsonl")
	gammaOp.ok("journal", "export", "--out", export)
	restored := filepath.Join(t.TempDir(), "gamma-restored")
	gammaOp.ok("restore", "--backup", backup, "--id", "gamma", "--data-dir", restored, "--genesis", d.Path("genesis.json"),
		"--raft-advertise", "127.0.0.1:1")
	files := append(filesUnder(t, d.DataDir("gamma")), backup, export)
	if files = append(files, filesUnder(t, restored)...); !slices.ContainsFunc(files, func(f string) bool { return strings.HasPrefix(f, restored) }) {
		t.Fatalf("the restore wrote nothing into %s", restored)
	}
	for _, f := range files {
		if m := containsAny(string(mustRead(t, f)), markers); m != "" {
			t.Errorf("%s holds the marker %s", f, m)
		}
	}
	if m := containsAny(gammaLog+nodes[2].log.String(), markers); m != "" {
		t.Errorf("gamma's log holds the marker %s", m)
	}
	// Anyone checks a party's disclosure against the commitment; an
	// altered one fails.
	opening := filepath.Join(t.TempDir(), "opening.json")
	beta.ok("grant", "disclose", "--enc-key", d.Path("beta.key"), "--out", opening, "g-mark")
	if out := gammaOp.ok("grant", "verify-disclosure", "g-mark", opening); !strings.Contains(out, "matches the commitment") || !strings.Contains(out, markerLaw) {
		t.Errorf("verify-disclosure: %s", out)
	}
	var o seal.Opening
	if err := json.Unmarshal(mustRead(t, opening), &o); err != nil {
		t.Fatal(err)
	}
	o.Plaintext = bytes.Replace(o.Plaintext, []byte(markerLaw), []byte("Law-of-Marker-XXX"), 1)
	forged := filepath.Join(t.TempDir(), "forged.json")
	b, _ := json.Marshal(o)
	if err := os.WriteFile(forged, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := gammaOp.run("grant", "verify-disclosure", "g-mark", forged); code == 0 || !strings.Contains(errs, "does not match") {
		t.Errorf("verify-disclosure of an altered opening: exit %d, %s", code, errs)
	}

	// alpha's node, restarted without its private store, rebuilds it from
	// the replicated state with the same private digest.
	nodes[0].cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-nodes[0].done:
	case <-time.After(20 * time.Second):
		t.Fatal("alpha did not stop")
	}
	if err := os.Remove(filepath.Join(d.DataDir("alpha"), "private.db")); err != nil {
		t.Fatal(err)
	}
	nodes[0] = startNode(t, bin, d, 0, nil, snapFlags...)
	sameState(t, beta, d)
	waitFor(t, 15*time.Second, "alpha's private store rebuilt", func() error {
		var g struct {
			Confidential struct {
				PrivateDigest string `json:"private_digest"`
			} `json:"confidential"`
		}
		out, errs, code := alpha.run("grant", "show", "g-mark", "-o", "json")
		if code != 0 {
			return fmt.Errorf("grant show: %s", errs)
		}
		if err := json.Unmarshal([]byte(out), &g); err != nil {
			return err
		}
		if g.Confidential.PrivateDigest != digests[1] {
			return fmt.Errorf("private digest %q, beta's is %s", g.Confidential.PrivateDigest, digests[1])
		}
		return nil
	})

	// The same search finds the markers on alpha, in its private store only.
	for _, f := range filesUnder(t, d.DataDir("alpha")) {
		m := containsAny(string(mustRead(t, f)), markers)
		switch {
		case filepath.Base(f) == "private.db" && m == "":
			t.Errorf("alpha's private store %s holds no marker: the search cannot see them", f)
		case filepath.Base(f) != "private.db" && m != "":
			t.Errorf("alpha's %s holds the marker %s outside its private store", f, m)
		}
	}

	// A tampered offer: beta's node refuses it and counts it; charta grant
	// accept refuses it; the public state stays equal everywhere.
	tamperedOffer(t, ctx, d, ac)
	waitFor(t, 10*time.Second, "beta's node to refuse the tampered terms", func() error {
		if v := metricValue(t, d.APIURL(1), opToken("beta"), "charta_confidential_refused_total"); v < 1 {
			return fmt.Errorf("charta_confidential_refused_total is %v", v)
		}
		return nil
	})
	if !strings.Contains(nodes[1].log.String(), "level=ERROR") || !strings.Contains(nodes[1].log.String(), "g-tamper") {
		t.Errorf("beta's log has no ERROR naming g-tamper:\n%s", lastLines(nodes[1].log.String(), 10))
	}
	if text := beta.ok("grant", "show", "g-tamper"); !strings.Contains(text, "could not open them") {
		t.Errorf("grant show of the tampered grant on beta:\n%s", text)
	}
	out, errs, code := beta.run("grant", "accept", "g-tamper")
	if code == 0 || !strings.Contains(errs, "refusing to accept") {
		t.Errorf("accept of the tampered grant: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	sameState(t, alpha, d)
}

// confidentialUsage checks the sealed usage of g-mark: alpha's and beta's
// nodes compute the same statement from the sealed report, with equal
// usage digests, and both parties attest it; gamma's node serves no
// statement, answers checks "confidential", and sees that the statement
// was agreed.
func confidentialUsage(t *testing.T, alpha, beta, gammaOp *cli, period string) {
	t.Helper()
	var usageDigests []string
	for _, c := range []*cli{alpha, beta} {
		waitFor(t, 15*time.Second, "the sealed report admitted", func() error {
			var g struct {
				Confidential struct {
					UsageDigest string `json:"usage_digest"`
				} `json:"confidential"`
			}
			if err := json.Unmarshal([]byte(c.ok("grant", "show", "g-mark", "-o", "json")), &g); err != nil {
				return err
			}
			out := c.ok("statement", "show", "g-mark", "-o", "json")
			if !strings.Contains(out, `"total_micros": `+markerTotal) || g.Confidential.UsageDigest == "" {
				return fmt.Errorf("statement %s, usage digest %q", out, g.Confidential.UsageDigest)
			}
			usageDigests = append(usageDigests, g.Confidential.UsageDigest)
			return nil
		})
		c.ok("statement", "attest", "--period", period, "g-mark")
	}
	if usageDigests[0] != usageDigests[1] {
		t.Errorf("usage digests differ: alpha %s, beta %s", usageDigests[0], usageDigests[1])
	}
	if _, errs, code := gammaOp.run("statement", "show", "g-mark"); code == 0 || !strings.Contains(errs, "confidential") || !strings.Contains(errs, "alpha, beta") {
		t.Errorf("statement show on gamma: exit %d, %s", code, errs)
	}
	waitFor(t, 10*time.Second, "the agreement on gamma's node", func() error {
		if out := gammaOp.ok("statement", "attestations", "g-mark"); strings.Count(out, "yes, at index") != 2 {
			return fmt.Errorf("attestations on gamma:\n%s", out)
		}
		return nil
	})
	ask := []string{"check", "--member", "beta", "--asset", "model-m", "--action", "use", "--territory", "DE", "-o", "json"}
	var d struct {
		Allowed bool     `json:"allowed"`
		Basis   string   `json:"basis"`
		Sealed  []string `json:"sealed"`
	}
	out, errs, code := gammaOp.run(ask...)
	if code != 1 {
		t.Errorf("check on gamma: exit %d, %s", code, errs)
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.Basis != "confidential" || len(d.Sealed) != 1 {
		t.Errorf("check on gamma: %+v", d)
	}
	if err := json.Unmarshal([]byte(beta.ok(ask...)), &d); err != nil {
		t.Fatal(err)
	}
	if !d.Allowed || d.Basis != "grant" {
		t.Errorf("check on beta: %+v", d)
	}
}

// tamperedOffer offers g-tamper from alpha to beta with a sealed part
// whose ciphertext was altered after sealing: its shape, recipients and
// commitment pass the ledger, but it does not open.
func tamperedOffer(t *testing.T, ctx context.Context, d *devnet.Cluster, ac *client.Client) {
	t.Helper()
	consortium, err := ac.Consortium(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rs []seal.Recipient
	for _, m := range []string{"alpha", "beta"} {
		mem, err := ac.Member(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		cur, _ := mem.CurrentEncryptionKey()
		pk, err := seal.PublicKeyFrom(cur.Public)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	ct := ledger.ConfidentialTerms{Clauses: ledger.Clauses{GoverningLaw: "DE"}}
	s, _, err := seal.Seal(ct.Canonical(), rs, seal.Binding{Consortium: consortium, Kind: ledger.ConfidentialKind, ID: "g-tamper"})
	if err != nil {
		t.Fatal(err)
	}
	s.Ciphertext[len(s.Ciphertext)/2] ^= 0x40
	o := ledger.GrantOffer{ID: "g-tamper", Licensors: []string{"alpha"}, Licensees: []string{"beta"},
		Terms:        ledger.Terms{Assets: []string{"model-m"}, Rights: []ledger.Right{"use"}},
		Confidential: &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}}
	r, err := ac.Propose(ctx, "grant.offer", "offer-g-tamper", o)
	if err != nil || r.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("tampered offer: %v %+v", err, r)
	}
}

// sameState waits until every node of d has the same applied index and
// state digest.
func sameState(t *testing.T, c *cli, d *devnet.Cluster) {
	t.Helper()
	waitFor(t, 30*time.Second, "every node at the same applied index and digest", func() error {
		var first nodeStatus
		for i := range 3 {
			s, err := c.status(d.APIURL(i))
			if err != nil {
				return err
			}
			if i == 0 {
				first = s
			} else if s.AppliedIndex != first.AppliedIndex || s.StateDigest != first.StateDigest {
				return fmt.Errorf("%s at %d %s, alpha at %d %s", s.ID, s.AppliedIndex, s.StateDigest, first.AppliedIndex, first.StateDigest)
			}
		}
		return nil
	})
}

// hasSnapshot reports whether the data directory dir holds a Raft
// snapshot.
func hasSnapshot(dir string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Name() == "meta.json" && strings.Contains(p, "snapshots") {
			found = true
		}
		return nil
	})
	return found
}

// filesUnder lists every regular file under dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil || len(out) == 0 {
		t.Fatalf("files under %s: %v (%d)", dir, err, len(out))
	}
	return out
}

// containsAny returns the first of ms that s contains, or "".
func containsAny(s string, ms []string) string {
	for _, m := range ms {
		if strings.Contains(s, m) {
			return m
		}
	}
	return ""
}

// metricValue reads one unlabelled metric from a node's /metrics.
func metricValue(t *testing.T, api, token, name string) float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, api+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		var v float64
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}
