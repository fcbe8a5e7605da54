package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// ForwardedHeader marks a request that a follower forwarded to the leader.
// Its value is the forwarding node's ID. A forwarded request that reaches a
// node that is not the leader is refused rather than forwarded again, so a
// stale view of who leads cannot make requests loop.
const ForwardedHeader = "X-Charta-Forwarded"

// IndexHeader carries the applied index of the state a response reflects.
const IndexHeader = "X-Charta-Index"

// OperatorTokenFile is the name of the operator token file in the data
// directory.
const OperatorTokenFile = "operator.token"

// Server is the HTTP API of one node.
type Server struct {
	cfg    ServerConfig
	c      Consensus
	l      *ledger.Ledger
	log    *slog.Logger
	client *http.Client
	clock  func() time.Time
	time   timekeeper

	operatorHash string // hex SHA-256 of the operator token
	principals   principalCache
	router       *mux.Router
	handler      http.Handler
	inFlight     chan struct{}
	heavy        chan struct{} // bounds proof-carrying and as_of_index checks, which scan or replay the journal
	limits       *limiters
	metrics      *metrics
	gatherer     prometheus.Gatherer

	digestMu    sync.Mutex
	digestIndex uint64
	digest      ledger.Hash
	digestOK    bool

	ckpt      *checkpointer                 // checkpoint cosigning state
	signer    atomic.Pointer[ledger.Signer] // the member key in use (signer.go); nil: none
	sessions  *sessions                     // dashboard sessions
	alive     liveness                      // when the other members' nodes last answered
	streams   streams                       // open event streams per member
	disk      *diskGuard                    // free space of the data directory
	readiness readiness                     // what /readyz waits for
	private   *privateStore                 // the member's opened confidential terms (private.go); nil: no encryption key
}

// NewServer builds the API server over c. It creates or reads the operator
// token in cfg.DataDir and registers its metrics with deps.Registerer.
func NewServer(cfg ServerConfig, c Consensus, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("node: NewServer needs a Consensus")
	}
	s := &Server{cfg: cfg, c: c, l: c.Ledger(), log: deps.Logger, client: deps.HTTPClient, clock: deps.Clock}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: cfg.ForwardTimeout}
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	reg, gat := deps.Registerer, deps.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg = r
		if gat == nil {
			gat = r
		}
	}
	if gat == nil {
		if g, ok := reg.(prometheus.Gatherer); ok {
			gat = g
		} else {
			gat = prometheus.DefaultGatherer
		}
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s.metrics, s.gatherer = m, gat
	tok, err := loadOperatorToken(filepath.Join(cfg.DataDir, OperatorTokenFile))
	if err != nil {
		return nil, err
	}
	s.operatorHash = ledger.HashToken(tok)
	s.inFlight = make(chan struct{}, cfg.MaxInFlight)
	s.heavy = make(chan struct{}, 2)
	s.limits = newLimiters(cfg.RateLimit, cfg.RateBurst, s.clock)
	s.sessions = newSessions(sessionTTL, maxSessions, sessionsPerToken, sessionsPerMember, s.clock)
	s.ckpt = newCheckpointer(cfg, s.clock())
	s.signer.Store(cfg.SigningKey)
	s.time.readings = map[string]reading{}
	s.l.View(func(v *ledger.View) error { s.time.keepers = max(len(v.TimeKeepers()), 1); return nil })
	s.disk = &diskGuard{dir: cfg.DataDir, reserve: cfg.MinFreeBytes, free: deps.FreeSpace, now: s.clock}
	if s.disk.free == nil {
		s.disk.free = statfsFree
	}
	if err := m.registerDisk(reg, s.disk); err != nil {
		return nil, err
	}
	if err := reg.Register(newStateCollector(s)); err != nil {
		return nil, err
	}
	if cfg.Member != "" && len(cfg.EncryptionKeys) > 0 {
		if s.private, err = openPrivateStore(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	c.ObserveApply(m.observeApply)
	s.router = s.routes()
	s.handler = s.recoverer(s.withRequestID(s.router))
	return s, nil
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Router returns the route table, for tests and documentation tools.
func (s *Server) Router() *mux.Router { return s.router }

// HTTPServer returns an http.Server for the API with the configured address,
// handler and timeouts.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Addr:              s.cfg.APIAddr,
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// loadOperatorToken reads the operator token at path, or creates it with
// 32 random bytes in hex and mode 0600. A token file that others can read
// is refused: it grants everything.
func loadOperatorToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", fmt.Errorf("node: operator token: %w", err)
		}
		tok := hex.EncodeToString(raw[:])
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("node: operator token: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", fmt.Errorf("node: operator token: %w", err)
		}
		if _, err := f.WriteString(tok + "\n"); err != nil {
			f.Close()
			return "", fmt.Errorf("node: operator token: %w", err)
		}
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("node: operator token: %w", err)
		}
		return tok, nil
	}
	if err != nil {
		return "", fmt.Errorf("node: operator token: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("node: operator token: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("node: operator token %s has mode %v; it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", fmt.Errorf("node: operator token %s is too short (%d characters, want at least 32)", path, len(tok))
	}
	return tok, nil
}

// access is who may call a route.
type access int

const (
	accessPublic   access = iota // no token: health, metrics, OpenAPI, dashboard
	accessSigned                 // no token: authenticated by signatures (proposals); rate-limited by address
	accessMember                 // any valid token
	accessOperator               // the node's operator token
	accessAdmin                  // the operator token, or a member token with the admin scope: routes that change the cluster
	accessToken                  // any valid token, whatever its scopes: a caller asking who it is
)

// routeOpts describe how a route is served.
type routeOpts struct {
	access     access
	consistent bool // honour consistency and min_index before the handler runs
}

// handle registers h at method+path with its access rule. name is the
// handler's name, used by tests and logs.
func (s *Server) handle(r *mux.Router, method, path, name string, o routeOpts, h http.HandlerFunc) {
	var next http.Handler = h
	if o.consistent {
		next = s.withConsistency(next)
	}
	next = s.withAuth(o.access, next)
	r.Handle(path, next).Methods(method).Name(name)
}

// routes builds the route table, one register function per resource.
func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.setIndex(w, s.l.AppliedIndex())
		s.writeProblem(w, req, errorf(ledger.CodeNotFound, "no route %s %s; see /v1/openapi.json", req.Method, req.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.setIndex(w, s.l.AppliedIndex())
		var allow []string
		r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
			var m mux.RouteMatch
			if route.Match(req, &m) || m.MatchErr == mux.ErrMethodMismatch {
				ms, _ := route.GetMethods()
				allow = append(allow, ms...)
			}
			return nil
		})
		slices.Sort(allow)
		w.Header().Set("Allow", strings.Join(slices.Compact(allow), ", "))
		s.writeProblem(w, req, errorf(api.CodeMethodNotAllowed, "method %s is not allowed on %s; allowed: %s", req.Method, req.URL.Path, strings.Join(slices.Compact(allow), ", ")))
	})
	r.Use(s.instrument)
	s.registerMetaRoutes(r)
	s.registerProposalRoutes(r)
	s.registerMemberRoutes(r)
	s.registerAssetRoutes(r)
	s.registerGrantRoutes(r)
	s.registerBundleRoutes(r)
	s.registerPoolRoutes(r)
	s.registerBallotRoutes(r)
	s.registerCheckRoutes(r)
	s.registerJournalRoutes(r)
	s.registerEventRoutes(r)
	s.registerClusterRoutes(r)
	s.registerTimeRoutes(r)
	s.registerWhoamiRoutes(r)
	return r
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyPrincipal
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

// withRequestID gives every request an ID (X-Request-ID) and the applied
// index header, which handlers that read a view overwrite with its index.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-ID", id)
		s.setIndex(w, s.l.AppliedIndex())
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyRequestID, id)))
	})
}

// recoverer turns a handler panic into a logged internal error.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "request_id", requestID(r.Context()), "panic", v, "stack", string(debug.Stack()))
				s.writeProblem(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// setIndex sets the applied-index header.
func (s *Server) setIndex(w http.ResponseWriter, index uint64) {
	w.Header().Set(IndexHeader, strconv.FormatUint(index, 10))
}

// writeJSON sends v as JSON with status. The body is encoded whole first:
// a value that cannot be encoded is answered with a problem instead of a
// truncated body, and the body goes out with its Content-Length in as few
// writes as the connection allows.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	buf := responseBuffers.Get().(*bytes.Buffer)
	defer putResponseBuffer(buf)
	buf.Reset()
	buf.Grow(4 << 10)
	var err error
	if a, ok := v.(jsonAppender); ok {
		var b []byte
		b, err = a.appendJSON(buf.AvailableBuffer())
		buf.Write(append(b, '\n'))
	} else {
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		err = enc.Encode(v)
	}
	if err != nil {
		s.writeProblem(w, r, fmt.Errorf("encoding the response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if _, err := w.Write(buf.Bytes()); err != nil {
		s.log.Debug("write response", "err", err)
	}
}

// responseBuffers holds the buffers writeJSON encodes into; one larger
// than maxPooledResponse is left to the collector.
var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledResponse = 1 << 20

func putResponseBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledResponse {
		responseBuffers.Put(b)
	}
}

// maxPrealloc is how much of a declared body length readBody allocates
// before the bytes arrive.
const maxPrealloc = 64 << 10

// readBody reads a request body of at most limit bytes. When the client
// declared the length, the body is read into one buffer of that size
// instead of a growing one; net/http ends the body at the declared length.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	n := r.ContentLength
	if n <= 0 || n > limit {
		return io.ReadAll(body)
	}
	// The extra byte lets the last read see EOF. A declared length is only
	// trusted up to maxPrealloc: beyond it the buffer grows as bytes
	// arrive, so that a client cannot reserve memory it never sends.
	b := make([]byte, 0, min(n, maxPrealloc)+1)
	for {
		m, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		switch {
		case err == io.EOF:
			return b, nil
		case err != nil:
			return b, err
		case len(b) == cap(b):
			b = slices.Grow(b, len(b))
		}
	}
}

// decodeBody reads a JSON request body of at most BodyLimit bytes strictly.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := readBody(w, r, s.cfg.BodyLimit)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errorf(ledger.CodeInvalid, "reading the request body: %v", err)
	}
	return ledger.DecodeStrict(b, v)
}
