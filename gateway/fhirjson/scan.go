package fhirjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// The functions here walk JSON that json.Valid has accepted, by hand: encoding/json's
// token API allocates per token, and splitting or rewriting every resource of a
// transaction with it cost more CPU than indexing them.

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string starting at data[i] == '"'.
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the value starting at data[i].
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = skipString(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(data) {
			switch data[i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return i
			}
			i++
		}
		return i
	}
}

// unquote decodes the JSON string s (quotes included) as encoding/json does (invalid
// UTF-8 becomes U+FFFD).
func unquote(s []byte) (string, error) {
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s[1 : len(s)-1]), nil
	}
	var out string
	if err := json.Unmarshal(s, &out); err != nil {
		return "", err
	}
	return out, nil
}

// checkValid reports invalid JSON with encoding/json's account of what is wrong.
func checkValid(data []byte) error {
	if json.Valid(data) {
		return nil
	}
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		err = errors.New("invalid JSON")
	}
	return fmt.Errorf("fhirjson: %w", err)
}

// ParseObject splits a JSON object into its members. Invalid JSON, trailing data and
// duplicate keys are errors. The members' values are copied from data.
func ParseObject(data []byte) (Object, error) {
	if err := checkValid(data); err != nil {
		return nil, err
	}
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return nil, ErrNotObject
	}
	data = bytes.Clone(data) // one copy for every member's value
	obj := make(Object, 0, 16)
	i = skipSpace(data, i+1)
	for data[i] != '}' {
		end := skipString(data, i)
		key, err := unquote(data[i:end])
		if err != nil {
			return nil, fmt.Errorf("fhirjson: %w", err)
		}
		for _, m := range obj {
			if m.Key == key {
				return nil, fmt.Errorf("fhirjson: duplicate member %q", key)
			}
		}
		i = skipSpace(data, end)
		i = skipSpace(data, i+1) // the colon
		end = skipValue(data, i)
		obj = append(obj, Member{Key: key, Value: json.RawMessage(data[i:end:end])})
		i = skipSpace(data, end)
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return obj, nil
}

// RewriteReferences returns data with the value of every "reference" member that is a
// string passed through fn; fn reports whether to replace it. Everything else is
// copied as written.
func RewriteReferences(data []byte, fn func(ref string) (string, bool)) ([]byte, error) {
	if err := checkValid(data); err != nil {
		return nil, err
	}
	if !bytes.Contains(data, []byte(`"reference"`)) {
		return bytes.Clone(data), nil
	}
	var buf bytes.Buffer
	buf.Grow(len(data) + 64)
	last := 0 // data[last:] is not yet copied to buf
	var err error
	var walk func(i int, key string) int
	walk = func(i int, key string) int {
		switch data[i] {
		case '{':
			i = skipSpace(data, i+1)
			for data[i] != '}' && err == nil {
				end := skipString(data, i)
				k, kerr := unquote(data[i:end])
				if kerr != nil {
					err = kerr
					return len(data)
				}
				i = skipSpace(data, end)
				i = skipSpace(data, i+1)
				i = skipSpace(data, walk(i, k))
				if data[i] == ',' {
					i = skipSpace(data, i+1)
				}
			}
			return i + 1
		case '[':
			i = skipSpace(data, i+1)
			for data[i] != ']' && err == nil {
				i = skipSpace(data, walk(i, key))
				if data[i] == ',' {
					i = skipSpace(data, i+1)
				}
			}
			return i + 1
		case '"':
			end := skipString(data, i)
			if key == "reference" {
				s, uerr := unquote(data[i:end])
				if uerr != nil {
					err = uerr
					return len(data)
				}
				if r, ok := fn(s); ok && r != s {
					buf.Write(data[last:i])
					writeString(&buf, r)
					last = end
				}
			}
			return end
		default:
			return skipValue(data, i)
		}
	}
	walk(skipSpace(data, 0), "")
	if err != nil {
		return nil, fmt.Errorf("fhirjson: %w", err)
	}
	buf.Write(data[last:])
	return buf.Bytes(), nil
}
