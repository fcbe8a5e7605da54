package consensus

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestConfig_Validate(t *testing.T) {
	g := testGenesis(t, []string{"alpha"}, []string{"127.0.0.1:7000"})
	good := func() Config {
		c := DefaultConfig()
		c.ID, c.Dir, c.BindAddr, c.Genesis = "alpha", t.TempDir(), "0.0.0.0:7000", g
		c.AdvertiseAddr = "127.0.0.1:7000"
		c.TLS = TLSFiles{CAFile: "ca.pem", CertFile: "n.pem", KeyFile: "n.key"}
		return c
	}
	c := good()
	if err := c.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mutate := range map[string]func(*Config){
		"bad id":               func(c *Config) { c.ID = "Alpha!" },
		"no dir":               func(c *Config) { c.Dir = "" },
		"no genesis":           func(c *Config) { c.Genesis = nil },
		"no tls":               func(c *Config) { c.TLS.KeyFile = "" },
		"bad bind":             func(c *Config) { c.BindAddr = "nonsense" },
		"undialable advertise": func(c *Config) { c.AdvertiseAddr = "0.0.0.0:7000" },
		"advertise port 0":     func(c *Config) { c.AdvertiseAddr = "127.0.0.1:0" },
		"too many voters":      func(c *Config) { c.MaxVoters = 10 },
		"negative timeout":     func(c *Config) { c.ApplyTimeout = -time.Second },
	} {
		c := good()
		mutate(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "consensus: config: ") {
			t.Errorf("%s: want a config error, got %v", name, err)
		}
	}
	// Zero tunables take the defaults; max voters comes from the charter.
	var z Config
	z.Genesis = g
	z.BindAddr = "127.0.0.1:7000"
	d := z.withDefaults()
	if d.MaxVoters != g.Charter.MaxVoters || d.ApplyTimeout != 10*time.Second || d.AdvertiseAddr != z.BindAddr || d.Clock == nil || d.Logger == nil {
		t.Fatalf("defaults: %+v", d)
	}
}

func TestLogBridge_KeepsLevels(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHCLog(l, "raft", hclog.Warn).Named("transport").With("peer", "beta")
	h.Info("hidden below warn")
	h.Warn("failed to heartbeat", "err", "boom")
	h.Error("broken")
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Fatalf("an Info record passed a Warn floor: %s", out)
	}
	for _, want := range []string{"level=WARN msg=\"failed to heartbeat\" logger=raft.transport peer=beta err=boom", "level=ERROR msg=broken"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in:\n%s", want, out)
		}
	}
	if !h.IsWarn() || h.IsInfo() {
		t.Fatal("level predicates")
	}
	h.SetLevel(hclog.Debug)
	buf.Reset()
	h.StandardLogger(nil).Print("[DEBUG] from a standard logger")
	if !strings.Contains(buf.String(), "level=DEBUG msg=\"from a standard logger\"") {
		t.Fatalf("standard logger line: %s", buf.String())
	}
}
