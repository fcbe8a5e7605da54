package ledger

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of strictly decoded documents. No proposal
// needs more than a handful of levels; the bound keeps a hostile document from
// costing deep recursion.
const maxJSONDepth = 64

// DecodeStrict decodes the JSON document data into v, which must be a
// non-nil pointer. It is stricter than encoding/json, because every node
// must read a signed document the same way and a typo must not pass
// silently. It rejects:
//
//   - invalid UTF-8 and syntax errors;
//   - object keys that match no field of the target struct exactly (encoding/json
//     would match them case-insensitively or drop them);
//   - duplicate keys in any object, at any depth, even where the target is
//     json.RawMessage or any;
//   - null where the target cannot be absent (anything but a pointer,
//     interface, map or slice);
//   - values of the wrong JSON type, integers out of range, and []byte fields
//     that are not canonical standard base64;
//   - nesting deeper than 64 levels, and any data after the value.
//
// Every failure is an *Error with CodeInvalid whose message starts with the
// path of the offending value, such as "grants[2].rights[0]: expected a
// string, got a number". Paths are relative to data's root; see
// Proposal.DecodeBody for paths that start at "body".
func DecodeStrict(data []byte, v any) error {
	return decodeStrictAt("", data, v)
}

// decodeStrictAt is DecodeStrict with every path prefixed by root.
//
// Documents are decoded by a single-pass scanner (see fastDecoder) when the
// target is zero and its type has a decoding plan. The scanner accepts exactly
// a subset of what walkStrictAt accepts, with the same result; whatever it does
// not accept, including every invalid document, goes to walkStrictAt from a
// zero target again, which gives the error its message and path. So the
// scanner changes how long decoding takes, never what it decides.
func decodeStrictAt(root string, data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return Errorf(CodeInternal, "DecodeStrict: target must be a non-nil pointer, got %T", v)
	}
	if target := rv.Elem(); target.IsZero() {
		if decodeFast(data, target) {
			return nil
		}
		target.SetZero()
	}
	return walkStrictAt(root, rv, data, v)
}

// walkStrictAt is the reference decoder: it walks the document token by token
// against the target type (strictWalker), then decodes it with encoding/json.
// rv is reflect.ValueOf(v), a non-nil pointer.
func walkStrictAt(root string, rv reflect.Value, data []byte, v any) error {
	if !utf8.Valid(data) {
		return Errorf(CodeInvalid, "%s: invalid UTF-8", pathName(root))
	}
	w := strictWalker{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	w.dec.UseNumber()
	if err := w.value(root, rv.Type().Elem(), 0); err != nil {
		return err
	}
	if _, err := w.dec.Token(); err != io.EOF {
		return Errorf(CodeInvalid, "%s: unexpected data after the JSON value at byte %d", pathName(root), w.dec.InputOffset())
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(root, err)
	}
	return nil
}

// pathName is how an error message names the path p.
func pathName(p string) string {
	if p == "" {
		return "document"
	}
	return p
}

// joinKey appends an object key to a path. Keys that are not plain names are
// quoted, so that a hostile key cannot make a message misleading.
func joinKey(path, key string) string {
	plain := key != "" && len(key) <= 64
	for i := 0; plain && i < len(key); i++ {
		c := key[i]
		plain = c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	switch {
	case !plain:
		if len(key) > 64 {
			key = key[:64] + "…"
		}
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	default:
		return path + "." + key
	}
}

func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	rawMessageType      = reflect.TypeFor[json.RawMessage]()
	numberType          = reflect.TypeFor[json.Number]()
	anyType             = reflect.TypeFor[any]()
)

// strictWalker checks a document token by token against the Go type that it
// will be decoded into. It runs before encoding/json decodes the document, so
// that the rules above hold and each error can name its path.
type strictWalker struct {
	data []byte
	dec  *json.Decoder
}

// value checks the next value in the stream against type t; a nil t accepts
// any value (apart from duplicate keys).
func (w *strictWalker) value(path string, t reflect.Type, depth int) error {
	if depth > maxJSONDepth {
		return Errorf(CodeInvalid, "%s: nested deeper than %d levels", pathName(path), maxJSONDepth)
	}
	start := w.dec.InputOffset()
	tok, err := w.dec.Token()
	if err != nil {
		return syntaxError(path, err)
	}
	if tok == nil {
		if t != nil && !nullable(t) {
			return Errorf(CodeInvalid, "%s: must not be null", pathName(path))
		}
		return nil
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && t.Kind() == reflect.Interface {
		// encoding/json fills an interface with maps, slices, strings,
		// float64s, booleans and nils; anyType stands for all of them.
		t = anyType
	}
	// A type with its own UnmarshalJSON decides what it accepts. Run it here
	// as well, so that its error can be reported with the path.
	if t != nil && t != rawMessageType && reflect.PointerTo(t).Implements(jsonUnmarshalerType) {
		if err := w.skipRest(path, tok, depth); err != nil {
			return err
		}
		raw := bytes.TrimLeft(w.data[start:w.dec.InputOffset()], " \t\r\n:,")
		u := reflect.New(t).Interface().(json.Unmarshaler)
		if err := u.UnmarshalJSON(raw); err != nil {
			return Errorf(CodeInvalid, "%s: %s", pathName(path), errorText(err))
		}
		return nil
	}
	if t == rawMessageType {
		t = nil
	}
	// encoding/json gives a TextUnmarshaler only strings.
	if _, isString := tok.(string); t != nil && !isString && reflect.PointerTo(t).Implements(textUnmarshalerType) {
		if err := w.skipRest(path, tok, depth); err != nil {
			return err
		}
		return mismatch(path, t, describeToken(tok))
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch tok {
		case '{':
			return w.object(path, t, depth)
		case '[':
			return w.array(path, t, depth)
		}
		return Errorf(CodeInvalid, "%s: unexpected %q", pathName(path), string(tok))
	case string:
		return checkString(path, t, tok)
	case json.Number:
		return checkNumber(path, t, tok)
	case bool:
		if t != nil && t.Kind() != reflect.Bool && t != anyType {
			return mismatch(path, t, "a boolean")
		}
	}
	return nil
}

// skipRest consumes the rest of a value whose first token was tok, still
// rejecting duplicate keys inside it.
func (w *strictWalker) skipRest(path string, tok json.Token, depth int) error {
	switch tok {
	case json.Delim('{'):
		return w.object(path, nil, depth)
	case json.Delim('['):
		return w.array(path, nil, depth)
	}
	return nil
}

// object checks the members of an object, whose '{' has been read.
func (w *strictWalker) object(path string, t reflect.Type, depth int) error {
	var fields map[string]reflect.Type // nil: any key
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = jsonFields(t)
		case reflect.Map:
			elem = t.Elem()
		case reflect.Interface:
			elem = anyType
		default:
			return mismatch(path, t, "an object")
		}
	}
	seen := make(map[string]struct{})
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return syntaxError(path, err)
		}
		key, _ := tok.(string) // the decoder only yields string keys here
		kpath := joinKey(path, key)
		if _, dup := seen[key]; dup {
			return Errorf(CodeInvalid, "%s: duplicate key", kpath)
		}
		seen[key] = struct{}{}
		vt := elem
		if fields != nil {
			ft, ok := fields[key]
			if !ok {
				return Errorf(CodeInvalid, "%s: unknown field", kpath)
			}
			vt = ft
		}
		if err := w.value(kpath, vt, depth+1); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil { // '}'
		return syntaxError(path, err)
	}
	return nil
}

// array checks the elements of an array, whose '[' has been read.
func (w *strictWalker) array(path string, t reflect.Type, depth int) error {
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			elem = t.Elem()
		case reflect.Interface:
			elem = anyType
		default:
			return mismatch(path, t, "an array")
		}
	}
	for i := 0; w.dec.More(); i++ {
		if t != nil && t.Kind() == reflect.Array && i >= t.Len() {
			return Errorf(CodeInvalid, "%s: more than %d elements", pathName(path), t.Len())
		}
		if err := w.value(joinIndex(path, i), elem, depth+1); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil { // ']'
		return syntaxError(path, err)
	}
	return nil
}

// checkString checks a JSON string against type t.
func checkString(path string, t reflect.Type, s string) error {
	if t == nil || t == anyType || t == numberType { // encoding/json checks a quoted json.Number
		return nil
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		u := reflect.New(t).Interface().(encoding.TextUnmarshaler)
		if err := u.UnmarshalText([]byte(s)); err != nil {
			return Errorf(CodeInvalid, "%s: %s", pathName(path), errorText(err))
		}
		return nil
	}
	switch {
	case t.Kind() == reflect.String:
		return nil
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		if _, err := decodeBase64(s); err != nil {
			return Errorf(CodeInvalid, "%s: %s", pathName(path), errorText(err))
		}
		return nil
	}
	return mismatch(path, t, "a string")
}

// decodeBase64 decodes canonical, padded standard base64. encoding/json
// would also accept line breaks and non-zero padding bits, which would give
// one value several encodings.
func decodeBase64(s string) ([]byte, error) {
	// Two IndexByte scans, not ContainsAny: a signature is kilobytes long,
	// and this runs for every envelope on every node.
	if strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0 {
		return nil, errors.New("invalid base64: contains a line break")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %w", err)
	}
	return b, nil
}

// checkNumber checks a JSON number against type t. Integers must be written
// as integers and fit the Go type.
func checkNumber(path string, t reflect.Type, n json.Number) error {
	if t == nil || t == numberType {
		return nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			return numberError(path, n, err)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			return numberError(path, n, err)
		}
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			return numberError(path, n, err)
		}
	case reflect.Interface: // decoded as a float64
		if _, err := strconv.ParseFloat(string(n), 64); err != nil {
			return numberError(path, n, err)
		}
	default:
		return mismatch(path, t, "a number")
	}
	return nil
}

// describeToken names the JSON type of a token.
func describeToken(tok json.Token) string {
	switch tok {
	case json.Delim('{'):
		return "an object"
	case json.Delim('['):
		return "an array"
	}
	switch tok.(type) {
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	}
	return "null"
}

func numberError(path string, n json.Number, err error) error {
	shown := string(n)
	if len(shown) > 32 {
		shown = shown[:32] + "…"
	}
	if errors.Is(err, strconv.ErrRange) {
		return Errorf(CodeInvalid, "%s: %s is out of range", pathName(path), shown)
	}
	return Errorf(CodeInvalid, "%s: expected an integer, got %s", pathName(path), shown)
}

// nullable reports whether encoding/json gives null a meaning for t, rather
// than silently leaving the zero value.
func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		return true
	}
	return false
}

func mismatch(path string, t reflect.Type, got string) error {
	return Errorf(CodeInvalid, "%s: expected %s, got %s", pathName(path), describeType(t), got)
}

// describeType names the JSON shape that a Go type expects.
func describeType(t reflect.Type) string {
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Array:
		return "an array"
	}
	return "a value of type " + t.String()
}

// jsonFields returns the JSON member names of struct type t and their types,
// following encoding/json: the tag name or else the field name, "-" skipped,
// and the fields of untagged embedded structs promoted (outer names win). A
// field with the ",string" option maps to nil, because its value is a string
// holding the real value.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type)
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		if hasOption(opts, "string") {
			ft = nil
		}
		fields[name] = ft
	}
	for _, et := range embedded {
		for name, ft := range jsonFields(et) {
			if _, ok := fields[name]; !ok {
				fields[name] = ft
			}
		}
	}
	return fields
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

// syntaxError turns an error from the token stream into an *Error.
func syntaxError(path string, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return Errorf(CodeInvalid, "%s: invalid JSON at byte %d: %s", pathName(path), se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return Errorf(CodeInvalid, "%s: unexpected end of JSON", pathName(path))
	}
	return Errorf(CodeInvalid, "%s: invalid JSON: %s", pathName(path), errorText(err))
}

// decodeError turns an error from encoding/json into an *Error. The walker
// catches nearly everything first; this covers what it does not model, such
// as map keys that do not parse.
func decodeError(root string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		p := te.Field
		if root != "" && p != "" {
			p = root + "." + p
		} else if p == "" {
			p = root
		}
		return Errorf(CodeInvalid, "%s: cannot use a JSON %s as %s", pathName(p), te.Value, describeType(te.Type))
	}
	var le *Error
	if errors.As(err, &le) {
		return Errorf(le.Code, "%s: %s", pathName(root), le.Message)
	}
	return Errorf(CodeInvalid, "%s: %s", pathName(root), errorText(err))
}

// errorText is an error's message without the package prefixes that would
// repeat in a nested message.
func errorText(err error) string {
	var le *Error
	if errors.As(err, &le) {
		return le.Message
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
