package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charta/charta/ledger"
)

// presign signs n token.register proposals, spread over the members'
// keys, on every core; signing is not part of any measurement.
func (s *suite) presign(c *cluster, n int, tag string) ([][]byte, error) {
	g, err := c.Genesis()
	if err != nil {
		return nil, err
	}
	var signers []ledger.Signer
	for _, m := range c.members {
		signer, err := c.Signer(m)
		if err != nil {
			return nil, err
		}
		signers = append(signers, signer)
	}
	var salt [6]byte
	rand.Read(salt[:])
	prefix := "bench-" + tag + "-" + hex.EncodeToString(salt[:]) + "-"
	now := time.Now().UTC()
	out := make([][]byte, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				signer := signers[i%len(signers)]
				member, _, _ := ledger.SplitKeyID(signer.KeyID)
				body, _ := json.Marshal(ledger.TokenRegister{
					Hash: ledger.HashToken(prefix + strconv.Itoa(i)), Scopes: []string{"read"},
					ExpiresAt: now.Add(24 * time.Hour).Truncate(time.Second),
				})
				p := &ledger.Proposal{V: 1, Consortium: g.ID(), ID: prefix + strconv.Itoa(i), Type: "token.register",
					Signer: member, IssuedAt: now, Body: body}
				env, err := ledger.Sign(p, signer)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				out[i] = env.Encode()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if n > 0 {
		s.recordSize[c.scheme] = len(ledger.EncodeRecord(now, out[0]))
	}
	return out, nil
}

// writeRun measures signed proposals committed through the leader's API
// by clients concurrent writers. The workload is signed beforehand: a
// short unmeasured run sizes it.
func (s *suite) writeRun(c *cluster, clients int, label string) (Result, error) {
	name := fmt.Sprintf("%s %dc", label, clients)
	hc := httpClient(clients)
	u := c.APIURL(c.leader) + "/v1/proposals"
	fire := func(pool [][]byte) Op {
		var next atomic.Int64
		return func(ctx context.Context, _ int) error {
			i := next.Add(1) - 1
			if i >= int64(len(pool)) {
				return ErrExhausted
			}
			return postOrGet(ctx, hc, http.MethodPost, u, "", pool[i])
		}
	}
	// Sizing run: as long as the warm-up, at least a second.
	warm := max(s.cfg.Warmup, time.Second)
	pool, err := s.presign(c, max(64, clients*8), "warm")
	if err != nil {
		return Result{}, err
	}
	probe, err := Run(s.ctx, RunConfig{Name: name + " (sizing)", Clients: clients, Duration: warm, Unit: "writes/s"}, fire(pool))
	if err != nil {
		return Result{}, err
	}
	rate := float64(probe.Ops) / probe.Seconds
	n := int(rate*s.cfg.Duration.Seconds()*1.5) + clients*4
	fmt.Fprintf(s.out, "  %s: signing %d proposals (sizing run: %.0f writes/s)...\n", name, n, rate)
	if pool, err = s.presign(c, n, "run"); err != nil {
		return Result{}, err
	}
	// Every node is profiled: the leader serves the HTTP path and
	// replicates, the followers apply what it sends.
	var profs []func() error
	if s.cfg.ProfileDir != "" && clients > 1 {
		for i := range c.PIDs() {
			role := "follower"
			if i == c.leader {
				role = "leader"
			}
			profs = append(profs, s.profile(c.pprof(i), fmt.Sprintf("%s-%s-%s", strings.ReplaceAll(label, " ", "-"), c.members[i], role)))
		}
	}
	return s.measure(c.procs(), profs, RunConfig{Name: name, Clients: clients, Duration: s.cfg.Duration, Unit: "writes/s", Progress: s.out}, fire(pool))
}
