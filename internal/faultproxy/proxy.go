package faultproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/charta/charta/consensus"
)

// Config configures a Proxy.
type Config struct {
	Listen string                     // address to listen on, e.g. 127.0.0.1:0
	Target string                     // the real Raft listener of the node behind the proxy
	Self   string                     // the node ID behind the proxy
	CAs    *x509.CertPool             // the consortium CA; dialers' certificates must chain to it
	Certs  map[string]tls.Certificate // every node's certificate and key, by node ID
	Links  *Links                     // the shared fault table
	Seed   uint64                     // seed of the drop and jitter decisions
	Logger *slog.Logger               // where refusals and resets are logged; nil discards
}

// DefaultConfig returns a configuration listening on a free loopback port;
// the caller fills in the rest.
func DefaultConfig() Config {
	return Config{Listen: "127.0.0.1:0", Links: NewLinks(), Seed: 1}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Listen == "" || c.Target == "" {
		errs = append(errs, errors.New("faultproxy: Listen and Target are required"))
	}
	if c.CAs == nil {
		errs = append(errs, errors.New("faultproxy: CAs is required"))
	}
	if _, ok := c.Certs[c.Self]; !ok {
		errs = append(errs, fmt.Errorf("faultproxy: no certificate for the node behind the proxy, %q", c.Self))
	}
	if c.Links == nil {
		errs = append(errs, errors.New("faultproxy: Links is required"))
	}
	return errors.Join(errs...)
}

// Proxy forwards the Raft traffic of one node's inbound connections and
// applies the faults of its Links. Close stops it.
type Proxy struct {
	cfg Config
	ln  net.Listener
	log *slog.Logger

	mu     sync.Mutex
	rng    *rand.Rand
	conns  map[*pair]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New starts a proxy.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{
		cfg: cfg, ln: ln, log: log.With("proxy", cfg.Self),
		rng: rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)), conns: map[*pair]struct{}{},
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address peers dial instead of the node's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops the listener and resets every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.reset()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) chance(prob float64) bool {
	if prob <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < prob
}

func (p *Proxy) jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Duration(p.rng.Int64N(int64(max)))
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

func (p *Proxy) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{p.cfg.Certs[p.cfg.Self]},
		ClientCAs:    p.cfg.CAs,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
}

func (p *Proxy) serve(raw net.Conn) {
	in := tls.Server(raw, p.serverTLS())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := in.HandshakeContext(ctx)
	cancel()
	if err != nil {
		p.log.Debug("handshake with dialer failed", "remote", raw.RemoteAddr().String(), "err", err)
		in.Close()
		return
	}
	src, err := consensus.NodeIDFromCert(in.ConnectionState().PeerCertificates[0])
	if err != nil {
		in.Close()
		return
	}
	cert, ok := p.cfg.Certs[src]
	if !ok {
		p.log.Warn("no certificate for source node", "src", src)
		in.Close()
		return
	}
	if p.cfg.Links.Rule(src, p.cfg.Self).Cut {
		in.Close()
		return
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		InsecureSkipVerify: true, // the node behind the proxy is the one the harness started
	}}
	out, err := d.Dial("tcp", p.cfg.Target)
	if err != nil {
		p.log.Debug("dialing the node failed", "src", src, "err", err)
		in.Close()
		return
	}
	c := &pair{in: in, out: out, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.reset()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); p.pump(c, in, out, src, p.cfg.Self) }()
	go func() { defer wg.Done(); p.pump(c, out, in, p.cfg.Self, src) }()
	go func() { defer wg.Done(); p.watch(c, src) }()
	wg.Wait()
}

// watch resets the connection when either of its directions is cut.
func (p *Proxy) watch(c *pair, src string) {
	for {
		ch := p.cfg.Links.watch()
		if p.cfg.Links.Rule(src, p.cfg.Self).Cut || p.cfg.Links.Rule(p.cfg.Self, src).Cut {
			c.reset()
			return
		}
		select {
		case <-ch:
		case <-c.done:
			return
		}
	}
}

type chunk struct {
	b   []byte
	due time.Time
}

// pump copies from r to w, the bytes of the link from → to, applying its rule.
func (p *Proxy) pump(c *pair, r io.Reader, w io.Writer, from, to string) {
	q := make(chan chunk, 256)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := r.Read(buf)
			if n > 0 {
				rule := p.cfg.Links.Rule(from, to)
				if rule.Cut || p.chance(rule.Drop) {
					c.reset()
					return
				}
				due := time.Now().Add(rule.Delay + p.jitter(rule.Jitter))
				select {
				case q <- chunk{buf[:n], due}:
				case <-c.done:
					return
				}
			}
			if err != nil {
				c.reset()
				return
			}
		}
	}()
	for ch := range q {
		if d := time.Until(ch.due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-c.done:
				t.Stop()
				return
			}
		}
		if _, err := w.Write(ch.b); err != nil {
			c.reset()
			return
		}
	}
}

// pair is one proxied connection: the dialer's side and the node's side.
type pair struct {
	in, out net.Conn
	once    sync.Once
	done    chan struct{}
}

func (c *pair) reset() {
	c.once.Do(func() {
		close(c.done)
		c.in.Close()
		c.out.Close()
	})
}
