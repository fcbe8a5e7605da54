package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// The stored forms of the records that every write touches. The journal
// entry (journal.go) and the token are compact and versioned: a record
// begins with its form's version byte, which is never '{', so a record that
// an earlier release wrote as JSON still reads. The state digest hashes each
// binary state record (a token; journal entries reach it only through the
// journal's head) as the JSON it stands for (canonicalRecord), so it is
// defined over the same content as before, and a state has the same digest
// whichever release wrote its records (docs/journal.md). The replay record
// (seen) stays JSON, the bytes encoding/json wrote for it, but written by
// hand (appendSeenJSON): the digest visits one per journaled proposal and
// hashes it as stored, and a write only adds one.
const tokenRecordV1 = 1

// canonicalRecord returns the bytes the state digest hashes for a value
// stored in bucket: the record's JSON, as the release before the compact
// forms stored it. Values of other buckets are their stored bytes. A
// binary record must be the one encoding of what it decodes to, so that
// equal digests still mean equal stores.
func canonicalRecord(bucket, k, v []byte) []byte {
	if len(v) == 0 || v[0] == '{' {
		return v
	}
	switch string(bucket) {
	case string(bucketTokens):
		var t Token
		mustBeStored(bucket, k, decodeToken(v, &t))
		mustBeStored(bucket, k, canonical(v, encodeToken(&t)))
		b, err := appendTokenJSON(make([]byte, 0, 192), &t)
		mustBeStored(bucket, k, err)
		return b
	}
	return v
}

func canonical(stored, encoded []byte) error {
	if !bytes.Equal(stored, encoded) {
		return errors.New("not the canonical encoding of its content")
	}
	return nil
}

// mustBeStored panics on err, the failure to read a record that Apply
// stored: the store is broken.
func mustBeStored(bucket, k []byte, err error) {
	if err != nil {
		panic(fmt.Sprintf("ledger: corrupt state: bucket %s key %q: %v", bucket, k, err))
	}
}

// getSeen reads the replay-protection record at k; nil if there is none.
func (t *tx) getSeen(k []byte) *seenRecord {
	b := t.get(bucketSeen, k)
	if b == nil {
		return nil
	}
	s := new(seenRecord)
	mustUnmarshal(bucketSeen, k, b, s)
	return s
}

// getToken reads the token record at hash.
func (t *tx) getToken(hash string) (Token, bool) {
	var tok Token
	b := t.get(bucketTokens, []byte(hash))
	if b == nil {
		return tok, false
	}
	mustBeStored(bucketTokens, []byte(hash), decodeToken(b, &tok))
	return tok, true
}

// encodeToken returns the stored form of tok: the version, the hash, the
// member, the scopes, the expiry and the index it was registered at.
func encodeToken(tok *Token) []byte {
	n := 1 + 4*binary.MaxVarintLen64 + len(tok.Hash) + len(tok.Member) + timeSize + 8
	for _, s := range tok.Scopes {
		n += binary.MaxVarintLen64 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, tokenRecordV1)
	b = appendUvarintString(b, tok.Hash)
	b = appendUvarintString(b, tok.Member)
	b = binary.AppendUvarint(b, uint64(len(tok.Scopes)))
	for _, s := range tok.Scopes {
		b = appendUvarintString(b, s)
	}
	b = appendTime(b, tok.ExpiresAt)
	return binary.BigEndian.AppendUint64(b, tok.Index)
}

func decodeToken(b []byte, tok *Token) error {
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, tok)
	}
	r := binReader{b: b}
	if v := r.byte(); v != tokenRecordV1 {
		return fmt.Errorf("unknown stored form %d", v)
	}
	*tok = Token{Hash: r.string(), Member: r.string()}
	if n := r.count(); n > 0 { // a token has at least one scope
		tok.Scopes = make([]string, n)
		for i := range tok.Scopes {
			tok.Scopes[i] = r.string()
		}
	}
	tok.ExpiresAt = r.time()
	tok.Index = r.u64()
	return r.done()
}

// strings returns the outcome's strings in the order every binary form
// (stored records and the format 2 entry hash) writes them.
func (o *Outcome) strings() [7]string {
	return [7]string{o.Status, o.Type, o.ID, o.Signer, string(o.Code), o.Message, o.With}
}

// outcomeSize bounds the stored size of o.
func outcomeSize(o *Outcome) int {
	n := 8 * binary.MaxVarintLen64
	for _, s := range o.strings() {
		n += len(s)
	}
	for _, ev := range o.Events {
		n += 2*binary.MaxVarintLen64 + len(ev.Kind) + len(ev.Subject)
	}
	return n
}

// appendOutcome appends the outcome's strings and then its events, each
// string prefixed by its length as a uvarint.
func appendOutcome(b []byte, o *Outcome) []byte {
	for _, s := range o.strings() {
		b = appendUvarintString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(o.Events)))
	for _, ev := range o.Events {
		b = appendUvarintString(appendUvarintString(b, ev.Kind), ev.Subject)
	}
	return b
}

func appendUvarintString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// timeSize is the stored size of a time: seconds, nanoseconds and the UTC
// offset in seconds, which JSON keeps too.
const timeSize = 8 + 4 + 4

func appendTime(b []byte, at time.Time) []byte {
	_, off := at.Zone()
	b = binary.BigEndian.AppendUint64(b, uint64(at.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(at.Nanosecond()))
	return binary.BigEndian.AppendUint32(b, uint32(int32(off)))
}

// binReader reads the fields of a stored record; the first error sticks.
type binReader struct {
	b   []byte
	err error
}

var (
	errTruncated = errors.New("truncated record")
	errMalformed = errors.New("malformed record")
)

// fail records a malformed field, unless an error came first.
func (r *binReader) fail() {
	if r.err == nil {
		r.err = errMalformed
	}
}

func (r *binReader) take(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errTruncated
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *binReader) byte() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *binReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *binReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *binReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a number of items that follow, each at least one byte long.
func (r *binReader) count() uint64 {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = errTruncated
		return 0
	}
	return n
}

func (r *binReader) hash(h *Hash) { copy(h[:], r.take(32)) }

func (r *binReader) string() string { return string(r.take(r.uvarint())) }

func (r *binReader) time() time.Time {
	sec, nsec, off := int64(r.u64()), int64(r.u32()), int32(r.u32())
	// What JSON can hold: nanoseconds of a second, and an offset of whole
	// minutes under a day.
	if nsec >= 1e9 || off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		r.fail()
		return time.Time{}
	}
	at := time.Unix(sec, nsec)
	if off == 0 {
		return at.UTC()
	}
	return at.In(time.FixedZone("", int(off)))
}

// outcome reads what appendOutcome wrote.
func (r *binReader) outcome(o *Outcome) {
	o.Status, o.Type, o.ID, o.Signer = r.string(), r.string(), r.string(), r.string()
	o.Code, o.Message, o.With = Code(r.string()), r.string(), r.string()
	if n := r.count(); n > 0 {
		o.Events = make([]Event, n)
		for i := range o.Events {
			o.Events[i] = Event{Kind: r.string(), Subject: r.string()}
		}
	}
}

// done reports the first error, or bytes left over.
func (r *binReader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the record", len(r.b))
	}
	return r.err
}

// The JSON of the replay record and of a token, written by hand: byte for
// byte what encoding/json writes for them (TestStoredRecords_DigestJSON,
// FuzzAppendSeenJSON and FuzzDecodeStoredRecords compare the two), at a
// fraction of the cost, since the digest visits every record of the state.

// appendSeenJSON appends the JSON of s.
func appendSeenJSON(b []byte, s *seenRecord) []byte {
	r := &s.Result
	b = append(b, `{"payload_hash":"`...)
	b = hex.AppendEncode(b, s.PayloadHash[:])
	b = append(b, `","result":{"index":`...)
	b = strconv.AppendUint(b, r.Index, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"entry_hash":"`...)
	b = hex.AppendEncode(b, r.EntryHash[:])
	b = append(b, `","outcome":`...)
	b = appendOutcomeJSON(b, &r.Outcome)
	if r.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, "}}"...)
}

// appendOutcomeJSON appends the JSON of o: status always, the other fields
// when they are not empty.
func appendOutcomeJSON(b []byte, o *Outcome) []byte {
	b = append(b, `{"status":`...)
	b = appendJSONString(b, o.Status)
	for _, f := range [...]struct{ name, value string }{
		{`,"type":`, o.Type}, {`,"id":`, o.ID}, {`,"signer":`, o.Signer}, {`,"code":`, string(o.Code)}, {`,"message":`, o.Message},
	} {
		if f.value != "" {
			b = appendJSONString(append(b, f.name...), f.value)
		}
	}
	if len(o.Events) > 0 {
		b = append(b, `,"events":[`...)
		for i, ev := range o.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(append(b, `{"kind":`...), ev.Kind)
			b = appendJSONString(append(b, `,"subject":`...), ev.Subject)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if o.With != "" {
		b = appendJSONString(append(b, `,"with":`...), o.With)
	}
	return append(b, '}')
}

// appendTokenJSON appends the JSON of tok. It fails, as encoding/json
// does, on an expiry outside the years 0 to 9999; an offset of a day or
// more, which encoding/json also refuses, cannot be decoded (binReader.time).
func appendTokenJSON(b []byte, tok *Token) ([]byte, error) {
	if y := tok.ExpiresAt.Year(); y < 0 || y > 9999 {
		return b, fmt.Errorf("expires_at: year %d is outside of range [0,9999]", y)
	}
	b = appendJSONString(append(b, `{"hash":`...), tok.Hash)
	b = appendJSONString(append(b, `,"member":`...), tok.Member)
	b = append(b, `,"scopes":`...)
	if tok.Scopes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range tok.Scopes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	b = append(b, `,"expires_at":"`...)
	b = tok.ExpiresAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","index":`...)
	b = strconv.AppendUint(b, tok.Index, 10)
	return append(b, '}'), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it, with its HTML escaping.
func appendJSONString(b []byte, s string) []byte { return AppendJSONString(b, s, true) }

// AppendJSONString appends s as a JSON string exactly as encoding/json
// writes it: quotes and backslashes escaped, control characters as \b, \f,
// \n, \r, \t or \u00XX, U+2028 and U+2029 as \u2028 and \u2029, each byte
// of invalid UTF-8 as \ufffd, and, with escapeHTML (encoding/json's
// default; an Encoder can turn it off), '<', '>' and '&' as \u003c, \u003e
// and \u0026. The ledger's records and envelopes escape HTML; the node's
// responses do not.
func AppendJSONString(b []byte, s string, escapeHTML bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!escapeHTML || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
