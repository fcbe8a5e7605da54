package webtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// cluster is a running `charta dev --demo` consortium.
type cluster struct {
	dir  string
	base int
}

// api returns the API URL of node i (1..3).
func (c *cluster) api(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", c.base+i) }

// bundleOffer returns the journal seq of the x-atlas-med bundle offer
// between alpha and beta, as alpha's token sees the journal. Time entries
// between the demo's proposals move it, so it is looked up.
func (c *cluster) bundleOffer(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.api(1)+"/v1/journal?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+c.token(t, "alpha"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Items []struct {
			Seq     uint64 `json:"seq"`
			Outcome struct {
				Type string `json:"type"`
			} `json:"outcome"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Items {
		if e.Outcome.Type == "bundle.offer" {
			return fmt.Sprint(e.Seq)
		}
	}
	t.Fatal("the journal has no bundle offer")
	return ""
}

// token returns a member's API token.
func (c *cluster) token(t *testing.T, member string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, member+".token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// chromiumPath finds Chromium, or skips the test without it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHARTA_CHROMIUM"), "chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CHARTA_REQUIRE_BROWSER") == "1" {
		t.Fatal("Chromium is not installed and CHARTA_REQUIRE_BROWSER=1: install Debian's chromium package")
	}
	t.Skip("Chromium is not installed (apt-get install chromium, or set CHARTA_CHROMIUM); skipping the browser tests")
	return ""
}

// chartaBin is $CHARTA_BIN (what make test sets), or a binary built into a
// temporary directory.
func chartaBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("CHARTA_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "charta")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/charta").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// freeBase finds a base port whose API and Raft ports are all free.
func freeBase(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + (os.Getpid()*13+try*307+1234)%20000
		ok := true
		for _, p := range []int{base + 1, base + 2, base + 3, base + 101, base + 102, base + 103} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

// startCluster runs `charta dev --demo` and waits until it is seeded. It
// stops the consortium with Ctrl-C (SIGINT) when the test ends.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{dir: filepath.Join(t.TempDir(), "dev"), base: freeBase(t)}
	dev := exec.Command(chartaBin(t), "dev", "--dir", c.dir, "--base-port", strconv.Itoa(c.base), "--demo", "--scheme", "ed25519")
	out := &syncBuffer{}
	dev.Stdout, dev.Stderr = out, out
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- dev.Wait() }()
	exited := false
	t.Cleanup(func() {
		if !exited {
			dev.Process.Signal(syscall.SIGINT)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				dev.Process.Kill()
				<-done
			}
		}
		if t.Failed() {
			t.Logf("dev output:\n%s", out.String())
			for _, m := range []string{"alpha", "beta", "gamma"} {
				b, _ := os.ReadFile(filepath.Join(c.dir, m+".log"))
				t.Logf("%s.log:\n%s", m, lastLines(string(b), 15))
			}
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		if time.Now().After(deadline) {
			t.Fatalf("dev did not come up:\n%s", out.String())
		}
		select {
		case err := <-done:
			exited = true
			t.Fatalf("dev exited (%v):\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return c
}

// browser is one headless Chromium tab with a record of console errors.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	errors   []string
	expected []string
}

// newBrowser starts Chromium; it is closed when the test ends.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, base: base}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.addError(m.String() + " " + m.URL)
			}
		}
	}()
	return b
}

// expectErrors makes the browser ignore from now on the errors that
// contain s, which the test causes on purpose.
func (b *browser) expectErrors(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expected = append(b.expected, s)
}

func (b *browser) addError(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range b.expected {
		if strings.Contains(s, x) {
			return
		}
	}
	b.errors = append(b.errors, s)
}

// checkNoErrors fails the test if the pages logged errors or threw.
func (b *browser) checkNoErrors(where string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		b.t.Errorf("%s: browser error: %s", where, e)
	}
	b.errors = nil
}

// run runs actions with a deadline.
func (b *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// get runs one action that returns a value, with a deadline.
func get[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

// open navigates to path and returns the HTTP status and the page's HTML.
func (b *browser) open(path string) (int64, string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(b.base+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	b.run(chromedp.WaitReady(chromedp.CSS("main")))
	return resp.Status, get(b, chromedp.OuterHTML(chromedp.CSS("html")))
}

// text returns the visible text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.Join(strings.Fields(get(b, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))), " ")
}

// eval evaluates a JavaScript expression.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	return get(b, chromedp.Evaluate[T](expr))
}

// screenshot saves the page as artifacts/screenshots/<name>.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png := get(b, chromedp.FullScreenshot(100))
	dir := filepath.Join("..", "..", "artifacts", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// login logs in through the form with member's token.
func (b *browser) login(token string) {
	b.t.Helper()
	status, _ := b.open("/")
	if status != 200 {
		b.t.Fatalf("/ without a session: status %d after redirects", status)
	}
	if loc := eval[string](b, "location.pathname"); loc != "/login" {
		b.t.Fatalf("/ without a session went to %s, want /login", loc)
	}
	b.run(
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#me")),
	)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func contains(t *testing.T, where, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%s: %q does not contain %q", where, got, want)
	}
}

// edge is one arrow of the grant graph.
type edge struct {
	Grant string `json:"grant"`
	From  string `json:"from"`
	To    string `json:"to"`
}

const edgesJS = `Array.from(document.querySelectorAll('#grant-graph path.edge')).map(p => ({grant: p.dataset.grant, from: p.dataset.from, to: p.dataset.to}))`

func sortEdges(es []edge) []edge {
	slices.SortFunc(es, func(a, b edge) int { return strings.Compare(a.Grant+a.From+a.To, b.Grant+b.From+b.To) })
	return es
}

// TestDashboard logs in to a demo consortium's dashboard as alpha and as
// gamma, visits every page, checks what it shows and what it hides, and
// verifies a receipt in the browser.
func TestDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium and a browser")
	}
	chromiumPath(t)
	c := startCluster(t)
	t.Run("alpha", func(t *testing.T) { testAlpha(t, c) })
	t.Run("gamma_visibility", func(t *testing.T) { testGammaVisibility(t, c) })
}

func testAlpha(t *testing.T, c *cluster) {
	b := newBrowser(t, c.api(1))

	b.open("/login")
	b.screenshot("login")
	b.login(c.token(t, "alpha"))

	// The first focusable element is the skip link, and the navigation
	// follows it.
	b.open("/")
	b.run(chromedp.KeyEvent(kb.Tab))
	if focused := eval[string](b, `document.activeElement.className`); focused != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", focused)
	}
	b.run(chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab))
	if focused := eval[string](b, `document.activeElement.textContent`); focused != "Overview" {
		t.Errorf("third Tab focuses %q, want the Overview link", focused)
	}

	// Overview: consortium, cluster, checkpoint, activity.
	_, html := b.open("/")
	if got := b.text("#me"); got != "alpha" {
		t.Errorf("logged in as %q", got)
	}
	leader := b.text("#leader")
	if !slices.Contains([]string{"alpha", "beta", "gamma"}, leader) {
		t.Errorf("overview leader %q", leader)
	}
	voters := b.text("#voters")
	for _, m := range []string{"alpha", "beta", "gamma"} {
		contains(t, "voters", voters, m+" voter")
	}
	contains(t, "overview", html, "charta/")
	// The dev nodes sign checkpoints with their member keys and gather each
	// other's cosignatures.
	cosigners := b.text("#cosigners")
	for _, m := range []string{"alpha", "beta", "gamma"} {
		contains(t, "checkpoint cosigners", cosigners, m)
	}
	// The last entries of the story: the demo gateway's key delegation.
	contains(t, "recent activity", b.text("#recent"), "key.delegate by alpha")
	b.screenshot("overview")
	b.checkNoErrors("overview")

	// Assets and lineage.
	b.open("/ui/assets")
	assets := b.text("#assets")
	for _, a := range []string{"atlas-7b", "alpha-corpus", "med-images", "gamma-h100", "atlas-med"} {
		contains(t, "assets", assets, a)
	}
	contains(t, "lineage", b.text("#lineage-list"), "atlas-med derives from atlas-7b under g-atlas-beta")
	lineage := eval[[]edge](b, `Array.from(document.querySelectorAll('#lineage path.lineage')).map(p => ({grant: '', from: p.dataset.from, to: p.dataset.to}))`)
	if len(lineage) != 1 || lineage[0].From != "atlas-7b" || lineage[0].To != "atlas-med" {
		t.Errorf("lineage edges %v, want atlas-7b → atlas-med", lineage)
	}
	b.screenshot("assets")
	b.checkNoErrors("assets")

	// Grants: the graph has exactly alpha's grants, as arrows from
	// licensor to licensee.
	b.open("/ui/grants")
	edges := eval[[]edge](b, edgesJS)
	want := []edge{
		{"g-atlas-beta", "alpha", "beta"}, {"g-atlas-gamma", "alpha", "gamma"}, {"g-chat-beta", "alpha", "beta"}, {"g-corpus-beta", "alpha", "beta"},
		{"g-corpus-data", "alpha", "gamma"}, {"g-host-us", "alpha", "gamma"}, {"g-med-alpha", "beta", "alpha"},
	}
	if got := sortEdges(edges); !slices.Equal(got, want) {
		t.Errorf("grant graph edges %v, want %v", got, want)
	}
	rows := eval[[]string](b, `Array.from(document.querySelectorAll('#grants tbody tr[data-grant]')).map(r => r.dataset.grant)`)
	if !slices.Equal(rows, []string{"g-atlas-beta", "g-atlas-gamma", "g-chat-beta", "g-corpus-beta", "g-corpus-data", "g-host-us", "g-med-alpha"}) {
		t.Errorf("grant list %v", rows)
	}
	b.screenshot("grants")
	b.open("/ui/grants?asset=atlas-7b")
	edges = eval[[]edge](b, edgesJS)
	if got := sortEdges(edges); !slices.Equal(got, []edge{{"g-atlas-beta", "alpha", "beta"}, {"g-atlas-gamma", "alpha", "gamma"}, {"g-host-us", "alpha", "gamma"}}) {
		t.Errorf("graph filtered by atlas-7b: %v", got)
	}
	b.open("/ui/grants?right=host")
	edges = eval[[]edge](b, edgesJS)
	if got := sortEdges(edges); !slices.Equal(got, []edge{{"g-host-us", "alpha", "gamma"}}) {
		t.Errorf("graph filtered by host: %v", got)
	}
	b.checkNoErrors("grants")

	// A grant's page: terms, clauses, history.
	if status, _ := b.open("/ui/grants/g-atlas-beta"); status != 200 {
		t.Errorf("grant page: %d", status)
	}
	contains(t, "grant terms", b.text("#terms"), "EU")
	contains(t, "grant history", b.text("#history"), "offered")
	contains(t, "grant status", b.text("#grant-status"), "active")
	b.screenshot("grant")
	b.checkNoErrors("grant")

	// Bundles: signature progress.
	b.open("/ui/bundles")
	contains(t, "bundle progress", b.text("#progress-x-atlas-med"), "2 of 2 parties have signed")
	b.screenshot("bundles")
	b.checkNoErrors("bundles")

	// Pools: the bars show what is left.
	b.open("/ui/pools")
	for m, rem := range map[string]string{"alpha": "245 remaining", "beta": "70 remaining", "gamma": "250 remaining"} {
		contains(t, "pool "+m, b.text(`#pool-gpu-pool li[data-member="`+m+`"] .remaining`), rem)
	}
	label := eval[string](b, `document.querySelector('#pool-gpu-pool li[data-member="alpha"] svg').getAttribute('aria-label')`)
	contains(t, "pool bar text alternative", label, "155 used")
	b.screenshot("pools")
	b.checkNoErrors("pools")

	// Statements and infractions of g-inference, which alpha is not a
	// party to, are not shown; gamma's overdue fairness audit of
	// g-atlas-gamma, alpha's grant, is, once it falls due.
	_, html = b.open("/ui/statements")
	contains(t, "statements", html, "No statements")
	b.open("/ui/infractions")
	if txt := b.text("#infractions"); strings.Contains(txt, "g-inference") ||
		!strings.Contains(txt, "No infractions") && !strings.Contains(txt, "g-atlas-gamma duty_overdue") {
		t.Errorf("alpha's infractions: %q", txt)
	}
	b.checkNoErrors("statements and infractions")

	// Journal and a receipt verified in the page.
	b.open("/ui/journal")
	n := eval[int](b, `document.querySelectorAll('#journal tbody tr').length`)
	if n < 27 {
		t.Errorf("journal shows %d entries, want at least 27", n)
	}
	b.screenshot("journal")
	offer := c.bundleOffer(t)
	b.open("/ui/journal/" + offer)
	b.run(
		chromedp.WaitEnabled(chromedp.CSS("#verify")),
		chromedp.Click(chromedp.CSS("#verify")),
		chromedp.WaitVisible(chromedp.CSS("#verify-result.ok")),
	)
	contains(t, "verify", b.text("#verify-result"), "Verified: entry "+offer+" ")
	b.screenshot("receipt")
	// A tampered receipt fails.
	eval[bool](b, `(() => { const p = document.getElementById('receipt-text'); const r = JSON.parse(p.textContent); r.entry.hash = r.inclusion_proof.hashes[0]; r.inclusion_proof.entry_hash = r.entry.hash; r.inclusion_proof.leaf_hash = ''; p.textContent = JSON.stringify(r); return true })()`)
	b.run(chromedp.Click(chromedp.CSS("#verify")), chromedp.WaitVisible(chromedp.CSS("#verify-result.bad")))
	b.checkNoErrors("journal")

	// Check: the form asks; a denied decision says why.
	b.open("/ui/check")
	b.run(
		chromedp.SetValue(chromedp.CSS("#c-member"), "beta"),
		chromedp.SetValue(chromedp.CSS("#c-asset"), "atlas-7b"),
		chromedp.SetValue(chromedp.CSS("#c-action"), "train"),
		chromedp.SendKeys(chromedp.CSS("#c-territory"), "US"),
		chromedp.SendKeys(chromedp.CSS("#c-purpose"), "research"),
		chromedp.Submit(chromedp.CSS("#c-purpose")),
		chromedp.WaitVisible(chromedp.CSS("#verdict")),
	)
	if got := b.text("#verdict"); got != "Denied" {
		t.Errorf("verdict %q, want Denied", got)
	}
	contains(t, "check reason", b.text("#reason"), "territory US is not in EU")
	b.screenshot("check")
	b.open("/ui/check?member=beta&asset=atlas-7b&action=train&territory=DE&purpose=healthcare")
	if got := b.text("#verdict"); got != "Allowed" {
		t.Errorf("verdict for DE healthcare %q, want Allowed", got)
	}
	b.checkNoErrors("check")

	// At phone width nothing overflows sideways.
	b.run(chromedp.EmulateViewport(390, 844))
	for _, p := range []string{"/", "/ui/grants", "/ui/pools", "/ui/journal/" + c.bundleOffer(t), "/ui/check"} {
		b.open(p)
		overflow := eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth + 1`)
		if overflow {
			wide := eval[[]string](b, `Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))`)
			t.Errorf("%s overflows at 390 px: %v", p, wide)
		}
	}
	b.screenshot("phone-overview")
	b.run(chromedp.EmulateViewport(1280, 900))

	// Logging out ends the session.
	b.open("/")
	b.run(chromedp.Click(chromedp.CSS(`form.who button`)), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.open("/ui/grants")
	loc := eval[string](b, "location.pathname + location.search")
	if loc != "/login?next=%2Fui%2Fgrants" {
		t.Errorf("after logout /ui/grants went to %s", loc)
	}
	b.checkNoErrors("logout")
}

// testGammaVisibility logs in as gamma: the alpha↔beta grant g-med-alpha
// and the bundle x-atlas-med are nowhere to be seen, while gamma's own
// metered grant shows its statement and infractions.
func testGammaVisibility(t *testing.T, c *cluster) {
	b := newBrowser(t, c.api(3))
	b.login(c.token(t, "gamma"))
	offer := c.bundleOffer(t)
	pages := []string{"/", "/ui/assets", "/ui/grants", "/ui/grants?asset=med-images", "/ui/bundles", "/ui/pools",
		"/ui/statements", "/ui/infractions", "/ui/journal", "/ui/journal/" + offer, "/ui/check"}
	for _, p := range pages {
		status, html := b.open(p)
		if status != 200 {
			t.Errorf("%s: status %d", p, status)
		}
		for _, hidden := range []string{"g-med-alpha", "x-atlas-med", "g-atlas-beta"} {
			if strings.Contains(html, hidden) {
				t.Errorf("%s shows %s to gamma", p, hidden)
			}
		}
	}
	b.open("/ui/grants")
	edges := eval[[]edge](b, edgesJS)
	want := []edge{{"g-atlas-gamma", "alpha", "gamma"}, {"g-corpus-data", "alpha", "gamma"}, {"g-corpus-gamma", "beta", "gamma"},
		{"g-host-us", "alpha", "gamma"}, {"g-inference", "gamma", "beta"}}
	if got := sortEdges(edges); !slices.Equal(got, want) {
		t.Errorf("gamma's grant graph %v, want %v", got, want)
	}
	b.screenshot("grants-gamma")
	b.checkNoErrors("gamma")
	for _, id := range []string{"g-med-alpha", "g-atlas-beta"} {
		b.expectErrors("/ui/grants/" + id) // the browser logs every 404 it loads
		status, _ := b.open("/ui/grants/" + id)
		if status != 404 {
			t.Errorf("gamma opening %s: status %d, want 404", id, status)
		}
		contains(t, "404 page", b.text("#error"), `no grant "`+id+`"`)
	}
	b.open("/ui/journal/" + offer)
	contains(t, "redacted entry", b.text("#entry"), "[not visible to you]")
	b.run(chromedp.Click(chromedp.CSS("#verify")), chromedp.WaitVisible(chromedp.CSS("#verify-result.ok")))

	b.open("/ui/statements")
	contains(t, "statement", b.text(`[id^="s-g-inference-"]`), "g-inference")
	b.screenshot("statements")
	b.open("/ui/infractions")
	inf := b.text("#infractions")
	contains(t, "infractions", inf, "soft_cap_exceeded")
	contains(t, "infractions", inf, "sla_breach")
	b.screenshot("infractions")
	b.open("/ui/infractions?kind=sla_breach")
	kinds := eval[[]string](b, `Array.from(document.querySelectorAll('#infractions tbody tr[data-infraction]')).map(r => r.children[2].textContent)`)
	if len(kinds) == 0 || slices.ContainsFunc(kinds, func(k string) bool { return k != "sla_breach" }) {
		t.Errorf("infractions filtered by sla_breach: %v", kinds)
	}
	b.checkNoErrors("gamma")
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of os/exec and
// the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
