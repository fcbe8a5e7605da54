package ledger

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testConsortium = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testProposal() *Proposal {
	return &Proposal{
		V:          1,
		Consortium: testConsortium,
		ID:         "offer-2025-001",
		Type:       "grant.offer",
		Signer:     "acme",
		IssuedAt:   time.Date(2025, 3, 14, 15, 9, 26, 535000000, time.UTC),
		Body:       json.RawMessage(`{"asset":"llm-7b","licensee":"globex","rights":["train","evaluate"]}`),
	}
}

func testSigners(t testing.TB, members ...string) []Signer {
	t.Helper()
	var out []Signer
	for _, m := range members {
		out = append(out, NewSigner(m, testKey(t, SchemeEd25519, m)))
	}
	return out
}

func lookupOf(signers ...Signer) func(string) (PublicKey, bool) {
	return func(id string) (PublicKey, bool) {
		for _, s := range signers {
			if s.KeyID == id {
				return s.Key.Public(), true
			}
		}
		return PublicKey{}, false
	}
}

func TestPAE(t *testing.T) {
	// The example from the DSSE protocol specification.
	got := PAE("http://example.com/HelloWorld", []byte("hello world"))
	if want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"; string(got) != want {
		t.Errorf("PAE = %q, want %q", got, want)
	}
	if got := PAE(PayloadType, []byte("{}")); string(got) != vectorMessage {
		t.Errorf("PAE = %q, want %q", got, vectorMessage)
	}
	if got := PAE("", nil); string(got) != "DSSEv1 0  0 " {
		t.Errorf("PAE of empty = %q", got)
	}
}

// envelopeJSON builds an envelope document from raw member values.
func envelopeJSON(payloadType, payload, signatures string) string {
	return `{"payloadType":` + payloadType + `,"payload":` + payload + `,"signatures":` + signatures + `}`
}

func TestDecodeEnvelope_Rejects(t *testing.T) {
	const (
		pt  = `"application/vnd.charta.proposal.v1+json"`
		pl  = `"e30="` // {}
		kid = "acme/0123456789abcdef"
		sig = `[{"keyid":"acme/0123456789abcdef","sig":"AAAA"}]`
	)
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"not JSON", `payload`, "document: invalid JSON"},
		{"truncated", `{"payloadType":`, "unexpected end of JSON"},
		{"not an object", `[]`, "document: expected an object, got an array"},
		{"invalid UTF-8", "{\"payloadType\":\"\xff\"}", "document: invalid UTF-8"},
		{"unknown field", `{"payloadType":` + pt + `,"payload":` + pl + `,"signatures":` + sig + `,"extra":1}`, "extra: unknown field"},
		{"field with other case", `{"PayloadType":` + pt + `,"payload":` + pl + `,"signatures":` + sig + `}`, "PayloadType: unknown field"},
		{"unknown field in signature", envelopeJSON(pt, pl, `[{"keyid":"`+kid+`","sig":"AAAA","alg":"x"}]`), "signatures[0].alg: unknown field"},
		{"duplicate key", `{"payloadType":` + pt + `,"payload":` + pl + `,"payload":` + pl + `,"signatures":` + sig + `}`, "payload: duplicate key"},
		{"duplicate key in signature", envelopeJSON(pt, pl, `[{"keyid":"`+kid+`","sig":"AAAA","sig":"AAAA"}]`), "signatures[0].sig: duplicate key"},
		{"duplicate key by escape", `{"payloadType":` + pt + `,"p\u0061yload":` + pl + `,"payload":` + pl + `,"signatures":` + sig + `}`, "payload: duplicate key"},
		{"trailing data", envelopeJSON(pt, pl, sig) + `{}`, "unexpected data after the JSON value"},
		{"trailing garbage", envelopeJSON(pt, pl, sig) + ` x`, "unexpected data after the JSON value"},
		{"bad base64 payload", envelopeJSON(pt, `"e3*0"`, sig), "payload: invalid base64"},
		{"mixed base64 alphabets", envelopeJSON(pt, `"-_8+"`, sig), "payload: invalid base64"},
		{"unpadded base64 of the wrong length", envelopeJSON(pt, `"e30AA"`, sig), "payload: invalid base64"},
		{"base64 payload with newline", envelopeJSON(pt, `"e3\n0="`, sig), "payload: invalid base64: contains a line break"},
		{"non-canonical base64 payload", envelopeJSON(pt, `"e31="`, sig), "payload: invalid base64"},
		{"bad base64 sig", envelopeJSON(pt, pl, `[{"keyid":"`+kid+`","sig":"AA*A"}]`), "signatures[0].sig: invalid base64"},
		{"payload not a string", envelopeJSON(pt, `7`, sig), "payload: expected a string, got a number"},
		{"payload null", envelopeJSON(pt, `null`, sig), "payload: must not be null"},
		{"wrong payloadType", envelopeJSON(`"application/json"`, pl, sig), `payloadType: must be "application/vnd.charta.proposal.v1+json", got "application/json"`},
		{"missing payloadType", `{"payload":` + pl + `,"signatures":` + sig + `}`, "payloadType: missing"},
		{"empty payload", envelopeJSON(pt, `""`, sig), "payload: missing or empty"},
		{"missing payload", `{"payloadType":` + pt + `,"signatures":` + sig + `}`, "payload: missing or empty"},
		{"no signatures", envelopeJSON(pt, pl, `[]`), "signatures: missing or empty"},
		{"null signatures", envelopeJSON(pt, pl, `null`), "signatures: missing or empty"},
		{"missing signatures", `{"payloadType":` + pt + `,"payload":` + pl + `}`, "signatures: missing or empty"},
		{"signatures not an array", envelopeJSON(pt, pl, `{}`), "signatures: expected an array, got an object"},
		{"signature null", envelopeJSON(pt, pl, `[null]`), "signatures[0]: must not be null"},
		{"duplicate keyids", envelopeJSON(pt, pl, `[{"keyid":"`+kid+`","sig":"AAAA"},{"keyid":"`+kid+`","sig":"BBBB"}]`), "signatures[1].keyid: acme/0123456789abcdef already signed in signatures[0]"},
		{"malformed keyid", envelopeJSON(pt, pl, `[{"keyid":"acme","sig":"AAAA"}]`), `signatures[0].keyid: "acme" is not <member>/<16 hex digits> or empty`},
		{"empty sig", envelopeJSON(pt, pl, `[{"keyid":"`+kid+`","sig":""}]`), "signatures[0].sig: missing or empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := DecodeEnvelope([]byte(tt.doc))
			if e != nil {
				t.Errorf("returned an envelope: %+v", e)
			}
			wantCode(t, err, CodeInvalid, tt.want)
		})
	}
}

func TestDecodeEnvelope_RoundTrip(t *testing.T) {
	signers := testSigners(t, "acme", "globex")
	e, err := SignDeterministic(testProposal(), signers...)
	if err != nil {
		t.Fatal(err)
	}
	enc := e.Encode()
	got, err := DecodeEnvelope(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("DecodeEnvelope(Encode(e)) = %+v, want %+v", got, e)
	}
	if !bytes.Equal(got.Encode(), enc) || got.Hash() != e.Hash() {
		t.Error("re-encoding changed the bytes or the hash")
	}
	// Encode matches encoding/json's view of the struct, so clients in any
	// language that emit the natural JSON produce the canonical bytes.
	std, _ := json.Marshal(e)
	if !bytes.Equal(std, enc) {
		t.Errorf("Encode = %s\nencoding/json = %s", enc, std)
	}
	// Whitespace and member order in the input do not change the hash.
	var loose bytes.Buffer
	_ = json.Indent(&loose, enc, "", "\t")
	reordered := `{"signatures":` + string(mustMarshalT(t, e.Signatures)) + `, "payload":"` +
		base64.StdEncoding.EncodeToString(e.Payload) + `", "payloadType":"` + PayloadType + `"}`
	for _, in := range []string{loose.String(), reordered} {
		d, err := DecodeEnvelope([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if d.Hash() != e.Hash() {
			t.Errorf("hash depends on the input layout: %s", in)
		}
	}
}

func mustMarshalT(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEnvelope_EncodeEmpty(t *testing.T) {
	e := &Envelope{PayloadType: PayloadType}
	if got, want := string(e.Encode()), `{"payloadType":"application/vnd.charta.proposal.v1+json","payload":"","signatures":[]}`; got != want {
		t.Errorf("Encode = %s, want %s", got, want)
	}
}

// payloadJSON returns the test proposal's payload with member key replaced
// by raw (or removed, if raw is "").
func payloadJSON(t *testing.T, key, raw string) string {
	t.Helper()
	members := []struct{ k, v string }{
		{"v", `1`}, {"consortium", `"` + testConsortium + `"`}, {"id", `"offer-1"`}, {"type", `"grant.offer"`},
		{"signer", `"acme"`}, {"issued_at", `"2025-03-14T15:09:26Z"`}, {"body", `{"asset":"m1"}`},
	}
	var parts []string
	found := false
	for _, m := range members {
		if m.k == key {
			found = true
			if raw == "" {
				continue
			}
			m.v = raw
		}
		parts = append(parts, `"`+m.k+`":`+m.v)
	}
	if !found && key != "" {
		parts = append(parts, `"`+key+`":`+raw)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestDecodePayload_Rejects(t *testing.T) {
	tests := []struct {
		name     string
		key, raw string
		doc      string // used instead of key/raw when set
		want     string
	}{
		{name: "v missing", key: "v", want: "v: missing"},
		{name: "v 2", key: "v", raw: `2`, want: "v: unsupported version 2, want 1"},
		{name: "v as string", key: "v", raw: `"1"`, want: "v: expected an integer, got a string"},
		{name: "v fractional", key: "v", raw: `1.0`, want: "v: expected an integer, got 1.0"},
		{name: "v huge", key: "v", raw: `100000000000000000000`, want: "v: 100000000000000000000 is out of range"},
		{name: "consortium missing", key: "consortium", want: "consortium: missing"},
		{name: "consortium upper case", key: "consortium", raw: `"` + strings.ToUpper(testConsortium) + `"`, want: "consortium: \"0123456789ABCDEF"},
		{name: "consortium short", key: "consortium", raw: `"abcd"`, want: `consortium: "abcd" is not 64 lowercase hex digits`},
		{name: "id missing", key: "id", want: "id: missing"},
		{name: "id with space", key: "id", raw: `"offer 1"`, want: `id: "offer 1" is not 1..128 of [A-Za-z0-9._:-]`},
		{name: "id too long", key: "id", raw: `"` + strings.Repeat("x", 129) + `"`, want: "id: \"xxxx"},
		{name: "type missing", key: "type", want: "type: missing"},
		{name: "type upper case", key: "type", raw: `"Grant.Offer"`, want: `type: "Grant.Offer" is not lowercase dotted words`},
		{name: "type empty word", key: "type", raw: `"grant..offer"`, want: `type: "grant..offer"`},
		{name: "type trailing dot", key: "type", raw: `"grant."`, want: `type: "grant."`},
		{name: "signer missing", key: "signer", want: "signer: missing"},
		{name: "signer upper case", key: "signer", raw: `"Acme"`, want: `signer: "Acme" is not a member ID`},
		{name: "signer starts with digit", key: "signer", raw: `"9acme"`, want: `signer: "9acme" is not a member ID`},
		{name: "signer too long", key: "signer", raw: `"` + strings.Repeat("a", 65) + `"`, want: "signer: \"aaaa"},
		{name: "issued_at missing", key: "issued_at", want: "issued_at: missing"},
		{name: "issued_at not RFC 3339", key: "issued_at", raw: `"2025-03-14 15:09:26"`, want: `issued_at: "2025-03-14 15:09:26" is not an RFC 3339 time`},
		{name: "issued_at no zone", key: "issued_at", raw: `"2025-03-14T15:09:26"`, want: "issued_at: \"2025-03-14T15:09:26\" is not an RFC 3339 time"},
		{name: "issued_at number", key: "issued_at", raw: `1741964966`, want: "issued_at: expected a string, got a number"},
		{name: "issued_at year 0 in UTC", key: "issued_at", raw: `"0001-01-01T00:30:00+01:00"`, want: "issued_at: year 0 is out of range"},
		{name: "body missing", key: "body", want: "body: missing"},
		{name: "body null", key: "body", raw: `null`, want: "body: must be a JSON object"},
		{name: "body array", key: "body", raw: `[1]`, want: "body: must be a JSON object"},
		{name: "body string", key: "body", raw: `"x"`, want: "body: must be a JSON object"},
		{name: "body duplicate key deep", key: "body", raw: `{"a":{"b":[{"c":1,"c":2}]}}`, want: "body.a.b[0].c: duplicate key"},
		{name: "body nested too deep", key: "body", raw: `{"a":` + strings.Repeat("[", 80) + strings.Repeat("]", 80) + `}`, want: "nested deeper than 64 levels"},
		{name: "unknown field", key: "nonce", raw: `"x"`, want: "nonce: unknown field"},
		{name: "duplicate top-level key", doc: `{"v":1,"v":1}`, want: "v: duplicate key"},
		{name: "trailing data", doc: payloadJSON(t, "", "") + "]", want: "unexpected data after the JSON value"},
		{name: "empty", doc: ``, want: "document: unexpected end of JSON"},
		{name: "array", doc: `[]`, want: "document: expected an object, got an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.doc
			if doc == "" && tt.key != "" {
				doc = payloadJSON(t, tt.key, tt.raw)
			}
			p, err := DecodePayload([]byte(doc))
			if p != nil {
				t.Errorf("returned a proposal: %+v", p)
			}
			wantCode(t, err, CodeInvalid, tt.want)
		})
	}
}

func TestDecodePayload_Accepts(t *testing.T) {
	doc := `{"v":1,"consortium":"` + testConsortium + `","id":"A.b_c:d-9","type":"member.admit","signer":"a-1",` +
		`"issued_at":"2025-03-14T16:09:26.5+01:00","body":{ "x" : [1, {"y": null}] , "z":"<&>"}}`
	p, err := DecodePayload([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := &Proposal{
		V: 1, Consortium: testConsortium, ID: "A.b_c:d-9", Type: "member.admit", Signer: "a-1",
		IssuedAt: time.Date(2025, 3, 14, 15, 9, 26, 500000000, time.UTC),
		Body:     json.RawMessage(`{"x":[1,{"y":null}],"z":"<&>"}`),
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("DecodePayload = %+v\nwant %+v", p, want)
	}
	if p.IssuedAt.Location() != time.UTC {
		t.Errorf("issued_at location = %v, want UTC", p.IssuedAt.Location())
	}
	enc, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	wantEnc := `{"v":1,"consortium":"` + testConsortium + `","id":"A.b_c:d-9","type":"member.admit","signer":"a-1",` +
		`"issued_at":"2025-03-14T15:09:26.5Z","body":{"x":[1,{"y":null}],"z":"<&>"}}`
	if string(enc) != wantEnc {
		t.Errorf("Encode = %s\nwant %s", enc, wantEnc)
	}
}

func TestProposal_EncodeRoundTrip(t *testing.T) {
	p := testProposal()
	p.IssuedAt = p.IssuedAt.In(time.FixedZone("X", -7*3600))
	p.Body = json.RawMessage("{\n  \"a\": \"\u00e9<\" }")
	enc, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodePayload(enc)
	if err != nil {
		t.Fatal(err)
	}
	enc2, err := got.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, enc2) {
		t.Errorf("Encode is not stable:\n%s\n%s", enc, enc2)
	}
	if !got.IssuedAt.Equal(p.IssuedAt) || got.IssuedAt.Location() != time.UTC {
		t.Errorf("issued_at = %v, want %v in UTC", got.IssuedAt, p.IssuedAt)
	}
}

func TestProposal_EncodeRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Proposal)
		want   string
	}{
		{"duplicate key in body", func(p *Proposal) { p.Body = json.RawMessage(`{"a":1,"a":2}`) }, "body.a: duplicate key"},
		{"body trailing data", func(p *Proposal) { p.Body = json.RawMessage(`{} {}`) }, "body: unexpected data"},
		{"body invalid UTF-8", func(p *Proposal) { p.Body = json.RawMessage("{\"a\":\"\xff\"}") }, "body: invalid UTF-8"},
		{"zero issued_at", func(p *Proposal) { p.IssuedAt = time.Time{} }, "issued_at: missing"},
		{"year 10000", func(p *Proposal) { p.IssuedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "issued_at: year 10000 is out of range"},
		{"version 0", func(p *Proposal) { p.V = 0 }, "v: unsupported version 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testProposal()
			tt.change(p)
			_, err := p.Encode()
			wantCode(t, err, CodeInvalid, tt.want)
			_, err = Sign(p, testSigners(t, "acme")...)
			wantCode(t, err, CodeInvalid, tt.want)
		})
	}
}

func TestProposal_DecodeBody(t *testing.T) {
	p := testProposal()
	var body struct {
		Asset    string   `json:"asset"`
		Licensee string   `json:"licensee"`
		Rights   []string `json:"rights"`
	}
	if err := p.DecodeBody(&body); err != nil {
		t.Fatal(err)
	}
	if body.Asset != "llm-7b" || body.Licensee != "globex" || len(body.Rights) != 2 || body.Rights[1] != "evaluate" {
		t.Errorf("body = %+v", body)
	}
	p.Body = json.RawMessage(`{"asset":"m","licensee":"g","rights":["train",3]}`)
	wantCode(t, p.DecodeBody(&body), CodeInvalid, "body.rights[1]: expected a string, got a number")
	p.Body = json.RawMessage(`{"asset":"m","licence":"g"}`)
	wantCode(t, p.DecodeBody(&body), CodeInvalid, "body.licence: unknown field")
}

func TestEnvelope_Verify(t *testing.T) {
	var signers []Signer
	for i, s := range allSchemes {
		m := []string{"acme", "globex", "initech", "umbrella"}[i]
		signers = append(signers, NewSigner(m, testKey(t, s, m)))
	}
	e, err := Sign(testProposal(), signers...)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := e.Verify(lookupOf(signers...))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{signers[0].KeyID, signers[1].KeyID, signers[2].KeyID, signers[3].KeyID}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("verified key IDs = %v, want %v", ids, want)
	}

	parsed := make(map[string]*VerifyingKey)
	for _, s := range signers {
		v, err := s.Key.Public().Parse()
		if err != nil {
			t.Fatal(err)
		}
		parsed[s.KeyID] = v
	}
	ids, err = e.VerifyWith(func(id string) (*VerifyingKey, bool) { v, ok := parsed[id]; return v, ok })
	if err != nil || !reflect.DeepEqual(ids, want) {
		t.Errorf("VerifyWith = %v, %v; want %v", ids, err, want)
	}

	t.Run("unknown key", func(t *testing.T) {
		ids, err := e.Verify(lookupOf(signers[0], signers[2], signers[3]))
		if ids != nil {
			t.Errorf("ids = %v, want nil", ids)
		}
		wantCode(t, err, CodeUnauthorized, "signatures[1]: unknown key "+signers[1].KeyID)
	})
	t.Run("bad signature", func(t *testing.T) {
		bad := *e
		bad.Signatures = append([]Signature(nil), e.Signatures...)
		bad.Signatures[2].Sig = bytes.Clone(bad.Signatures[2].Sig)
		bad.Signatures[2].Sig[0] ^= 1
		_, err := bad.Verify(lookupOf(signers...))
		wantCode(t, err, CodeUnauthorized, "signatures[2]: bad ml-dsa-65 signature by key "+signers[2].KeyID)
	})
	t.Run("tampered payload", func(t *testing.T) {
		bad := *e
		bad.Payload = bytes.Replace(e.Payload, []byte("globex"), []byte("globez"), 1)
		_, err := bad.Verify(lookupOf(signers...))
		wantCode(t, err, CodeUnauthorized, "signatures[0]: bad ed25519 signature by key "+signers[0].KeyID)
	})
	t.Run("tampered payload type", func(t *testing.T) {
		bad := *e
		bad.PayloadType = "application/json"
		_, err := bad.Verify(lookupOf(signers...))
		wantCode(t, err, CodeUnauthorized, "signatures[0]: bad ed25519 signature")
	})
	t.Run("key does not match its ID", func(t *testing.T) {
		other := testKey(t, SchemeEd25519, "other").Public()
		_, err := e.Verify(func(string) (PublicKey, bool) { return other, true })
		wantCode(t, err, CodeUnauthorized, "signatures[0]: key "+signers[0].KeyID+" has fingerprint "+other.Fingerprint())
	})
	t.Run("malformed key in table", func(t *testing.T) {
		_, err := e.Verify(func(string) (PublicKey, bool) { return PublicKey{Scheme: "x"}, true })
		wantCode(t, err, CodeUnauthorized, "signatures[0]: key "+signers[0].KeyID+" is unusable: scheme: unknown signature scheme")
	})
	t.Run("no signatures", func(t *testing.T) {
		bad := *e
		bad.Signatures = nil
		_, err := bad.Verify(lookupOf(signers...))
		wantCode(t, err, CodeInvalid, "signatures: missing or empty")
	})
	t.Run("duplicate key ID", func(t *testing.T) {
		bad := *e
		bad.Signatures = []Signature{e.Signatures[0], e.Signatures[0]}
		_, err := bad.Verify(lookupOf(signers...))
		wantCode(t, err, CodeInvalid, "signatures[1].keyid: "+signers[0].KeyID+" already signed in signatures[0]")
	})
	t.Run("malformed key ID", func(t *testing.T) {
		bad := *e
		bad.Signatures = []Signature{{KeyID: "nobody", Sig: e.Signatures[0].Sig}}
		_, err := bad.Verify(lookupOf(signers...))
		wantCode(t, err, CodeUnauthorized, `signatures[0]: malformed key ID "nobody"`)
	})
	t.Run("signature moved to another key", func(t *testing.T) {
		bad := *e
		bad.Signatures = []Signature{{KeyID: signers[0].KeyID, Sig: e.Signatures[1].Sig}}
		_, err := bad.Verify(lookupOf(signers...))
		wantCode(t, err, CodeUnauthorized, "signatures[0]: bad ed25519 signature")
	})
}

func TestEnvelope_VerifyNeverPanics(t *testing.T) {
	signers := testSigners(t, "acme")
	e, err := Sign(testProposal(), signers...)
	if err != nil {
		t.Fatal(err)
	}
	keys := []PublicKey{{}, {Scheme: SchemeComposite}, {Scheme: SchemeMLDSA65, Key: make([]byte, 1952)}, signers[0].Key.Public()}
	sigs := [][]byte{nil, {}, make([]byte, 64), make([]byte, 3373), bytes.Repeat([]byte{0xff}, 3309)}
	for _, k := range keys {
		for _, s := range sigs {
			bad := &Envelope{PayloadType: PayloadType, Payload: e.Payload, Signatures: []Signature{{KeyID: signers[0].KeyID, Sig: s}}}
			if _, err := bad.Verify(func(string) (PublicKey, bool) { return k, true }); err == nil {
				t.Errorf("garbage verified: key %s/%d bytes, sig %d bytes", k.Scheme, len(k.Key), len(s))
			}
		}
	}
	var nilLookup func(string) (*VerifyingKey, bool) = func(string) (*VerifyingKey, bool) { return nil, true }
	if _, err := e.VerifyWith(nilLookup); err == nil {
		t.Error("a nil VerifyingKey verified")
	}
}

func TestSign_Rejects(t *testing.T) {
	acme := testSigners(t, "acme")[0]
	globex := testSigners(t, "globex")[0]
	tests := []struct {
		name    string
		signers []Signer
		want    string
	}{
		{"no signers", nil, "signatures: no signers"},
		{"no key", []Signer{{KeyID: acme.KeyID}}, "signers[0]: no key"},
		{"malformed key ID", []Signer{{KeyID: "acme", Key: acme.Key}}, `signers[0]: "acme" is not <member>/<16 hex digits>`},
		{"key ID of another key", []Signer{acme, {KeyID: acme.KeyID, Key: globex.Key}}, "signers[1]: key ID " + acme.KeyID + " does not match its key"},
		{"same key twice", []Signer{acme, globex, acme}, "signers[2]: " + acme.KeyID + " already signs as signers[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Sign(testProposal(), tt.signers...)
			if e != nil {
				t.Error("returned an envelope")
			}
			wantCode(t, err, CodeInvalid, tt.want)
		})
	}
}

func TestValidMemberID(t *testing.T) {
	for _, s := range []string{"a", "acme", "a-1", "z9", strings.Repeat("a", 64), "a--"} {
		if !ValidMemberID(s) {
			t.Errorf("ValidMemberID(%q) = false", s)
		}
	}
	for _, s := range []string{"", "A", "1a", "-a", "a_b", "a.b", "a/b", "é", strings.Repeat("a", 65), "acme "} {
		if ValidMemberID(s) {
			t.Errorf("ValidMemberID(%q) = true", s)
		}
	}
}

func TestValidProposalType(t *testing.T) {
	for _, s := range []string{"grant.offer", "member.admit", "pool.consume", "usage.report", "vote", "a.b.c", "sla_report.v2", "grant.sub-license"} {
		if !ValidProposalType(s) {
			t.Errorf("ValidProposalType(%q) = false", s)
		}
	}
	for _, s := range []string{"", ".", "grant.", ".grant", "Grant.offer", "grant..offer", "grant.1offer", "grant offer", "grant/offer", strings.Repeat("a", 65)} {
		if ValidProposalType(s) {
			t.Errorf("ValidProposalType(%q) = true", s)
		}
	}
}

type envelopeVector struct {
	Comment  string `json:"comment"`
	Payload  string `json:"payload"`  // the payload as text
	PAE      string `json:"pae"`      // hex
	Envelope string `json:"envelope"` // the canonical encoding, as text
	Hash     string `json:"hash"`     // hex SHA-256 of envelope
}

// TestEnvelopeVector pins the payload encoding, PAE, the canonical envelope
// encoding and its hash for a proposal signed deterministically by an
// Ed25519 and a composite key. Run with -update to rewrite it.
func TestEnvelopeVector(t *testing.T) {
	path := filepath.Join("testdata", "vectors", "envelope.json")
	seed := func(b byte) []byte { return bytes.Repeat([]byte{b}, SeedSize) }
	ed, _ := NewKeyFromSeed(SchemeEd25519, seed(1))
	comp, _ := NewKeyFromSeed(SchemeComposite, seed(2))
	e, err := SignDeterministic(testProposal(), NewSigner("acme", ed), NewSigner("globex", comp))
	if err != nil {
		t.Fatal(err)
	}
	h := e.Hash()
	got := envelopeVector{
		Comment:  "testProposal() signed by acme (ed25519, seed 32×0x01) and globex (ml-dsa-65+ed25519, seed 32×0x02), deterministic ML-DSA",
		Payload:  string(e.Payload),
		PAE:      hex.EncodeToString(PAE(PayloadType, e.Payload)),
		Envelope: string(e.Encode()),
		Hash:     hex.EncodeToString(h[:]),
	}
	if *update {
		writeGoldenJSON(t, path, got)
	}
	var want envelopeVector
	readGoldenJSON(t, path, &want)
	if got != want {
		t.Errorf("envelope differs from %s (run with -update after an intended change)\n got hash %s\nwant hash %s", path, got.Hash, want.Hash)
	}
	d, err := DecodeEnvelope([]byte(want.Envelope))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Verify(lookupOf(NewSigner("acme", ed), NewSigner("globex", comp))); err != nil {
		t.Error(err)
	}
	if _, err := DecodePayload(d.Payload); err != nil {
		t.Error(err)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	e, err := SignDeterministic(testProposal(), testSigners(f, "acme", "globex")...)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(e.Encode())
	f.Add([]byte(`{"payloadType":"application/vnd.charta.proposal.v1+json","payload":"e30=","signatures":[{"keyid":"a/0123456789abcdef","sig":"AA=="}]}`))
	f.Add([]byte(`{"payloadType":"x","payload":"e30=","signatures":[],"payload":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b)
		if err != nil {
			var le *Error
			if !errors.As(err, &le) || le.Code != CodeInvalid {
				t.Fatalf("error %v is not a CodeInvalid *Error", err)
			}
			return
		}
		enc := e.Encode()
		e2, err := DecodeEnvelope(enc)
		if err != nil {
			t.Fatalf("canonical encoding %s does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(e, e2) || !bytes.Equal(e2.Encode(), enc) {
			t.Fatalf("round trip changed the envelope: %s", enc)
		}
		if _, err := e.Verify(func(string) (PublicKey, bool) { return PublicKey{}, false }); CodeOf(err) != CodeUnauthorized {
			t.Fatalf("Verify with no keys = %v", err)
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	p, _ := testProposal().Encode()
	f.Add(p)
	f.Add([]byte(`{"v":1,"consortium":"` + testConsortium + `","id":"x","type":"a.b","signer":"a","issued_at":"2025-01-01T00:00:00.123456789-07:00","body":{"a":[{}]}}`))
	f.Add([]byte(`{"v":1,"v":1}`))
	f.Add([]byte(`{"body":{"a":1,"a":2}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePayload(b)
		if err != nil {
			var le *Error
			if !errors.As(err, &le) || le.Code != CodeInvalid {
				t.Fatalf("error %v is not a CodeInvalid *Error", err)
			}
			return
		}
		enc, err := p.Encode()
		if err != nil {
			t.Fatalf("decoded proposal does not encode: %v", err)
		}
		p2, err := DecodePayload(enc)
		if err != nil {
			t.Fatalf("encoding %s does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip changed the proposal:\n%+v\n%+v", p, p2)
		}
		enc2, _ := p2.Encode()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("Encode is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func TestDuplicateKeyID(t *testing.T) {
	for _, n := range []int{0, 1, 2, 16, 17, 1000} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("m%d/0123456789abcdef", i)
		}
		if i, j, dup := duplicateKeyID(n, func(i int) string { return ids[i] }); dup {
			t.Errorf("n=%d: reported %d duplicates %d among distinct IDs", n, i, j)
		}
		if n < 2 {
			continue
		}
		ids[n-1] = ids[n/2-1]
		i, j, dup := duplicateKeyID(n, func(i int) string { return ids[i] })
		if !dup || i != n-1 || j != n/2-1 {
			t.Errorf("n=%d: got %d, %d, %v; want %d, %d, true", n, i, j, dup, n-1, n/2-1)
		}
	}
}
