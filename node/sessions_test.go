package node

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSessions_ExpireAndEvict(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ss := newSessions(time.Hour, 2, func() time.Time { return now })
	a := ss.open("token-a")
	now = now.Add(10 * time.Minute)
	b := ss.open("token-b")
	if a == b || len(a) != 43 {
		t.Fatalf("session IDs %q and %q", a, b)
	}
	if tok, ok := ss.token(a); !ok || tok != "token-a" {
		t.Fatalf("session a: %q %v", tok, ok)
	}
	// At capacity, the session closest to expiry (a) makes room.
	c := ss.open("token-c")
	if _, ok := ss.token(a); ok {
		t.Fatal("the oldest session survived eviction")
	}
	if tok, ok := ss.token(c); !ok || tok != "token-c" {
		t.Fatalf("session c: %q %v", tok, ok)
	}
	now = now.Add(time.Hour)
	if _, ok := ss.token(b); ok {
		t.Fatal("an expired session is still open")
	}
	ss.close(c)
	if _, ok := ss.token(c); ok {
		t.Fatal("a closed session is still open")
	}
}

// TestDashboard_SessionCookieHoldsNoToken logs in through the form: the
// cookie must carry a session ID, not the API token, and stop working at
// logout.
func TestDashboard_SessionCookieHoldsNoToken(t *testing.T) {
	ts := newTestServer(t)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"token": {secret("alpha")}, "next": {"/"}}
	resp, err := hc.PostForm(ts.ts.URL+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == nil {
		t.Fatalf("login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if strings.Contains(cookie.Value, secret("alpha")) || strings.Contains(url.QueryEscape(secret("alpha")), cookie.Value) {
		t.Fatalf("the session cookie carries the token: %q", cookie.Value)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie attributes: %+v", cookie)
	}
	page := func() int {
		req, _ := http.NewRequest(http.MethodGet, ts.ts.URL+"/", nil)
		req.AddCookie(cookie)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := page(); got != http.StatusOK {
		t.Fatalf("dashboard with the session: %d", got)
	}
	req, _ := http.NewRequest(http.MethodPost, ts.ts.URL+"/logout", nil)
	req.AddCookie(cookie)
	if resp, err := hc.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if got := page(); got != http.StatusSeeOther {
		t.Fatalf("dashboard with a logged-out session: %d, want a redirect to the login page", got)
	}
}
