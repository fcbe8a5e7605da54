package gateway

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
)

// Config is how a gateway runs: what the command line and the environment
// set, plus the routes of the configuration file.
type Config struct {
	Listen        string        // address to serve callers on
	MetricsListen string        // operations address of /metrics, /healthz and /readyz; "" serves no /metrics
	Nodes         []string      // API addresses of the member's nodes, tried in order
	Token         string        // the gateway's own bearer token, to read the ledger
	CAFile        string        // CA certificate for https nodes (PEM); callers' certificates need ClientCA, set on its own
	KeyFile       string        // key file that signs usage reports and pool consumption (a delegated key)
	StateDir      string        // directory of the local journal
	DecisionTTL   time.Duration // longest a check's answer is served from the cache
	IdentityTTL   time.Duration // longest a token's whoami answer is trusted (never past the token's expiry)
	FlushInterval time.Duration // how often counts are signed and reported
	FailOpen      bool          // let requests through unchecked while no node answers
	NodeTimeout   time.Duration // bound on one request to a node
	DrainTimeout  time.Duration // how long shutdown waits for requests in flight
	TLSCert       string        // certificate to serve callers over HTTPS (PEM)
	TLSKey        string        // its key (PEM)
	ClientCA      string        // CA whose client certificates identify members (mTLS); needs TLSCert
	File          File          // the routes, metering and infraction rules
}

// DefaultConfig returns the defaults: a 2 s decision TTL, a 1 s flush,
// failing closed.
func DefaultConfig() Config {
	return Config{
		Listen:        "127.0.0.1:8443",
		MetricsListen: "127.0.0.1:9464",
		DecisionTTL:   2 * time.Second,
		IdentityTTL:   30 * time.Second,
		FlushInterval: time.Second,
		NodeTimeout:   2 * time.Second,
		DrainTimeout:  10 * time.Second,
	}
}

// Validate checks the settings; each error names its setting.
func (c *Config) Validate() error {
	switch {
	case c.Listen == "":
		return errors.New("gateway: listen: an address is required")
	case c.MetricsListen != "" && c.MetricsListen == c.Listen:
		return errors.New("gateway: metrics-listen: must differ from --listen, which callers reach")
	case len(c.Nodes) == 0:
		return errors.New("gateway: node: at least one node address is required")
	case c.Token == "":
		return errors.New("gateway: token: the gateway's own API token is required")
	case c.StateDir == "":
		return errors.New("gateway: state: a directory for the journal is required")
	case c.DecisionTTL <= 0:
		return errors.New("gateway: decision-ttl: must be positive")
	case c.IdentityTTL <= 0:
		return errors.New("gateway: identity-ttl: must be positive")
	case c.FlushInterval <= 0:
		return errors.New("gateway: flush-interval: must be positive")
	case c.NodeTimeout <= 0:
		return errors.New("gateway: node-timeout: must be positive")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("gateway: tls-cert and tls-key: give both or neither")
	case c.ClientCA != "" && c.TLSCert == "":
		return errors.New("gateway: client-ca: mTLS needs --tls-cert and --tls-key")
	}
	if c.KeyFile == "" && c.File.metered() {
		return errors.New("gateway: key: metered routes need a signing key for their reports")
	}
	if c.KeyFile == "" && c.File.Infractions != nil && c.File.Infractions.Enabled {
		return errors.New("gateway: key: observed infractions need a signing key")
	}
	return c.File.Validate()
}

// File is the gateway's configuration file (JSON, decoded strictly).
type File struct {
	// Routes map path prefixes to upstreams; the longest matching prefix
	// wins.
	Routes []Route `json:"routes"`
	// Infractions, when enabled, reports repeated denied attempts as an
	// infraction.observe proposal. Off unless set.
	Infractions *InfractionRule `json:"infractions,omitempty"`
}

// Route is one path prefix of the gateway: where it goes and what use of
// which asset it is.
type Route struct {
	Name     string       `json:"name,omitempty"` // label in metrics and logs; default the prefix
	Prefix   string       `json:"prefix"`         // path prefix, starting with /
	Upstream string       `json:"upstream"`       // http or https URL of the resource
	Asset    string       `json:"asset"`          // the ledger asset the resource is
	Action   ledger.Right `json:"action"`         // the right a request exercises (use, train, ...)
	// StripPrefix removes Prefix from the path before it goes upstream.
	StripPrefix bool `json:"strip_prefix,omitempty"`
	// The scope of the use unless a header overrides it (see Override).
	Territory string `json:"territory,omitempty"`
	Purpose   string `json:"purpose,omitempty"`
	Industry  string `json:"industry,omitempty"`
	// Override lists the axes a caller may state in a header:
	// "territory" (Charta-Territory), "purpose" (Charta-Purpose),
	// "industry" (Charta-Industry). Other headers of that name are ignored.
	Override []string `json:"override,omitempty"`
	// Meters say what the route counts and where it reports it.
	Meters []Meter `json:"meters,omitempty"`
}

// The overridable axes of a route and their headers.
const (
	AxisTerritory = "territory"
	AxisPurpose   = "purpose"
	AxisIndustry  = "industry"

	HeaderTerritory = "Charta-Territory"
	HeaderPurpose   = "Charta-Purpose"
	HeaderIndustry  = "Charta-Industry"
	// HeaderMember names the calling member to the upstream. A caller's
	// own header of that name is removed.
	HeaderMember = "Charta-Member"
)

// What a meter counts.
const (
	CountRequests = "requests" // 1 per response from the upstream
	CountBytes    = "bytes"    // request body plus response body bytes
	CountHeader   = "header"   // the integer in an upstream response header
)

// Meter is one quantity a route counts per member, and its targets: the
// usage terms of the grant the caller's allow rests on (usage.report),
// and/or a pool (pool.consume).
type Meter struct {
	Count  string `json:"count"`            // requests, bytes or header
	Header string `json:"header,omitempty"` // the response header, for count header (e.g. X-Tokens)
	// Metric is the name of the usage terms' metric the quantity is
	// reported as; with only a pool it labels the count in metrics.
	Metric string `json:"metric"`
	// Usage reports the quantity to the grant the allow rested on (or
	// Grant) with usage.report.
	Usage bool `json:"usage,omitempty"`
	// Grant fixes the grant usage is reported to, instead of the one the
	// allow rested on.
	Grant string `json:"grant,omitempty"`
	// Pool consumes the quantity from this pool, from the caller's quota.
	Pool string `json:"pool,omitempty"`
}

// InfractionRule reports a member's repeated denied attempts on an asset.
type InfractionRule struct {
	Enabled   bool     `json:"enabled"`
	Threshold int      `json:"threshold"` // denied attempts within Window that trigger a report
	Window    Duration `json:"window"`    // sliding window, such as "10m"
	Reason    string   `json:"reason,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("90s").
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 90s or 10m", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ReadFile reads and validates a configuration file.
func ReadFile(path string) (File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("gateway: config: %w", err)
	}
	f, err := ParseFile(b)
	if err != nil {
		return File{}, fmt.Errorf("gateway: config %s: %w", path, err)
	}
	return f, nil
}

// ParseFile decodes a configuration file strictly (unknown fields,
// duplicate keys and wrong types are errors naming their path) and
// validates it.
func ParseFile(b []byte) (File, error) {
	var f File
	if err := ledger.DecodeStrict(b, &f); err != nil {
		var le *ledger.Error
		if errors.As(err, &le) {
			return File{}, errors.New(le.Message)
		}
		return File{}, err
	}
	if err := f.Validate(); err != nil {
		return File{}, err
	}
	return f, nil
}

// Validate checks the file; every error starts with the path of the field
// at fault, such as "routes[1].meters[0].header".
func (f *File) Validate() error {
	if len(f.Routes) == 0 {
		return errors.New("routes: at least one route is required")
	}
	seen := map[string]int{}
	for i := range f.Routes {
		r := &f.Routes[i]
		at := fmt.Sprintf("routes[%d]", i)
		if err := r.validate(at); err != nil {
			return err
		}
		if j, dup := seen[r.Prefix]; dup {
			return fmt.Errorf("%s.prefix: %q is the prefix of routes[%d] too", at, r.Prefix, j)
		}
		seen[r.Prefix] = i
	}
	if ir := f.Infractions; ir != nil && ir.Enabled {
		switch {
		case ir.Threshold < 1:
			return errors.New("infractions.threshold: must be at least 1")
		case ir.Window <= 0:
			return errors.New("infractions.window: must be a positive duration")
		case len(ir.Reason) > 256:
			return errors.New("infractions.reason: at most 256 characters")
		}
	}
	return nil
}

func (r *Route) validate(at string) error {
	if r.Name == "" {
		r.Name = r.Prefix
	}
	switch {
	case !strings.HasPrefix(r.Prefix, "/"):
		return fmt.Errorf("%s.prefix: %q must start with /", at, r.Prefix)
	case r.Prefix == "/healthz" || r.Prefix == "/readyz" || r.Prefix == "/metrics":
		return fmt.Errorf("%s.prefix: %s is the gateway's own", at, r.Prefix)
	case !ledger.ValidID(r.Asset):
		return fmt.Errorf("%s.asset: %q is not an asset ID", at, r.Asset)
	case !r.Action.Valid():
		return fmt.Errorf("%s.action: %q is not a right (one of %v)", at, r.Action, ledger.Rights)
	}
	u, err := url.Parse(r.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s.upstream: %q is not an http or https URL", at, r.Upstream)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s.upstream: %q must not carry a query or fragment", at, r.Upstream)
	}
	// The same validation a check request gets, so that a route cannot
	// ask a question the node refuses.
	q := ledger.CheckRequest{Member: "x", Asset: r.Asset, Action: r.Action, Territory: r.Territory, Purpose: r.Purpose, Industry: r.Industry}
	if err := q.Validate(); err != nil {
		var le *ledger.Error
		if errors.As(err, &le) {
			return fmt.Errorf("%s.%s", at, le.Message)
		}
		return fmt.Errorf("%s: %w", at, err)
	}
	for j, o := range r.Override {
		if !slices.Contains([]string{AxisTerritory, AxisPurpose, AxisIndustry}, o) {
			return fmt.Errorf("%s.override[%d]: %q is not territory, purpose or industry", at, j, o)
		}
	}
	for j := range r.Meters {
		if err := r.Meters[j].validate(fmt.Sprintf("%s.meters[%d]", at, j)); err != nil {
			return err
		}
	}
	return nil
}

func (m *Meter) validate(at string) error {
	switch m.Count {
	case CountRequests, CountBytes:
		if m.Header != "" {
			return fmt.Errorf("%s.header: only for count %q", at, CountHeader)
		}
	case CountHeader:
		if !validHeaderName(m.Header) {
			return fmt.Errorf("%s.header: %q is not a header name", at, m.Header)
		}
	default:
		return fmt.Errorf("%s.count: %q is not requests, bytes or header", at, m.Count)
	}
	switch {
	case !ledger.ValidID(m.Metric):
		return fmt.Errorf("%s.metric: %q is not a metric name", at, m.Metric)
	case !m.Usage && m.Pool == "":
		return fmt.Errorf("%s: a meter needs a target: usage, pool or both", at)
	case m.Grant != "" && !m.Usage:
		return fmt.Errorf("%s.grant: only with usage", at)
	case m.Grant != "" && !ledger.ValidID(m.Grant):
		return fmt.Errorf("%s.grant: %q is not a grant ID", at, m.Grant)
	case m.Pool != "" && !ledger.ValidID(m.Pool):
		return fmt.Errorf("%s.pool: %q is not a pool ID", at, m.Pool)
	}
	return nil
}

// overrides reports whether the route lets a caller's header set axis.
func (r *Route) overrides(axis string) bool { return slices.Contains(r.Override, axis) }

// metered reports whether any route meters.
func (f *File) metered() bool {
	for _, r := range f.Routes {
		if len(r.Meters) > 0 {
			return true
		}
	}
	return false
}

// validHeaderName reports whether s is an HTTP header field name (an RFC
// 9110 token).
func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
