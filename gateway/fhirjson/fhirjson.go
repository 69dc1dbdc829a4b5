// Package fhirjson edits FHIR JSON resources without losing anything a client sent:
// member order, number literals (1.50 stays 1.50), primitive extensions (_birthDate) and
// unknown content all pass through as raw bytes. Only the members it is asked to change
// are touched.
package fhirjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Member is one member of a JSON object, its value kept as raw JSON.
type Member struct {
	Key   string
	Value json.RawMessage
}

// Object is a JSON object with its members in the order they were written.
type Object []Member

// ErrNotObject means the JSON is valid but not an object.
var ErrNotObject = errors.New("fhirjson: not a JSON object")

// Get returns the raw value of key.
func (o Object) Get(key string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

// String returns the value of key when it is a JSON string.
func (o Object) String(key string) (string, bool) {
	raw, ok := o.Get(key)
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// Set replaces the value of key, or appends the member when absent. Like append, it
// may change o itself: callers that still need the original use Clone first.
func (o Object) Set(key string, value json.RawMessage) Object {
	for i := range o {
		if o[i].Key == key {
			o[i].Value = value
			return o
		}
	}
	return append(o, Member{Key: key, Value: value})
}

// Clone returns a copy of o that Set and Delete on either leave the other unchanged.
func (o Object) Clone() Object { return append(Object(nil), o...) }

// Delete returns o without key; o itself is left as it was.
func (o Object) Delete(key string) Object {
	out := make(Object, 0, len(o))
	for _, m := range o {
		if m.Key != key {
			out = append(out, m)
		}
	}
	return out
}

// Bytes encodes the object compactly. Raw values are compacted, not re-encoded.
func (o Object) Bytes() []byte {
	var buf bytes.Buffer
	o.writeTo(&buf)
	return buf.Bytes()
}

func (o Object) writeTo(buf *bytes.Buffer) {
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeString(buf, m.Key)
		buf.WriteByte(':')
		if compact(m.Value) {
			buf.Write(m.Value)
			continue
		}
		if err := json.Compact(buf, m.Value); err != nil {
			// Values come from ParseObject or from Marshal: always valid JSON.
			panic(fmt.Sprintf("fhirjson: invalid raw value for %q: %v", m.Key, err))
		}
	}
	buf.WriteByte('}')
}

// compact reports whether the JSON value v has no whitespace outside its
// strings, so that it can be written as it is (most values: what json.Marshal
// and the mappers write), without json.Compact's full scan.
func compact(v []byte) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			i = skipString(v, i) - 1
		case ' ', '\t', '\r', '\n':
			return false
		}
	}
	return true
}

// plain reports whether s needs no escaping in a JSON string: printable ASCII
// other than the quote and the backslash (element names, ids, codes).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Quote returns s as a JSON string without HTML escaping.
func Quote(s string) json.RawMessage {
	var buf bytes.Buffer
	writeString(&buf, s)
	return buf.Bytes()
}

func writeString(buf *bytes.Buffer, s string) {
	if plain(s) {
		buf.WriteByte('"')
		buf.WriteString(s)
		buf.WriteByte('"')
		return
	}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // strings always encode
	buf.Truncate(buf.Len() - 1) // Encode appends a newline
}

// FormatInstant renders t as a FHIR instant with microsecond precision in UTC.
func FormatInstant(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

// Stamp returns the resource with the server-owned members set: id, meta.versionId and
// meta.lastUpdated. Other meta members (profile, tag, security, source, extensions) are
// kept. resourceType, id and meta come first; the rest keep their order. A deleted or
// absent meta.versionId in the input is replaced, never trusted.
func Stamp(obj Object, id string, version int64, lastUpdated time.Time) (Object, error) {
	var meta Object
	if raw, ok := obj.Get("meta"); ok {
		m, err := ParseObject(raw)
		if err != nil {
			return nil, fmt.Errorf("fhirjson: meta: %w", err)
		}
		meta = m
	}
	meta = meta.Delete("versionId").Delete("lastUpdated")
	meta = append(Object{
		{Key: "versionId", Value: Quote(strconv.FormatInt(version, 10))},
		{Key: "lastUpdated", Value: Quote(FormatInstant(lastUpdated))},
	}, meta...)

	out := make(Object, 0, len(obj)+2)
	if rt, ok := obj.Get("resourceType"); ok {
		out = append(out, Member{Key: "resourceType", Value: rt})
	}
	out = append(out, Member{Key: "id", Value: Quote(id)}, Member{Key: "meta", Value: meta.Bytes()})
	for _, m := range obj {
		switch m.Key {
		case "resourceType", "id", "meta":
		default:
			out = append(out, m)
		}
	}
	return out, nil
}

// Pretty indents JSON for _pretty=true; number literals are kept as written.
func Pretty(data []byte) []byte {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return data
	}
	return buf.Bytes()
}

// Equal reports whether two JSON documents are equal in meaning: same members regardless
// of order, same array order, numbers compared by their literal text.
func Equal(a, b []byte) (bool, error) {
	va, err := Decode(a)
	if err != nil {
		return false, err
	}
	vb, err := Decode(b)
	if err != nil {
		return false, err
	}
	return equalValue(va, vb), nil
}

func equalValue(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		return ok && x == y
	default:
		return a == b
	}
}
