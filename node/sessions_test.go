package node

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSessions_ExpireAndCaps(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ss := newSessions(time.Hour, 3, 2, 100, func() time.Time { return now })
	open := func(tok string) string {
		t.Helper()
		id, ok := ss.open(tok, "member-of-"+tok)
		if !ok {
			t.Fatalf("login with %s refused", tok)
		}
		return id
	}
	a1 := open("token-a")
	a2 := open("token-a")
	if a1 == a2 || len(a1) != 43 {
		t.Fatalf("session IDs %q and %q", a1, a2)
	}
	if tok, ok := ss.token(a1); !ok || tok != "token-a" {
		t.Fatalf("session a1: %q %v", tok, ok)
	}
	// A third login with the same token closes its oldest session.
	a3 := open("token-a")
	if _, ok := ss.token(a1); ok {
		t.Fatal("token-a holds more than 2 sessions")
	}
	b1 := open("token-b")
	// The node is full: another login is refused, nobody is pushed out.
	if _, ok := ss.open("token-c", "member-of-token-c"); ok {
		t.Fatal("a login past the node's cap was accepted")
	}
	for _, id := range []string{a2, a3, b1} {
		if _, ok := ss.token(id); !ok {
			t.Fatalf("session %s was pushed out", id)
		}
	}
	// Expired sessions make room.
	now = now.Add(2 * time.Hour)
	open("token-c")
	if _, ok := ss.token(b1); ok {
		t.Fatal("an expired session is still open")
	}
	ss.close(a3)
	if _, ok := ss.token(a3); ok {
		t.Fatal("a closed session is still open")
	}
}

// TestSessions_OneMemberCannotFillTheNode: logins with many tokens of one
// member close that member's oldest sessions instead of filling the node,
// so other members (and the operator) can still log in.
func TestSessions_OneMemberCannotFillTheNode(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ss := newSessions(time.Hour, 10, 8, 4, func() time.Time { return now })
	var held []string
	for i := range 20 {
		id, ok := ss.open("token-"+strconv.Itoa(i), "gamma")
		if !ok {
			t.Fatalf("gamma's login %d refused", i)
		}
		held = append(held, id)
	}
	if n := len(ss.byMember["gamma"]); n != 4 || len(ss.m) != 4 {
		t.Fatalf("gamma holds %d sessions, the node %d; want 4", n, len(ss.m))
	}
	for _, id := range held[16:] {
		if _, ok := ss.token(id); !ok {
			t.Fatalf("one of gamma's newest sessions was closed")
		}
	}
	for _, who := range []string{"alpha", ""} {
		if _, ok := ss.open("token-of-"+who, who); !ok {
			t.Fatalf("%q cannot log in after gamma's logins", who)
		}
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
