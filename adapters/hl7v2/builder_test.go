package hl7v2

import (
	"strings"
	"testing"
	"time"
)

func TestBuilder(t *testing.T) {
	b := NewBuilder(DefaultDelimiters())
	b.Add("MSH", Text("GW"), Text("SH|CHC"), nil, nil, Text("20240101"), nil,
		Components(Text("ADT"), Text("A01"), Text("ADT_A01")), Text("C-1"), Text("P"), Text("2.5"),
		nil, nil, nil, nil, nil, Text("UNICODE UTF-8"))
	b.Add("PID", Text("1"), nil,
		Repeats(Components(Text("110"), nil, nil, Components(Text("HOSP"), Text("1.2.3"), Text("ISO"))),
			Components(Text("220"))),
		nil,
		Components(Text("张^三"), Text("A&B"), Text("x~y\\z")),
		Null())
	b.AddText("NTE", "1", "", "line 1\nline 2|end")
	m, err := b.Message()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"MSH-4":        "SH|CHC",
		"MSH-9.3":      "ADT_A01",
		"PID-3[1].4.2": "1.2.3",
		"PID-3[2].1":   "220",
		"PID-5.1":      "张^三",
		"PID-5.2":      "A&B",
		"PID-5.3":      "x~y\\z",
		"PID-6":        `""`,
		"NTE-3":        "line 1\nline 2|end",
		"MSH-18":       "UNICODE UTF-8",
	} {
		if got := m.Get(path); got != want {
			t.Errorf("Get(%q) = %q, want %q", path, got, want)
		}
	}
	wantPID := `PID|1||110^^^HOSP&1.2.3&ISO~220||张\S\三^A\T\B^x\R\y\E\z|""`
	if got := m.SegmentAt(1).String(); got != wantPID {
		t.Errorf("PID = %q, want %q", got, wantPID)
	}
	if _, err := NewBuilder(Delimiters{Field: '|', Component: '|', Repetition: '~', Escape: '\\', Subcomponent: '&'}).AddText("MSH").Bytes(); err == nil {
		t.Error("duplicate delimiters accepted")
	}
	if _, err := NewBuilder(DefaultDelimiters()).AddText("pid").Bytes(); err == nil {
		t.Error("bad segment ID accepted")
	}
}

func TestAck(t *testing.T) {
	orig, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("CST", 8*3600))
	out, err := Ack{Code: "AA", ControlID: "ACK-1", Time: when}.Build(orig)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"MSH-3": "RECV", "MSH-4": "RFAC", "MSH-5": "SEND", "MSH-6": "SFAC",
		"MSH-7": "20240102030405.000+0800", "MSH-9.1": "ACK", "MSH-9.2": "A08", "MSH-9.3": "ACK",
		"MSH-10": "ACK-1", "MSH-11": "P", "MSH-12": "2.5.1", "MSA-1": "AA", "MSA-2": "CTRL-1",
	} {
		if got := ack.Get(path); got != want {
			t.Errorf("ACK %s = %q, want %q", path, got, want)
		}
	}
	if _, ok := ack.Segment("ERR"); ok {
		t.Error("ERR segment without error")
	}

	// ERR-2 locates a parse error by segment ID and occurrence (ERL-2 is
	// the occurrence among segments with that ID, not the position); an
	// invalid segment ID has no location to give.
	const head = "MSH|^~\\&|A|B|C|D|||ADT^A01|X|P|2.5\rPID|1\r"
	for _, tt := range []struct {
		name, msg, loc, code, reason string
	}{
		{"invalid ID", head + "pv1|1", "", "102", "pv1"},
		{"second MSH after four segments", head + "OBX|1\rOBX|2\rMSH|^~\\&|B", "MSH^2", "100", "second message"},
		{"BTS inside", head + "OBX|1\rBTS|1", "BTS^1", "100", "batch"},
		{"no MSH", "PID|1\rMSH|^~\\&|B", "MSH^1", "100", "MSH"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, perr := Parse([]byte(tt.msg))
			if perr == nil {
				t.Fatal("bad message parsed")
			}
			out, err := Ack{Code: "AE", ControlID: "ACK-2", Time: when, Text: "rejected", Err: perr}.Build(nil)
			if err != nil {
				t.Fatal(err)
			}
			ack, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			errSeg, ok := ack.Segment("ERR")
			if !ok || strings.TrimRight(string(errSeg.Field(2).Raw()), "^") != tt.loc || ack.Get("ERR-3.1") != tt.code || !strings.Contains(ack.Get("ERR-3.2"), tt.reason) ||
				ack.Get("ERR-4") != "E" || ack.Get("MSA-1") != "AE" || ack.Get("MSA-3") != "rejected" {
				t.Errorf("ACK with error: %q, want ERR-2 %q", out, tt.loc)
			}
		})
	}
}
