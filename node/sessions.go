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
//
// One token holds at most perToken sessions, and one member (over all its
// tokens) at most perMember: a new login past either closes that token's
// or member's oldest session, so that logging in over and over, with one
// token or with many tokens of one member, cannot push other members out.
// Past max sessions in all, a login is refused until some expire.
type sessions struct {
	mu        sync.Mutex
	ttl       time.Duration
	max       int
	perToken  int
	perMember int
	now       func() time.Time
	m         map[string]session  // session ID → session
	byToken   map[string][]string // token → its session IDs, oldest first
	byMember  map[string][]string // member ("" for the operator) → its session IDs, oldest first
}

type session struct {
	token   string
	member  string
	expires time.Time
}

func newSessions(ttl time.Duration, max, perToken, perMember int, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, max: max, perToken: perToken, perMember: perMember, now: now,
		m: make(map[string]session), byToken: make(map[string][]string), byMember: make(map[string][]string)}
}

// open starts a session for member's token and returns its ID, or false
// when the node holds as many sessions as it may.
func (ss *sessions) open(token, member string) (string, bool) {
	var b [32]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ids := ss.byToken[token]; len(ids) >= ss.perToken {
		ss.closeLocked(ids[0])
	}
	if ids := ss.byMember[member]; len(ids) >= ss.perMember {
		ss.closeLocked(ids[0])
	}
	if len(ss.m) >= ss.max {
		now := ss.now()
		for k, s := range ss.m {
			if !s.expires.After(now) {
				ss.closeLocked(k)
			}
		}
		if len(ss.m) >= ss.max {
			return "", false
		}
	}
	ss.m[id] = session{token: token, member: member, expires: ss.now().Add(ss.ttl)}
	ss.byToken[token] = append(ss.byToken[token], id)
	ss.byMember[member] = append(ss.byMember[member], id)
	return id, true
}

// token returns the token of a live session.
func (ss *sessions) token(id string) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if ok && !s.expires.After(ss.now()) {
		ss.closeLocked(id)
		return "", false
	}
	return s.token, ok
}

// close ends a session.
func (ss *sessions) close(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.closeLocked(id)
}

func (ss *sessions) closeLocked(id string) {
	s, ok := ss.m[id]
	if !ok {
		return
	}
	delete(ss.m, id)
	forget(ss.byToken, s.token, id)
	forget(ss.byMember, s.member, id)
}

// forget removes session id from index[key].
func forget(index map[string][]string, key, id string) {
	ids := index[key]
	for i, x := range ids {
		if x == id {
			ids = append(ids[:i], ids[i+1:]...)
			break
		}
	}
	if len(ids) == 0 {
		delete(index, key)
	} else {
		index[key] = ids
	}
}
