package mllp

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpus returns the HL7 v2 corpus messages with CR segment terminators, as they
// travel over MLLP.
func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("../../testdata/hl7v2/messages/*.hl7")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus messages: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\r"))
		out[filepath.Base(f)] = bytes.ReplaceAll(b, []byte("\n"), []byte("\r"))
	}
	return out
}

func frame(s string) string { return "\x0b" + s + "\x1c\r" }

func TestReader(t *testing.T) {
	big := strings.Repeat("OBX|1|TX|||"+strings.Repeat("x", 1000)+"\r", 200) // > the bufio buffer
	type want struct {
		msg     string
		skipped int
		size    int64 // a message over the limit: its whole length (TooLargeError)
	}
	tests := []struct {
		name    string
		in      string
		max     int
		want    []want
		wantErr error // after the messages
	}{
		{"one", frame("MSH|a"), 0, []want{{"MSH|a", 0, 0}}, io.EOF},
		{"two back to back", frame("MSH|a") + frame("MSH|b"), 0, []want{{"MSH|a", 0, 0}, {"MSH|b", 0, 0}}, io.EOF},
		{"line feeds between frames are not reported", frame("MSH|a") + "\n" + frame("MSH|b") + "\r\n", 0, []want{{"MSH|a", 0, 0}, {"MSH|b", 0, 0}}, io.EOF},
		{"whitespace before", "\r\n \t" + frame("MSH|a"), 0, []want{{"MSH|a", 0, 0}}, io.EOF},
		{"junk before", "garbage" + frame("MSH|a"), 0, []want{{"MSH|a", 7, 0}}, io.EOF},
		{"junk among whitespace counts whole", "\r\nx\n" + frame("MSH|a"), 0, []want{{"MSH|a", 4, 0}}, io.EOF},
		{"nested start abandons the partial frame", "\x0bMSH|partial" + frame("MSH|b"), 0, []want{{"MSH|b", len("\x0bMSH|partial"), 0}}, io.EOF},
		{"empty message", frame(""), 0, []want{{"", 0, 0}}, io.EOF},
		{"big message", frame(big), 0, []want{{big, 0, 0}}, io.EOF},
		{"eof inside frame", frame("MSH|a") + "\x0bMSH|b", 0, []want{{"MSH|a", 0, 0}}, io.ErrUnexpectedEOF},
		{"eof after end block", "\x0bMSH|a\x1c", 0, nil, io.ErrUnexpectedEOF},
		{"end block without CR", "\x0bMSH|a\x1cX", 0, nil, ErrFraming},
		{"at the limit", frame("12345"), 5, []want{{"12345", 0, 0}}, io.EOF},
		{"over the limit is cut", frame("123456") + frame("ab"), 5, []want{{"12345", 0, 6}, {"ab", 0, 0}}, io.EOF},
		{"big over the limit is cut", frame(big) + "\r\n" + frame("MSH|b"), 100000, []want{{big[:100000], 0, int64(len(big))}, {"MSH|b", 0, 0}}, io.EOF},
		{"over the limit, abandoned for a new frame", "\x0b" + big + frame("ab"), 1000, []want{{"ab", 1 + len(big), 0}}, io.EOF},
		{"over the limit, no end", "\x0b" + big, 1000, nil, ErrTooLarge},
		{"over the limit, no end, is unexpected EOF", "\x0b" + big, 1000, nil, io.ErrUnexpectedEOF},
		{"over the limit, end block without CR", "\x0b123456\x1cX", 5, nil, ErrFraming},
		{"endless junk", strings.Repeat("j", 200000), 1000, nil, ErrTooLarge},
		{"endless whitespace", strings.Repeat("\r\n", 100000), 1000, nil, ErrTooLarge},
		{"nothing", "", 0, nil, io.EOF},
		{"junk only", "\r\n", 0, nil, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), tt.max)
			for i, w := range tt.want {
				msg, err := r.ReadMessage()
				var size int64
				if tl := (*TooLargeError)(nil); errors.As(err, &tl) {
					if !errors.Is(err, ErrTooLarge) || tl.Max != len(msg) {
						t.Fatalf("message %d: %v (Max %d) with %d bytes", i, err, tl.Max, len(msg))
					}
					size, err = tl.Size, nil
				}
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if string(msg) != w.msg || r.Skipped() != w.skipped || size != w.size {
					t.Fatalf("message %d = %.40q (skipped %d, size %d), want %.40q (skipped %d, size %d)",
						i, msg, r.Skipped(), size, w.msg, w.skipped, w.size)
				}
			}
			if _, err := r.ReadMessage(); !errors.Is(err, tt.wantErr) {
				t.Fatalf("final error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestReaderOversizeKeepsOnlyTheLimit checks that the rest of a message over the limit
// is dropped as it is read, not held.
func TestReaderOversizeKeepsOnlyTheLimit(t *testing.T) {
	const max, size = 1000, 8 << 20
	in := io.MultiReader(strings.NewReader("\x0b"), io.LimitReader(repeatReader('x'), size), strings.NewReader("\x1c\r"+frame("MSH|b")))
	r := NewReader(in, max)
	msg, err := r.ReadMessage()
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Size != size || len(msg) != max {
		t.Fatalf("got %d bytes, %v", len(msg), err)
	}
	if cap(r.buf) > 4*max {
		t.Fatalf("reader holds a buffer of %d bytes for a limit of %d", cap(r.buf), max)
	}
	if msg, err := r.ReadMessage(); err != nil || string(msg) != "MSH|b" {
		t.Fatalf("next message %q, %v", msg, err)
	}
}

type repeatReader byte

func (b repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	msgs := corpus(t)
	var order []string
	for name, m := range msgs {
		if err := w.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
		order = append(order, name)
	}
	if got, want := buf.Len(), 0; got == want {
		t.Fatal("nothing written")
	}
	r := NewReader(&buf, 0)
	for _, name := range order {
		got, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got, msgs[name]) {
			t.Fatalf("%s: round trip changed the message", name)
		}
	}
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Fatalf("after the last message: %v", err)
	}
}

// FuzzReader checks that the reader never panics, never returns a message containing a
// frame delimiter or over the limit, and that what it returns survives a re-framing.
func FuzzReader(f *testing.F) {
	for _, m := range corpus(f) {
		f.Add(AppendFrame(nil, m))
		f.Add(AppendFrame(nil, m)[:len(m)/2])                                // partial frame
		f.Add(append([]byte("\x0b"+string(m[:10])), AppendFrame(nil, m)...)) // nested start
		f.Add(append(append([]byte("\r\n"), AppendFrame(nil, m)...), "\n\x0bMSH"...))
	}
	f.Add([]byte("\x0b\x0b\x1c\r\x1c\r"))
	f.Add([]byte("\x1c\r\x0bA\x1c\x0bB\x1c\r"))
	const max = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), max)
		var got [][]byte
		var framed []byte
		for {
			msg, err := r.ReadMessage()
			var tl *TooLargeError
			if errors.As(err, &tl) {
				if len(msg) != max || tl.Size <= max {
					t.Fatalf("cut message of %d bytes, size %d, limit %d", len(msg), tl.Size, max)
				}
			} else if err != nil {
				break
			}
			if len(msg) > max {
				t.Fatalf("message of %d bytes over the limit %d", len(msg), max)
			}
			if bytes.IndexByte(msg, StartBlock) >= 0 || bytes.IndexByte(msg, EndBlock) >= 0 {
				t.Fatalf("message contains a frame delimiter: %q", msg)
			}
			got = append(got, bytes.Clone(msg))
			framed = AppendFrame(framed, msg)
		}
		r2 := NewReader(bytes.NewReader(framed), max)
		for i, want := range got {
			msg, err := r2.ReadMessage()
			if err != nil || !bytes.Equal(msg, want) || r2.Skipped() != 0 {
				t.Fatalf("re-read message %d: %q, %v (skipped %d), want %q", i, msg, err, r2.Skipped(), want)
			}
		}
		if _, err := r2.ReadMessage(); err != io.EOF {
			t.Fatalf("re-read: after the last message: %v", err)
		}
	})
}

func BenchmarkReader(b *testing.B) {
	var stream []byte
	n := 0
	for _, m := range corpus(b) {
		stream = AppendFrame(stream, m)
		n++
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(stream), 0)
		for range n {
			if _, err := r.ReadMessage(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
