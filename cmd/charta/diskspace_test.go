package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/charta/charta/internal/devnet"
	"github.com/charta/charta/ledger"
)

// TestNode_BelowTheDiskReserveIsReadOnly runs a real 3-node consortium and
// restarts beta's node with a free-space reserve larger than its disk has:
// beta refuses writes with a clear no_space error, keeps serving reads and
// raises the alarm, while the others keep writing; restarted without the
// reserve, beta catches up and writes again.
func TestNode_BelowTheDiskReserveIsReadOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium")
	}
	bin := chartaBin(t)
	extra := []string{"--bootstrap", "--rate-limit", "1e6"}
	d := &devnet.Cluster{Dir: filepath.Join(t.TempDir(), "disk"), Base: freeBase(t), Scheme: ledger.SchemeEd25519, Bin: bin, Extra: extra}
	if _, err := d.Prepare(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 16)
	for i := range devnet.Members {
		if err := d.Start(bin, i, exited, extra...); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(d.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.WaitReady(ctx, exited); err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterTokens(ctx); err != nil {
		t.Fatal(err)
	}
	tok, _ := d.Token("alpha")
	c := &cli{t: t, bin: bin, env: []string{"CHARTA_TOKEN=" + tok, "CHARTA_KEY=" + d.Path("alpha.key")}}
	digest := "sha256:" + strings.Repeat("ef", 32)
	register := func(server, id string) (string, int) {
		_, errs, code := c.run("asset", "register", "--server", server, "--id", id, "--kind", "model", "--digest", digest)
		return errs, code
	}

	var st syscall.Statfs_t
	if err := syscall.Statfs(d.Dir, &st); err != nil {
		t.Fatal(err)
	}
	reserve := st.Bavail*uint64(st.Bsize)>>20 + 1024
	d.StopNode(1)
	if err := d.Start(bin, 1, exited, append(extra, "--min-free-mib", strconv.FormatUint(reserve, 10))...); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitNodeReady(ctx, 1); err != nil {
		t.Fatal(err)
	}
	beta := d.APIURL(1)
	if errs, code := register(beta, "through-full-beta"); code != 1 || !strings.Contains(errs, "no_space") || !strings.Contains(errs, "MiB free") {
		t.Fatalf("a write through beta below its reserve: exit %d: %s", code, errs)
	}
	var status struct{ Alarms []string }
	if err := json.Unmarshal([]byte(c.ok("status", "--server", beta, "-o", "json")), &status); err != nil || len(status.Alarms) != 1 || status.Alarms[0] != "nospace" {
		t.Fatalf("beta's status: %v %+v", err, status)
	}
	c.ok("member", "list", "--server", beta)
	resp, err := http.Get(beta + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "charta_alarm_nospace 1") {
		t.Fatalf("beta's metrics lack the alarm")
	}
	if errs, code := register(d.APIURL(0), "through-alpha"); code != 0 {
		t.Fatalf("a write through alpha while beta is short of space: exit %d: %s", code, errs)
	}

	// Space back (here: the reserve lifted): beta catches up and writes.
	d.StopNode(1)
	if err := d.Start(bin, 1, exited, extra...); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitNodeReady(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if errs, code := register(beta, "through-beta-again"); code != 0 {
		t.Fatalf("a write through beta with space: exit %d: %s", code, errs)
	}
	if out := c.ok("asset", "show", "through-alpha", "--server", beta); !strings.Contains(out, "through-alpha") {
		t.Fatalf("beta did not catch up: %s", out)
	}
}
