package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIngestCommand(t *testing.T) {
	dir := t.TempDir()
	corpus := "../../testdata/hl7v2/messages/"
	adt, err := os.ReadFile(corpus + "ADT-A01-01.hl7")
	if err != nil {
		t.Fatal(err)
	}
	oru, err := os.ReadFile(corpus + "ORU-R01-RMGEAD.hl7")
	if err != nil {
		t.Fatal(err)
	}
	// A batch file: the two messages under FHS/BHS, the ADT repeated (a duplicate).
	batch := filepath.Join(dir, "batch.hl7")
	content := "FHS|^~\\&|HIS|SHCH\rBHS|^~\\&|HIS|SHCH\r" + string(adt) + "\r" + string(oru) + "\r" + string(adt) + "\rBTS|3\rFTS|1\r"
	if err := os.WriteFile(batch, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(string) string { return "" }
	data := filepath.Join(dir, "data")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"ingest", "--data-dir", data, "--log-level", "error", batch}, env, &out, &errOut); err != nil {
		t.Fatalf("ingest: %v\n%s%s", err, out.String(), errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 { // header, three messages, summary
		t.Fatalf("report:\n%s", out.String())
	}
	for i, want := range []string{"MSG00001", "CNTRL-3456", "MSG00001"} {
		f := strings.Fields(lines[i+1])
		if len(f) < 5 || f[0] != batch || f[1] != string(rune('1'+i)) || f[2] != want || f[4] != "AA" {
			t.Errorf("line %d: %q, want file, index %d, control id %s, ACK AA", i+1, lines[i+1], i+1, want)
		}
	}
	if !strings.Contains(lines[3], "duplicate") {
		t.Errorf("repeated message not reported as a duplicate: %q", lines[3])
	}

	// A file that is not HL7 v2, and a message the pipeline refuses: exit status 1.
	junk := filepath.Join(dir, "junk.txt")
	os.WriteFile(junk, []byte("hello\n"), 0o600)
	bad := filepath.Join(dir, "bad.hl7")
	os.WriteFile(bad, []byte("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|BAD1|P|1.0\rPID|1||X\r"), 0o600)
	out.Reset()
	err = run(context.Background(), []string{"ingest", "--data-dir", data, "--log-level", "error", junk, bad}, env, &out, &errOut)
	if err == nil {
		t.Fatalf("ingest of rejected input succeeded:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "BAD1") || !strings.Contains(out.String(), "AR") && !strings.Contains(out.String(), "AE") {
		t.Errorf("report of the rejected message:\n%s", out.String())
	}
	if err := run(context.Background(), []string{"ingest", "--data-dir", data}, env, &out, &errOut); err == nil {
		t.Error("ingest without files succeeded")
	}

	// Enhanced mode: an unsupported message is committed (CA) but not applied (AE):
	// the report says AE and the exit status counts it as not accepted.
	enhanced := filepath.Join(dir, "enhanced.hl7")
	os.WriteFile(enhanced, []byte("MSH|^~\\&|A|B|C|D|20240101||MDM^T02|ENH1|P|2.5.1|||AL|AL\rPID|1||X^^^B^MR\r"), 0o600)
	out.Reset()
	err = run(context.Background(), []string{"ingest", "--data-dir", data, "--log-level", "error", enhanced}, env, &out, &errOut)
	if err == nil || !strings.Contains(out.String(), "AE") || !strings.Contains(out.String(), "1 not accepted") {
		t.Errorf("enhanced-mode message in the error queue: err %v, report:\n%s", err, out.String())
	}
}

// TestIngestBatchProblems: a stray line and trailer counts that do not match
// are lines of the report and fail the run, but every message is still
// processed and reported.
func TestIngestBatchProblems(t *testing.T) {
	dir := t.TempDir()
	m1 := "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|JUNK1|P|2.5\rPID|1||J1^^^B^MR||Li^Lei\r"
	m2 := "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|JUNK2|P|2.5\rPID|1||J2^^^B^MR||Han^Meimei\r"
	file := filepath.Join(dir, "batch.hl7")
	content := "JUNK\rFHS|^~\\&|A\rBHS|^~\\&|A\r" + m1 + m2 + "BTS|3\rFTS|1\r"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"ingest", "--data-dir", filepath.Join(dir, "data"), "--log-level", "error", file},
		func(string) string { return "" }, &out, &errOut)
	if err == nil {
		t.Errorf("ingest of a batch with problems succeeded:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"line 1: not part of a message",
		"JUNK1",
		"JUNK2",
		"line 8: BTS: BTS-1 says 3 messages, the batch holds 2",
		"2 messages, 0 not accepted, 2 file problems",
	}
	if len(lines) != len(want)+1 {
		t.Fatalf("report:\n%s", out.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i+1], w) {
			t.Errorf("report line %d: %q, want %q", i+1, lines[i+1], w)
		}
	}
	for _, l := range lines[2:4] {
		if f := strings.Fields(l); len(f) < 5 || f[4] != "AA" {
			t.Errorf("message not applied: %q", l)
		}
	}
}
