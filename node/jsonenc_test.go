package node

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// stdJSON is what writeJSON sent before the hand-written encoders: the
// encoding/json encoding with HTML escaping off, newline-terminated.
func stdJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// awkward strings: escapes, HTML characters (not escaped), line and
// paragraph separators, invalid UTF-8, multi-byte runes.
var awkward = []string{
	"", "grant-1", `quo"te`, `back\slash`, "tab\there", "nl\ncr\r", "\b\f\x00\x1f\x7f",
	"<script>&amp;</script>", "line\u2028para\u2029", "bad\xffutf8\xc3", "trunc\xe2\x80", "Ünïcødé 日本語 🎉",
	"\xed\xa0\x80 surrogate", "\u2027\u202a",
}

func randString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return awkward[r.IntN(len(awkward))]
	}
	var b strings.Builder
	for range r.IntN(12) {
		switch r.IntN(4) {
		case 0:
			b.WriteByte(byte(r.IntN(256)))
		case 1:
			b.WriteRune(rune(r.IntN(0x3000)))
		default:
			b.WriteByte(byte('a' + r.IntN(26)))
		}
	}
	return b.String()
}

func randDecision(r *rand.Rand) ledger.Decision {
	d := ledger.Decision{
		Allowed: r.IntN(2) == 0, Basis: randString(r), Reason: randString(r),
		At: time.Unix(r.Int64N(1<<35)-1<<34, r.Int64N(1e9)).UTC(),
	}
	if r.IntN(3) == 0 {
		d.At = d.At.In(time.FixedZone("x", (r.IntN(48)-24)*1800))
	}
	for range r.IntN(3) {
		d.Chain = append(d.Chain, randString(r))
	}
	if r.IntN(4) == 0 {
		d.Chain = []string{} // empty, not nil: omitted all the same
	}
	for range r.IntN(3) {
		d.Candidates = append(d.Candidates, ledger.Candidate{Grant: randString(r), Status: ledger.Status(randString(r)),
			Allowed: r.IntN(2) == 0, Reason: randString(r)})
	}
	for range r.IntN(3) {
		u := ledger.PendingDuty{Grant: randString(r)}
		u.Kind = randString(r)
		if r.IntN(2) == 0 {
			u.Text, u.Metric, u.Period, u.DueDays = randString(r), randString(r), ledger.Period(randString(r)), r.IntN(200)-100
		}
		d.Duties = append(d.Duties, u)
	}
	if r.IntN(2) == 0 {
		n := r.Int64() - 1<<62
		d.SeatsLeft = &n
	}
	for range r.IntN(3) {
		d.Caps = append(d.Caps, ledger.CapLeft{Grant: randString(r), Metric: randString(r), Unit: randString(r),
			Period: randString(r), Cap: r.Int64(), Used: -r.Int64(), Remaining: r.Int64N(10)})
	}
	return d
}

// TestAppendDecision_MatchesEncodingJSON checks the hand-written encoders
// against encoding/json on random decisions and batches.
func TestAppendDecision_MatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		d := randDecision(r)
		got, err := (*decisionJSON)(&d).appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := stdJSON(t, d); !bytes.Equal(append(got, '\n'), want) {
			t.Fatalf("decision %d:\n got %s\nwant %s", i, got, want)
		}
	}
	zero := int64(0)
	for i, d := range []ledger.Decision{
		{SeatsLeft: &zero}, // no seats left is an answer, not an omission
		{Chain: []string{}, Candidates: []ledger.Candidate{}, Duties: []ledger.PendingDuty{}, Caps: []ledger.CapLeft{}},
		{Duties: []ledger.PendingDuty{{Grant: "g", Duty: ledger.Duty{Kind: "report_usage", DueDays: -1}}}},
		{BoundBy: "g-ex", Duties: []ledger.PendingDuty{{Grant: "g", Duty: ledger.Duty{Kind: "fairness_audit", Assessor: "gamma"}, Status: "due", PeriodNumber: 2}}},
		{Reason: "r; warning", Observed: []ledger.ObservedNote{{ID: "g/observed_infraction/alpha:o1", Grant: "g", Observer: "alpha", Action: "train",
			Attempts: 12, Window: ledger.Window{Start: time.Unix(0, 0).UTC(), End: time.Unix(60, 0).UTC()}, Detail: "<denied>"}}},
	} {
		got, err := (*decisionJSON)(&d).appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := stdJSON(t, d); !bytes.Equal(append(got, '\n'), want) {
			t.Fatalf("fixed decision %d:\n got %s\nwant %s", i, got, want)
		}
	}
	for _, n := range []int{-1, 0, 1, 7} {
		var batch batchJSON
		if n >= 0 {
			batch.Decisions = make([]ledger.Decision, n)
			for i := range batch.Decisions {
				batch.Decisions[i] = randDecision(r)
			}
		}
		got, err := batch.appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := stdJSON(t, batch); !bytes.Equal(append(got, '\n'), want) {
			t.Fatalf("batch of %d:\n got %s\nwant %s", n, got, want)
		}
	}
}

// FuzzAppendJSONString checks string escaping against encoding/json.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range awkward {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendJSONString(nil, s), stdJSON(t, s); !bytes.Equal(append(got, '\n'), want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	})
}

// TestWriteJSON_LengthAndFailure checks that writeJSON sends a body with
// its length, and a problem rather than a truncated body when a value
// cannot be encoded.
func TestWriteJSON_LengthAndFailure(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	r := httptest.NewRequest(http.MethodGet, "/v1/check", nil)
	d := ledger.Decision{Allowed: true, Basis: "grant", Reason: "ok", At: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	w := httptest.NewRecorder()
	s.writeJSON(w, r, http.StatusOK, (*decisionJSON)(&d))
	if w.Code != http.StatusOK || w.Header().Get("Content-Length") != strconv.Itoa(w.Body.Len()) {
		t.Fatalf("status %d, Content-Length %q for a body of %d bytes", w.Code, w.Header().Get("Content-Length"), w.Body.Len())
	}
	if want := stdJSON(t, d); !bytes.Equal(w.Body.Bytes(), want) {
		t.Fatalf("body %s, want %s", w.Body.Bytes(), want)
	}

	for _, v := range []any{
		(*decisionJSON)(&ledger.Decision{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}), // year out of range
		map[string]any{"f": func() {}},
	} {
		w := httptest.NewRecorder()
		s.writeJSON(w, r, http.StatusOK, v)
		var p api.Problem
		if w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != "application/problem+json" ||
			json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != http.StatusInternalServerError || p.Instance != "/v1/check" {
			t.Fatalf("%T: status %d, %s: %s", v, w.Code, w.Header().Get("Content-Type"), w.Body.Bytes())
		}
	}
}

func BenchmarkCheckBatchJSON(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	batch := batchJSON{Decisions: make([]ledger.Decision, 100)}
	for i := range batch.Decisions {
		batch.Decisions[i] = ledger.Decision{Allowed: true, Basis: "grant", Reason: "granted by g-" + strconv.Itoa(i),
			Chain: []string{"g-" + strconv.Itoa(i), "g-root"}, At: time.Unix(r.Int64N(1<<31), 0).UTC(),
			Candidates: []ledger.Candidate{{Grant: "g-" + strconv.Itoa(i), Status: "active", Allowed: true, Reason: "covers the use"}}}
	}
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.Encode(batch)
		}
	})
	b.Run("append", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = batch.appendJSON(buf[:0])
		}
	})
}
