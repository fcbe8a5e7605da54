package seal

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// statementInfo is the HKDF info of the statement attestation key.
const statementInfo = "charta-seal-v1 statement attestation"

// StatementTag is what the parties of a confidential grant attest for one
// of its statements (statement.attest): an HMAC-SHA256 (RFC 2104) of the
// statement's canonical bytes, keyed with 32 bytes derived by HKDF-SHA256
// (RFC 5869) from the salt of the grant's opening, with no HKDF salt and
// the info "charta-seal-v1 statement attestation":
//
//	K   = HKDF-SHA256(secret = opening salt, salt = "", info, 32)
//	tag = HMAC-SHA256(K, statement)
//
// A plain hash of a statement could be found by anyone who guesses its
// few unknowns (a price, a quantity) and hashes the guesses; the tag
// cannot be computed without the grant's salt, which only the recipients
// (and whoever they disclose the grant's opening to) hold. Both parties
// derive the same key from the same sealed grant, so equal statements give
// equal tags; a court given the opening and a statement recomputes the tag
// and compares it with the one the parties agreed on.
func StatementTag(grant Opening, statement []byte) ([32]byte, error) {
	var tag [32]byte
	if len(grant.Salt) != SaltSize {
		return tag, fmt.Errorf("seal: the grant's opening has a %d-byte salt, want %d", len(grant.Salt), SaltSize)
	}
	key, err := hkdf.Key(sha256.New, grant.Salt, nil, statementInfo, 32)
	if err != nil {
		return tag, fmt.Errorf("seal: statement key: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write(statement)
	copy(tag[:], m.Sum(nil))
	return tag, nil
}
