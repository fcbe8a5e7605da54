package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Role is what a member may do: propose and vote, or only read everything.
type Role string

// The roles.
const (
	RoleMember  Role = "member"
	RoleAuditor Role = "auditor"
)

// MemberStatus is where a member stands in the consortium.
type MemberStatus string

// The member statuses. Only active members may propose.
const (
	MemberActive    MemberStatus = "active"
	MemberSuspended MemberStatus = "suspended"
	MemberRemoved   MemberStatus = "removed"
)

// NodeInfo is where a member's node can be reached. Its Raft server ID is
// the member ID, so the ID survives address changes.
type NodeInfo struct {
	RaftAddr string `json:"raft_addr,omitempty"`
	APIAddr  string `json:"api_addr,omitempty"`
}

// Member is a party to the consortium.
type Member struct {
	ID     string       `json:"id"`
	Name   string       `json:"name,omitempty"`
	Role   Role         `json:"role"`
	Status MemberStatus `json:"status"`
	Node   NodeInfo     `json:"node"`
	Keys   []string     `json:"keys"` // every key ID the member ever had, oldest first
	// EncryptionKeys are every encryption key the member ever had, oldest
	// first; the last is current unless it has ended (member_enckeys.go).
	// Absent for a member that never had one, so that the records, and the
	// state digest, of consortia without encryption keys do not change.
	EncryptionKeys []EncryptionKeyRecord `json:"encryption_keys,omitempty"`
	Since          uint64                `json:"since"`
	UpdatedAt      uint64                `json:"updated_at"` // log index of the last change
}

// KeyRecord is one signing key in the key table, with the span of log
// indices in which it was valid, so that old entries stay verifiable after
// rotation or revocation.
type KeyRecord struct {
	ID         string    `json:"id"`
	Member     string    `json:"member"`
	Public     PublicKey `json:"public"`
	ValidFrom  uint64    `json:"valid_from"`
	ValidUntil uint64    `json:"valid_until,omitempty"` // first index at which it is no longer valid; 0 = still valid
	EndedBy    string    `json:"ended_by,omitempty"`    // "rotated" or "revoked"
	// Scope bounds a delegated key (key.delegate); nil for an ordinary
	// key, which may sign anything its member may.
	Scope *KeyScope `json:"scope,omitempty"`
}

// ValidAt reports whether the key could sign at log index i.
func (k *KeyRecord) ValidAt(i uint64) bool {
	return i >= k.ValidFrom && (k.ValidUntil == 0 || i < k.ValidUntil)
}

// Token is a member's API bearer token as the ledger knows it: only the
// SHA-256 of the secret is stored.
type Token struct {
	Hash      string    `json:"hash"` // hex SHA-256 of the secret
	Member    string    `json:"member"`
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"expires_at"`
	Index     uint64    `json:"index"`
}

// TokenScopes are the scopes a token may carry.
var TokenScopes = []string{"read", "write", "admin"}

// HashToken returns the hex SHA-256 of a bearer token's secret, the form in
// which the ledger stores it.
func HashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// HasScope reports whether the token carries scope.
func (t *Token) HasScope(scope string) bool { return slices.Contains(t.Scopes, scope) }

// TokenRegister is the body of token.register: a member registers the SHA-256 of an API token.
type TokenRegister struct {
	Hash      string    `json:"hash"`
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TokenRevoke is the body of token.revoke.
type TokenRevoke struct {
	Hash string `json:"hash"`
}

// KeyRotate is the body of key.rotate, signed by both the old and the new key.
type KeyRotate struct {
	Old string    `json:"old"` // key ID being replaced
	New PublicKey `json:"new"`
}

// validHexHash reports whether s is 64 lower-case hex digits.
func validHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func init() {
	register("token.register", handler{apply: applyTokenRegister, auditors: true})
}

func applyTokenRegister(a *applyCtx) error {
	var b TokenRegister
	if err := a.body(&b); err != nil {
		return err
	}
	if !validHexHash(b.Hash) {
		return Errorf(CodeInvalid, "body.hash: want 64 lower-case hex digits of the token's SHA-256")
	}
	if len(b.Scopes) == 0 {
		return Errorf(CodeInvalid, "body.scopes: at least one scope is required (%v)", TokenScopes)
	}
	for i, s := range b.Scopes {
		if !slices.Contains(TokenScopes, s) {
			return Errorf(CodeInvalid, "body.scopes[%d]: unknown scope %q (want one of %v)", i, s, TokenScopes)
		}
	}
	if !b.ExpiresAt.After(a.now) {
		return Errorf(CodeInvalid, "body.expires_at: %s is not in the future", b.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if b.ExpiresAt.UTC().Year() > 9999 {
		// In UTC it has no RFC 3339 form, which the token's record and the
		// state digest need.
		return Errorf(CodeInvalid, "body.expires_at: %s is after the year 9999 in UTC", b.ExpiresAt.Format(time.RFC3339))
	}
	if a.tx.get(bucketTokens, []byte(b.Hash)) != nil {
		return Errorf(CodeConflict, "body.hash: this token is already registered")
	}
	scopes := slices.Clone(b.Scopes)
	slices.Sort(scopes)
	a.tx.put(bucketTokens, []byte(b.Hash), encodeToken(&Token{
		Hash: b.Hash, Member: a.p.Signer, Scopes: slices.Compact(scopes),
		ExpiresAt: b.ExpiresAt.UTC(), Index: a.index,
	}))
	return nil
}

func init() {
	register("token.revoke", handler{apply: applyTokenRevoke, auditors: true})
}

func applyTokenRevoke(a *applyCtx) error {
	var b TokenRevoke
	if err := a.body(&b); err != nil {
		return err
	}
	t, ok := a.tx.getToken(b.Hash)
	if !ok {
		return Errorf(CodeNotFound, "body.hash: no such token")
	}
	if t.Member != a.p.Signer {
		return Errorf(CodeForbidden, "body.hash: the token belongs to %s", t.Member)
	}
	a.tx.del(bucketTokens, []byte(b.Hash))
	return nil
}

func init() {
	register("key.rotate", handler{apply: applyKeyRotate, extraKeys: rotateKeys, auditors: true})
}

// applyKeyRotate replaces one of the signer's keys. The envelope must carry
// signatures by both the old and the new key; verify() has already checked
// the new key's signature against the body.
func applyKeyRotate(a *applyCtx) error {
	var b KeyRotate
	if err := a.body(&b); err != nil {
		return err
	}
	old, err := a.key(b.Old)
	if err != nil {
		return err
	}
	if old.Member != a.p.Signer {
		return Errorf(CodeForbidden, "body.old: key %s belongs to %s", b.Old, old.Member)
	}
	if !old.ValidAt(a.index) {
		return Errorf(CodeRejected, "body.old: key %s is no longer valid", b.Old)
	}
	newID := KeyID(a.p.Signer, b.New)
	if !slices.Contains(a.signedBy, b.Old) || !slices.Contains(a.signedBy, newID) {
		return Errorf(CodeUnauthorized, "key.rotate must be signed by both the old key %s and the new key %s", b.Old, newID)
	}
	if a.tx.get(bucketKeys, []byte(newID)) != nil {
		return Errorf(CodeConflict, "body.new: key %s is already registered", newID)
	}
	old.ValidUntil, old.EndedBy = a.index, "rotated"
	a.tx.putJSON(bucketKeys, []byte(old.ID), old)
	a.tx.putJSON(bucketKeys, []byte(newID), KeyRecord{ID: newID, Member: a.p.Signer, Public: b.New, ValidFrom: a.index})
	var m Member
	a.tx.getJSON(bucketMembers, []byte(a.p.Signer), &m)
	m.Keys = append(m.Keys, newID)
	m.UpdatedAt = a.index
	a.tx.putJSON(bucketMembers, []byte(m.ID), m)
	a.event("key.rotated", newID)
	return nil
}

// key returns a key record or a not_found error.
func (a *applyCtx) key(id string) (*KeyRecord, error) {
	k, ok := a.tx.getKey(id)
	if !ok {
		return nil, Errorf(CodeNotFound, "key %s is not in the key table", id)
	}
	return &k, nil
}

// member returns a member or a not_found error naming the field.
func (a *applyCtx) member(field, id string) (*Member, error) {
	m, ok := a.tx.memos.members.get(a.tx, id)
	if !ok {
		return nil, Errorf(CodeNotFound, "%s: no member %q", field, id)
	}
	return &m, nil
}

// activeMember is member, but also refuses suspended and removed members.
func (a *applyCtx) activeMember(field, id string) (*Member, error) {
	m, err := a.member(field, id)
	if err != nil {
		return nil, err
	}
	if m.Status != MemberActive {
		return nil, Errorf(CodeRejected, "%s: member %s is %s", field, id, m.Status)
	}
	return m, nil
}

// Validate checks the node's addresses. Each, when given, must be host:port
// as a peer dials it (a name, an IPv4 address, or an IPv6 address in
// brackets, and a port from 1 to 65535); the API address may also be an
// http:// or https:// URL of that host and port. No path, query or user
// information, so that no member can point other nodes' requests at a URL
// of its choosing. field prefixes the error.
func (n NodeInfo) Validate(field string) error {
	api := n.APIAddr
	if rest, ok := strings.CutPrefix(api, "http://"); ok {
		api = strings.TrimSuffix(rest, "/")
	} else if rest, ok := strings.CutPrefix(api, "https://"); ok {
		api = strings.TrimSuffix(rest, "/")
	}
	for _, a := range []struct{ name, addr, hostPort string }{{"raft_addr", n.RaftAddr, n.RaftAddr}, {"api_addr", n.APIAddr, api}} {
		if a.addr == "" {
			continue
		}
		if why := checkHostPort(a.hostPort); why != "" {
			return Errorf(CodeInvalid, "%s.%s: %q %s", field, a.name, a.addr, why)
		}
	}
	return nil
}

// checkHostPort returns why s is not host:port, or "".
func checkHostPort(s string) string {
	if len(s) > 261 {
		return "is longer than 261 characters"
	}
	var host, port string
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]:")
		if end < 0 {
			return "is not [ipv6]:port"
		}
		host, port = s[1:end], s[end+2:]
		if host == "" || strings.Trim(host, "0123456789abcdefABCDEF:.") != "" {
			return "does not hold an IPv6 address in brackets"
		}
	} else {
		i := strings.LastIndexByte(s, ':')
		if i < 0 {
			return "is not host:port"
		}
		host, port = s[:i], s[i+1:]
		if host == "" || len(host) > 253 {
			return "has no host, or one longer than 253 characters"
		}
		for _, c := range host {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				return "has a host that is not a DNS name or an IPv4 address"
			}
		}
	}
	if len(port) == 0 || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
		return "has no numeric port"
	}
	if p, _ := strconv.Atoi(port); p < 1 || p > 65535 {
		return "has a port outside 1-65535"
	}
	return ""
}
