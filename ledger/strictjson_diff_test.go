package ledger

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The fast decoder must accept only what the reference decoder (strictWalker
// followed by encoding/json, in walkStrictAt) accepts, with the same decoded
// value; DecodeStrict must give the reference's error messages.

// strictQuirks has the shapes the fast decoder leaves to the reference.
type strictQuirks struct {
	Named   map[strictKey]int     `json:"named"`
	IntKeys map[int]string        `json:"int_keys"`
	Float   float32               `json:"float"`
	Num     json.Number           `json:"num"`
	UQuoted uint16                `json:"uquoted,string"`
	BoolQ   bool                  `json:"boolq,string"`
	Stringy interface{ String() } `json:"stringy"`
	RawPtr  *json.RawMessage      `json:"rawptr"`
	Hash    Hash                  `json:"hash"`
	HashPtr *Hash                 `json:"hashptr"`
	Deep    **strictInner         `json:"deep"`
	Bytes   [][]byte              `json:"bytes"`
}

type strictKey string

// diffTargets are the target types every document is decoded into.
var diffTargets = []func() any{
	func() any { return new(strictDoc) },
	func() any { return new(strictQuirks) },
	func() any { return new(proposalWire) },
	func() any { return new(envelopeWire) },
	func() any { return new(GrantOffer) },
	func() any { return new(any) },
	func() any { return new(json.RawMessage) },
	func() any { return new(map[string][]int) },
	func() any { return new([]string) },
	func() any { return new(string) },
}

// diffCheck compares the fast decoder, the reference and DecodeStrict on
// one document for every target type. It reports whether the fast decoder
// accepted the document for some target.
func diffCheck(t *testing.T, b []byte) (fast bool) {
	t.Helper()
	for _, newTarget := range diffTargets {
		fv, rv, dv := newTarget(), newTarget(), newTarget()
		ok := decodeFast(b, reflect.ValueOf(fv).Elem())
		refErr := walkStrictAt("", reflect.ValueOf(rv), b, rv)
		if ok {
			fast = true
			if refErr != nil {
				t.Fatalf("%T: fast decoder accepted %q, reference rejects it: %v", fv, b, refErr)
			}
			if !reflect.DeepEqual(fv, rv) {
				t.Fatalf("%T: decodes of %q differ:\nfast %#v\nref  %#v", fv, b, fv, rv)
			}
		}
		err := DecodeStrict(b, dv)
		if (err == nil) != (refErr == nil) || err != nil && err.Error() != refErr.Error() {
			t.Fatalf("%T: DecodeStrict(%q) = %v, reference %v", fv, b, err, refErr)
		}
		if !reflect.DeepEqual(dv, rv) {
			t.Fatalf("%T: DecodeStrict(%q) left %#v, reference %#v", fv, b, dv, rv)
		}
	}
	return fast
}

// fuzzCorpus returns the seed documents of the fuzz corpus on disk.
func fuzzCorpus(t *testing.T) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeStrict", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fuzz corpus: %v", err)
	}
	var docs [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, arg, ok := strings.Cut(strings.TrimSpace(string(raw)), "\n")
		arg, ok2 := strings.CutPrefix(arg, "[]byte(")
		arg, ok3 := strings.CutSuffix(arg, ")")
		if !ok || !ok2 || !ok3 {
			t.Fatalf("%s: unexpected corpus format", f)
		}
		s, err := strconv.Unquote(arg)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		docs = append(docs, []byte(s))
	}
	return docs
}

// diffValues are candidate member values, valid for some fields and not for
// others.
var diffValues = []string{
	`null`, `true`, `false`, `0`, `-0`, `1`, `-1`, `200`, `255`, `256`, `65535`, `65536`, `2147483647`, `2147483648`,
	`-2147483649`, `9223372036854775807`, `9223372036854775808`, `-9223372036854775808`, `18446744073709551615`,
	`18446744073709551616`, `1.5`, `1e3`, `-0.0`, `1e400`, `3.4e39`, `01`, `1.`, `-`, `""`, `"x"`, `"42"`, `"-7"`, `"1e3"`,
	`"null"`, `" 1"`, `"a\"b"`, `"\u00e9\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ud83d\u0041"`, `"\/\b\f\n\r\t"`, `"\x"`,
	`"AQI="`, `"AQJ="`, `"AQ\nI="`, `"AQ\u0049="`, `"low"`, `"high"`, `"mid"`, `"2025-01-02T03:04:05Z"`,
	`"0000000000000000000000000000000000000000000000000000000000000001"`, `[]`, `[1,2]`, `[1,2,3]`, `["a","b"]`,
	`[null]`, `[1,"x",null,{"y":true}]`, `[[1]]`, `{}`, `{"name":"a"}`, `{"name":"a","name":"b"}`, `{"k":1}`,
	`{"k":1,"k":2}`, `{"a":{"b":[{"c":1,"c":2}]}}`, `{"a":1,"\u0061":2}`, `{"Name":"a"}`, `{"name":1}`,
	`{"name":"a","tags":["t"],"level":"low","attrs":{"k":1}}`, `[1,]`, `{,}`, `{"a" 1}`, `tru`, `nul`,
	`{"r":[1, 2 ,{ "s" : null }]}`, `[` + strings.Repeat(`[`, 70) + strings.Repeat(`]`, 70) + `]`,
}

// diffKeys are member names: fields of the target types and others.
var diffKeys = []string{
	"note", "id", "count", "share", "ok", "when", "blob", "inner", "items", "ptr", "any", "raw", "quoted", "pair",
	"Ignored", "hidden", "ID", "named", "int_keys", "float", "num", "uquoted", "boolq", "stringy", "rawptr", "hash",
	"hashptr", "deep", "bytes", "v", "consortium", "type", "signer", "issued_at", "body", "payloadType", "payload",
	"signatures", "licensors", "licensees", "terms", "offer_expires", "name", "tags", "level", "attrs", "k", "a",
	"i\\u0064",
}

// randomDoc builds an object from random keys and values, sometimes damaged.
func randomDoc(r *rand.Rand) []byte {
	var sb strings.Builder
	sb.WriteString("{")
	for i, n := 0, r.IntN(5); i < n; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`"` + diffKeys[r.IntN(len(diffKeys))] + `"`)
		sb.WriteString([]string{":", " : ", ":\n"}[r.IntN(3)])
		sb.WriteString(diffValues[r.IntN(len(diffValues))])
	}
	sb.WriteString("}")
	b := []byte(sb.String())
	switch r.IntN(8) {
	case 0: // top-level value instead of an object
		b = []byte(diffValues[r.IntN(len(diffValues))])
	case 1: // flip a byte
		if len(b) > 0 {
			const junk = " {}[]\",:0a\\\xff"
			b[r.IntN(len(b))] = junk[r.IntN(len(junk))]
		}
	case 2: // cut
		b = b[:r.IntN(len(b)+1)]
	case 3: // trailing data
		b = append(b, []string{" ", "{}", ",", "\n"}[r.IntN(4)]...)
	}
	return b
}

func TestDecodeStrictDifferential(t *testing.T) {
	docs := fuzzCorpus(t)
	r := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		docs = append(docs, randomDoc(r))
	}
	fast := 0
	for _, b := range docs {
		if diffCheck(t, b) {
			fast++
		}
	}
	// The comparison means something only if the fast decoder accepts a
	// good share of the documents.
	if fast < len(docs)/10 {
		t.Errorf("fast decoder accepted only %d of %d documents", fast, len(docs))
	}
	t.Logf("fast decoder accepted %d of %d documents for some target", fast, len(docs))
}

// TestDecodeStrictFastPath checks that the documents of the write path take
// the fast path, which is what makes DecodeStrict fast.
func TestDecodeStrictFastPath(t *testing.T) {
	tests := []struct {
		doc    string
		target any
	}{
		{`{"payloadType":"application/vnd.charta.proposal+json","payload":"e30=","signatures":[{"keyid":"alpha/0123456789abcdef","sig":"AQI="}]}`, new(envelopeWire)},
		{`{"v":1,"consortium":"c","id":"p1","type":"grant.offer","signer":"alpha","issued_at":"2025-01-02T03:04:05Z","body":{"id":"g","terms":{"assets":["a"]}}}`, new(proposalWire)},
		{`{"id":"g","licensors":["alpha"],"licensees":["beta"],"terms":{"assets":["a"],"rights":["use"]},"offer_expires":"2030-01-01T00:00:00Z"}`, new(GrantOffer)},
		{`{"note":"n","id":"x","count":-5,"share":200,"ok":true,"when":"2025-01-02T03:04:05Z","blob":"AQI=","inner":{"name":"a","tags":["t"],"level":"high","attrs":{"k":65535}},"items":[{"name":"b"}],"ptr":null,"any":{"deep":[1,"x",null,{"y":true}]},"raw":{"r":[1]},"quoted":"42","pair":[1,2]}`, new(strictDoc)},
	}
	for _, tt := range tests {
		if !decodeFast([]byte(tt.doc), reflect.ValueOf(tt.target).Elem()) {
			t.Errorf("%T: %s took the slow path", tt.target, tt.doc)
		}
	}
}

func FuzzDecodeStrictDifferential(f *testing.F) {
	for _, v := range diffValues {
		f.Add([]byte(v))
	}
	f.Add([]byte(`{"note":"n","id":"x","count":-5,"share":200,"ok":true,"when":"2025-01-02T03:04:05Z","blob":"AQI=","inner":{"name":"a","tags":["t"],"level":"low","attrs":{"k":1}},"items":[{"name":"b"}],"ptr":{"name":"p"},"any":[1,{"a":null}],"raw":{"r":1},"quoted":"7","pair":[1,2]}`))
	f.Add([]byte(`{"named":{"a":1},"int_keys":{"1":"x"},"float":1.5,"num":12,"uquoted":"7","boolq":"true","rawptr":null,"hash":"0000000000000000000000000000000000000000000000000000000000000001","deep":{"name":"d"},"bytes":["AQI=",[1,2]]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		diffCheck(t, b)
	})
}
