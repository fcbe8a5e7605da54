package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestStoredRecords_RoundTrip checks that the binary forms of journal
// entries and tokens decode to what was encoded, that every truncation of
// them is an error rather than a panic or a shorter record, and that the
// digest's JSON of a binary token is the JSON the token stands for.
func TestStoredRecords_RoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 5, 9, 0, 0, 123456789, time.UTC)
	outcomes := []Outcome{
		{Status: StatusAccepted, Type: "grant.offer", ID: "p-1", Signer: "alpha", Events: []Event{{Kind: "grant.offered", Subject: "g-1"}, {}}},
		{Status: StatusRejected, Code: CodeConflict, Message: "taken \xff (conflicts with g<1>)", With: "g<1>"},
		{Status: StatusAccepted},
	}
	for i, o := range outcomes {
		e := Entry{V: JournalBinary, Seq: uint64(i), Index: 7, LedgerTime: at, Envelope: []byte(`{"payloadType":"x"}`),
			EnvelopeHash: Hash{1}, Outcome: o, PrevHash: Hash{2}, Hash: Hash{3}}
		if i == 2 {
			e.V, e.Envelope = 0, []byte{}
		}
		b := encodeEntry(&e)
		var got Entry
		if err := decodeEntry(e.Seq, b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("entry %d: got %+v, want %+v", i, got, e)
		}
		// The envelope runs to the end of the record, so a truncated
		// record can only be caught before it.
		for n := range len(b) - len(e.Envelope) {
			if decodeEntry(e.Seq, b[:n], &got) == nil {
				t.Fatalf("entry %d truncated to %d bytes decoded", i, n)
			}
		}

	}
	for _, exp := range []time.Time{at, at.In(time.FixedZone("", 2*3600)), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)} {
		tok := Token{Hash: HashToken("s"), Member: "alpha", Scopes: []string{"read", "write"}, ExpiresAt: exp, Index: 42}
		b := encodeToken(&tok)
		var got Token
		if err := decodeToken(b, &got); err != nil {
			t.Fatal(err)
		}
		if !got.ExpiresAt.Equal(exp) || got.Hash != tok.Hash || got.Member != tok.Member || !reflect.DeepEqual(got.Scopes, tok.Scopes) || got.Index != 42 {
			t.Fatalf("token: got %+v, want %+v", got, tok)
		}
		if got, want := canonicalRecord(bucketTokens, nil, b), mustMarshal(&tok); !bytes.Equal(got, want) {
			t.Fatalf("token digests as %s, want %s", got, want)
		}
		for n := range len(b) {
			if decodeToken(b[:n], &got) == nil {
				t.Fatalf("token truncated to %d bytes decoded", n)
			}
		}
	}
	// JSON, as earlier releases stored them, still reads.
	var tok Token
	if err := decodeToken([]byte(`{"hash":"h","member":"alpha","scopes":["read"],"expires_at":"2026-01-05T09:00:00Z","index":3}`), &tok); err != nil || tok.Index != 3 {
		t.Fatalf("JSON token: %+v, %v", tok, err)
	}
}

// TestStoredRecords_Layouts pins the bytes of each stored form: a store on
// disk holds them, so encoder and decoder must not change together.
func TestStoredRecords_Layouts(t *testing.T) {
	at := time.Date(2026, 1, 5, 9, 0, 0, 5, time.UTC)
	o := Outcome{Status: StatusAccepted, Type: "t", ID: "p", Signer: "a", Events: []Event{{Kind: "k", Subject: "s"}}}
	e := Entry{V: JournalBinary, Seq: 1, Index: 2, LedgerTime: at, Envelope: []byte("env"), EnvelopeHash: Hash{0xee}, Outcome: o, PrevHash: Hash{0xaa}, Hash: Hash{0xbb}}
	tok := Token{Hash: "h", Member: "a", Scopes: []string{"read"}, ExpiresAt: at, Index: 2}
	zeros := func(n int) string { return strings.Repeat("00", n) }
	outcome := "08" + "6163636570746564" + "0174" + "0170" + "0161" + "00" + "00" + "00" + "01" + "016b" + "0173"
	for name, c := range map[string]struct{ got, want string }{
		"entry": {hex.EncodeToString(encodeEntry(&e)), "01" + "02" + "0000000000000002" + "1887ca1be9b3a005" +
			"ee" + zeros(31) + "aa" + zeros(31) + "bb" + zeros(31) + outcome + "656e76"},
		"token": {hex.EncodeToString(encodeToken(&tok)), "01" + "0168" + "0161" + "01" + "0472656164" +
			"00000000695b7d90" + "00000005" + "00000000" + "0000000000000002"},
	} {
		if c.got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", name, c.got, c.want)
		}
	}
}

// TestStoredRecords_RefusedForms checks what the decoders refuse: forms of
// a value JSON could not hold, unknown entry formats, and binary records
// that are not the one encoding of their content (which the state digest
// refuses as a corrupt store).
func TestStoredRecords_RefusedForms(t *testing.T) {
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	tok := encodeToken(&Token{Hash: "h", Member: "a", Scopes: []string{"read"}, ExpiresAt: at, Index: 2})
	timeAt := len(tok) - 8 - timeSize
	for name, mutate := range map[string]func(b []byte){
		"nanoseconds past a second": func(b []byte) { binary.BigEndian.PutUint32(b[timeAt+8:], 1e9) },
		"offset of seconds":         func(b []byte) { binary.BigEndian.PutUint32(b[timeAt+12:], 30) },
		"offset of a day":           func(b []byte) { binary.BigEndian.PutUint32(b[timeAt+12:], 24*3600) },
	} {
		b := bytes.Clone(tok)
		mutate(b)
		var got Token
		if err := decodeToken(b, &got); err == nil {
			t.Errorf("token with %s decoded: %+v", name, got)
		}
	}
	e := Entry{V: JournalBinary, Envelope: []byte("x")}
	b := encodeEntry(&e)
	b[1] = 1 // v=1: format 1 is stored as 0
	if err := decodeEntry(0, b, &e); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Errorf("entry with v=1: %v", err)
	}
	// A uvarint of two bytes where one would do: it decodes, but it is
	// not the canonical form, and the digest refuses it.
	long := append([]byte{tokenRecordV1, 0x81, 0x00}, tok[2:]...)
	long[1], long[2] = 0x81, 0x00
	if err := decodeToken(long, new(Token)); err != nil {
		t.Fatalf("long uvarint: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("the digest took a non-canonical token record")
		}
	}()
	canonicalRecord(bucketTokens, []byte("h"), long)
}

// TestStoredRecords_JSONFromEarlierReleases decodes a replay record as
// encoding/json wrote it, which is still its stored form.
func TestStoredRecords_JSONFromEarlierReleases(t *testing.T) {
	var s seenRecord
	raw := []byte(`{"payload_hash":"` + strings.Repeat("cc", 32) + `","result":{"index":7,"seq":3,"entry_hash":"` + strings.Repeat("bb", 32) +
		`","outcome":{"status":"rejected","type":"grant.offer","id":"p","signer":"alpha","code":"conflict","message":"m (conflicts with g)"}}}`)
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.PayloadHash != (Hash{0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc}) ||
		s.Result.Index != 7 || s.Result.Seq != 3 || s.Result.Outcome.Code != CodeConflict || s.Result.Outcome.ID != "p" {
		t.Fatalf("seen %+v", s)
	}
	if got := canonicalRecord(bucketSeen, nil, raw); !bytes.Equal(got, raw) {
		t.Fatalf("a JSON record digests as %s", got)
	}
	// The node writes it byte for byte as encoding/json did.
	if got := appendSeenJSON(nil, &s); !bytes.Equal(got, raw) {
		t.Fatalf("written as %s, want %s", got, raw)
	}
}

// FuzzDecodeStoredRecords offers arbitrary bytes to the decoders of the
// stored forms. None may panic or allocate past its input; what decodes
// re-encodes to a record that decodes the same, and a canonical token
// record digests as its JSON.
func FuzzDecodeStoredRecords(f *testing.F) {
	at := time.Date(2026, 1, 5, 9, 0, 0, 5, time.UTC)
	o := Outcome{Status: StatusRejected, Code: CodeConflict, Message: "m \xff (conflicts with g)", With: "g", Events: []Event{{Kind: "k", Subject: "s"}}}
	f.Add(byte(0), encodeEntry(&Entry{V: JournalBinary, Index: 2, LedgerTime: at, Envelope: []byte("{}"), Outcome: o}))
	f.Add(byte(1), encodeToken(&Token{Hash: "h", Member: "a", Scopes: []string{"read"}, ExpiresAt: at.In(time.FixedZone("", -5*3600)), Index: 2}))
	f.Add(byte(1), []byte(`{"hash":"h","member":"a","scopes":["read"],"expires_at":"2026-01-05T09:00:00Z","index":2}`))
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		switch kind % 2 {
		case 0:
			var e Entry
			if decodeEntry(5, b, &e) != nil || b[0] == '{' {
				return
			}
			var again Entry
			if err := decodeEntry(5, encodeEntry(&e), &again); err != nil || !reflect.DeepEqual(again, e) {
				t.Fatalf("re-encoded entry %+v decodes to %+v, %v", e, again, err)
			}
		case 1:
			var tok Token
			if decodeToken(b, &tok) != nil || b[0] == '{' {
				return
			}
			if enc := encodeToken(&tok); bytes.Equal(enc, b) && tok.ExpiresAt.Year() >= 0 && tok.ExpiresAt.Year() <= 9999 {
				if got := canonicalRecord(bucketTokens, nil, b); !bytes.Equal(got, mustMarshal(&tok)) {
					t.Fatalf("digest bytes %s", got)
				}
			}
		}
	})
}

// awkwardStrings are strings JSON encoders disagree on.
var awkwardStrings = []string{
	"", "plain", `"quoted" \back\`, "<b>&amp;</b>", "line\u2028para\u2029", "\x00\x01\b\f\n\r\t\x1f\x7f",
	"é 中文 🙂", "bad \xff\xfe bytes \xe2\x80", "\xed\xa0\x80 surrogate", "(conflicts with g<1>&)",
}

// TestStoredRecords_DigestJSON checks the hand-written JSON of replay
// records (their stored form) and tokens (what the digest hashes for them)
// against encoding/json, which earlier releases stored them with.
func TestStoredRecords_DigestJSON(t *testing.T) {
	for _, s := range awkwardStrings {
		// A different value in each field, so that one written under
		// another's name shows.
		o := Outcome{Status: "s" + s, Type: "t" + s, ID: "i" + s, Signer: "g" + s, Code: Code("c" + s), Message: "m" + s, With: "w" + s,
			Events: []Event{{Kind: "k" + s, Subject: "u" + s}, {}}}
		for _, rec := range []seenRecord{
			{PayloadHash: Hash{1, 2}, Result: Result{Index: 1 << 40, Seq: 7, EntryHash: Hash{0xff}, Outcome: o, Duplicate: true}},
			{Result: Result{Outcome: Outcome{Status: s}}},
		} {
			if got, want := appendSeenJSON(nil, &rec), mustMarshal(&rec); !bytes.Equal(got, want) {
				t.Errorf("seen %q:\n got %s\nwant %s", s, got, want)
			}
		}
		for _, tok := range []Token{
			{Hash: "h" + s, Member: "m" + s, Scopes: []string{s, "read"}, ExpiresAt: time.Date(2026, 1, 5, 9, 0, 0, 120, time.UTC), Index: 3},
			{ExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -5*3600))},
		} {
			got, err := appendTokenJSON(nil, &tok)
			if want := mustMarshal(&tok); err != nil || !bytes.Equal(got, want) {
				t.Errorf("token %q:\n got %s (%v)\nwant %s", s, got, err, want)
			}
		}
	}
	if _, err := appendTokenJSON(nil, &Token{ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("a token expiring in the year 10000 has JSON")
	}
}

// FuzzAppendJSONString checks string escaping against encoding/json.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range awkwardStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendJSONString(nil, s), mustMarshal(s); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	})
}

// FuzzAppendSeenJSON checks the replay record's JSON, with a string of its
// own in every field, against encoding/json.
func FuzzAppendSeenJSON(f *testing.F) {
	f.Add("accepted", "grant.offer", "p-1", "alpha", "", "", "", "grant.offered", "g-1", false, uint64(7))
	f.Add("rejected", "t", "<i>", "a&b", "conflict", "m\u2028 (conflicts with g)", "g", "", "", true, uint64(1)<<63)
	f.Fuzz(func(t *testing.T, status, typ, id, signer, code, message, with, kind, subject string, dup bool, n uint64) {
		rec := seenRecord{PayloadHash: Hash{byte(n)}, Result: Result{Index: n, Seq: n / 3, EntryHash: Hash{0: 1, 31: byte(n >> 8)}, Duplicate: dup,
			Outcome: Outcome{Status: status, Type: typ, ID: id, Signer: signer, Code: Code(code), Message: message, With: with}}}
		if kind != "" || subject != "" {
			rec.Result.Outcome.Events = []Event{{Kind: kind, Subject: subject}, {Kind: subject, Subject: kind}}
		}
		if got, want := appendSeenJSON(nil, &rec), mustMarshal(&rec); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}
