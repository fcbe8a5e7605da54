package devnet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

func TestPrepare_OnceAndKeepsKeys(t *testing.T) {
	c := &Cluster{Dir: filepath.Join(t.TempDir(), "dev"), Base: 20000, Scheme: ledger.SchemeEd25519}
	fresh, err := c.Prepare()
	if err != nil || !fresh {
		t.Fatalf("first Prepare: %v %v", fresh, err)
	}
	g, err := c.Genesis()
	if err != nil || g.Verify() != nil || len(g.Members) != len(Members) || g.Members[1].Node.APIAddr != "http://127.0.0.1:20002" {
		t.Fatalf("genesis: %v %+v", err, g)
	}
	for _, m := range Members {
		for _, f := range []string{m + ".key", m + ".pub", m + ".token", "certs/" + m + ".crt", "certs/" + m + ".key"} {
			if _, err := os.Stat(c.Path(f)); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
	if fresh, err := c.Prepare(); err != nil || fresh {
		t.Fatalf("second Prepare: %v %v", fresh, err)
	}
	// A set-up that stopped before writing genesis.json keeps its keys.
	alpha, _ := c.Signer("alpha")
	os.Remove(c.Path("genesis.json"))
	if fresh, err := c.Prepare(); err != nil || !fresh {
		t.Fatalf("Prepare after a half set-up: %v %v", fresh, err)
	}
	g, _ = c.Genesis()
	if got := ledger.KeyID("alpha", g.Members[0].Keys[0]); got != alpha.KeyID {
		t.Fatalf("alpha's key changed: %s, was %s", got, alpha.KeyID)
	}
}

func TestControl_OneSupervisorPerDirectory(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Control(ctx, dir, "stop", "beta"); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no supervisor: %v", err)
	}
	c := &Cluster{Dir: dir}
	ln, err := c.ListenControl()
	if err != nil {
		t.Fatal(err)
	}
	go c.ServeControl(ln, make(chan error, 1), nil)
	if _, err := c.ListenControl(); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("a second supervisor: %v", err)
	}
	if _, err := Control(ctx, dir, "stop", "beta"); err == nil || err.Error() != "beta is not running" {
		t.Fatalf("stop of a node never started: %v", err)
	}
	if _, err := Control(ctx, dir, "stop", "zed"); err == nil || !strings.Contains(err.Error(), `no member "zed"`) {
		t.Fatalf("stop of a stranger: %v", err)
	}
	ln.Close()
	// What a killed supervisor leaves behind does not stop the next.
	if err := os.WriteFile(c.Path(ControlSocket), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err = c.ListenControl()
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	ln.Close()
}
