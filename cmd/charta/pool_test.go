package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// TestPool_ConcurrentConsumeNeverOverdraws has 32 clients, spread over the
// three nodes of a real cluster, consume from one quota at once: exactly
// as many succeed as the quota allows, the rest are rejected, and every
// node reports the same use.
func TestPool_ConcurrentConsumeNeverOverdraws(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium")
	}
	bin := chartaBin(t)
	dir, base, c := devConsortium(t, bin)
	c.ok("pool", "create", "--key", filepath.Join(dir, "gamma.key"), "--id", "gpu", "--resource", "gpu", "--unit", "gpu-hour",
		"--period", "month", "--capacity", "1000", "--quotas", "alpha=100,beta=450,gamma=450", "--owners", "gamma")

	g, err := readGenesis(filepath.Join(dir, "genesis.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := os.ReadFile(filepath.Join(dir, "alpha.token"))
	const clients, amount, quota = 32, 7, 100 // 14 fit in 100
	var mu sync.Mutex
	accepted, rejected := 0, 0
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := client.New(fmt.Sprintf("http://127.0.0.1:%d", base+1+i%3), client.WithKeyFile(filepath.Join(dir, "alpha.key")),
				client.WithToken(strings.TrimSpace(string(tok))), client.WithConsortium(g.ID()))
			if err != nil {
				errs <- err
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = cl.Propose(ctx, "pool.consume", fmt.Sprintf("consume-%02d", i), ledger.PoolConsume{Pool: "gpu", Amount: amount})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted++
			case errors.Is(err, client.ErrRejected):
				rejected++
			default:
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if want := quota / amount; accepted != want || rejected != clients-want {
		t.Fatalf("accepted %d, rejected %d; want %d and %d", accepted, rejected, want, clients-want)
	}
	waitFor(t, 15*time.Second, "every node agrees on the use", func() error {
		for i := range 3 {
			out, errs, code := c.run("pool", "usage", "gpu", "-o", "json", "--server", fmt.Sprintf("http://127.0.0.1:%d", base+1+i))
			if code != 0 {
				return errors.New(errs)
			}
			if !strings.Contains(out, fmt.Sprintf(`"used": %d`, quota/amount*amount)) {
				return fmt.Errorf("node %d: %s", i+1, out)
			}
		}
		return nil
	})
}
