package ledger

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// TestStoredRecords_RoundTrip checks that the binary forms of journal
// entries, replay records and tokens decode to what was encoded, that
// every truncation of them is an error rather than a panic or a shorter
// record, and that the digest's JSON of a binary record is the JSON the
// record stands for.
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

		s := seenRecord{PayloadHash: Hash{9}, Result: Result{Index: 7, Seq: 3, EntryHash: Hash{4}, Outcome: o}}
		sb := encodeSeen(&s)
		var gotSeen seenRecord
		if err := decodeSeen(sb, &gotSeen); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotSeen, s) {
			t.Fatalf("seen %d: got %+v, want %+v", i, gotSeen, s)
		}
		for n := range len(sb) {
			if decodeSeen(sb[:n], &gotSeen) == nil {
				t.Fatalf("seen %d truncated to %d bytes decoded", i, n)
			}
		}
		if got, want := canonicalRecord(bucketSeen, nil, sb), mustMarshal(&s); !bytes.Equal(got, want) {
			t.Fatalf("seen %d digests as %s, want %s", i, got, want)
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
