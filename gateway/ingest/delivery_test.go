package ingest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shch/fhirgw/gateway/store"
)

// TestControlIDReused: a different message under a control id the sender already
// used is AE (ERR-3 205 at MSH-10) and waits in the error queue, while a true resend
// (other segment terminators, a fresh MSH-7) is acknowledged AA and applies nothing.
func TestControlIDReused(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			first := hospitalADT("A08", "R1", "20240301093000", "")
			out := e.process(first)
			e.ack(out.ACK, "AA")
			pid := produced(e.message(out.MessageID), "Patient")[0]
			v := e.read("Patient", pid).Version

			resend := strings.ReplaceAll(strings.Replace(first, "|20240301093000||ADT", "|20240301093500||ADT", 1), "\r", "\r\n")
			out = e.process(resend)
			e.ack(out.ACK, "AA")
			if m := e.message(out.MessageID); m.Status != store.MessageDuplicate {
				t.Errorf("resend stored %q %q, want duplicate", m.Status, m.Reason)
			}

			other := strings.Replace(first, "13800138000", "13900000000", 1)
			out = e.process(other)
			ack := e.ack(out.ACK, "AE")
			if ack.Get("ERR-3.1") != "205" || rawField(ack, "ERR", 2) != "MSH^1^10" {
				t.Errorf("ACK of a reused control id = %q", out.ACK)
			}
			m := e.message(out.MessageID)
			if m.Status != store.MessageError || !strings.Contains(m.Reason, "control id R1 was already used") || len(m.Resources) != 0 {
				t.Errorf("reused control id stored %q %q %v", m.Status, m.Reason, m.Resources)
			}
			if p := e.read("Patient", pid); p.Version != v || bytes.Contains(p.Body, []byte("13900000000")) {
				t.Errorf("the message with a reused control id changed the Patient: version %d", p.Version)
			}
		})
	}
}

func TestSameMessage(t *testing.T) {
	msg := "MSH|^~\\&|A|B|C|D|20240301093000||ADT^A08|R1|P|2.5\rPID|1||M1\r"
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"identical", msg, msg, true},
		{"LF terminators, no final one", msg, strings.TrimSuffix(strings.ReplaceAll(msg, "\r", "\n"), "\n"), true},
		{"BOM", msg, "\xEF\xBB\xBF" + msg, true},
		{"MSH-7 stamped afresh", msg, strings.Replace(msg, "20240301093000", "20240301093500", 1), true},
		{"other MSH field", msg, strings.Replace(msg, "|P|2.5", "|T|2.5", 1), false},
		{"other PID", msg, strings.Replace(msg, "M1", "M2", 1), false},
		{"extra segment", msg, msg + "PV1|1|O\r", false},
		{"other separator", "MSH#^~\\&#A#B#C#D#1##ADT^A08#R1#P#2.5\r", "MSH#^~\\&#A#B#C#D#2##ADT^A08#R1#P#2.5\r", true},
		{"short MSH", "MSH|^~\\&|A\r", "MSH|^~\\&|B\r", false},
		{"empty", "", "", true},
	}
	for _, tt := range tests {
		if got := sameMessage([]byte(tt.a), []byte(tt.b)); got != tt.want {
			t.Errorf("%s: sameMessage = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestReplayKeepsApplied: a replay of an applied message that now fails (here: its
// version is no longer accepted) neither takes its status nor its resource links.
func TestReplayKeepsApplied(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{AcceptVersions: []string{"2.4", "2.5", "2.5.1"}})
			out := e.process(hospitalADT("A08", "K1", "20240301093000", ""))
			e.ack(out.ACK, "AA")
			before := e.message(out.MessageID)
			// The configuration changes: version 2.4 is no longer accepted.
			e.p.versions = map[string]bool{"2.5": true, "2.5.1": true}
			r, err := e.p.Replay(e.ctx, out.MessageID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != store.MessageApplied || r.AppCode != "AR" || !strings.Contains(r.Reason, "replay failed, the message stays applied") {
				t.Errorf("replay = %+v", r)
			}
			after := e.message(out.MessageID)
			if after.Status != store.MessageApplied || len(after.Resources) != len(before.Resources) || after.Attempts != before.Attempts {
				t.Errorf("after a failed replay: %q %v attempts %d, want as before: %q %v attempts %d",
					after.Status, after.Resources, after.Attempts, before.Status, before.Resources, before.Attempts)
			}
			// And, the configuration put back, a resend is still recognised as one.
			e.p.versions["2.4"] = true
			out = e.process(hospitalADT("A08", "K1", "20240301093000", ""))
			if m := e.message(out.MessageID); m.Status != store.MessageDuplicate {
				t.Errorf("resend after the failed replay stored %q", m.Status)
			}
		})
	}
}

// TestReplayCharset: a message whose transport named its charset (HTTP charset=, a
// file ingested with --charset) is read the same way when replayed.
func TestReplayCharset(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			// GB18030 bytes while MSH-18 says UTF-8: only the transport's charset reads them.
			raw := toGB18030(t, strings.Replace(hospitalADT("A08", "C1", "20240301093000", ""), "|2.4\r", "|2.4||||||UNICODE UTF-8\r", 1))
			out := e.p.Process(e.ctx, Inbound{Channel: "http", Raw: raw, Charset: "GB18030"})
			e.ack(out.ACK, "AA")
			if m := e.message(out.MessageID); m.Charset != "GB18030" {
				t.Errorf("stored charset %q", m.Charset)
			}
			// A replay reads it as it arrived: acknowledged again, not refused as
			// invalid UTF-8.
			r, err := e.p.Replay(e.ctx, out.MessageID)
			if err != nil || r.AppCode != "AA" {
				t.Fatalf("replay = %+v, %v", r, err)
			}
			// Without the stored charset the same bytes are refused.
			out = e.p.Process(e.ctx, Inbound{Channel: "http", Raw: bytes.Replace(raw, []byte("|C1|"), []byte("|C2|"), 1)})
			if out.AppCode != "AE" {
				t.Errorf("GB18030 bytes labelled UTF-8 without a charset: %s", out.AppCode)
			}
			id := out.MessageID
			r, err = e.p.Replay(e.ctx, id)
			if err != nil || r.AppCode != "AE" {
				t.Errorf("replay of the message received without a charset = %+v, %v", r, err)
			}
		})
	}
}

// TestApplyFailureLocation: when the store refuses a resource, ERR-2 names the
// segment it was mapped from and ERR-3 says it is bad data (102), not an internal
// error.
func TestApplyFailureLocation(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			// \X07\ is BEL: a FHIR string cannot hold it.
			bad := strings.Replace(kioskORU("L1", cardLi), "OBX|2|NM|8462-4^Diastolic blood pressure^LN||85|", "OBX|2|ST|8462-4^Diastolic blood pressure^LN||high\\X07\\|", 1)
			out := e.process(bad)
			ack := e.ack(out.ACK, "AE")
			if ack.Get("ERR-3.1") != "102" || rawField(ack, "ERR", 2) != "OBX^2" {
				t.Errorf("ACK = %q, want ERR-2 OBX^2 and ERR-3 102", out.ACK)
			}
			if m := e.message(out.MessageID); m.Status != store.MessageError || !strings.HasPrefix(m.Reason, "cannot apply: FHIR") {
				t.Errorf("stored %q %q", m.Status, m.Reason)
			}
		})
	}
}

// TestACKText: MSA-3 only on a negative ACK (not on AA, not on an enhanced-mode CA
// whose application ACK is AE), and MSH-9 without a message structure before v2.3.1.
func TestACKText(t *testing.T) {
	e := newEnv(t, "sqlite", Config{AcceptVersions: []string{"2.3", "2.3.1", "2.4", "2.5"}})
	segment := func(ack []byte, id string) string {
		for _, s := range strings.Split(string(ack), "\r") {
			if strings.HasPrefix(s, id+"|") {
				return s
			}
		}
		return ""
	}
	out := e.process(hospitalADT("A08", "T1", "20240301093000", ""))
	if got := segment(out.ACK, "MSA"); got != "MSA|AA|T1" {
		t.Errorf("AA: %q", got)
	}
	noPID := "MSH|^~\\&|HIS|SQ-CHC-01|FHIRGW|SHCH|20240301093000||ADT^A08|T2|P|2.5|||AL|AL\rEVN|A08|20240301093000\r"
	out = e.process(noPID)
	if got := segment(out.ACK, "MSA"); got != "MSA|CA|T2" {
		t.Errorf("CA of a message the application refuses: %q", got)
	}
	if got := segment(out.AppACK, "MSA"); !strings.HasPrefix(got, "MSA|AE|T2|") || len(got) <= len("MSA|AE|T2|") {
		t.Errorf("application ACK: %q, want AE with a text", got)
	}
	for _, tt := range []struct{ version, msh9 string }{
		{"2.3", "ACK^A08"}, {"2.3.1", "ACK^A08^ACK"}, {"2.5", "ACK^A08^ACK"},
	} {
		raw := strings.Replace(hospitalADT("A08", "V"+tt.version, "20240301093000", ""), "|P|2.4\r", "|P|"+tt.version+"\r", 1)
		ack := e.ack(e.process(raw).ACK, "AA")
		if got := rawField(ack, "MSH", 9); got != tt.msh9 {
			t.Errorf("v%s: MSH-9 %q, want %q", tt.version, got, tt.msh9)
		}
	}
}

// TestFutureEventTime: an event time more than a day after the message's arrival is
// taken as the arrival, so that it does not make every later update of its resources
// stale; one a few minutes ahead (a sender's clock) is kept.
func TestFutureEventTime(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			out := e.process(hospitalADT("A08", "F1", "20290801120000", ""))
			e.ack(out.ACK, "AA")
			m := e.message(out.MessageID)
			if !m.EventTime.Equal(m.Received) {
				t.Errorf("event time %v, want the arrival %v", m.EventTime, m.Received)
			}
			pid := produced(m, "Patient")[0]
			v := e.read("Patient", pid).Version
			// A day later, an update of that day, from a clock five minutes fast.
			e.now.Store(time.Date(2024, 6, 2, 10, 0, 0, 0, time.UTC).UnixMicro())
			out = e.process(strings.Replace(hospitalADT("A08", "F2", "20240602180500", ""), "13800138000", "13900000000", 1))
			m = e.message(out.MessageID)
			if strings.Contains(m.Reason, "stale") || e.read("Patient", pid).Version != v+1 {
				t.Errorf("the update after a future-dated message: %q, version %d", m.Reason, e.read("Patient", pid).Version)
			}
			if want := time.Date(2024, 6, 2, 10, 5, 0, 0, time.UTC); !m.EventTime.Equal(want) {
				t.Errorf("event time five minutes ahead = %v, want it kept (%v)", m.EventTime, want)
			}
		})
	}
}

func TestCharsetOfStored(t *testing.T) {
	p := New(nil, nil, Config{ChannelCharsets: map[string]string{"mllp": "GB18030"}})
	tests := []struct {
		m    store.Message
		want string
	}{
		{store.Message{Channel: "http", Charset: "GBK"}, "GBK"},
		{store.Message{Channel: "mllp", Charset: "UTF-8"}, "UTF-8"},
		{store.Message{Channel: "mllp"}, "GB18030"},
		{store.Message{Channel: "http"}, ""},
	}
	for _, tt := range tests {
		if got := p.Charset(tt.m); got != tt.want {
			t.Errorf("Charset(%s, %q) = %q, want %q", tt.m.Channel, tt.m.Charset, got, tt.want)
		}
	}
}
