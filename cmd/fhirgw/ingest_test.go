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
