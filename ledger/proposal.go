package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PayloadType is the DSSE payload type of a proposal. It is signed as part
// of the pre-authentication encoding, so a signature over some other kind of
// document can never pass as a proposal.
const PayloadType = "application/vnd.charta.proposal.v1+json"

// Signature is one DSSE signature: the ID of the signing key and the
// signature over PAE(payloadType, payload).
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

// Envelope is a DSSE envelope carrying a signed proposal. Payload holds the
// exact bytes that were signed; they are decoded only after the signatures
// have been checked against them, so there is no canonicalisation problem.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     []byte      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// PAE returns the DSSE v1 pre-authentication encoding of a payload, which is
// what every signature signs:
//
//	"DSSEv1" SP LEN(payloadType) SP payloadType SP LEN(payload) SP payload
//
// where LEN is the byte length in ASCII decimal and SP is one space.
func PAE(payloadType string, payload []byte) []byte {
	return appendPAE(nil, payloadType, payload)
}

func appendPAE(b []byte, payloadType string, payload []byte) []byte {
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	return append(b, payload...)
}

// envelopeWire is the envelope as it appears on the wire. Decoding base64 by
// hand rather than through []byte fields lets DecodeEnvelope demand the
// canonical encoding.
type envelopeWire struct {
	PayloadType string          `json:"payloadType"`
	Payload     string          `json:"payload"`
	Signatures  []signatureWire `json:"signatures"`
}

type signatureWire struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// DecodeEnvelope decodes an envelope strictly (see DecodeStrict) and checks
// its shape: the payload type is PayloadType, the payload is non-empty
// base64, and there is at least one signature, each with a well-formed or
// empty key ID, a non-empty signature, and no key ID twice. As DSSE allows,
// the payload and signatures may be standard or URL-safe base64, padded or
// not, and a key ID may be empty: Admit then tries the signer's valid keys. It does not verify the
// signatures; see Verify. Every failure is an *Error with CodeInvalid that
// names the field.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	return decodeEnvelope(b, PayloadType)
}

// decodeEnvelope is DecodeEnvelope for envelopes of the given payload type.
func decodeEnvelope(b []byte, payloadType string) (*Envelope, error) {
	var w envelopeWire
	if err := DecodeStrict(b, &w); err != nil {
		return nil, err
	}
	switch {
	case w.PayloadType == "":
		return nil, Errorf(CodeInvalid, "payloadType: missing")
	case w.PayloadType != payloadType:
		return nil, Errorf(CodeInvalid, "payloadType: must be %q, got %q", payloadType, truncate(w.PayloadType, 80))
	case w.Payload == "":
		return nil, Errorf(CodeInvalid, "payload: missing or empty")
	case len(w.Signatures) == 0:
		return nil, Errorf(CodeInvalid, "signatures: missing or empty")
	}
	payload, err := decodeDSSEBase64(w.Payload)
	if err != nil {
		return nil, Errorf(CodeInvalid, "payload: %v", err)
	}
	if i, j, dup := duplicateKeyID(len(w.Signatures), func(i int) string { return w.Signatures[i].KeyID }); dup {
		return nil, Errorf(CodeInvalid, "signatures[%d].keyid: %s already signed in signatures[%d]", i, truncate(w.Signatures[i].KeyID, 100), j)
	}
	e := &Envelope{PayloadType: w.PayloadType, Payload: payload, Signatures: make([]Signature, len(w.Signatures))}
	for i, s := range w.Signatures {
		if _, _, ok := SplitKeyID(s.KeyID); !ok && s.KeyID != "" {
			return nil, Errorf(CodeInvalid, "signatures[%d].keyid: %q is not <member>/<16 hex digits> or empty", i, truncate(s.KeyID, 100))
		}
		if s.Sig == "" {
			return nil, Errorf(CodeInvalid, "signatures[%d].sig: missing or empty", i)
		}
		sig, err := decodeDSSEBase64(s.Sig)
		if err != nil {
			return nil, Errorf(CodeInvalid, "signatures[%d].sig: %v", i, err)
		}
		e.Signatures[i] = Signature{KeyID: s.KeyID, Sig: sig}
	}
	return e, nil
}

// decodeDSSEBase64 decodes base64 as DSSE allows it: standard or URL-safe,
// padded or not. Each alphabet and padding is decoded strictly, so no line
// breaks and no non-zero padding bits.
func decodeDSSEBase64(s string) ([]byte, error) {
	if strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0 {
		return nil, errors.New("invalid base64: contains a line break")
	}
	enc := base64.StdEncoding
	// Two byte searches: ContainsAny scans a signature's 4 KB far slower.
	if strings.IndexByte(s, '-') >= 0 || strings.IndexByte(s, '_') >= 0 {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	b, err := enc.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid base64 (standard or URL-safe, padded or not): %w", err)
	}
	return b, nil
}

// duplicateKeyID finds the first i whose key ID, id(i), already appeared at
// some j < i. Empty key IDs are not compared. Small envelopes are scanned pairwise without allocating; large
// ones use a set, so that a hostile envelope cannot cost quadratic time.
func duplicateKeyID(n int, id func(int) string) (i, j int, dup bool) {
	if n <= 16 {
		for i := 1; i < n; i++ {
			for j := range i {
				if id(i) != "" && id(i) == id(j) {
					return i, j, true
				}
			}
		}
		return 0, 0, false
	}
	first := make(map[string]int, n)
	for i := range n {
		if id(i) == "" {
			continue
		}
		if j, ok := first[id(i)]; ok {
			return i, j, true
		}
		first[id(i)] = i
	}
	return 0, 0, false
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Encode returns the canonical JSON form of the envelope: compact, members in
// the order payloadType, payload, signatures, and standard padded base64.
// Decoding and re-encoding an envelope gives these same bytes, so two nodes
// always agree on its Hash.
func (e *Envelope) Encode() []byte {
	enc := base64.StdEncoding
	n := 64 + len(e.PayloadType) + enc.EncodedLen(len(e.Payload))
	for _, s := range e.Signatures {
		n += 24 + len(s.KeyID) + enc.EncodedLen(len(s.Sig))
	}
	b := make([]byte, 0, n)
	b = append(b, `{"payloadType":`...)
	b = appendJSONString(b, e.PayloadType)
	b = append(b, `,"payload":"`...)
	b = enc.AppendEncode(b, e.Payload)
	b = append(b, `","signatures":[`...)
	for i, s := range e.Signatures {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"keyid":`...)
		b = appendJSONString(b, s.KeyID)
		b = append(b, `,"sig":"`...)
		b = enc.AppendEncode(b, s.Sig)
		b = append(b, `"}`...)
	}
	return append(b, "]}"...)
}

// Hash returns the SHA-256 of the envelope's canonical encoding. It identifies
// the envelope in the journal.
func (e *Envelope) Hash() [32]byte {
	return sha256.Sum256(e.Encode())
}

// Verify verifies every signature of the envelope over PAE(payloadType,
// payload), with the public keys that lookup returns for their key IDs. It
// returns the verified key IDs in envelope order, or an error for the first
// signature that fails: CodeUnauthorized for an unknown key, a key that does
// not match its ID, or a bad signature; CodeInvalid for an envelope with no
// signatures or a key ID that appears twice.
func (e *Envelope) Verify(lookup func(keyID string) (PublicKey, bool)) (keyIDs []string, err error) {
	return e.verify(func(keyID string) (*VerifyingKey, bool, error) {
		pk, ok := lookup(keyID)
		if !ok {
			return nil, false, nil
		}
		v, err := pk.Parse()
		return v, true, err
	})
}

// VerifyWith is Verify with keys that have already been parsed, which a key
// table can keep to save decoding every key on every proposal.
func (e *Envelope) VerifyWith(lookup func(keyID string) (*VerifyingKey, bool)) (keyIDs []string, err error) {
	return e.verify(func(keyID string) (*VerifyingKey, bool, error) {
		v, ok := lookup(keyID)
		if ok && v == nil {
			return nil, true, Errorf(CodeInternal, "nil key")
		}
		return v, ok, nil
	})
}

func (e *Envelope) verify(lookup func(keyID string) (*VerifyingKey, bool, error)) ([]string, error) {
	return e.verifyWith(lookup, func(v *VerifyingKey, _ int, msg, sig []byte) bool { return v.Verify(msg, sig) }, nil)
}

// verifyWith is verify with the signature check supplied, so that a cache
// can stand in front of it; check is told which signature of the envelope
// it checks. A signature with an empty key ID is resolved
// to the first of anon, in order, whose key lookup finds and whose check
// passes; with no anon it fails as an unknown key.
func (e *Envelope) verifyWith(lookup func(keyID string) (*VerifyingKey, bool, error), check func(v *VerifyingKey, i int, msg, sig []byte) bool, anon []string) ([]string, error) {
	if len(e.Signatures) == 0 {
		return nil, Errorf(CodeInvalid, "signatures: missing or empty")
	}
	msg := appendPAE(make([]byte, 0, 32+len(e.PayloadType)+len(e.Payload)), e.PayloadType, e.Payload)
	ids := make([]string, len(e.Signatures))
	if i, j, dup := duplicateKeyID(len(e.Signatures), func(i int) string { return e.Signatures[i].KeyID }); dup {
		return nil, Errorf(CodeInvalid, "signatures[%d].keyid: %s already signed in signatures[%d]", i, truncate(e.Signatures[i].KeyID, 100), j)
	}
	for i, s := range e.Signatures {
		if s.KeyID == "" {
			id, ok := resolveKeyID(i, msg, s.Sig, lookup, check, anon)
			if !ok {
				return nil, &KeyError{KeyID: "", Err: Errorf(CodeUnauthorized, "signatures[%d]: no keyid, and no valid key of the signer verifies the signature", i)}
			}
			ids[i] = id
			continue
		}
		_, fp, ok := SplitKeyID(s.KeyID)
		if !ok {
			return nil, Errorf(CodeUnauthorized, "signatures[%d]: malformed key ID %q", i, truncate(s.KeyID, 100))
		}
		v, found, err := lookup(s.KeyID)
		switch {
		case !found:
			return nil, &KeyError{KeyID: s.KeyID, Err: Errorf(CodeUnauthorized, "signatures[%d]: unknown key %s", i, s.KeyID)}
		case err != nil:
			return nil, Errorf(CodeUnauthorized, "signatures[%d]: key %s is unusable: %s", i, s.KeyID, errorText(err))
		case string(v.fp[:]) != fp:
			return nil, Errorf(CodeUnauthorized, "signatures[%d]: key %s has fingerprint %s, not the one in its ID", i, s.KeyID, v.fp[:])
		case !check(v, i, msg, s.Sig):
			return nil, Errorf(CodeUnauthorized, "signatures[%d]: bad %s signature by key %s", i, v.pub.Scheme, s.KeyID)
		}
		ids[i] = s.KeyID
	}
	if i, j, dup := duplicateKeyID(len(ids), func(i int) string { return ids[i] }); dup {
		return nil, Errorf(CodeInvalid, "signatures[%d]: key %s already signed in signatures[%d]", i, ids[i], j)
	}
	return ids, nil
}

// resolveKeyID finds the key of a signature that names none: the first
// of candidates whose key verifies it.
func resolveKeyID(i int, msg, sig []byte, lookup func(keyID string) (*VerifyingKey, bool, error), check func(v *VerifyingKey, i int, msg, sig []byte) bool, candidates []string) (string, bool) {
	for _, id := range candidates {
		v, found, err := lookup(id)
		if found && err == nil && v != nil && check(v, i, msg, sig) {
			return id, true
		}
	}
	return "", false
}

// Proposal is the signed payload of an envelope: one request to change the
// ledger. Which types exist and what their bodies hold is decided by the
// code that applies them; this type checks only the common frame.
type Proposal struct {
	V          int             `json:"v"`          // format version: 1
	Consortium string          `json:"consortium"` // consortium ID: 64 lowercase hex digits
	ID         string          `json:"id"`         // chosen by the client; 1..128 of [A-Za-z0-9._:-]
	Type       string          `json:"type"`       // such as "grant.offer"; see ValidProposalType
	Signer     string          `json:"signer"`     // the proposing member; see ValidMemberID
	IssuedAt   time.Time       `json:"issued_at"`  // RFC 3339; normalised to UTC
	Body       json.RawMessage `json:"body"`       // a JSON object, decoded by type
}

// proposalWire is the payload as it appears on the wire. issued_at is a
// string so that DecodePayload can demand RFC 3339 and name the field.
type proposalWire struct {
	V          *int            `json:"v"`
	Consortium string          `json:"consortium"`
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Signer     string          `json:"signer"`
	IssuedAt   string          `json:"issued_at"`
	Body       json.RawMessage `json:"body"`
}

// DecodePayload decodes an envelope payload strictly (see DecodeStrict) and
// validates every field of the frame. The body is checked to be an object; its
// contents are checked by the code for the proposal's type, through
// DecodeBody.
func DecodePayload(b []byte) (*Proposal, error) {
	var w proposalWire
	if err := DecodeStrict(b, &w); err != nil {
		return nil, err
	}
	if w.V == nil {
		return nil, Errorf(CodeInvalid, "v: missing")
	}
	if w.IssuedAt == "" {
		return nil, Errorf(CodeInvalid, "issued_at: missing")
	}
	t, err := time.Parse(time.RFC3339Nano, w.IssuedAt)
	if err != nil {
		return nil, Errorf(CodeInvalid, "issued_at: %q is not an RFC 3339 time", truncate(w.IssuedAt, 40))
	}
	p := &Proposal{
		V:          *w.V,
		Consortium: w.Consortium,
		ID:         w.ID,
		Type:       w.Type,
		Signer:     w.Signer,
		IssuedAt:   t.UTC(),
		Body:       w.Body,
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, p.Body); err != nil { // cannot fail: DecodeStrict checked it
		return nil, Errorf(CodeInvalid, "body: %s", errorText(err))
	}
	p.Body = buf.Bytes()
	return p, nil
}

// Validate checks the fields of the frame.
func (p *Proposal) Validate() error {
	switch {
	case p.V != 1:
		return Errorf(CodeInvalid, "v: unsupported version %d, want 1", p.V)
	case p.Consortium == "":
		return Errorf(CodeInvalid, "consortium: missing")
	case !ValidConsortiumID(p.Consortium):
		return Errorf(CodeInvalid, "consortium: %q is not 64 lowercase hex digits", truncate(p.Consortium, 80))
	case p.ID == "":
		return Errorf(CodeInvalid, "id: missing")
	case !validProposalID(p.ID):
		return Errorf(CodeInvalid, "id: %q is not 1..128 of [A-Za-z0-9._:-]", truncate(p.ID, 140))
	case p.Type == "":
		return Errorf(CodeInvalid, "type: missing")
	case !ValidProposalType(p.Type):
		return Errorf(CodeInvalid, "type: %q is not lowercase dotted words such as \"grant.offer\"", truncate(p.Type, 80))
	case p.Signer == "":
		return Errorf(CodeInvalid, "signer: missing")
	case !ValidMemberID(p.Signer):
		return Errorf(CodeInvalid, "signer: %q is not a member ID (1..64 of [a-z0-9-], starting with a letter)", truncate(p.Signer, 80))
	case p.IssuedAt.IsZero():
		return Errorf(CodeInvalid, "issued_at: missing")
	case p.IssuedAt.UTC().Year() < 1 || p.IssuedAt.UTC().Year() > 9999:
		return Errorf(CodeInvalid, "issued_at: year %d is out of range", p.IssuedAt.UTC().Year())
	case len(bytes.TrimSpace(p.Body)) == 0:
		return Errorf(CodeInvalid, "body: missing")
	case bytes.TrimSpace(p.Body)[0] != '{':
		return Errorf(CodeInvalid, "body: must be a JSON object")
	}
	return nil
}

// Encode returns the payload bytes of p: compact JSON with the members in a
// fixed order, issued_at in UTC RFC 3339 with only as many fractional digits
// as it needs, and the body compacted. The same Proposal always encodes to the
// same bytes, and DecodePayload of them gives back an equal Proposal.
func (p *Proposal) Encode() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	// Refuse to sign a body that DecodePayload would reject.
	if err := decodeStrictAt("body", p.Body, new(json.RawMessage)); err != nil {
		return nil, err
	}
	w := proposalWire{
		V:          &p.V,
		Consortium: p.Consortium,
		ID:         p.ID,
		Type:       p.Type,
		Signer:     p.Signer,
		IssuedAt:   p.IssuedAt.UTC().Format(time.RFC3339Nano),
		Body:       p.Body, // encoding/json compacts a RawMessage
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the body's bytes as DecodePayload compacts them
	if err := enc.Encode(w); err != nil {
		return nil, Errorf(CodeInvalid, "body: %s", errorText(err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// DecodeBody decodes the proposal's body into v with DecodeStrict; error
// paths start at "body".
func (p *Proposal) DecodeBody(v any) error {
	return decodeStrictAt("body", p.Body, v)
}

// Sign encodes p and signs PAE(PayloadType, payload) with every signer, in
// order. Each signer's KeyID must be the ID of its key's public key under
// some member; no key may sign twice.
func Sign(p *Proposal, signers ...Signer) (*Envelope, error) {
	return sign(p, false, signers)
}

// SignDeterministic is Sign with PrivateKey.SignDeterministic, so that the
// same proposal and keys always give the same envelope bytes.
func SignDeterministic(p *Proposal, signers ...Signer) (*Envelope, error) {
	return sign(p, true, signers)
}

func sign(p *Proposal, deterministic bool, signers []Signer) (*Envelope, error) {
	if len(signers) == 0 {
		return nil, Errorf(CodeInvalid, "signatures: no signers")
	}
	payload, err := p.Encode()
	if err != nil {
		return nil, err
	}
	msg := PAE(PayloadType, payload)
	e := &Envelope{PayloadType: PayloadType, Payload: payload, Signatures: make([]Signature, len(signers))}
	for i, s := range signers {
		if s.Key == nil {
			return nil, Errorf(CodeInvalid, "signers[%d]: no key", i)
		}
		member, fp, ok := SplitKeyID(s.KeyID)
		if !ok {
			return nil, Errorf(CodeInvalid, "signers[%d]: %q is not <member>/<16 hex digits>", i, truncate(s.KeyID, 100))
		}
		if want := KeyID(member, s.Key.Public()); fp != s.Key.Public().Fingerprint() {
			return nil, Errorf(CodeInvalid, "signers[%d]: key ID %s does not match its key, whose ID is %s", i, s.KeyID, want)
		}
		for j := range i {
			if signers[j].KeyID == s.KeyID {
				return nil, Errorf(CodeInvalid, "signers[%d]: %s already signs as signers[%d]", i, s.KeyID, j)
			}
		}
		var sig []byte
		if deterministic {
			sig, err = s.Key.SignDeterministic(msg)
		} else {
			sig, err = s.Key.Sign(msg)
		}
		if err != nil {
			return nil, err
		}
		e.Signatures[i] = Signature{KeyID: s.KeyID, Sig: sig}
	}
	return e, nil
}

// ValidMemberID reports whether s is a well-formed member ID: 1 to 64 of
// [a-z0-9-], starting with a letter. Member IDs appear in key IDs, paths and
// Raft server IDs, so they are kept plain.
func ValidMemberID(s string) bool {
	if len(s) == 0 || len(s) > 64 || !('a' <= s[0] && s[0] <= 'z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidConsortiumID reports whether s is a well-formed consortium ID: the
// SHA-256 of the genesis document as 64 lowercase hex digits.
func ValidConsortiumID(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validProposalID reports whether s is 1..128 of [A-Za-z0-9._:-].
func validProposalID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// ValidProposalType reports whether s has the shape of a proposal type: at
// most 64 bytes of lowercase words joined by dots, each word starting with a
// letter and going on with [a-z0-9_-], such as "grant.offer" or
// "member.admit". Whether the type exists is checked where it is applied.
func ValidProposalType(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	wordStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case wordStart:
			if !('a' <= c && c <= 'z') {
				return false
			}
			wordStart = false
		case c == '.':
			wordStart = true
		case !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-'):
			return false
		}
	}
	return !wordStart
}
