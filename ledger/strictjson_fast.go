package ledger

import (
	"encoding"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the fast path of DecodeStrict: a single pass over the bytes
// that checks the syntax, rejects duplicate and unknown keys, and stores the
// values into the target through a decoding plan built once per Go type.
//
// It is deliberately partial. Whenever it meets something it does not model
// exactly as strictWalker followed by encoding/json would (an error of any
// kind, an escaped object key, a ",string" option on a field that is not an
// integer, an ambiguous embedded field, a map with non-string keys, ...), it
// gives up and decodeStrictAt runs the reference decoder from a zero target.
// FuzzDecodeStrictDifferential checks that whatever it accepts, the reference
// accepts too, with the same result.
//
// encoding/json/v2 (go-json-experiment), configured strictly and guarded to
// accept only what the reference accepts, was tried in its place and decoded
// a grant.offer body 1.37-1.55 times slower: see "encoding/json/v2 in place
// of the fast path" in docs/benchmarks.md.

// planKind says how a plan decodes a value.
type planKind uint8

const (
	planUnsupported planKind = iota // the reference decoder must handle it
	planBool
	planInt
	planUint
	planFloat
	planString
	planNumber    // json.Number
	planBytes     // []byte: canonical base64, or an array of numbers
	planSlice     // any other slice
	planArray     // a Go array
	planMap       // a map with string keys
	planStruct    // a struct, by its JSON fields
	planPointer   // a pointer, allocated for any value but null
	planAny       // an empty interface: maps, slices, strings, float64s, booleans, nils
	planRaw       // json.RawMessage: the value's bytes
	planJSON      // a json.Unmarshaler
	planText      // an encoding.TextUnmarshaler (strings only)
	planQuotedInt // an integer field with the ",string" option
)

// plan is how one Go type is decoded. Plans are immutable once built.
type plan struct {
	kind     planKind
	typ      reflect.Type
	bits     int            // planInt, planUint, planFloat, planQuotedInt: the type's size
	unsigned bool           // planQuotedInt: the field is unsigned
	nullable bool           // null is accepted (and leaves the zero value, or is handed to UnmarshalJSON)
	elem     *plan          // planBytes, planSlice, planArray, planMap, planPointer
	length   int            // planArray
	key      reflect.Type   // planMap: the key type
	fields   []planField    // planStruct
	byName   map[string]int // planStruct: index into fields
}

// planField is one JSON member of a struct.
type planField struct {
	name  string
	index []int
	plan  *plan
}

// strictPlans caches a *plan per reflect.Type. It is a cache of pure functions
// of the type, so it never changes what a decode decides.
var strictPlans sync.Map // reflect.Type → *plan

// planFor returns the plan for type t, building it on first use.
func planFor(t reflect.Type) *plan {
	if p, ok := strictPlans.Load(t); ok {
		return p.(*plan)
	}
	building := make(map[reflect.Type]*plan)
	p := buildPlan(t, building)
	for bt, bp := range building {
		strictPlans.LoadOrStore(bt, bp)
	}
	return p
}

// buildPlan builds the plan of t. Plans under construction are in building,
// so that recursive types terminate.
func buildPlan(t reflect.Type, building map[reflect.Type]*plan) *plan {
	if p, ok := building[t]; ok {
		return p
	}
	if p, ok := strictPlans.Load(t); ok {
		return p.(*plan)
	}
	p := &plan{typ: t, nullable: nullable(t)}
	building[t] = p
	ptrT := reflect.PointerTo(t)
	isJSON, isText := ptrT.Implements(jsonUnmarshalerType), ptrT.Implements(textUnmarshalerType)
	switch {
	case t.Kind() == reflect.Pointer:
		if t.Name() == "" {
			p.kind, p.elem = planPointer, buildPlan(t.Elem(), building)
		}
	case t.Kind() == reflect.Interface:
		if t.NumMethod() == 0 {
			p.kind = planAny
		}
	case t == rawMessageType:
		p.kind = planRaw
	case (isJSON || isText) && t.Name() == "":
		// encoding/json looks for the methods of unnamed types only behind
		// a pointer; leave that difference to the reference decoder.
	case isJSON:
		p.kind = planJSON
	case isText:
		p.kind = planText
	case t == numberType:
		p.kind = planNumber
	default:
		buildKindPlan(p, t, building)
	}
	return p
}

// buildKindPlan fills in the plan of a type without decoding methods.
func buildKindPlan(p *plan, t reflect.Type, building map[reflect.Type]*plan) {
	switch t.Kind() {
	case reflect.Bool:
		p.kind = planBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.kind, p.bits = planInt, t.Bits()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.kind, p.bits = planUint, t.Bits()
	case reflect.Float32, reflect.Float64:
		p.kind, p.bits = planFloat, t.Bits()
	case reflect.String:
		p.kind = planString
	case reflect.Slice:
		p.kind, p.elem = planSlice, buildPlan(t.Elem(), building)
		if t.Elem().Kind() == reflect.Uint8 {
			if reflect.PointerTo(t.Elem()).NumMethod() > 0 {
				p.kind = planUnsupported
			} else {
				p.kind = planBytes
			}
		}
	case reflect.Array:
		p.kind, p.elem, p.length = planArray, buildPlan(t.Elem(), building), t.Len()
	case reflect.Map:
		kt := t.Key()
		if kt.Kind() == reflect.String && !reflect.PointerTo(kt).Implements(textUnmarshalerType) {
			p.kind, p.key, p.elem = planMap, kt, buildPlan(t.Elem(), building)
		}
	case reflect.Struct:
		fields, ok := planFields(t, nil, building)
		if ok && len(fields) <= 64 {
			p.kind, p.fields = planStruct, fields
			p.byName = make(map[string]int, len(fields))
			for i, f := range fields {
				p.byName[f.name] = i
			}
		}
	}
}

// planFields lists the JSON members of struct type t under the rules of
// jsonFields. It reports false for any struct where those rules and
// encoding/json's could disagree: two fields with one name at any depth,
// tag names encoding/json would ignore, embedded pointers and tagged
// embedded fields.
func planFields(t reflect.Type, prefix []int, building map[reflect.Type]*plan) ([]planField, bool) {
	var fields []planField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name != "" && !validTagName(name) {
			return nil, false
		}
		index := append(append([]int(nil), prefix...), i)
		if f.Anonymous {
			switch {
			case name != "" || f.Type.Kind() == reflect.Pointer:
				return nil, false
			case f.Type.Kind() == reflect.Struct:
				inner, ok := planFields(f.Type, index, building)
				if !ok {
					return nil, false
				}
				fields = append(fields, inner...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fp := buildPlan(f.Type, building)
		if hasOption(opts, "string") {
			fp = quotedPlan(f.Type)
		}
		fields = append(fields, planField{name: name, index: index, plan: fp})
	}
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if seen[f.name] {
			return nil, false
		}
		seen[f.name] = true
	}
	return fields, true
}

// quotedPlan is the plan of a field with the ",string" option: supported for
// plain integer types only.
func quotedPlan(t reflect.Type) *plan {
	p := &plan{typ: t}
	if reflect.PointerTo(t).NumMethod() > 0 {
		return p
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.kind, p.bits = planQuotedInt, t.Bits()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.kind, p.bits, p.unsigned = planQuotedInt, t.Bits(), true
	}
	return p
}

// validTagName is encoding/json's rule for a usable tag name.
func validTagName(s string) bool {
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// decodeFast decodes data into target, which must be settable and zero. It
// reports false, leaving target in any state, when the reference decoder must
// decide instead.
func decodeFast(data []byte, target reflect.Value) bool {
	p := planFor(target.Type())
	if p.kind == planUnsupported || !utf8.Valid(data) {
		return false
	}
	d := fastDecoder{data: data}
	if !d.value(p, target, 0) {
		return false
	}
	d.skipSpace()
	return d.pos == len(d.data)
}

// fastDecoder is the state of one fast decode.
type fastDecoder struct {
	data []byte
	pos  int
	keys []int // spans of the keys of the objects being skipped, for duplicate detection
}

func (d *fastDecoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (d *fastDecoder) peek() byte {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

// literal consumes the literal word, whose first byte is next.
func (d *fastDecoder) literal(word string) bool {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return false
	}
	d.pos += len(word)
	return true
}

// str scans a string at d.pos (which holds '"') and returns the bounds of its
// contents and whether it has escapes.
func (d *fastDecoder) str() (start, end int, escaped, ok bool) {
	i := d.pos + 1
	start = i
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return start, i, escaped, true
		case c < 0x20:
			return 0, 0, false, false
		case c == '\\':
			escaped = true
			if i+1 >= len(d.data) {
				return 0, 0, false, false
			}
			switch d.data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d.data) || hex4(d.data[i+2:i+6]) < 0 {
					return 0, 0, false, false
				}
				i += 6
			default:
				return 0, 0, false, false
			}
		default:
			i++
		}
	}
	return 0, 0, false, false
}

// stringValue scans a string and returns its decoded contents.
func (d *fastDecoder) stringValue() ([]byte, bool) {
	start, end, escaped, ok := d.str()
	if !ok {
		return nil, false
	}
	if !escaped {
		return d.data[start:end], true
	}
	return unescape(d.data[start:end]), true
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unescape decodes the contents of a string with escapes, already checked
// by str, as encoding/json does: a lone or mismatched surrogate becomes
// U+FFFD.
func unescape(s []byte) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
					b = utf8.AppendRune(b, dec)
					i += 6
					continue
				}
				r = unicode.ReplacementChar
			}
			b = utf8.AppendRune(b, r)
			continue
		default: // '"', '\\', '/'
			b = append(b, s[i+1])
		}
		i += 2
	}
	return b
}

// number scans a number and returns its bounds.
func (d *fastDecoder) number() (start, end int, ok bool) {
	start = d.pos
	end, ok = scanNumber(d.data, d.pos)
	if !ok {
		return 0, 0, false
	}
	d.pos = end
	return start, end, true
}

// scanNumber returns the end of the JSON number at b[i:].
func scanNumber(b []byte, i int) (int, bool) {
	digits := func() bool {
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	return i, true
}

// parseInt parses a JSON number as a signed integer of the given size,
// accepting exactly what strconv.ParseInt accepts.
func parseInt(s []byte, bits int) (int64, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	u, ok := parseDigits(s)
	if !ok {
		return 0, false
	}
	limit := uint64(1) << (bits - 1)
	if neg {
		if u > limit {
			return 0, false
		}
		return -int64(u), true // wraps correctly for u == limit
	}
	if u >= limit {
		return 0, false
	}
	return int64(u), true
}

// parseUint parses a JSON number as an unsigned integer of the given size.
func parseUint(s []byte, bits int) (uint64, bool) {
	u, ok := parseDigits(s)
	if !ok || bits < 64 && u >= uint64(1)<<bits {
		return 0, false
	}
	return u, true
}

// parseDigits parses a non-empty run of decimal digits that fits 64 bits.
func parseDigits(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	var u uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (math.MaxUint64-9)/10 {
			// Near the top of the range: let strconv decide.
			v, err := strconv.ParseUint(string(s), 10, 64)
			return v, err == nil
		}
		u = u*10 + uint64(c-'0')
	}
	return u, true
}

// value decodes the next value into v according to p.
func (d *fastDecoder) value(p *plan, v reflect.Value, depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	c := d.peek()
	if c == 'n' {
		if !p.nullable || p.kind == planUnsupported || p.kind == planQuotedInt || !d.literal("null") {
			return false
		}
		switch p.kind {
		case planRaw:
			v.SetBytes([]byte("null"))
		case planJSON:
			return v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON([]byte("null")) == nil
		}
		return true
	}
	switch p.kind {
	case planBool:
		switch {
		case c == 't' && d.literal("true"):
			v.SetBool(true)
		case c == 'f' && d.literal("false"):
		default:
			return false
		}
	case planInt:
		start, end, ok := d.number()
		if !ok {
			return false
		}
		n, ok := parseInt(d.data[start:end], p.bits)
		if !ok {
			return false
		}
		v.SetInt(n)
	case planUint:
		start, end, ok := d.number()
		if !ok {
			return false
		}
		n, ok := parseUint(d.data[start:end], p.bits)
		if !ok {
			return false
		}
		v.SetUint(n)
	case planFloat:
		start, end, ok := d.number()
		if !ok {
			return false
		}
		f, err := strconv.ParseFloat(string(d.data[start:end]), p.bits)
		if err != nil {
			return false
		}
		v.SetFloat(f)
	case planString:
		if c != '"' {
			return false
		}
		s, ok := d.stringValue()
		if !ok {
			return false
		}
		v.SetString(string(s))
	case planNumber:
		start, end, ok := d.number()
		if !ok {
			return false
		}
		v.SetString(string(d.data[start:end]))
	case planBytes:
		if c == '[' {
			return d.slice(p, v, depth)
		}
		if c != '"' {
			return false
		}
		s, ok := d.stringValue()
		if !ok {
			return false
		}
		b, err := decodeBase64(string(s))
		if err != nil {
			return false
		}
		v.SetBytes(b)
	case planSlice:
		return c == '[' && d.slice(p, v, depth)
	case planArray:
		return c == '[' && d.array(p, v, depth)
	case planMap:
		return c == '{' && d.mapValue(p, v, depth)
	case planStruct:
		return c == '{' && d.structValue(p, v, depth)
	case planPointer:
		nv := reflect.New(p.elem.typ)
		if !d.value(p.elem, nv.Elem(), depth) {
			return false
		}
		v.Set(nv)
	case planAny:
		x, ok := d.anyValue(depth)
		if !ok {
			return false
		}
		v.Set(reflect.ValueOf(x))
	case planRaw:
		start := d.pos
		if !d.skip(depth) {
			return false
		}
		v.SetBytes(append([]byte(nil), d.data[start:d.pos]...))
	case planJSON:
		start := d.pos
		if !d.skip(depth) {
			return false
		}
		return v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(d.data[start:d.pos]) == nil
	case planText:
		if c != '"' {
			return false
		}
		s, ok := d.stringValue()
		if !ok {
			return false
		}
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText(append([]byte(nil), s...)) == nil
	case planQuotedInt:
		if c != '"' {
			return false
		}
		start, end, escaped, ok := d.str()
		if !ok || escaped {
			return false
		}
		s := d.data[start:end]
		if e, ok := scanNumber(s, 0); !ok || e != len(s) {
			return false
		}
		if p.unsigned {
			n, ok := parseUint(s, p.bits)
			if !ok {
				return false
			}
			v.SetUint(n)
		} else {
			n, ok := parseInt(s, p.bits)
			if !ok {
				return false
			}
			v.SetInt(n)
		}
	default:
		return false
	}
	return true
}

// elements calls each for every element of the array at d.pos.
func (d *fastDecoder) elements(each func(i int) bool) bool {
	d.pos++ // '['
	if d.peek() == ']' {
		d.pos++
		return true
	}
	for i := 0; ; i++ {
		if !each(i) {
			return false
		}
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return true
		default:
			return false
		}
	}
}

// members calls each for every member of the object at d.pos, with the
// bounds of its key, which has no escapes.
func (d *fastDecoder) members(each func(start, end int) bool) bool {
	d.pos++ // '{'
	if d.peek() == '}' {
		d.pos++
		return true
	}
	for {
		if d.peek() != '"' {
			return false
		}
		start, end, escaped, ok := d.str()
		if !ok || escaped || d.peek() != ':' {
			return false
		}
		d.pos++
		if !each(start, end) {
			return false
		}
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return true
		default:
			return false
		}
	}
}

func (d *fastDecoder) slice(p *plan, v reflect.Value, depth int) bool {
	n := 0
	ok := d.elements(func(i int) bool {
		if i >= v.Cap() {
			v.Grow(1)
		}
		v.SetLen(i + 1)
		n = i + 1
		return d.value(p.elem, v.Index(i), depth+1)
	})
	if ok && n == 0 {
		v.Set(reflect.MakeSlice(p.typ, 0, 0))
	}
	return ok
}

func (d *fastDecoder) array(p *plan, v reflect.Value, depth int) bool {
	return d.elements(func(i int) bool {
		return i < p.length && d.value(p.elem, v.Index(i), depth+1)
	})
}

func (d *fastDecoder) mapValue(p *plan, v reflect.Value, depth int) bool {
	v.Set(reflect.MakeMap(p.typ))
	return d.members(func(start, end int) bool {
		k := reflect.ValueOf(string(d.data[start:end]))
		if k.Type() != p.key {
			k = k.Convert(p.key)
		}
		if v.MapIndex(k).IsValid() { // duplicate key
			return false
		}
		e := reflect.New(p.elem.typ).Elem()
		if !d.value(p.elem, e, depth+1) {
			return false
		}
		v.SetMapIndex(k, e)
		return true
	})
}

func (d *fastDecoder) structValue(p *plan, v reflect.Value, depth int) bool {
	var seen uint64
	return d.members(func(start, end int) bool {
		i, ok := p.byName[string(d.data[start:end])]
		if !ok || seen&(1<<i) != 0 {
			return false
		}
		seen |= 1 << i
		f := &p.fields[i]
		fv := v.Field(f.index[0])
		for _, j := range f.index[1:] {
			fv = fv.Field(j)
		}
		return d.value(f.plan, fv, depth+1)
	})
}

// anyValue decodes the next value as encoding/json fills an empty interface.
func (d *fastDecoder) anyValue(depth int) (any, bool) {
	if depth > maxJSONDepth {
		return nil, false
	}
	switch c := d.peek(); c {
	case 'n':
		return nil, d.literal("null")
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case '"':
		s, ok := d.stringValue()
		return string(s), ok
	case '[':
		a := []any{}
		ok := d.elements(func(int) bool {
			x, ok := d.anyValue(depth + 1)
			a = append(a, x)
			return ok
		})
		return a, ok
	case '{':
		m := map[string]any{}
		ok := d.members(func(start, end int) bool {
			k := string(d.data[start:end])
			if _, dup := m[k]; dup {
				return false
			}
			x, ok := d.anyValue(depth + 1)
			m[k] = x
			return ok
		})
		return m, ok
	default:
		start, end, ok := d.number()
		if !ok {
			return nil, false
		}
		f, err := strconv.ParseFloat(string(d.data[start:end]), 64)
		return f, err == nil
	}
}

// skip checks the next value, rejecting duplicate keys at any depth.
func (d *fastDecoder) skip(depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	switch c := d.peek(); c {
	case 'n':
		return d.literal("null")
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case '"':
		_, _, _, ok := d.str()
		return ok
	case '[':
		return d.elements(func(int) bool { return d.skip(depth + 1) })
	case '{':
		// Keys are compared by span while the object is small, and through
		// a map once it has 32 keys, so that a hostile object costs linear
		// time.
		base := len(d.keys)
		var many map[string]struct{}
		ok := d.members(func(start, end int) bool {
			key := d.data[start:end]
			if many != nil {
				if _, dup := many[string(key)]; dup {
					return false
				}
				many[string(key)] = struct{}{}
				return d.skip(depth + 1)
			}
			for i := base; i < len(d.keys); i += 2 {
				if string(d.data[d.keys[i]:d.keys[i+1]]) == string(key) {
					return false
				}
			}
			d.keys = append(d.keys, start, end)
			if len(d.keys)-base >= 64 {
				many = make(map[string]struct{}, 64)
				for i := base; i < len(d.keys); i += 2 {
					many[string(d.data[d.keys[i]:d.keys[i+1]])] = struct{}{}
				}
				d.keys = d.keys[:base]
			}
			return d.skip(depth + 1)
		})
		d.keys = d.keys[:base]
		return ok
	default:
		_, _, ok := d.number()
		return ok
	}
}
