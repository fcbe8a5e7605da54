package ledger

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// strictLevel is a test enum with its own text decoding.
type strictLevel int

func (l *strictLevel) UnmarshalText(b []byte) error {
	switch string(b) {
	case "low":
		*l = 1
	case "high":
		*l = 2
	default:
		return errors.New("unknown level " + string(b))
	}
	return nil
}

func (l strictLevel) MarshalText() ([]byte, error) {
	return []byte(map[strictLevel]string{0: "", 1: "low", 2: "high"}[l]), nil
}

type strictBase struct {
	Note string `json:"note,omitempty"`
}

type strictInner struct {
	Name  string            `json:"name"`
	Tags  []string          `json:"tags,omitempty"`
	Level strictLevel       `json:"level,omitempty"`
	Attrs map[string]uint16 `json:"attrs,omitempty"`
}

type strictDoc struct {
	strictBase
	ID      string          `json:"id"`
	Count   int32           `json:"count"`
	Share   uint8           `json:"share"`
	OK      bool            `json:"ok"`
	When    time.Time       `json:"when"`
	Blob    []byte          `json:"blob"`
	Inner   strictInner     `json:"inner"`
	Items   []strictInner   `json:"items"`
	Ptr     *strictInner    `json:"ptr"`
	Any     any             `json:"any"`
	Raw     json.RawMessage `json:"raw"`
	Quoted  int64           `json:"quoted,string"`
	Pair    [2]int          `json:"pair"`
	Ignored string          `json:"-"`
	hidden  string          //lint:ignore U1000 proves unexported fields are never filled
}

func TestDecodeStrict_Accepts(t *testing.T) {
	doc := `{"note":"n","id":"x","count":-5,"share":200,"ok":true,"when":"2025-01-02T03:04:05+02:00","blob":"AQI=",` +
		`"inner":{"name":"a","tags":["t"],"level":"high","attrs":{"k":65535}},"items":[{"name":"b"},{"name":"c"}],` +
		`"ptr":null,"any":{"deep":[1,"x",null,{"y":true}]},"raw":{"r":[1]},"quoted":"42","pair":[1,2]}`
	var d strictDoc
	if err := DecodeStrict([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	if d.Note != "n" || d.Count != -5 || d.Share != 200 || !d.OK || d.Inner.Level != 2 || d.Inner.Attrs["k"] != 65535 ||
		len(d.Items) != 2 || d.Items[1].Name != "c" || d.Ptr != nil || string(d.Raw) != `{"r":[1]}` || d.Quoted != 42 ||
		d.Pair != [2]int{1, 2} || string(d.Blob) != "\x01\x02" || d.When.Hour() != 3 {
		t.Errorf("decoded %+v", d)
	}
	if _, ok := d.Any.(map[string]any); !ok {
		t.Errorf("any = %T", d.Any)
	}

	// Other target kinds.
	var m map[string][]int
	if err := DecodeStrict([]byte(` {"a":[1,2]} `), &m); err != nil || !reflect.DeepEqual(m, map[string][]int{"a": {1, 2}}) {
		t.Errorf("map: %v, %v", m, err)
	}
	var a any
	if err := DecodeStrict([]byte(`[1,{"b":null}]`), &a); err != nil {
		t.Errorf("any: %v", err)
	}
	var s string
	if err := DecodeStrict([]byte(`"x"`), &s); err != nil || s != "x" {
		t.Errorf("string: %q, %v", s, err)
	}
}

func TestDecodeStrict_Rejects(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"unknown field", `{"id":"x","idd":"y"}`, "idd: unknown field"},
		{"unknown nested field", `{"inner":{"name":"a","nmae":"b"}}`, "inner.nmae: unknown field"},
		{"unknown field in slice element", `{"items":[{"name":"a"},{"name":"b","x":1}]}`, "items[1].x: unknown field"},
		{"unknown field behind pointer", `{"ptr":{"nope":1}}`, "ptr.nope: unknown field"},
		{"wrong case", `{"ID":"x"}`, "ID: unknown field"},
		{"ignored field", `{"Ignored":"x"}`, "Ignored: unknown field"},
		{"unexported field", `{"hidden":"x"}`, "hidden: unknown field"},
		{"embedded struct by name", `{"strictBase":{}}`, "strictBase: unknown field"},
		{"odd key is quoted", `{"a.b[0]":1}`, `["a.b[0]"]: unknown field`},
		{"duplicate key", `{"id":"x","id":"x"}`, "id: duplicate key"},
		{"duplicate key in any", `{"any":{"a":[{"b":1,"b":1}]}}`, "any.a[0].b: duplicate key"},
		{"duplicate key in raw", `{"raw":{"r":1,"r":2}}`, "raw.r: duplicate key"},
		{"duplicate key in map", `{"inner":{"attrs":{"k":1,"k":2}}}`, "inner.attrs.k: duplicate key"},
		{"duplicate key in time", `{"when":{"a":1,"a":1}}`, "when.a: duplicate key"},
		{"trailing object", `{} {}`, "document: unexpected data after the JSON value"},
		{"trailing comma", `{},`, "document: unexpected data after the JSON value"},
		{"trailing comma in object", `{"id":"x",}`, "invalid JSON"},
		{"syntax error", `{"id" "x"}`, "invalid JSON"},
		{"empty", ``, "document: unexpected end of JSON"},
		{"invalid UTF-8", "{\"id\":\"\xc3\x28\"}", "document: invalid UTF-8"},
		{"string for int", `{"count":"5"}`, "count: expected an integer, got a string"},
		{"float for int", `{"count":5.5}`, "count: expected an integer, got 5.5"},
		{"exponent for int", `{"count":1e3}`, "count: expected an integer, got 1e3"},
		{"int32 overflow", `{"count":2147483648}`, "count: 2147483648 is out of range"},
		{"negative uint", `{"share":-1}`, "share: expected an integer, got -1"},
		{"uint8 overflow", `{"share":256}`, "share: 256 is out of range"},
		{"uint16 map value overflow", `{"inner":{"attrs":{"k":65536}}}`, "inner.attrs.k: 65536 is out of range"},
		{"number for string", `{"id":1}`, "id: expected a string, got a number"},
		{"bool for string", `{"id":true}`, "id: expected a string, got a boolean"},
		{"string for bool", `{"ok":"true"}`, "ok: expected a boolean, got a string"},
		{"array for object", `{"inner":[]}`, "inner: expected an object, got an array"},
		{"object for array", `{"items":{}}`, "items: expected an array, got an object"},
		{"number for string in slice", `{"inner":{"tags":["a",2]}}`, "inner.tags[1]: expected a string, got a number"},
		{"null for string", `{"id":null}`, "id: must not be null"},
		{"null for int", `{"count":null}`, "count: must not be null"},
		{"null for struct", `{"inner":null}`, "inner: must not be null"},
		{"null for time", `{"when":null}`, "when: must not be null"},
		{"null slice element", `{"items":[null]}`, "items[0]: must not be null"},
		{"bad time", `{"when":"yesterday"}`, `when: parsing time "yesterday"`},
		{"number for text value", `{"inner":{"level":1}}`, "inner.level: expected a string, got a number"},
		{"float out of range in any", `{"any":{"x":1e400}}`, "any.x"},
		{"bad text value", `{"inner":{"level":"mid"}}`, "inner.level: unknown level mid"},
		{"bad base64", `{"blob":"!!"}`, "blob: invalid base64"},
		{"base64 with line break", `{"blob":"AQ\nI="}`, "blob: invalid base64: contains a line break"},
		{"unpadded base64", `{"blob":"AQI"}`, "blob: invalid base64"},
		{"base64 non-zero padding bits", `{"blob":"AQJ="}`, "blob: invalid base64"},
		{"too many array elements", `{"pair":[1,2,3]}`, "pair: more than 2 elements"},
		{"quoted not a number", `{"quoted":"x"}`, "invalid use of ,string struct tag"},
		{"deep nesting", `{"any":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70) + `}`, "nested deeper than 64 levels"},
		{"not an object", `"x"`, "document: expected an object, got a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d strictDoc
			err := DecodeStrict([]byte(tt.doc), &d)
			wantCode(t, err, CodeInvalid, tt.want)
		})
	}
}

func TestDecodeStrict_BadTarget(t *testing.T) {
	var d strictDoc
	for _, v := range []any{nil, d, (*strictDoc)(nil)} {
		if err := DecodeStrict([]byte(`{}`), v); CodeOf(err) != CodeInternal {
			t.Errorf("DecodeStrict(%T) = %v, want an internal error", v, err)
		}
	}
}

func TestDecodeStrict_PathPrefix(t *testing.T) {
	var d strictDoc
	err := decodeStrictAt("body", []byte(`{"items":[{"name":1}]}`), &d)
	wantCode(t, err, CodeInvalid, "body.items[0].name: expected a string, got a number")
	err = decodeStrictAt("body", []byte(`[`), &d)
	wantCode(t, err, CodeInvalid, "body: expected an object, got an array")
}

func FuzzDecodeStrict(f *testing.F) {
	f.Add([]byte(`{"note":"n","id":"x","count":-5,"share":200,"ok":true,"when":"2025-01-02T03:04:05Z","blob":"AQI=","inner":{"name":"a","tags":["t"],"level":"low","attrs":{"k":1}},"items":[{"name":"b"}],"ptr":{"name":"p"},"any":[1,{"a":null}],"raw":{"r":1},"quoted":"7","pair":[1,2]}`))
	f.Add([]byte(`{"id":"x","id":"y"}`))
	f.Add([]byte(`{"any":{"a":{"a":{"a":[[[]]]}}}}`))
	f.Add([]byte(`{"blob":"AQ\nI="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d strictDoc
		err := DecodeStrict(b, &d)
		if err != nil {
			var le *Error
			if !errors.As(err, &le) || le.Code != CodeInvalid {
				t.Fatalf("error %v is not a CodeInvalid *Error", err)
			}
			return
		}
		// Whatever DecodeStrict accepts, encoding/json accepts too, with the
		// same result: the strict checks only ever remove documents.
		var loose strictDoc
		if err := json.Unmarshal(b, &loose); err != nil {
			t.Fatalf("strict accepted what encoding/json rejects: %v", err)
		}
		if !reflect.DeepEqual(d, loose) {
			t.Fatalf("strict and loose decodes differ:\n%+v\n%+v", d, loose)
		}
		// And a strictly accepted document re-encodes to one that is
		// accepted again.
		enc, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var again strictDoc
		if err := DecodeStrict(enc, &again); err != nil {
			t.Fatalf("re-encoded document %s rejected: %v", enc, err)
		}
	})
}
