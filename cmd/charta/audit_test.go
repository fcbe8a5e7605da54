package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
	"github.com/charta/charta/node/client"
)

const auditScheme = ledger.SchemeEd25519

// auditGenesis is a signed genesis for alpha, beta and gamma.
func auditGenesis(t testing.TB, start time.Time) *ledger.Genesis {
	t.Helper()
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: "Audit test consortium", CreatedAt: start, Charter: ledgertest.StampedCharter()}
	for _, id := range devMembers {
		g.Members = append(g.Members, ledger.GenesisMember{ID: id, Role: ledger.RoleMember, Keys: []ledger.PublicKey{ledgertest.Key(id, auditScheme).Public()}})
	}
	for _, id := range devMembers {
		if err := g.Sign(ledgertest.Signer(id, auditScheme)); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// mixedEntries makes n committed records of many kinds, valid and not:
// assets, offers, acceptances, pool use, forged and replayed envelopes.
func mixedEntries(g *ledger.Genesis, start time.Time, n int, rng *rand.Rand) []ledger.LogEntry {
	var out []ledger.LogEntry
	var last []byte
	for i := 0; len(out) < n; i++ {
		at := start.Add(time.Duration(i) * time.Second)
		m := devMembers[rng.IntN(3)]
		other := devMembers[(slicesIndex(m)+1+rng.IntN(2))%3]
		var typ string
		var body any
		switch k := rng.IntN(6); k {
		case 0, 1:
			typ, body = "asset.register", ledger.AssetRegister{ID: fmt.Sprintf("a-%d", i), Kind: ledger.AssetModel,
				Digest: "sha256:" + strings.Repeat("ab", 32), Owners: []ledger.Owner{{Member: m, ShareBP: 10000}}}
		case 2:
			// An offer over an asset registered earlier, by whoever owns it.
			typ, body = "grant.offer", ledger.GrantOffer{ID: fmt.Sprintf("g-%d", i), Licensors: []string{m}, Licensees: []string{other},
				Terms: ledger.Terms{Assets: []string{fmt.Sprintf("a-%d", rng.IntN(i+1))}, Rights: []ledger.Right{"use"}}}
		case 3:
			typ, body = "grant.accept", ledger.GrantRef{Grant: fmt.Sprintf("g-%d", rng.IntN(i+1))}
		case 4:
			typ, body = "token.register", ledger.TokenRegister{Hash: ledger.HashToken(fmt.Sprint(i)), Scopes: []string{"read"}, ExpiresAt: at.Add(time.Hour)}
		case 5:
			if last != nil && rng.IntN(2) == 0 {
				out = append(out, ledger.LogEntry{Data: ledger.EncodeRecord(at, last)}) // a replay
				continue
			}
			env := ledgertest.Propose(g.ID(), m, "asset.register", fmt.Sprintf("forged-%d", i), at, ledger.AssetRegister{},
				ledgertest.Signer(other, auditScheme)) // signed by the wrong member
			out = append(out, ledger.LogEntry{Data: ledger.EncodeRecord(at, env.Encode())})
			continue
		}
		env := ledgertest.Propose(g.ID(), m, typ, fmt.Sprintf("p-%d", i), at, body, ledgertest.Signer(m, auditScheme)).Encode()
		last = env
		out = append(out, ledger.LogEntry{Data: ledger.EncodeRecord(at, env)})
	}
	for i := range out {
		out[i].Index = uint64(i + 1)
	}
	return out
}

func slicesIndex(m string) int {
	for i, x := range devMembers {
		if x == m {
			return i
		}
	}
	return -1
}

// TestAudit_ExportRoundTripAcrossSnapshotRestore applies thousands of
// mixed entries, moves the state to a second ledger through a snapshot
// half-way, exports the journal and audits it offline: the replay matches
// every entry, reaches the checkpoint roots, and ends at the same digest.
// A flipped byte or a reordered pair of entries is reported with its entry.
func TestAudit_ExportRoundTripAcrossSnapshotRestore(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	g := auditGenesis(t, start)
	entries := mixedEntries(g, start, 3000, rand.New(rand.NewPCG(7, 11)))

	a, err := ledger.Open(filepath.Join(t.TempDir(), "a.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cut := 1234
	for i := 0; i < cut; i += 100 {
		a.Apply(entries[i:min(i+100, cut)])
	}
	var snap bytes.Buffer
	s, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteTo(&snap); err != nil {
		t.Fatal(err)
	}
	s.Release()
	b, err := ledger.Open(filepath.Join(t.TempDir(), "b.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	roots := map[uint64]ledger.Hash{}
	for i := cut; i < len(entries); i += 250 {
		b.Apply(entries[i:min(i+250, len(entries))])
		b.View(func(v *ledger.View) error { roots[v.Head().Size] = v.Head().Root; return nil })
	}
	var export bytes.Buffer
	var digest ledger.Hash
	var size uint64
	accepted := 0
	enc := json.NewEncoder(&export)
	enc.Encode(verify.ExportHeader{Format: verify.ExportFormat, Consortium: g.ID()})
	b.View(func(v *ledger.View) error {
		digest, size = v.Digest(), v.Head().Size
		for from := uint64(0); ; {
			es := v.Entries(from, 500)
			if len(es) == 0 {
				return nil
			}
			for _, e := range es {
				enc.Encode(e)
				if e.Outcome.Status == ledger.StatusAccepted {
					accepted++
				}
			}
			from = es[len(es)-1].Seq + 1
		}
	})
	if accepted < 1000 || accepted > 2900 {
		t.Fatalf("%d of 3000 entries accepted; the mix should hold both outcomes", accepted)
	}

	res, err := auditJournal(g, bytes.NewReader(export.Bytes()), verify.AuditOptions{Roots: roots}, &progress{w: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	// Resubmitted proposals return their original outcome without a new
	// entry, so the journal is shorter than the log.
	if uint64(res.Entries) != size || size < 2500 || res.Digest != digest || len(res.Unreached) != 0 {
		t.Fatalf("audit: %d entries, digest %s (want %s), unreached %v", res.Entries, res.Digest, digest, res.Unreached)
	}

	lines := bytes.Split(bytes.TrimSpace(export.Bytes()), []byte("\n"))
	tamper := func(name string, edit func(lines [][]byte) [][]byte, want string) {
		t.Helper()
		cp := make([][]byte, len(lines))
		for i := range lines {
			cp[i] = bytes.Clone(lines[i])
		}
		_, err := auditJournal(g, bytes.NewReader(bytes.Join(edit(cp), []byte("\n"))), verify.AuditOptions{Roots: roots}, &progress{w: &bytes.Buffer{}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, want)
		}
	}
	tamper("flipped byte", func(l [][]byte) [][]byte {
		i := bytes.Index(l[1500], []byte(`"ledger_time":"2026-03-01T`)) + len(`"ledger_time":"2026-03-0`)
		l[1500][i] = '2' // 1 March becomes 2 March
		return l
	}, "entry 1499")
	tamper("reordered", func(l [][]byte) [][]byte { l[2000], l[2001] = l[2001], l[2000]; return l }, "entry 2000")
	wrong := map[uint64]ledger.Hash{}
	for k, v := range roots {
		v[0] ^= 1
		wrong[k] = v
	}
	if _, err := auditJournal(g, bytes.NewReader(export.Bytes()), verify.AuditOptions{Roots: wrong}, &progress{w: &bytes.Buffer{}}); err == nil ||
		!strings.Contains(err.Error(), "cosigned checkpoint says") {
		t.Errorf("a wrong checkpoint root: got %v", err)
	}
	other := auditGenesis(t, start.Add(time.Hour))
	if _, err := auditJournal(other, bytes.NewReader(export.Bytes()), verify.AuditOptions{}, &progress{w: &bytes.Buffer{}}); err == nil ||
		!strings.Contains(err.Error(), "consortium") {
		t.Errorf("another consortium's export: got %v", err)
	}
}

// load submits n proposals of a mix of kinds from 16 concurrent clients
// spread over the given servers: asset registrations, offers (some over
// assets that do not exist, so rejected) and token registrations.
func load(t *testing.T, dir string, g *ledger.Genesis, servers []string, prefix string, n int) {
	t.Helper()
	tok, _ := os.ReadFile(filepath.Join(dir, "alpha.token"))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := devMembers[w%3]
			c, err := client.New(servers[w%len(servers)], client.WithKeyFile(filepath.Join(dir, m+".key")),
				client.WithToken(strings.TrimSpace(string(tok))), client.WithConsortium(g.ID()))
			if err != nil {
				errs <- err
				return
			}
			for i := w; i < n; i += 16 {
				id := fmt.Sprintf("%s-%d", prefix, i)
				var typ string
				var body any
				switch i % 3 {
				case 0:
					typ, body = "asset.register", ledger.AssetRegister{ID: id, Kind: ledger.AssetDataset,
						Digest: "sha256:" + strings.Repeat("0a", 32), Owners: []ledger.Owner{{Member: m, ShareBP: 10000}}}
				case 1:
					typ, body = "grant.offer", ledger.GrantOffer{ID: id, Licensors: []string{m}, Licensees: []string{devMembers[(w+1)%3]},
						Terms: ledger.Terms{Assets: []string{fmt.Sprintf("%s-%d", prefix, i-1)}, Rights: []ledger.Right{"use"}}}
				case 2:
					typ, body = "grant.offer", ledger.GrantOffer{ID: id, Licensors: []string{m}, Licensees: []string{devMembers[(w+1)%3]},
						Terms: ledger.Terms{Assets: []string{"no-such-asset"}, Rights: []ledger.Right{"use"}}}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := c.Propose(ctx, typ, id, body)
				cancel()
				if err != nil && !errors.Is(err, client.ErrRejected) && !errors.Is(err, client.ErrNotFound) && !errors.Is(err, client.ErrForbidden) {
					errs <- fmt.Errorf("%s: %w", id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestAudit_ClusterExportAcrossBackupRestore writes thousands of mixed
// entries to a real 3-node cluster, backs it up, starts a new cluster from
// the backup, writes more, exports the journal from the new cluster and
// audits it offline from genesis to the node's own state digest.
func TestAudit_ClusterExportAcrossBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium")
	}
	bin := chartaBin(t)
	dir, base, c, stop := devConsortiumStop(t, bin)
	g, err := readGenesis(filepath.Join(dir, "genesis.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	var servers []string
	for i := 1; i <= 3; i++ {
		servers = append(servers, fmt.Sprintf("http://127.0.0.1:%d", base+i))
	}
	load(t, dir, g, servers, "before", 1500)
	opTok, err := os.ReadFile(filepath.Join(dir, "alpha", "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "charta.backup")
	c.ok("backup", "--token", strings.TrimSpace(string(opTok)), "--out", backup)
	stop()

	restored := filepath.Join(t.TempDir(), "restored")
	rBase := freeBase(t)
	c.ok("restore", "--backup", backup, "--id", "alpha", "--data-dir", restored, "--genesis", filepath.Join(dir, "genesis.json"),
		"--raft-advertise", fmt.Sprintf("127.0.0.1:%d", rBase+101))
	node := exec.Command(bin, "node", "--id", "alpha", "--data-dir", restored, "--genesis", filepath.Join(dir, "genesis.json"),
		"--http", fmt.Sprintf("127.0.0.1:%d", rBase+1), "--raft", fmt.Sprintf("127.0.0.1:%d", rBase+101),
		"--tls-ca", filepath.Join(dir, "certs", "ca.crt"), "--tls-cert", filepath.Join(dir, "certs", "alpha.crt"),
		"--tls-key", filepath.Join(dir, "certs", "alpha.key"), "--rate-limit", "1e6")
	nlog := &syncBuffer{}
	node.Stdout, node.Stderr = nlog, nlog
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	ndone := make(chan error, 1)
	go func() { ndone <- node.Wait() }()
	t.Cleanup(func() {
		node.Process.Signal(syscall.SIGTERM)
		select {
		case <-ndone:
		case <-time.After(20 * time.Second):
			node.Process.Kill()
		}
		if t.Failed() {
			t.Logf("restored node:\n%s", lastLines(nlog.String(), 30))
		}
	})
	rAPI := fmt.Sprintf("http://127.0.0.1:%d", rBase+1)
	waitFor(t, 30*time.Second, "the restored node leads", func() error {
		s, err := c.status(rAPI)
		if err != nil {
			return err
		}
		if s.Role != "leader" {
			return fmt.Errorf("role %s", s.Role)
		}
		return nil
	})
	load(t, dir, g, []string{rAPI}, "after", 600)

	// A complete export needs a token that sees every entry: the node's
	// operator token (or an auditor's).
	export := filepath.Join(t.TempDir(), "journal.jsonl")
	rOp := strings.TrimSpace(string(mustRead(t, filepath.Join(restored, "operator.token"))))
	c.ok("journal", "export", "--server", rAPI, "--token", rOp, "--out", export)
	st, err := c.status(rAPI)
	if err != nil {
		t.Fatal(err)
	}
	// The restored node alone cannot gather a threshold of cosignatures;
	// its own state digest, which covers the journal head, anchors the
	// export instead.
	out := c.ok("audit", "--genesis", filepath.Join(dir, "genesis.json"), "--digest", st.StateDigest, "--allow-unanchored", export)
	var entries int
	if _, err := fmt.Sscanf(out[strings.Index(out, "ok: ")+4:], "%d entries", &entries); err != nil || entries < 2000 {
		t.Fatalf("audit: %v: %s", err, out)
	}
}
