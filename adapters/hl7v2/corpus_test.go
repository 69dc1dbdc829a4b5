package hl7v2

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const corpusDir = "testdata/corpus/messages"

type corpusFile struct {
	name string
	data []byte
}

func loadCorpus(tb testing.TB) []corpusFile {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(corpusDir, "*.hl7"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(paths) != 83 {
		tb.Fatalf("corpus has %d messages, want 83", len(paths))
	}
	files := make([]corpusFile, len(paths))
	for i, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		files[i] = corpusFile{filepath.Base(p), data}
	}
	return files
}

// normalise strips the BOM and rewrites every line ending as CR, ending the
// last segment with one too: the form Encode writes.
func normalise(data []byte) []byte {
	data = bytes.TrimPrefix(data, bom)
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\r"))
	data = bytes.ReplaceAll(data, []byte("\n"), []byte("\r"))
	if !bytes.HasSuffix(data, []byte("\r")) {
		data = append(data, '\r')
	}
	return data
}

// header is a line of testdata/corpus/headers.tsv, taken from the expected
// FHIR output of the corpus.
type header struct{ msh9, trigger, controlID string }

func loadHeaders(t *testing.T) map[string]header {
	t.Helper()
	f, err := os.Open("testdata/corpus/headers.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hs := map[string]header{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 4 {
			t.Fatalf("headers.tsv: bad line %q", sc.Text())
		}
		hs[cols[0]] = header{cols[1], cols[2], cols[3]}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return hs
}

func TestCorpus(t *testing.T) {
	headers := loadHeaders(t)
	checked := 0
	for _, f := range loadCorpus(t) {
		t.Run(f.name, func(t *testing.T) {
			m, err := Parse(f.data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got, want := m.Encode(), normalise(f.data); !bytes.Equal(got, want) {
				t.Errorf("Encode differs from the normalised input:\n got %q\nwant %q", got, want)
			}
			if !bytes.Equal(m.Raw(), f.data) {
				t.Error("Raw is not the input")
			}
			// Segment count: every non-empty line is a segment.
			lines := 0
			for _, l := range bytes.Split(normalise(f.data), []byte("\r")) {
				if len(l) > 0 {
					lines++
				}
			}
			if m.NumSegments() != lines {
				t.Errorf("NumSegments = %d, want %d", m.NumSegments(), lines)
			}
			if m.Charset() != "UNICODE UTF-8" && m.Charset() != "ASCII" {
				t.Errorf("Charset = %q", m.Charset())
			}
			h, ok := headers[f.name]
			if !ok {
				return // no expected bundle for this message
			}
			checked++
			code, trigger, structure := m.Type()
			msh9 := code + "^" + trigger
			if structure != "" {
				msh9 += "^" + structure
			}
			if msh9 != h.msh9 || trigger != h.trigger {
				t.Errorf("Type = %q %q %q, want %s (trigger %s)", code, trigger, structure, h.msh9, h.trigger)
			}
			if got := m.ControlID(); got != h.controlID {
				t.Errorf("ControlID = %q, want %q", got, h.controlID)
			}
		})
	}
	if checked != 76 {
		t.Errorf("checked headers of %d messages, want the 76 in headers.tsv", checked)
	}
}

// TestCorpusFields compares every field, repetition and component of every
// corpus message with a naive split of the normalised text.
func TestCorpusFields(t *testing.T) {
	for _, f := range loadCorpus(t) {
		m, err := Parse(f.data)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		lines := strings.Split(strings.TrimSuffix(string(normalise(f.data)), "\r"), "\r")
		for i, line := range lines {
			seg := m.SegmentAt(i)
			if seg.Name() != line[:3] {
				t.Fatalf("%s segment %d: Name = %q, want %q", f.name, i, seg.Name(), line[:3])
			}
			fields := strings.Split(line, "|")
			if seg.Name() == "MSH" {
				fields = append([]string{"MSH", "|"}, fields[1:]...)
			}
			if seg.NumFields() != len(fields)-1 {
				t.Errorf("%s %s: NumFields = %d, want %d", f.name, seg.Name(), seg.NumFields(), len(fields)-1)
			}
			all := seg.Fields()
			for n := 1; n < len(fields); n++ {
				fld := seg.Field(n)
				if string(all[n-1].Raw()) != string(fld.Raw()) || all[n-1].String() != fld.String() {
					t.Errorf("%s %s: Fields()[%d] = %q, Field(%d) = %q", f.name, seg.Name(), n-1, all[n-1].Raw(), n, fld.Raw())
				}
				if reps := fld.Reps(); len(reps) != fld.NumReps() || len(reps) > 0 && string(reps[len(reps)-1].Raw()) != string(fld.Rep(len(reps)).Raw()) {
					t.Errorf("%s %s-%d: Reps() disagrees with Rep()", f.name, seg.Name(), n)
				}
				if string(fld.Raw()) != fields[n] {
					t.Errorf("%s %s-%d: Raw = %q, want %q", f.name, seg.Name(), n, fld.Raw(), fields[n])
				}
				if seg.Name() == "MSH" && n <= 2 {
					continue
				}
				for r, rep := range strings.Split(fields[n], "~") {
					for c, comp := range strings.Split(rep, "^") {
						got := string(fld.Rep(r + 1).Component(c + 1).Raw())
						if got != comp {
							t.Errorf("%s %s-%d[%d].%d = %q, want %q", f.name, seg.Name(), n, r+1, c+1, got, comp)
						}
					}
				}
			}
		}
	}
}

func BenchmarkParseCorpus(b *testing.B) {
	files := loadCorpus(b)
	total := 0
	for _, f := range files {
		total += len(f.data)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	sink := 0
	for b.Loop() {
		for _, f := range files {
			m, err := Parse(f.data)
			if err != nil {
				b.Fatal(err)
			}
			sink += len(m.Get("PID-5.1"))
		}
	}
	if sink == 0 {
		b.Fatal("no PID-5.1 read")
	}
}
