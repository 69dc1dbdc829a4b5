package fhirjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/shch/fhirgw/conformance/fhirpkg"
)

// stdDecode is what Decode must equal: encoding/json with UseNumber, refusing
// trailing data.
func stdDecode(data []byte) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if !json.Valid(data) {
		return nil, errors.New("data after the value")
	}
	return v, nil
}

func TestDecode(t *testing.T) {
	tests := []string{
		`{}`, `[]`, `{"a":1}`, ` { "a" : [ 1 , 2.50 , -3e2 ] , "b" : { } } `,
		`{"resourceType":"Patient","birthDate":"1958-03-12","_birthDate":{"extension":[{"url":"x","valueBoolean":true}]}}`,
		`{"a":null,"b":false,"c":true,"d":""}`,
		`{"k":1,"k":2}`,                      // the last value wins, as in encoding/json
		`{"s":"\u9648\u5efa\u56fd\n\"\\\/"}`, // escapes
		"{\"s\":\"\xff\xfe\"}",               // invalid UTF-8 becomes U+FFFD
		`"just a string"`, `12`, `null`, `[[[[]]]]`, `[{"a":[{"b":[]}]}]`,
		`{"a":1} x`, `{"a":}`, `{"a":1,}`, `[1 2]`, ``, `{`,
	}
	for _, in := range tests {
		want, wantErr := stdDecode([]byte(in))
		got, err := Decode([]byte(in))
		if (err != nil) != (wantErr != nil) {
			t.Errorf("Decode(%q) error %v, encoding/json %v", in, err, wantErr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Decode(%q) = %#v, want %#v", in, got, want)
		}
	}
}

// TestDecodeExamples decodes every official R4 example as encoding/json does.
func TestDecodeExamples(t *testing.T) {
	for _, r := range fhirpkg.TestResources(t) {
		want, wantErr := stdDecode(r.Body)
		got, err := Decode(r.Body)
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Decode differs from encoding/json (errors %v / %v)", r.Name, err, wantErr)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a":[1,"x",{"b":null}],"c":true}`, `[]`, `"\u00e9"`, `{"k":1,"k":{}}`, "{\"s\":\"\xff\"}", `1e5`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := stdDecode(data)
		got, err := Decode(data)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("Decode(%q) error %v, encoding/json %v", data, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%q) = %#v, want %#v", data, got, want)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	var data []byte
	for _, r := range fhirpkg.TestResources(b) {
		if r.Name == "Observation-blood-pressure.json" {
			data = r.Body
		}
	}
	if data == nil {
		b.Fatal("Observation-blood-pressure.json is not in the examples package")
	}
	b.Run("fhirjson", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := stdDecode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
