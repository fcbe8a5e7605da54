package node

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

// The dashboard is a server-rendered web UI over the same read paths as the
// API, with the API's visibility rules. A member logs in with its API
// token; the node keeps the token in a session (sessions.go) whose random
// ID goes in an HttpOnly, SameSite=Strict cookie, and authenticates the
// token on every request exactly as a bearer token is, so that an expired
// token or a removed member loses access at once.

//go:embed web
var webFiles embed.FS

// sessionCookie is the name of the dashboard's session cookie.
const sessionCookie = "charta_session"

// A dashboard session lasts 12 hours; a node keeps at most 10,000, and at
// most 8 per token.
const (
	sessionTTL       = 12 * time.Hour
	maxSessions      = 10000
	sessionsPerToken = 8
	// sessionsPerMember bounds one member's sessions over all its tokens,
	// far below maxSessions, so that no member can use up the others'.
	sessionsPerMember = 64
)

// dashboardCSP is the Content-Security-Policy of every dashboard response:
// nothing is loaded from anywhere but the node itself.
const dashboardCSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// dashboardPages is every page template, each parsed with the layout.
var dashboardPages = parseDashboardPages()

func parseDashboardPages() map[string]*template.Template {
	funcs := template.FuncMap{
		"join":  func(xs []string) string { return strings.Join(xs, ", ") },
		"rjoin": func(xs []ledger.Right) string { return joinAny(xs) },
		"time":  fmtTime,
		"ptime": func(t *time.Time) string {
			if t == nil {
				return "—"
			}
			return fmtTime(*t)
		},
		"money": fmtMicros,
		"pct":   func(a, b int64) int64 { return pct(a, b) },
		"json":  prettyJSON,
		"short": func(s string) string {
			if len(s) > 16 {
				return s[:16] + "…"
			}
			return s
		},
		"add":  func(a, b int) int { return a + b },
		"list": func(xs ...string) []string { return xs },
		"status": func(class string) string {
			return strings.TrimPrefix(class[strings.LastIndex(class, " ")+1:], "st-")
		},
		"territory": fmtTerritory,
		"bp": func(bp uint32) string {
			if bp%100 == 0 {
				return fmt.Sprintf("%d%%", bp/100)
			}
			return fmt.Sprintf("%d.%02d%%", bp/100, bp%100)
		},
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(webFiles, "web/layout.html"))
	names, err := fs.Glob(webFiles, "web/page_*.html")
	if err != nil || len(names) == 0 {
		panic(fmt.Sprintf("node: dashboard templates: %v", err))
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		t := template.Must(template.Must(layout.Clone()).ParseFS(webFiles, n))
		out[strings.TrimSuffix(strings.TrimPrefix(path.Base(n), "page_"), ".html")] = t
	}
	return out
}

// registerDashboardRoutes registers the dashboard's pages, its login and
// logout, and its static files. The routes are public as far as withAuth
// is concerned; the pages authenticate the session cookie themselves.
func (s *Server) registerDashboardRoutes(r *mux.Router) {
	public := routeOpts{access: accessPublic}
	s.handle(r, http.MethodGet, "/", "handleDashboard", public, s.uiPage(s.handleDashboard))
	s.handle(r, http.MethodGet, "/login", "handleDashboardLoginForm", public, s.handleDashboardLoginForm)
	s.handle(r, http.MethodPost, "/login", "handleDashboardLogin", public, s.handleDashboardLogin)
	s.handle(r, http.MethodPost, "/logout", "handleDashboardLogout", public, s.handleDashboardLogout)
	s.handle(r, http.MethodGet, "/ui/static/{file}", "handleDashboardStatic", public, s.handleDashboardStatic)
	s.handle(r, http.MethodGet, "/ui/assets", "handleDashboardAssets", public, s.uiPage(s.handleDashboardAssets))
	s.handle(r, http.MethodGet, "/ui/grants", "handleDashboardGrants", public, s.uiPage(s.handleDashboardGrants))
	s.handle(r, http.MethodGet, "/ui/grants/{id}", "handleDashboardGrant", public, s.uiPage(s.handleDashboardGrant))
	s.handle(r, http.MethodGet, "/ui/bundles", "handleDashboardBundles", public, s.uiPage(s.handleDashboardBundles))
	s.handle(r, http.MethodGet, "/ui/pools", "handleDashboardPools", public, s.uiPage(s.handleDashboardPools))
	s.handle(r, http.MethodGet, "/ui/statements", "handleDashboardStatements", public, s.uiPage(s.handleDashboardStatements))
	s.handle(r, http.MethodGet, "/ui/infractions", "handleDashboardInfractions", public, s.uiPage(s.handleDashboardInfractions))
	s.handle(r, http.MethodGet, "/ui/journal", "handleDashboardJournal", public, s.uiPage(s.handleDashboardJournal))
	s.handle(r, http.MethodGet, "/ui/journal/{seq}", "handleDashboardEntry", public, s.uiPage(s.handleDashboardEntry))
	s.handle(r, http.MethodGet, "/ui/check", "handleDashboardCheck", public, s.uiPage(s.handleDashboardCheck))
	s.handle(r, http.MethodGet, "/ui/events", "handleDashboardEvents", public, s.uiAuth(s.handleEvents))
}

// uiHandler is a dashboard page handler: it reads the state for p and
// renders a page, or returns an error to render as an error page.
type uiHandler func(w http.ResponseWriter, r *http.Request, p *principal) error

// setUIHeaders sets the security headers of every dashboard response.
func setUIHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// sessionPrincipal authenticates the session cookie as a bearer token is
// authenticated, and applies the same read-scope rule and rate limit.
func (s *Server) sessionPrincipal(r *http.Request) (*principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, errorf(ledger.CodeUnauthorized, "not logged in")
	}
	tok, ok := s.sessions.token(c.Value)
	if !ok {
		return nil, errorf(ledger.CodeUnauthorized, "not logged in")
	}
	if wait, ok := s.limits.allow("t:" + ledger.HashToken(tok)); !ok {
		s.metrics.rateLimited.Inc()
		return nil, errorf(api.CodeRateLimited, "over the rate limit of %g requests per second; slow down", s.cfg.RateLimit).retry(int(wait.Seconds()) + 1)
	}
	p, err := s.authenticate(tok)
	if err != nil {
		return nil, err
	}
	if !p.operator && !p.hasAnyScope("read", "admin") {
		return nil, errorf(ledger.CodeForbidden, "the token lacks the read scope")
	}
	return p, nil
}

// uiAuth wraps a handler that needs a logged-in member: without a valid
// session it answers 401 (for scripts such as the event stream).
func (s *Server) uiAuth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		setUIHeaders(w)
		p, err := s.sessionPrincipal(r)
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		next(w, r.WithContext(contextWithPrincipal(r, p)))
	}
}

// uiPage wraps a page handler: it authenticates the session, redirecting
// to the login page without one, and renders errors as error pages.
func (s *Server) uiPage(h uiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		setUIHeaders(w)
		w.Header().Set("Cache-Control", "no-store")
		p, err := s.sessionPrincipal(r)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.code == api.CodeRateLimited {
				s.renderError(w, r, nil, err)
				return
			}
			if _, cerr := r.Cookie(sessionCookie); cerr == nil {
				clearSession(w, r, s.cfg.TLS)
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		r = r.WithContext(contextWithPrincipal(r, p))
		if err := h(w, r, p); err != nil {
			s.renderError(w, r, p, err)
		}
	}
}

// pageData is what every page template receives.
type pageData struct {
	Title      string    // the page title
	Nav        string    // which navigation entry is current
	Me         string    // the logged-in member, or "operator"
	Role       string    // the member's role
	Consortium string    // the consortium ID
	Index      uint64    // the applied index the page reflects
	LedgerTime time.Time // the ledger time the page reflects
	Next       string    // login page: where to go after logging in
	Error      string    // an error to show
	D          any       // the page's own data
}

// newPage fills the common fields of a page from a view.
func newPage(v *ledger.View, p *principal, title, nav string, d any) pageData {
	pd := pageData{Title: title, Nav: nav, D: d}
	if p != nil {
		pd.Me, pd.Role = p.member, string(p.role)
		if p.operator {
			pd.Me, pd.Role = "operator", "operator"
		}
	}
	if v != nil {
		pd.Consortium, pd.Index, pd.LedgerTime = v.Consortium(), v.AppliedIndex(), v.LedgerTime()
	}
	return pd
}

// render executes page name into a buffer and sends it with status.
func (s *Server) render(w http.ResponseWriter, status int, name string, pd pageData) {
	t, ok := dashboardPages[name]
	if !ok {
		s.log.Error("dashboard: no template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", pd); err != nil {
		s.log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if pd.Index > 0 {
		s.setIndex(w, pd.Index)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError shows err as an error page with the API's status for it.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, p *principal, err error) {
	pr := problemFor(err, requestID(r.Context()), s.log)
	status, msg := pr.Status, pr.Detail
	pd := newPage(nil, p, http.StatusText(status), "", nil)
	pd.Error = msg
	s.l.View(func(v *ledger.View) error {
		pd.Consortium, pd.Index, pd.LedgerTime = v.Consortium(), v.AppliedIndex(), v.LedgerTime()
		return nil
	})
	s.render(w, status, "error", pd)
}

// handleDashboardLoginForm shows the login form.
func (s *Server) handleDashboardLoginForm(w http.ResponseWriter, r *http.Request) {
	setUIHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	pd := pageData{Title: "Log in", Next: safeNext(r.URL.Query().Get("next"))}
	s.l.View(func(v *ledger.View) error { pd.Consortium = v.Consortium(); return nil })
	s.render(w, http.StatusOK, "login", pd)
}

// handleDashboardLogin checks the posted token and starts a session.
func (s *Server) handleDashboardLogin(w http.ResponseWriter, r *http.Request) {
	setUIHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 1<<14)
	if err := r.ParseForm(); err != nil {
		s.renderLoginError(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if tok == "" {
		s.renderLoginError(w, r, http.StatusBadRequest, "Paste your member API token.")
		return
	}
	if wait, ok := s.limits.allow("a:" + clientAddr(r)); !ok {
		s.renderLoginError(w, r, http.StatusTooManyRequests, fmt.Sprintf("Too many attempts; wait %s.", wait.Round(time.Second)))
		return
	}
	p, err := s.authenticate(tok)
	if err != nil {
		s.renderLoginError(w, r, http.StatusUnauthorized, "That token is not valid on this consortium's ledger.")
		return
	}
	if !p.operator && !p.hasAnyScope("read", "admin") {
		s.renderLoginError(w, r, http.StatusForbidden, "That token lacks the read scope.")
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.close(c.Value) // a new login replaces the browser's session
	}
	id, ok := s.sessions.open(tok, p.member)
	if !ok {
		s.renderLoginError(w, r, http.StatusServiceUnavailable, "This node has too many open dashboard sessions; try again later.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.TLS || r.TLS != nil,
		MaxAge: int(sessionTTL.Seconds()),
	})
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (s *Server) renderLoginError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	pd := pageData{Title: "Log in", Next: safeNext(r.PostForm.Get("next")), Error: msg}
	s.l.View(func(v *ledger.View) error { pd.Consortium = v.Consortium(); return nil })
	s.render(w, status, "login", pd)
}

// handleDashboardLogout ends the session.
func (s *Server) handleDashboardLogout(w http.ResponseWriter, r *http.Request) {
	setUIHeaders(w)
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.close(c.Value)
	}
	clearSession(w, r, s.cfg.TLS)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func clearSession(w http.ResponseWriter, r *http.Request, tls bool) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: tls || r.TLS != nil,
	})
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.HasPrefix(next, "/login") || strings.HasPrefix(next, "/logout") {
		return "/"
	}
	return next
}

// staticTypes are the media types of the static files.
var staticTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

// handleDashboardStatic serves the embedded style sheet, script and icon.
func (s *Server) handleDashboardStatic(w http.ResponseWriter, r *http.Request) {
	setUIHeaders(w)
	name := mux.Vars(r)["file"]
	ct, ok := staticTypes[path.Ext(name)]
	b, err := webFiles.ReadFile("web/static/" + name)
	if !ok || err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(b)
}

// contextWithPrincipal puts p in the request's context, as withAuth does.
func contextWithPrincipal(r *http.Request, p *principal) context.Context {
	return context.WithValue(r.Context(), keyPrincipal, p)
}

// redactor hides the IDs of grants and bundles the principal may not see
// from text that the journal carries, such as event subjects and rejection
// messages.
type redactor struct {
	re *regexp.Regexp // matches any hidden ID as a whole word; nil when nothing is hidden
}

// newRedactor collects the grants and bundles p may not see.
func newRedactor(v *ledger.View, p *principal) redactor {
	if p.seesAll() {
		return redactor{}
	}
	var hidden []string
	gs, _ := v.Grants("", 1<<20, func(g *ledger.Grant) bool { return !visibleGrant(p, g) })
	for _, g := range gs {
		hidden = append(hidden, regexp.QuoteMeta(g.ID))
	}
	bs, _ := v.Bundles("", 1<<20, func(b *ledger.Bundle) bool { return !p.party(b.Parties) })
	for _, b := range bs {
		hidden = append(hidden, regexp.QuoteMeta(b.ID))
	}
	if len(hidden) == 0 {
		return redactor{}
	}
	return redactor{re: regexp.MustCompile(`(^|[^A-Za-z0-9._-])(` + strings.Join(hidden, "|") + `)($|[^A-Za-z0-9._-])`)}
}

// hides reports whether s names a hidden record.
func (x redactor) hides(s string) bool { return x.re != nil && x.re.MatchString(s) }

// clean replaces hidden IDs in s.
func (x redactor) clean(s string) string {
	if x.re == nil {
		return s
	}
	return x.re.ReplaceAllString(s, "${1}[not visible to you]${3}")
}

// fmtTerritory describes a territory in words.
func fmtTerritory(t ledger.Territory) string {
	out := "worldwide"
	if len(t.Allow) > 0 {
		out = strings.Join(t.Allow, ", ")
	}
	if len(t.Deny) > 0 {
		out += " except " + strings.Join(t.Deny, ", ")
	}
	return out
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// fmtMicros formats an amount in millionths as a decimal with two places.
func fmtMicros(m int64) string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	cents := (m + 5000) / 10000
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

func pct(a, b int64) int64 {
	if b <= 0 || a <= 0 {
		return 0
	}
	if a >= b {
		return 100
	}
	return a * 100 / b
}

func prettyJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func joinAny[T ~string](xs []T) string {
	ss := make([]string, len(xs))
	for i, x := range xs {
		ss[i] = string(x)
	}
	return strings.Join(ss, ", ")
}
