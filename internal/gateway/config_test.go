package gateway

import (
	"strings"
	"testing"
	"time"
)

const exampleConfig = `{
  "routes": [
    {
      "name": "infer",
      "prefix": "/v1/infer",
      "upstream": "http://127.0.0.1:9000",
      "asset": "model-x",
      "action": "use",
      "territory": "DE",
      "purpose": "research",
      "override": ["territory", "purpose"],
      "meters": [
        {"count": "requests", "metric": "requests", "usage": true},
        {"count": "header", "header": "X-Tokens", "metric": "tokens", "usage": true, "pool": "gpu"}
      ]
    },
    {"prefix": "/data", "upstream": "https://data.example/base", "asset": "ds-1", "action": "train", "strip_prefix": true}
  ],
  "infractions": {"enabled": true, "threshold": 5, "window": "10m"}
}`

func TestParseFile_Example(t *testing.T) {
	f, err := ParseFile([]byte(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Routes) != 2 || f.Routes[0].Name != "infer" || f.Routes[1].Name != "/data" {
		t.Fatalf("routes: %+v", f.Routes)
	}
	r := f.Routes[0]
	if !r.overrides(AxisTerritory) || !r.overrides(AxisPurpose) || r.overrides(AxisIndustry) {
		t.Errorf("overrides: %v", r.Override)
	}
	if m := r.Meters[1]; m.Count != CountHeader || m.Header != "X-Tokens" || m.Pool != "gpu" || !m.Usage {
		t.Errorf("meter: %+v", m)
	}
	if ir := f.Infractions; ir == nil || !ir.Enabled || ir.Threshold != 5 || time.Duration(ir.Window) != 10*time.Minute {
		t.Errorf("infractions: %+v", ir)
	}
}

// TestParseFile_Errors names the field at fault in every error.
func TestParseFile_Errors(t *testing.T) {
	route := func(extra string) string {
		return `{"routes":[{"prefix":"/a","upstream":"http://u","asset":"m","action":"use"` + extra + `}]}`
	}
	for _, c := range []struct{ name, doc, want string }{
		{"not json", `{`, "unexpected end"},
		{"unknown field", `{"routes":[],"rotues":[]}`, "rotues"},
		{"unknown route field", route(`,"upstrem":"x"`), "routes[0].upstrem"},
		{"duplicate key", route(`,"asset":"n"`), "routes[0].asset"},
		{"wrong type", `{"routes":[{"prefix":7}]}`, "routes[0].prefix"},
		{"no routes", `{"routes":[]}`, "routes: at least one"},
		{"prefix", `{"routes":[{"prefix":"a","upstream":"http://u","asset":"m","action":"use"}]}`, "routes[0].prefix"},
		{"own prefix", `{"routes":[{"prefix":"/metrics","upstream":"http://u","asset":"m","action":"use"}]}`, "routes[0].prefix"},
		{"upstream scheme", `{"routes":[{"prefix":"/a","upstream":"ftp://u","asset":"m","action":"use"}]}`, "routes[0].upstream"},
		{"upstream query", `{"routes":[{"prefix":"/a","upstream":"http://u/?q=1","asset":"m","action":"use"}]}`, "routes[0].upstream"},
		{"asset", `{"routes":[{"prefix":"/a","upstream":"http://u","asset":"","action":"use"}]}`, "routes[0].asset"},
		{"action", `{"routes":[{"prefix":"/a","upstream":"http://u","asset":"m","action":"fly"}]}`, "routes[0].action"},
		{"territory", route(`,"territory":"XX"`), "routes[0].territory"},
		{"purpose", route(`,"purpose":"Not A Tag"`), "routes[0].purpose"},
		{"override", route(`,"override":["asset"]`), "routes[0].override[0]"},
		{"duplicate prefix", `{"routes":[{"prefix":"/a","upstream":"http://u","asset":"m","action":"use"},{"prefix":"/a","upstream":"http://v","asset":"m","action":"use"}]}`, "routes[1].prefix"},
		{"count", route(`,"meters":[{"count":"calls","metric":"m","usage":true}]`), "routes[0].meters[0].count"},
		{"header missing", route(`,"meters":[{"count":"header","metric":"m","usage":true}]`), "routes[0].meters[0].header"},
		{"header bad", route(`,"meters":[{"count":"header","header":"X Tokens","metric":"m","usage":true}]`), "routes[0].meters[0].header"},
		{"header not for requests", route(`,"meters":[{"count":"requests","header":"X-T","metric":"m","usage":true}]`), "routes[0].meters[0].header"},
		{"metric", route(`,"meters":[{"count":"requests","metric":"","usage":true}]`), "routes[0].meters[0].metric"},
		{"no target", route(`,"meters":[{"count":"requests","metric":"m"}]`), "routes[0].meters[0]: a meter needs a target"},
		{"grant without usage", route(`,"meters":[{"count":"requests","metric":"m","pool":"p","grant":"g"}]`), "routes[0].meters[0].grant"},
		{"pool id", route(`,"meters":[{"count":"requests","metric":"m","pool":"a b"}]`), "routes[0].meters[0].pool"},
		{"threshold", route(``)[:len(route(``))-1] + `,"infractions":{"enabled":true,"threshold":0,"window":"1m"}}`, "infractions.threshold"},
		{"window", route(``)[:len(route(``))-1] + `,"infractions":{"enabled":true,"threshold":3,"window":"soon"}}`, "infractions.window"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseFile([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	f, err := ParseFile([]byte(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	ok := DefaultConfig()
	ok.Nodes, ok.Token, ok.StateDir, ok.KeyFile, ok.File = []string{"http://n"}, "tok", "/tmp/x", "k.key", f
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"nodes", func(c *Config) { c.Nodes = nil }, "node:"},
		{"metrics on the callers' address", func(c *Config) { c.MetricsListen = c.Listen }, "metrics-listen:"},
		{"token", func(c *Config) { c.Token = "" }, "token:"},
		{"state", func(c *Config) { c.StateDir = "" }, "state:"},
		{"ttl", func(c *Config) { c.DecisionTTL = 0 }, "decision-ttl:"},
		{"flush", func(c *Config) { c.FlushInterval = -1 }, "flush-interval:"},
		{"tls pair", func(c *Config) { c.TLSCert = "c.pem" }, "tls-cert and tls-key"},
		{"client ca", func(c *Config) { c.ClientCA = "ca.pem" }, "client-ca:"},
		{"key for meters", func(c *Config) { c.KeyFile = "" }, "key: metered routes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// FuzzParseFile: any input is parsed or refused with an error, never a
// panic, and what parses validates again.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte(exampleConfig))
	f.Add([]byte(`{"routes":[{"prefix":"/a","upstream":"http://u","asset":"m","action":"use","meters":[{"count":"bytes","metric":"b","pool":"p"}]}]}`))
	f.Add([]byte(`{"routes":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseFile(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed, then invalid: %v", err)
		}
	})
}
