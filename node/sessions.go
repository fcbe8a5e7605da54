package node

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// sessions maps the dashboard's session cookies to the API tokens they
// were opened with. The cookie holds only a random session ID, so the
// token never travels again after the login form and never sits in a
// browser's cookie store; the token is still authenticated on every
// request, so an expired token or a removed member loses access at once.
// Sessions live in the node's memory: a restart logs everyone out.
type sessions struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	now func() time.Time
	m   map[string]session
}

type session struct {
	token   string
	expires time.Time
}

func newSessions(ttl time.Duration, max int, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, max: max, now: now, m: make(map[string]session)}
}

// open starts a session for token and returns its ID. At capacity, expired
// sessions are dropped first, then the one closest to expiry.
func (ss *sessions) open(token string) string {
	var b [32]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	if len(ss.m) >= ss.max {
		var soonest string
		for k, s := range ss.m {
			if !s.expires.After(now) {
				delete(ss.m, k)
			} else if soonest == "" || s.expires.Before(ss.m[soonest].expires) {
				soonest = k
			}
		}
		if len(ss.m) >= ss.max {
			delete(ss.m, soonest)
		}
	}
	ss.m[id] = session{token: token, expires: now.Add(ss.ttl)}
	return id
}

// token returns the token of a live session.
func (ss *sessions) token(id string) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if ok && !s.expires.After(ss.now()) {
		delete(ss.m, id)
		return "", false
	}
	return s.token, ok
}

// close ends a session.
func (ss *sessions) close(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}
