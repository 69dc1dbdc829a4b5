package hl7v2

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addCorpusSeeds adds every corpus message, plus a few hand-made edge cases,
// to f's seed corpus.
func addCorpusSeeds(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join(corpusDir, "*.hl7"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed corpus: %v", err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(sample))
	f.Add([]byte("FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|A\rBTS|1\rFTS|1"))
	f.Add([]byte("MSH$^~\\&#$A$$$$$$ADT^A01$1\nPID$1$$\\X41\\\\.br\\\\P\\"))
	f.Add([]byte("MSH|^~\\&|\xd5\xc5\x81\x7c|||||||||||||||GBK\rPID|1||\x81\x30\x81\x30"))
}

func FuzzParse(f *testing.F) {
	addCorpusSeeds(f)
	paths := []string{"MSH-9.1", "PID-5.1", "PID-3[2].1.2", "OBX[2]-5", "MSH-1", "MSH-2", "MSH-2.2", "ZZZ-1"}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error is %T, not *ParseError", err)
			}
			return
		}
		for _, p := range paths {
			m.Get(p)
		}
		m.Type()
		m.Charset()
		for _, s := range m.Segments() {
			for _, fld := range s.Fields() {
				_ = fld.String()
				for _, r := range fld.Reps() {
					for _, c := range r.Components() {
						_ = c.Sub(2).String()
					}
				}
			}
		}
		// Encoding and parsing again (as the UTF-8 it now is) is stable.
		enc := m.Encode()
		m2, err := Parse(enc, WithCharset("UTF-8"))
		if err != nil {
			t.Fatalf("re-parse of Encode output failed: %v\n%q", err, enc)
		}
		if !bytes.Equal(m2.Encode(), enc) {
			t.Fatalf("Encode not stable:\n%q\n%q", enc, m2.Encode())
		}
	})
}

func FuzzUnescape(f *testing.F) {
	f.Add(`a\F\b\S\c\T\d\R\e\E\f\X41\\.br\\H\\N\\Zx\\`, "plain|^~\\&#\r\n")
	f.Add(`\X4\\P\\`, "")
	addCorpusSeedsStrings(f)
	f.Fuzz(func(t *testing.T, escaped, plain string) {
		for _, d := range []Delimiters{DefaultDelimiters(), {'|', '^', '~', '\\', '&', '#'}, {'$', '%', '*', '!', '@', 0}} {
			Unescape(d, escaped) // must not panic
			enc := Escape(d, plain)
			if strings.ContainsAny(enc, "\r\n") || strings.IndexByte(enc, d.Field) >= 0 || strings.IndexByte(enc, d.Component) >= 0 {
				t.Fatalf("Escape(%q) = %q still holds a delimiter", plain, enc)
			}
			if got := Unescape(d, enc); got != plain {
				t.Fatalf("Unescape(Escape(%q)) = %q", plain, got)
			}
		}
	})
}

func addCorpusSeedsStrings(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*.hl7"))
	for _, p := range paths[:10] {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data), string(data))
	}
}

func FuzzSplitBatch(f *testing.F) {
	addCorpusSeeds(f)
	// Stray lines, trailer counts that do not match, CRLF line counting.
	f.Add([]byte("JUNK\r\nMSH|^~\\&|A\r\nPID|1\r\n"))
	f.Add([]byte("FHS|^~\\&\nBHS|^~\\&\nMSH|^~\\&|A\nBTS|2\nPID|1\nBHS\nMSH|^~\\&|B\nBTS|x\nFTS|3|y\n"))
	f.Add([]byte("BTS|\rFTS\rMSH\rMSH|\rhello\r\r\n\xEF\xBB\xBFMSH|^~\\&|C\rFTS|-1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, rerr := ReadBatch(data)
		if rerr != nil {
			if _, ok := rerr.(*ParseError); !ok {
				t.Fatalf("ReadBatch error is %T, not *ParseError", rerr)
			}
		}
		if len(b.Lines) != len(b.Messages) {
			t.Fatalf("%d lines for %d messages", len(b.Lines), len(b.Messages))
		}
		// Warnings and messages are in line order, within the file.
		lines := 1 + bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n"))
		last := 0
		for _, w := range b.Warnings {
			if w.Line < last || w.Line > lines {
				t.Fatalf("warning %v out of order or past line %d", w, lines)
			}
			last = w.Line
		}
		checkSplit(t, data, b.Messages)

		msgs, err := SplitBatch(data)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error is %T, not *ParseError", err)
			}
			return
		}
		// Where the strict split succeeds, the lenient one finds the same
		// messages.
		if rerr != nil || len(msgs) != len(b.Messages) {
			t.Fatalf("SplitBatch found %d messages, ReadBatch %d (%v)", len(msgs), len(b.Messages), rerr)
		}
		checkSplit(t, data, msgs)
	})
}

// checkSplit checks that msgs are in order in data, do not overlap, and
// each start with MSH.
func checkSplit(t *testing.T, data []byte, msgs [][]byte) {
	t.Helper()
	rest := data
	for _, m := range msgs {
		if !bytes.HasPrefix(m, []byte("MSH")) {
			t.Fatalf("message does not start with MSH: %q", m)
		}
		i := bytes.Index(rest, m)
		if i < 0 {
			t.Fatalf("message %q not found in order", m)
		}
		rest = rest[i+len(m):]
	}
}
