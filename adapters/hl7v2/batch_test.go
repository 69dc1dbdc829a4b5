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
		{"garbage", "hello\r", nil, "outside a message", "^0"},
		{"stray line", "JUNK\r" + m1, nil, "outside a message", "^0"},
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

func TestReadBatch(t *testing.T) {
	m1 := "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M1|P|2.5\rPID|1||1\r"
	m2 := "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|M2|P|2.5\rPID|1||2\rPV1|1|O\r"
	tests := []struct {
		name, data string
		want       []string
		lines      []int    // line of each message
		warnings   []string // BatchWarning.String()
		wantErr    string
	}{
		{"clean batch", "FHS|^~\\&|A\rBHS|^~\\&|A\r" + m1 + m2 + "BTS|2\rFTS|1\r", []string{m1, m2}, []int{3, 5}, nil, ""},
		{"stray line before MSH", "JUNK\r\n" + m1 + m2, []string{m1, m2}, []int{2, 4},
			[]string{"line 1: not part of a message (expected MSH, FHS, BHS, BTS or FTS): skipped"}, ""},
		{"stray segment after BTS", "BHS|^~\\&\n" + strings.ReplaceAll(m1, "\r", "\n") + "BTS|1\nPID|1\n\n" + strings.ReplaceAll(m2, "\r", "\n"),
			[]string{strings.ReplaceAll(m1, "\r", "\n"), strings.ReplaceAll(m2, "\r", "\n")}, []int{2, 7},
			[]string{"line 5: PID: not part of a message (expected MSH, FHS, BHS, BTS or FTS): skipped"}, ""},
		{"BTS count too high", "BHS|^~\\&\r" + m1 + "BTS|2\r", []string{m1}, []int{2},
			[]string{"line 4: BTS: BTS-1 says 2 messages, the batch holds 1: messages may have been lost"}, ""},
		{"BTS count per batch", "FHS|^~\\&\rBHS|^~\\&\r" + m1 + "BTS|1\rBHS|^~\\&\r" + m1 + m2 + "BTS|1\rFTS|3", []string{m1, m1, m2}, []int{3, 7, 9},
			[]string{"line 12: BTS: BTS-1 says 1 messages, the batch holds 2: messages may have been lost",
				"line 13: FTS: FTS-1 says 3 batches, the file holds 2: batches may have been lost"}, ""},
		{"counts empty or with more fields", "FHS|^~\\&\rBHS|^~\\&\r" + m1 + "BTS|1|comment\rBHS\r" + m2 + "BTS\rFTS||x", []string{m1, m2}, []int{3, 7}, nil, ""},
		{"count not a number", "BHS|^~\\&\r" + m1 + "BTS|one\rFTS|1", []string{m1}, []int{2},
			[]string{"line 4: BTS: BTS-1 (batch message count) is not a number"}, ""},
		{"FTS without batches", "FHS|^~\\&\r" + m1 + m2 + "FTS|1\r", []string{m1, m2}, []int{2, 4}, nil, ""},
		{"empty batch", "FHS|^~\\&\rBHS|^~\\&\rBTS|0\rFTS|1\r", nil, nil, nil, ""},
		{"nothing but junk", "hello\r\nworld", nil, nil, []string{
			"line 1: not part of a message (expected MSH, FHS, BHS, BTS or FTS): skipped",
			"line 2: not part of a message (expected MSH, FHS, BHS, BTS or FTS): skipped"}, "no message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ReadBatch([]byte(tt.data))
			var ws []string
			for _, w := range b.Warnings {
				ws = append(ws, w.String())
			}
			if strings.Join(ws, "\n") != strings.Join(tt.warnings, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(ws, "\n"), strings.Join(tt.warnings, "\n"))
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Messages) != len(tt.want) || fmt.Sprint(b.Lines) != fmt.Sprint(tt.lines) {
				t.Fatalf("got messages %q at lines %v, want %d at %v", b.Messages, b.Lines, len(tt.want), tt.lines)
			}
			for i := range b.Messages {
				if string(b.Messages[i]) != tt.want[i] {
					t.Errorf("message %d = %q, want %q", i, b.Messages[i], tt.want[i])
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
