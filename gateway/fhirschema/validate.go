package fhirschema

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shch/fhirgw/gateway/fhirjson"
)

// Issue is one structural problem. Severity "error" (or "fatal"); Code is a FHIR issue-type code
// ("structure", "required", "value", "invalid"); Expression is a FHIRPath-style element path such as
// "Patient.name[0].given[1]" or "Observation.valueQuantity.value"; Message is human-readable and must not
// include the element's value (values may be patient data), only its JSON type.
type Issue struct{ Severity, Code, Expression, Message string }

const (
	// maxDepth bounds JSON nesting so hostile input cannot exhaust the stack.
	maxDepth = 100
	// maxIssues bounds the report; one more issue says that the rest were left out.
	maxIssues = 100
)

// errStop ends validation early without making the body invalid JSON (too deep).
var errStop = errors.New("validation stopped")

// Validate checks that body is a structurally valid R4 resource in JSON. It returns the resourceType,
// the issues found, and an error only when body is not a JSON object at all.
//
// It follows the JSON representation rules (http://hl7.org/fhir/R4/json.html): every property must
// be an element of its type, arrays exactly for repeating elements, the right JSON type and value
// syntax for primitives, `_name` siblings only for primitives, no empty or null values. Minimum
// cardinality is not checked: real-world resources often omit required elements.
// Duplicate property names are reported as issues. The body is read once, without building a tree;
// numbers are checked as text, so decimal precision is kept.
func Validate(body []byte) (resourceType string, issues []Issue, err error) {
	v := &validator{s: load(), data: body}
	v.skipWS()
	if v.pos >= len(v.data) || v.data[v.pos] != '{' {
		return "", nil, errors.New("fhirschema: the body is not a JSON object")
	}
	rt := v.validateResource(nil, true)
	if v.err == nil {
		v.skipWS()
		if v.pos < len(v.data) {
			v.syntax("data after the JSON object")
		}
	}
	if v.err != nil && v.err != errStop {
		return "", nil, v.err
	}
	if v.dropped > 0 {
		v.issues = append(v.issues, Issue{Severity: "error", Code: "too-costly",
			Message: fmt.Sprintf("%d more issues not reported", v.dropped)})
	}
	return rt, v.issues, nil
}

// seg is one step of the element path: a name (decoded JSON key) and an optional array index.
type seg struct {
	name []byte
	idx  int // -1: no index
}

// primArr records one array of a repeating primitive (value or `_name` extension array) so the
// two can be matched once the enclosing object is complete.
type primArr struct {
	elem          int
	ext           bool
	n             int
	name          []byte // element name, for the path
	nulls, nulls1 int    // range of null positions in validator.nulls
}

type validator struct {
	s       *schema
	data    []byte
	pos     int
	depth   int
	err     error // sticky: the first syntax error, or errStop
	path    []seg
	issues  []Issue
	dropped int
	buf     []byte // scratch for unescaped strings
	arrs    []primArr
	nulls   []int
}

// --- issues and paths

func (v *validator) report(code, expr, format string, args ...any) {
	if len(v.issues) >= maxIssues {
		v.dropped++
		return
	}
	v.issues = append(v.issues, Issue{Severity: "error", Code: code, Expression: expr, Message: fmt.Sprintf(format, args...)})
}

// here reports at the current path.
func (v *validator) here(code, format string, args ...any) {
	if len(v.issues) >= maxIssues {
		v.dropped++
		return
	}
	v.report(code, v.expr(), format, args...)
}

func (v *validator) push(name []byte) { v.path = append(v.path, seg{name: name, idx: -1}) }
func (v *validator) pop()             { v.path = v.path[:len(v.path)-1] }
func (v *validator) setIndex(i int)   { v.path[len(v.path)-1].idx = i }

// expr renders the path; only called when there is something to report.
func (v *validator) expr() string {
	var b strings.Builder
	for i, s := range v.path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(keyName(s.name))
		if s.idx >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.idx))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// keyName turns a raw JSON key into text for a path, bounded and valid UTF-8: unknown keys
// come from the client.
func keyName(name []byte) string {
	s := string(name)
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// jsonType names the JSON type of the value at the cursor, for messages that must not show values.
func (v *validator) jsonType() string {
	switch v.data[v.pos] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// --- schema-driven validation

// validateResource checks the object at the cursor as a resource whose resourceType must derive
// from declared (nil: any resource, the document root). It returns the resourceType.
func (v *validator) validateResource(declared *typeInfo, root bool) string {
	rt, state := v.peekResourceType()
	var t *typeInfo
	switch state {
	case rtMissing:
		v.here("required", "the resource has no resourceType")
	case rtNotString:
		v.push([]byte("resourceType"))
		v.here("structure", "resourceType must be a string")
		v.pop()
	default:
		t = v.s.types[rt]
		if t == nil || t.kind != kindResource || t.abstract {
			v.push([]byte("resourceType"))
			v.here("structure", "resourceType is not a known R4 resource type")
			v.pop()
			t = nil
		} else if declared != nil && !IsSubtype(rt, declared.name) {
			v.push([]byte("resourceType"))
			v.here("structure", "a %s is not allowed here, %s expected", rt, declared.name)
			v.pop()
			t = nil
		}
	}
	if t == nil {
		v.skipValue()
		return ""
	}
	if root {
		v.push([]byte(t.name))
		defer v.pop()
	}
	v.validateObject(t, true)
	return t.name
}

const (
	rtMissing = iota
	rtNotString
	rtString
)

// peekResourceType finds the resourceType property of the object at the cursor without moving it.
// Syntax errors are left for the main pass to report.
func (v *validator) peekResourceType() (string, int) {
	pos, depth, nissues := v.pos, v.depth, len(v.issues)
	defer func() { v.pos, v.depth, v.err, v.issues = pos, depth, nil, v.issues[:nissues] }()
	v.pos++
	for {
		v.skipWS()
		if v.pos >= len(v.data) || v.data[v.pos] != '"' {
			return "", rtMissing
		}
		key, esc := v.readString()
		if v.err != nil {
			return "", rtMissing
		}
		v.colon()
		if v.err != nil {
			return "", rtMissing
		}
		if keyIs(key, esc, "resourceType") {
			if v.data[v.pos] != '"' {
				return "", rtNotString
			}
			s, esc := v.readString()
			if v.err != nil {
				return "", rtMissing
			}
			if esc {
				u, _ := fhirjson.AppendUnescaped(nil, s)
				return string(u), rtString
			}
			return string(s), rtString
		}
		v.skipValue()
		v.skipWS()
		if v.err != nil || v.pos >= len(v.data) || v.data[v.pos] != ',' {
			return "", rtMissing
		}
		v.pos++
	}
}

func keyIs(key []byte, esc bool, name string) bool {
	if !esc {
		return string(key) == name
	}
	u, ok := fhirjson.AppendUnescaped(nil, key)
	return ok && string(u) == name
}

// bitset tracks which elements of a type an object has used (maxElements bits).
type bitset [maxElements / 64]uint64

func (b *bitset) testAndSet(i int) bool {
	w, m := i/64, uint64(1)<<(i%64)
	was := b[w]&m != 0
	b[w] |= m
	return was
}

// validateObject checks the object at the cursor as an instance of t. resource: t is a resource
// type and resourceType was already checked.
func (v *validator) validateObject(t *typeInfo, resource bool) {
	if !v.enter() {
		return
	}
	defer func() { v.depth-- }()
	arrBase, nullBase := len(v.arrs), len(v.nulls)
	var seenVal, seenExt bitset
	seenRT := false
	v.pos++ // '{'
	v.skipWS()
	if v.pos < len(v.data) && v.data[v.pos] == '}' {
		v.pos++
		v.here("structure", "empty object")
		return
	}
	for {
		v.skipWS()
		if v.pos >= len(v.data) || v.data[v.pos] != '"' {
			v.syntax("expected a property name")
			return
		}
		key, esc := v.readString()
		v.colon()
		if v.err != nil {
			return
		}
		lookup := key
		if esc {
			u, ok := fhirjson.AppendUnescaped(nil, key)
			if !ok {
				v.syntax("invalid escape in a property name")
				return
			}
			lookup = u
		}
		v.property(t, resource, lookup, &seenVal, &seenExt, &seenRT)
		if v.err != nil {
			return
		}
		v.skipWS()
		if v.pos >= len(v.data) {
			v.syntax("unterminated object")
			return
		}
		if v.data[v.pos] == '}' {
			v.pos++
			break
		}
		if v.data[v.pos] != ',' {
			v.syntax("expected ',' or '}'")
			return
		}
		v.pos++
	}
	v.matchPrimitiveArrays(arrBase, nullBase)
	v.arrs, v.nulls = v.arrs[:arrBase], v.nulls[:nullBase]
}

// property checks one property; the cursor is at its value.
func (v *validator) property(t *typeInfo, resource bool, key []byte, seenVal, seenExt *bitset, seenRT *bool) {
	switch string(key) {
	case "resourceType":
		if resource {
			if *seenRT {
				v.push(key)
				v.here("structure", "duplicate property resourceType")
				v.pop()
			}
			*seenRT = true
			v.skipValue() // checked by peekResourceType
			return
		}
	case "fhir_comments":
		// Tolerated: R4 dropped it, but older examples and tools still emit it.
		v.skipValue()
		return
	}
	if len(key) > 1 && key[0] == '_' {
		p, ok := t.props[string(key[1:])]
		if !ok || p.typ.kind != kindPrimitive {
			v.push(key)
			if ok {
				v.here("structure", "%s is not a primitive element, so it cannot have a %s property", key[1:], key)
			} else {
				v.unknown(t, key)
			}
			v.pop()
			v.skipValue()
			return
		}
		v.push(key[1:])
		defer v.pop()
		if seenExt.testAndSet(p.elem) {
			v.here("structure", "duplicate property %s", key)
			v.skipValue()
			return
		}
		e := &t.elems[p.elem]
		if e.Repeats {
			v.primitiveArray(p, key[1:], true)
			return
		}
		if v.data[v.pos] != '{' {
			v.here("structure", "%s must be an object holding id and extension, found %s", key, v.jsonType())
			v.skipValue()
			return
		}
		v.validateObject(p.typ, false)
		return
	}
	p, ok := t.props[string(key)]
	v.push(key)
	defer v.pop()
	if !ok {
		v.unknown(t, key)
		v.skipValue()
		return
	}
	e := &t.elems[p.elem]
	if seenVal.testAndSet(p.elem) {
		if e.Choice {
			v.here("structure", "%s[x] appears more than once", e.Name)
		} else {
			v.here("structure", "duplicate property %s", key)
		}
		v.skipValue()
		return
	}
	if !e.Repeats {
		if v.data[v.pos] == '[' {
			v.here("structure", "%s is a single %s, found an array", key, p.typ.name)
			v.skipValue()
			return
		}
		v.value(p.typ)
		return
	}
	if p.typ.kind == kindPrimitive {
		v.primitiveArray(p, key, false)
		return
	}
	if v.data[v.pos] != '[' {
		v.here("structure", "%s repeats, so it must be an array, found %s", key, v.jsonType())
		v.skipValue()
		return
	}
	v.array(func(i int) {
		if v.data[v.pos] == 'n' {
			v.here("structure", "null in an array of %s", p.typ.name)
			v.skipValue()
			return
		}
		v.value(p.typ)
	})
}

// unknown reports key as not an element of t, naming the choice element it seems meant for.
func (v *validator) unknown(t *typeInfo, key []byte) {
	for _, e := range t.elems {
		if e.Choice && len(key) > len(e.Name) && strings.HasPrefix(string(key), e.Name) {
			v.here("structure", "%s is not a valid type for %s.%s[x] (allowed: %s)", key[len(e.Name):], t.name, e.Name, strings.Join(e.Types, ", "))
			return
		}
	}
	v.here("structure", "unknown element %s of %s", key, t.name)
}

// primitiveArray checks the array of a repeating primitive (ext: its `_name` array) and records it.
func (v *validator) primitiveArray(p prop, name []byte, ext bool) {
	jsonName := string(name)
	if ext {
		jsonName = "_" + jsonName
	}
	if v.data[v.pos] != '[' {
		v.here("structure", "%s repeats, so it must be an array, found %s", jsonName, v.jsonType())
		v.skipValue()
		return
	}
	rec := primArr{elem: p.elem, ext: ext, name: name, nulls: len(v.nulls)}
	rec.n = v.array(func(i int) {
		switch {
		case v.data[v.pos] == 'n':
			v.nulls = append(v.nulls, i)
			v.skipValue()
		case ext && v.data[v.pos] != '{':
			v.here("structure", "%s entries must be objects or null, found %s", jsonName, v.jsonType())
			v.skipValue()
		case ext:
			v.validateObject(p.typ, false)
		default:
			v.primitive(p.typ)
		}
	})
	rec.nulls1 = len(v.nulls)
	if v.err == nil && rec.n > 0 {
		v.arrs = append(v.arrs, rec)
	}
}

// matchPrimitiveArrays pairs each repeating primitive's value array with its `_name` array: same
// length, and null only where the other array has an entry.
func (v *validator) matchPrimitiveArrays(arrBase, nullBase int) {
	recs := v.arrs[arrBase:]
	for i := range recs {
		r := &recs[i]
		var other *primArr
		for j := range recs {
			if recs[j].elem == r.elem && recs[j].ext != r.ext {
				other = &recs[j]
			}
		}
		name := string(r.name)
		if other != nil && !r.ext && other.n != r.n {
			v.push(r.name)
			v.here("structure", "%s has %d entries but _%s has %d", name, r.n, name, other.n)
			v.pop()
			continue
		}
		if other != nil && other.n != r.n {
			continue // reported from the value side
		}
		for _, k := range v.nulls[r.nulls:r.nulls1] {
			if other != nil && !contains(v.nulls[other.nulls:other.nulls1], k) {
				continue
			}
			if other != nil && r.ext {
				continue // null in both: reported once, from the value side
			}
			v.push(r.name)
			v.setIndex(k)
			switch {
			case other != nil:
				v.here("structure", "null in both %s and _%s", name, name)
			case r.ext:
				v.here("structure", "null in _%s without a value in %s", name, name)
			default:
				v.here("structure", "null in %s without an extension in _%s", name, name)
			}
			v.pop()
		}
	}
}

func contains(s []int, x int) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// array walks the array at the cursor, calling item with the cursor at each entry (path index
// set), and returns its length. Empty arrays are reported.
func (v *validator) array(item func(i int)) int {
	if !v.enter() {
		return 0
	}
	defer func() { v.depth-- }()
	v.pos++
	v.skipWS()
	if v.pos < len(v.data) && v.data[v.pos] == ']' {
		v.pos++
		v.here("structure", "empty array")
		return 0
	}
	defer v.setIndex(-1)
	for i := 0; ; i++ {
		v.skipWS()
		if v.pos >= len(v.data) {
			v.syntax("unterminated array")
			return i
		}
		v.setIndex(i)
		item(i)
		if v.err != nil {
			return i
		}
		v.skipWS()
		if v.pos >= len(v.data) {
			v.syntax("unterminated array")
			return i
		}
		switch v.data[v.pos] {
		case ']':
			v.pos++
			return i + 1
		case ',':
			v.pos++
		default:
			v.syntax("expected ',' or ']'")
			return i
		}
	}
}

// value checks a single (non-array) value of type t at the cursor.
func (v *validator) value(t *typeInfo) {
	if v.pos >= len(v.data) {
		v.syntax("unexpected end of input")
		return
	}
	switch t.kind {
	case kindPrimitive:
		v.primitive(t)
	case kindResource:
		if v.data[v.pos] != '{' {
			v.here("structure", "expected a resource (JSON object), found %s", v.jsonType())
			v.skipValue()
			return
		}
		v.validateResource(t, false)
	default:
		if v.data[v.pos] != '{' {
			v.here("structure", "expected a JSON object for %s, found %s", t.name, v.jsonType())
			v.skipValue()
			return
		}
		v.validateObject(t, false)
	}
}

// primitive checks a primitive value of type t at the cursor: JSON type, then syntax.
func (v *validator) primitive(t *typeInfo) {
	c := v.data[v.pos]
	var want string
	switch t.name {
	case "boolean":
		if c == 't' || c == 'f' {
			v.skipValue()
			return
		}
		want = "boolean"
	case "decimal", "integer", "positiveInt", "unsignedInt":
		if c == '-' || (c >= '0' && c <= '9') {
			num := v.readNumber()
			if v.err == nil {
				if msg := checkNumber(t.name, num); msg != "" {
					v.here("value", "%s", msg)
				}
			}
			return
		}
		want = "number"
	default:
		if c == '"' {
			raw, esc := v.readString()
			if v.err != nil {
				return
			}
			s := raw
			if esc {
				u, ok := fhirjson.AppendUnescaped(v.buf[:0], raw)
				if !ok {
					v.syntax("invalid string escape")
					return
				}
				v.buf = u
				s = u
			}
			if msg := checkString(t.name, s, esc); msg != "" {
				v.here("value", "%s", msg)
			}
			return
		}
		want = "string"
	}
	if c == 'n' {
		v.here("structure", "null is not allowed; omit the property instead")
	} else {
		v.here("structure", "expected a JSON %s for %s, found %s", want, t.name, v.jsonType())
	}
	v.skipValue()
}

// --- primitive syntax (equivalent to the R4 regexes unless noted; see validate_test.go)

func checkNumber(typ string, num []byte) string {
	if typ == "decimal" {
		return "" // the JSON number grammar is the decimal regex
	}
	s := num
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return typ + " must be a whole number without fraction or exponent"
		}
	}
	switch {
	case typ == "positiveInt" && (neg || string(s) == "0"):
		return "positiveInt must be at least 1"
	case typ == "unsignedInt" && neg:
		return "unsignedInt must not be negative"
	}
	if len(s) > 10 {
		return typ + " is out of range (32-bit)"
	}
	n, _ := strconv.ParseInt(string(s), 10, 64)
	if neg {
		n = -n
	}
	if n > 1<<31-1 || n < -1<<31 {
		return typ + " is out of range (32-bit)"
	}
	return ""
}

// checkString checks the decoded text s of a string-typed primitive. escaped says s came from
// JSON escapes, the only way control characters can get in.
func checkString(typ string, s []byte, escaped bool) string {
	if len(s) == 0 {
		return "empty string; omit the property instead"
	}
	if !utf8.Valid(s) {
		return typ + " is not valid UTF-8"
	}
	if escaped {
		for _, c := range s {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return typ + " holds a control character"
			}
		}
	}
	ok := true
	switch typ {
	case "date":
		ok = validDate(s)
	case "dateTime":
		ok = validDateTime(s)
	case "instant":
		ok = validInstant(s)
	case "time":
		ok = validTime(s)
	case "id":
		ok = validID(s)
	case "code":
		ok = validCode(s)
	case "oid":
		ok = validOID(s)
	case "uuid":
		ok = validUUID(s)
	case "base64Binary":
		ok = validBase64(s)
	}
	// string, markdown, uri, url, canonical, xhtml: the R4 regexes allow (nearly) anything
	// non-empty, so nothing more is checked.
	if !ok {
		return "not a valid " + typ
	}
	return ""
}

func digits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// num2 parses two digits, or -1.
func num2(s []byte) int {
	if len(s) != 2 || !digits(s) {
		return -1
	}
	return int(s[0]-'0')*10 + int(s[1]-'0')
}

// datePart checks YYYY, YYYY-MM or YYYY-MM-DD (full: only the last) and returns its length.
func datePart(s []byte, full bool) (int, bool) {
	if len(s) < 4 || !digits(s[:4]) || string(s[:4]) == "0000" {
		return 0, false
	}
	year := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	if len(s) == 4 || (len(s) > 4 && s[4] != '-') {
		return 4, !full
	}
	if len(s) < 7 {
		return 0, false
	}
	month := num2(s[5:7])
	if month < 1 || month > 12 {
		return 0, false
	}
	if len(s) == 7 || s[7] != '-' {
		return 7, !full
	}
	if len(s) < 10 {
		return 0, false
	}
	day := num2(s[8:10])
	if day < 1 || day > daysIn(year, month) {
		return 0, false
	}
	return 10, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func validDate(s []byte) bool {
	n, ok := datePart(s, false)
	return ok && n == len(s)
}

func validDateTime(s []byte) bool {
	n, ok := datePart(s, false)
	if !ok {
		return false
	}
	if n == len(s) {
		return true
	}
	return n == 10 && s[10] == 'T' && validTimeZone(s[11:], true)
}

func validInstant(s []byte) bool {
	n, ok := datePart(s, true)
	return ok && n == 10 && len(s) > 10 && s[10] == 'T' && validTimeZone(s[11:], true)
}

func validTime(s []byte) bool { return validTimeZone(s, false) }

// validTimeZone checks hh:mm:ss(.f+)? followed by a zone when zone is set.
func validTimeZone(s []byte, zone bool) bool {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return false
	}
	if h, m, sec := num2(s[0:2]), num2(s[3:5]), num2(s[6:8]); h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60 {
		return false
	}
	s = s[8:]
	if len(s) > 0 && s[0] == '.' {
		i := 1
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		s = s[i:]
	}
	if !zone {
		return len(s) == 0
	}
	if len(s) == 1 && s[0] == 'Z' {
		return true
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return false
	}
	h, m := num2(s[1:3]), num2(s[4:6])
	return (h >= 0 && h <= 13 && m >= 0 && m <= 59) || (h == 14 && m == 0)
}

func validID(s []byte) bool {
	if len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// isSpace is the regex \s class (RE2: ASCII only).
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// validCode: tokens separated by single whitespace characters, none leading or trailing.
func validCode(s []byte) bool {
	if isSpace(s[0]) || isSpace(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if isSpace(s[i]) && isSpace(s[i-1]) {
			return false
		}
	}
	return true
}

func validOID(s []byte) bool {
	rest, ok := strings.CutPrefix(string(s), "urn:oid:")
	if !ok || len(rest) < 3 || rest[0] < '0' || rest[0] > '2' || rest[1] != '.' {
		return false
	}
	for _, arc := range strings.Split(rest[2:], ".") {
		if arc == "" || !digits([]byte(arc)) || (len(arc) > 1 && arc[0] == '0') {
			return false
		}
	}
	return true
}

func validUUID(s []byte) bool {
	rest, ok := strings.CutPrefix(string(s), "urn:uuid:")
	if !ok || len(rest) != 36 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// validBase64 accepts the base64 alphabet with whitespace anywhere, in a multiple of 4
// characters. Slightly more lenient than the regex, which allows whitespace only between groups
// of 4 (line-wrapped encoders vary).
func validBase64(s []byte) bool {
	n := 0
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
			n++
		case isSpace(c):
		default:
			return false
		}
	}
	return n > 0 && n%4 == 0
}

// --- JSON syntax

func (v *validator) syntax(msg string) {
	if v.err == nil {
		v.err = fmt.Errorf("fhirschema: invalid JSON at offset %d: %s", v.pos, msg)
	}
}

// enter counts one level of nesting; past maxDepth it stops validation with a fatal issue.
func (v *validator) enter() bool {
	if v.depth >= maxDepth {
		if v.err == nil {
			v.issues = append(v.issues, Issue{Severity: "fatal", Code: "structure", Expression: v.expr(),
				Message: fmt.Sprintf("JSON nested deeper than %d levels", maxDepth)})
			v.err = errStop
		}
		return false
	}
	v.depth++
	return true
}

func (v *validator) skipWS() {
	for v.pos < len(v.data) {
		switch v.data[v.pos] {
		case ' ', '\t', '\n', '\r':
			v.pos++
		default:
			return
		}
	}
}

func (v *validator) colon() {
	v.skipWS()
	if v.pos >= len(v.data) || v.data[v.pos] != ':' {
		v.syntax("expected ':'")
		return
	}
	v.pos++
	v.skipWS()
	if v.pos >= len(v.data) {
		v.syntax("unexpected end of input")
	}
}

// readString reads the string at the cursor and returns its raw content and whether it holds
// escapes. Escape syntax is checked here; decoding is left to fhirjson.AppendUnescaped.
func (v *validator) readString() ([]byte, bool) {
	start := v.pos + 1
	esc := false
	for i := start; i < len(v.data); i++ {
		switch c := v.data[i]; {
		case c == '"':
			v.pos = i + 1
			return v.data[start:i], esc
		case c == '\\':
			esc = true
			i++
			if i >= len(v.data) {
				break
			}
			switch v.data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(v.data) || !isHex4(v.data[i+1:i+5]) {
					v.pos = i
					v.syntax("invalid \\u escape")
					return nil, false
				}
				i += 4
			default:
				v.pos = i
				v.syntax("invalid escape")
				return nil, false
			}
		case c < 0x20:
			v.pos = i
			v.syntax("control character in string")
			return nil, false
		}
	}
	v.pos = len(v.data)
	v.syntax("unterminated string")
	return nil, false
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// readNumber reads a JSON number at the cursor and returns its text.
func (v *validator) readNumber() []byte {
	d, start := v.data, v.pos
	i := start
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		v.pos = i
		v.syntax("invalid number")
		return nil
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			v.pos = i
			v.syntax("invalid number")
			return nil
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			v.pos = i
			v.syntax("invalid number")
			return nil
		}
	}
	v.pos = i
	return d[start:i]
}

// skipValue moves past the JSON value at the cursor, checking its syntax only.
func (v *validator) skipValue() {
	v.skipWS()
	if v.pos >= len(v.data) {
		v.syntax("unexpected end of input")
		return
	}
	switch c := v.data[v.pos]; c {
	case '{', '[':
		if !v.enter() {
			return
		}
		defer func() { v.depth-- }()
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		v.pos++
		v.skipWS()
		if v.pos < len(v.data) && v.data[v.pos] == end {
			v.pos++
			return
		}
		for {
			v.skipWS()
			if c == '{' {
				if v.pos >= len(v.data) || v.data[v.pos] != '"' {
					v.syntax("expected a property name")
					return
				}
				v.readString()
				v.colon()
			}
			v.skipValue()
			v.skipWS()
			if v.err != nil {
				return
			}
			if v.pos >= len(v.data) {
				v.syntax("unterminated " + map[byte]string{'{': "object", '[': "array"}[c])
				return
			}
			if v.data[v.pos] == end {
				v.pos++
				return
			}
			if v.data[v.pos] != ',' {
				v.syntax("expected ',' or closing bracket")
				return
			}
			v.pos++
		}
	case '"':
		v.readString()
	case 't':
		v.literal("true")
	case 'f':
		v.literal("false")
	case 'n':
		v.literal("null")
	default:
		v.readNumber()
	}
}

func (v *validator) literal(lit string) {
	if end := v.pos + len(lit); end > len(v.data) || string(v.data[v.pos:end]) != lit {
		v.syntax("invalid literal")
		return
	}
	v.pos += len(lit)
}
