package ledger_test

import (
	"bytes"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// BenchmarkSnapshotRestore measures Restore of a snapshot whose journal
// holds n signed proposals (token registrations by the default scheme,
// ml-dsa-65+ed25519): the checksum, the journal's hash chain and Merkle
// root, and the replay of the whole journal into a scratch ledger (every
// signature verified again, Preverify on every core) that shows the state
// follows from it. A node pays this once for each snapshot a peer offers
// it.
func BenchmarkSnapshotRestore(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchSnapshotRestore(b, ledger.SchemeComposite, n) })
	}
}

func benchSnapshotRestore(b *testing.B, s ledger.Scheme, n int) {
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: "bench", CreatedAt: t0, Charter: ledgertest.StampedCharter()}
	g.Members = []ledger.GenesisMember{{ID: "alpha", Role: ledger.RoleMember, Keys: []ledger.PublicKey{ledgertest.Key("alpha", s).Public()}}}
	g.Sign(ledgertest.Signer("alpha", s))
	// The source applies without verification: only the restore is timed.
	src, err := ledger.Open(filepath.Join(b.TempDir(), "state.db"), g, ledger.Options{SkipVerify: true, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	records := signedRecords(g, s, n)
	for i := 0; i < n; i += 512 {
		entries := make([]ledger.LogEntry, 0, 512)
		for j := i; j < min(i+512, n); j++ {
			entries = append(entries, ledger.LogEntry{Index: uint64(j + 1), Data: records[j]})
		}
		src.Apply(entries)
	}
	var snap bytes.Buffer
	sn, err := src.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sn.WriteTo(&snap); err != nil {
		b.Fatal(err)
	}
	sn.Release()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		l, err := ledger.Open(filepath.Join(b.TempDir(), "state.db"), g, ledger.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := l.Restore(bytes.NewReader(snap.Bytes())); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(snap.Len())/(1<<20), "snapshot-MiB")
}

// signedRecords signs n token registrations by alpha on every core and
// returns their log records.
func signedRecords(g *ledger.Genesis, s ledger.Scheme, n int) [][]byte {
	signer := ledgertest.Signer("alpha", s)
	now := t0.Add(time.Minute)
	records := make([][]byte, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				e := ledgertest.Propose(g.ID(), "alpha", "token.register", "t"+strconv.Itoa(i), now,
					ledger.TokenRegister{Hash: ledger.HashToken(strconv.Itoa(i)), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)}, signer)
				records[i] = ledger.EncodeRecord(now, e.Encode())
			}
		})
	}
	wg.Wait()
	return records
}

// BenchmarkDigest measures the state digest of a ledger holding n
// token registrations, each leaving a token and a replay record: the
// digest visits every key and value of the state, and hashes a record
// stored in binary as the JSON it stands for.
func BenchmarkDigest(b *testing.B) {
	const n = 20_000
	s := ledger.SchemeEd25519
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: "bench", CreatedAt: t0, Charter: ledgertest.StampedCharter()}
	g.Members = []ledger.GenesisMember{{ID: "alpha", Role: ledger.RoleMember, Keys: []ledger.PublicKey{ledgertest.Key("alpha", s).Public()}}}
	g.Sign(ledgertest.Signer("alpha", s))
	l, err := ledger.Open(filepath.Join(b.TempDir(), "state.db"), g, ledger.Options{SkipVerify: true, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	records := signedRecords(g, s, n)
	for i := 0; i < n; i += 512 {
		entries := make([]ledger.LogEntry, 0, 512)
		for j := i; j < min(i+512, n); j++ {
			entries = append(entries, ledger.LogEntry{Index: uint64(j + 1), Data: records[j]})
		}
		l.Apply(entries)
	}
	b.ResetTimer()
	for range b.N {
		l.View(func(v *ledger.View) error { v.Digest(); return nil })
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
}
