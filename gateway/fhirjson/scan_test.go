package fhirjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shch/fhirgw/conformance/fhirpkg"
)

func TestParseObject(t *testing.T) {
	tests := []struct {
		in      string
		keys    []string
		values  []string
		wantErr bool
	}{
		{in: `{}`},
		{in: ` { "a" : 1.50 , "b":[1, {"c":"}"}], "_b":{"x":null} } `, keys: []string{"a", "b", "_b"}, values: []string{`1.50`, `[1, {"c":"}"}]`, `{"x":null}`}},
		{in: `{"k\u00e9y":"v\"q","n":-1e3,"t":true,"f":false}`, keys: []string{"kéy", "n", "t", "f"}, values: []string{`"v\"q"`, `-1e3`, `true`, `false`}},
		{in: `{"name":[{"text":"张三"}]}`, keys: []string{"name"}, values: []string{`[{"text":"张三"}]`}},
		{in: `{"a":1,"a":2}`, wantErr: true},
		{in: `{"a":1}{}`, wantErr: true},
		{in: `{"a":1} x`, wantErr: true},
		{in: `{"a":}`, wantErr: true},
		{in: `[1]`, wantErr: true},
		{in: `"s"`, wantErr: true},
		{in: ``, wantErr: true},
	}
	for _, tt := range tests {
		obj, err := ParseObject([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseObject(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if len(obj) != len(tt.keys) {
			t.Errorf("ParseObject(%s) = %d members, want %d", tt.in, len(obj), len(tt.keys))
			continue
		}
		for i, m := range obj {
			if m.Key != tt.keys[i] || string(m.Value) != tt.values[i] {
				t.Errorf("ParseObject(%s)[%d] = %q:%s, want %q:%s", tt.in, i, m.Key, m.Value, tt.keys[i], tt.values[i])
			}
		}
	}
	if _, err := ParseObject([]byte(`[]`)); !errors.Is(err, ErrNotObject) {
		t.Errorf("ParseObject([]) = %v, want ErrNotObject", err)
	}
}

// The parsed values do not share memory with the input, which callers may reuse.
func TestParseObjectCopies(t *testing.T) {
	in := []byte(`{"a":"xyz"}`)
	obj, err := ParseObject(in)
	if err != nil {
		t.Fatal(err)
	}
	copy(in, `{"a":"QQQ"}`)
	if string(obj[0].Value) != `"xyz"` {
		t.Errorf("value changed with the input: %s", obj[0].Value)
	}
}

func TestRewriteReferences(t *testing.T) {
	fn := func(ref string) (string, bool) {
		if r, ok := strings.CutPrefix(ref, "urn:uuid:"); ok {
			return "Patient/" + r, true
		}
		return "", false
	}
	tests := []struct{ in, want string }{
		{`{"subject":{"reference":"urn:uuid:1"},"value":1.50}`, `{"subject":{"reference":"Patient/1"},"value":1.50}`},
		{`{"a":[{"reference":"urn:uuid:2"},{"reference":"Patient/3"}], "b" : { "reference" : "urn:uuid:4" } }`,
			`{"a":[{"reference":"Patient/2"},{"reference":"Patient/3"}], "b" : { "reference" : "Patient/4" } }`},
		// Only string values of members named reference; a "reference" string elsewhere is data.
		{`{"text":"reference","reference":{"reference":"urn:uuid:5"},"x":["reference"]}`, `{"text":"reference","reference":{"reference":"Patient/5"},"x":["reference"]}`},
		{`{"reference":"urn:uuid:\u00e9"}`, `{"reference":"Patient/é"}`},
		{`{"note":"no refs"}`, `{"note":"no refs"}`},
	}
	for _, tt := range tests {
		got, err := RewriteReferences([]byte(tt.in), fn)
		if err != nil || string(got) != tt.want {
			t.Errorf("RewriteReferences(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	if _, err := RewriteReferences([]byte(`{"reference":`), fn); err == nil {
		t.Error("invalid JSON rewritten without error")
	}
}

// differential checks ParseObject and RewriteReferences against the encoding/json
// implementations they replaced.
func differential(t *testing.T, data []byte) {
	got, err := ParseObject(data)
	want, refErr := refParseObject(data)
	if (err != nil) != (refErr != nil) {
		t.Fatalf("ParseObject(%q) error %v, reference %v", data, err, refErr)
	}
	if err == nil {
		if len(got) != len(want) {
			t.Fatalf("ParseObject(%q): %d members, reference %d", data, len(got), len(want))
		}
		for i := range got {
			if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
				t.Fatalf("ParseObject(%q)[%d] = %q:%s, reference %q:%s", data, i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
			}
			// Keys are written as encoding/json writes strings (without HTML escaping).
			var enc bytes.Buffer
			e := json.NewEncoder(&enc)
			e.SetEscapeHTML(false)
			_ = e.Encode(got[i].Key)
			if q := Quote(got[i].Key); !bytes.Equal(q, bytes.TrimSuffix(enc.Bytes(), []byte("\n"))) {
				t.Fatalf("Quote(%q) = %s, encoding/json %s", got[i].Key, q, enc.Bytes())
			}
		}
		// Written back, the object is the input compacted, with keys re-encoded.
		var ref bytes.Buffer
		ref.WriteByte('{')
		for i, m := range want {
			if i > 0 {
				ref.WriteByte(',')
			}
			ref.Write(Quote(m.Key))
			ref.WriteByte(':')
			if err := json.Compact(&ref, m.Value); err != nil {
				t.Fatal(err)
			}
		}
		ref.WriteByte('}')
		if b := got.Bytes(); !bytes.Equal(b, ref.Bytes()) {
			t.Fatalf("ParseObject(%q).Bytes() = %s, compacted %s", data, b, ref.Bytes())
		}
	}
	fn := func(ref string) (string, bool) {
		if strings.HasPrefix(ref, "urn:") || strings.HasPrefix(ref, "#") {
			return "Basic/" + strings.ToUpper(ref), true
		}
		return "", false
	}
	rw, err := RewriteReferences(data, fn)
	refRw, refErr := refRewriteReferences(data, fn)
	if (err != nil) != (refErr != nil) {
		// The reference read only the first value and ignored data after it.
		if err != nil && refErr == nil {
			return
		}
		t.Fatalf("RewriteReferences(%q) error %v, reference %v", data, err, refErr)
	}
	if err == nil {
		if eq, eerr := Equal(rw, refRw); eerr != nil || !eq {
			t.Fatalf("RewriteReferences(%q) = %s, reference %s (%v)", data, rw, refRw, eerr)
		}
	}
}

func TestDifferentialExamples(t *testing.T) {
	dir := fhirpkg.TestDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) < 1000 {
		t.Fatalf("examples: %d files, %v", len(files), err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		differential(t, data)
	}
}

func FuzzDifferential(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1.50,"b":[{"reference":"urn:uuid:x"}]}`, `{"a":1,"a":2}`, `{"k\u00e9y":"\ud83d\ude00"}`,
		`{"reference":"#c","contained":[{"reference":{"reference":"urn:1"}}]}`, ` {"x" : [ ] } `, `[1,2]`, `{"a":"\\"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(differential)
}
