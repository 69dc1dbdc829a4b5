package golden

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const goldenFile = "../../fhirpath/testdata/golden/extraction.jsonl.gz"

// The real file decodes, and HasComponents passes over no composite record.
func TestReadGoldenFile(t *testing.T) {
	var all, composite int
	err := Read(goldenFile, nil, func(r Record) error {
		all++
		if r.File == "" || r.Param == "" {
			t.Errorf("record without file or parameter: %+v", r)
		}
		if r.Components != nil {
			composite++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var kept, keptComposite int
	err = Read(goldenFile, HasComponents, func(r Record) error {
		kept++
		if r.Components != nil {
			keptComposite++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records, %d composite, %d kept by HasComponents", all, composite, kept)
	if composite == 0 || keptComposite != composite || kept >= all {
		t.Errorf("HasComponents kept %d records (%d composite) of %d (%d composite)", kept, keptComposite, all, composite)
	}
}

func writeGzip(t *testing.T, lines ...string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(strings.Join(lines, "\n"))); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "golden.jsonl.gz")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRead(t *testing.T) {
	stop := errors.New("stop")
	composite := `{"file":"Observation-bp.json","param":"component-code-value-quantity","values":[{}],` +
		`"components":[[{"values":["8480-6"],"types":["code"]},{"error":"boom"}]]}`
	tests := []struct {
		name    string
		lines   []string
		keep    func([]byte) bool
		stopAt  string // fn fails on this file
		want    []string
		wantErr string
	}{
		{name: "every line", lines: []string{`{"file":"a.json","param":"p","values":["x"]}`, composite},
			want: []string{"a.json", "Observation-bp.json"}},
		{name: "kept lines only", lines: []string{`{"file":"a.json","param":"p"}`, composite}, keep: HasComponents,
			want: []string{"Observation-bp.json"}},
		{name: "rejected line not decoded", lines: []string{`not json`, composite}, keep: HasComponents,
			want: []string{"Observation-bp.json"}},
		{name: "bad line", lines: []string{composite, `{"file":`}, want: []string{"Observation-bp.json"},
			wantErr: "line 2"},
		{name: "nothing kept", lines: []string{`{"file":"a.json","param":"p"}`}, keep: HasComponents,
			wantErr: "no records"},
		{name: "empty file", wantErr: "no records"},
		{name: "fn error stops", lines: []string{`{"file":"a.json"}`, `{"file":"b.json"}`, `{"file":"c.json"}`},
			stopAt: "b.json", want: []string{"a.json", "b.json"}, wantErr: "line 2: stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := Read(writeGzip(t, tt.lines...), tt.keep, func(r Record) error {
				got = append(got, r.File)
				if r.File == tt.stopAt {
					return stop
				}
				return nil
			})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if tt.stopAt != "" && !errors.Is(err, stop) {
				t.Errorf("error %v does not wrap fn's", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("records %q, want %q", got, tt.want)
			}
		})
	}
}

// A composite record's components decode per item, per component.
func TestReadComponents(t *testing.T) {
	path := writeGzip(t, `{"file":"f.json","param":"p","components":[[{"values":["1","2"],"types":["code","code"]},{"error":"boom"}]]}`)
	var got Record
	if err := Read(path, nil, func(r Record) error { got = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got.Components) != 1 || len(got.Components[0]) != 2 {
		t.Fatalf("components %+v", got.Components)
	}
	c0, c1 := got.Components[0][0], got.Components[0][1]
	if len(c0.Values) != 2 || string(c0.Values[1]) != `"2"` || !slices.Equal(c0.Types, []string{"code", "code"}) || c1.Error != "boom" {
		t.Errorf("components %+v", got.Components)
	}
}

func TestReadNotGzip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain.jsonl")
	if err := os.WriteFile(path, []byte(`{"file":"a.json"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Read(path, nil, func(Record) error { return nil }); err == nil {
		t.Error("no error for a file that is not gzip")
	}
	if err := Read(filepath.Join(t.TempDir(), "missing.gz"), nil, func(Record) error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
