package hl7v2

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSplitBatch(t *testing.T) {
	m1 := "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M1|P|2.5\rPID|1||1\r"
	m2 := "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|M2|P|2.5\rPID|1||2\rPV1|1|O\r"
	tests := []struct {
		name, data string
		want       []string
		wantErr    string
		loc        string // ERR-2 of the error: segment ID ^ occurrence
	}{
		{"file batch", "FHS|^~\\&|A\rBHS|^~\\&|A\r" + m1 + m2 + "BTS|2\rFTS|1\r", []string{m1, m2}, "", ""},
		{"two batches", "FHS|^~\\&\rBHS|^~\\&\r" + m1 + "BTS|1\rBHS|^~\\&\r" + m2 + "BTS|1\rFTS|2", []string{m1, m2}, "", ""},
		{"concatenated LF", strings.ReplaceAll(m1+m2, "\r", "\n"), []string{strings.ReplaceAll(m1, "\r", "\n"), strings.ReplaceAll(m2, "\r", "\n")}, "", ""},
		{"concatenated with BOMs and blank lines", "\xEF\xBB\xBF" + m1 + "\r\n\xEF\xBB\xBF" + m2, []string{m1 + "\r\n", m2}, "", ""},
		{"single message", m1, []string{m1}, "", ""},
		{"empty batch", "FHS|^~\\&\rBHS|^~\\&\rBTS|0\rFTS|1\r", nil, "", ""},
		{"segment before MSH", "BHS|^~\\&\rPID|1\r" + m1, nil, "outside a message", "PID^1"},
		{"segment after BTS", "BHS|^~\\&\r" + m1 + "BTS|1\rPID|1", nil, "outside a message", "PID^2"},
		{"third PID after two messages", m1 + m2 + "BTS|2\rPID|3", nil, "outside a message", "PID^3"},
		{"empty", "", nil, "no message", ""},
		{"garbage", "hello\r", nil, "outside a message", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitBatch([]byte(tt.data))
			if tt.wantErr != "" {
				var pe *ParseError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if loc := fmt.Sprintf("%s^%d", pe.Segment, pe.Sequence); tt.loc != "" && loc != tt.loc {
					t.Errorf("location %s, want %s (segment ID ^ occurrence)", loc, tt.loc)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d messages %q, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if string(got[i]) != tt.want[i] {
					t.Errorf("message %d = %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestBatchCorpus concatenates the whole corpus, BOMs and all, into one
// batch and checks every message comes back intact.
func TestBatchCorpus(t *testing.T) {
	files := loadCorpus(t)
	var buf bytes.Buffer
	buf.WriteString("FHS|^~\\&|GW\r\nBHS|^~\\&|GW\r\n")
	for _, f := range files {
		buf.Write(f.data)
		buf.WriteString("\r\n")
	}
	buf.WriteString("BTS|83\r\nFTS|1\r\n")
	msgs, err := ParseBatch(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(files) {
		t.Fatalf("ParseBatch returned %d messages, want %d", len(msgs), len(files))
	}
	for i, m := range msgs {
		if want := normalise(files[i].data); !bytes.Equal(m.Encode(), want) {
			t.Errorf("%s: batch message differs", files[i].name)
		}
	}
	// A broken message is reported with its index; the others survive.
	msgs, err = ParseBatch([]byte("MSH|^~\\&|A\rPID|1\rMSH|^^^^|B\rMSH|^~\\&|C\r"))
	var pe *ParseError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "batch message 2") || len(msgs) != 3 || msgs[1] != nil || msgs[2].Get("MSH-3") != "C" {
		t.Errorf("ParseBatch with a bad message: %v, %v", msgs, err)
	}
}
