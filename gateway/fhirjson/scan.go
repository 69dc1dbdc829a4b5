package fhirjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf16"
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
// UTF-8 becomes U+FFFD, byte by byte). s must be a string json.Valid accepted.
func unquote(s []byte) (string, error) {
	s = s[1 : len(s)-1]
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s), nil
	}
	out, ok := AppendUnescaped(make([]byte, 0, len(s)), s)
	if !ok {
		return "", errors.New("fhirjson: bad escape in string")
	}
	if utf8.Valid(out) {
		return string(out), nil
	}
	valid := make([]byte, 0, len(out)+8)
	for i := 0; i < len(out); {
		r, size := utf8.DecodeRune(out[i:])
		valid = utf8.AppendRune(valid, r)
		i += size
	}
	return string(valid), nil
}

// AppendUnescaped appends the decoded form of raw, the inside of a JSON string
// whose syntax is already checked, to dst. Lone surrogates decode to U+FFFD as in
// encoding/json; other bytes are copied as they are. ok is false only for a
// malformed escape.
func AppendUnescaped(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(raw) {
			return dst, false
		}
		switch raw[i] {
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw[i+1:])
			if !ok {
				return dst, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// A pair makes one rune; a lone half is U+FFFD.
				r2, ok := rune(-1), false
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2, ok = hex4(raw[i+3:])
				}
				if d := utf16.DecodeRune(r, r2); ok && d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

// hex4 decodes the four hex digits at the start of s.
func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
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
