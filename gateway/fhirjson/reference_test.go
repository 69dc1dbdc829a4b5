package fhirjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The encoding/json token-API implementations ParseObject and RewriteReferences had
// before the hand-written scanner: the reference the fuzz tests compare against.

// ParseObject splits a JSON object into its members. Invalid JSON, trailing data and
// duplicate keys are errors.
func refParseObject(data []byte) (Object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("fhirjson: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, ErrNotObject
	}
	var obj Object
	seen := make(map[string]struct{}, 16)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("fhirjson: %w", err)
		}
		key, _ := tok.(string)
		if _, dup := seen[key]; dup {
			return nil, fmt.Errorf("fhirjson: duplicate member %q", key)
		}
		seen[key] = struct{}{}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("fhirjson: member %q: %w", key, err)
		}
		obj = append(obj, Member{Key: key, Value: raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("fhirjson: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("fhirjson: data after the JSON object")
	}
	return obj, nil
}

// RewriteReferences returns data with the value of every "reference" member that is a
// string passed through fn; fn reports whether to replace it. Everything else, number
// literals included, is written back unchanged in meaning.
func refRewriteReferences(data []byte, fn func(ref string) (string, bool)) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var buf bytes.Buffer
	buf.Grow(len(data))
	if err := refRewriteValue(dec, &buf, "", fn); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func refRewriteValue(dec *json.Decoder, buf *bytes.Buffer, key string, fn func(string) (string, bool)) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("fhirjson: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			buf.WriteByte('{')
			for first := true; dec.More(); first = false {
				k, err := dec.Token()
				if err != nil {
					return fmt.Errorf("fhirjson: %w", err)
				}
				if !first {
					buf.WriteByte(',')
				}
				ks, _ := k.(string)
				writeString(buf, ks)
				buf.WriteByte(':')
				if err := refRewriteValue(dec, buf, ks, fn); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return fmt.Errorf("fhirjson: %w", err)
			}
			buf.WriteByte('}')
		case '[':
			buf.WriteByte('[')
			for first := true; dec.More(); first = false {
				if !first {
					buf.WriteByte(',')
				}
				if err := refRewriteValue(dec, buf, key, fn); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return fmt.Errorf("fhirjson: %w", err)
			}
			buf.WriteByte(']')
		}
	case string:
		if key == "reference" {
			if s, ok := fn(t); ok {
				t = s
			}
		}
		writeString(buf, t)
	case json.Number:
		buf.WriteString(t.String())
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case nil:
		buf.WriteString("null")
	}
	return nil
}
