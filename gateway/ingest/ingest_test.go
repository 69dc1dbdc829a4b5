package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/mappers/v2fhir"
)

const corpusDir = "../../testdata/hl7v2/messages"

type corpusMessage struct {
	name      string
	raw       []byte
	supported bool
}

// loadCorpus reads the HL7 v2 corpus. Its files are independent examples that reuse
// control ids (two dozen are MSG00001 from one sender), so each gets MSH-10 made
// unique from its file name: otherwise all but the first would rightly be duplicates.
func loadCorpus(t *testing.T) []corpusMessage {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.hl7"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", corpusDir, err)
	}
	var out []corpusMessage
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".hl7")
		raw = setControlID(t, raw, name)
		msg, err := hl7v2.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = v2fhir.Map(msg, v2fhir.Config{})
		out = append(out, corpusMessage{name: name, raw: raw, supported: !errors.Is(err, v2fhir.ErrUnsupported)})
	}
	return out
}

// rawField returns field n of the first seg segment as written (components and all).
func rawField(m *hl7v2.Message, seg string, n int) string {
	s, ok := m.Segment(seg)
	if !ok {
		return ""
	}
	return string(s.Field(n).Raw())
}

func setControlID(t *testing.T, raw []byte, id string) []byte {
	end := bytes.IndexAny(raw, "\r\n")
	fields := bytes.Split(raw[:end], []byte("|"))
	if len(fields) < 12 {
		t.Fatalf("short MSH: %q", raw[:end])
	}
	fields[9] = []byte(id)
	return append(bytes.Join(fields, []byte("|")), raw[end:]...)
}

// TestCorpus processes every corpus message: the types v2fhir maps are applied (AA)
// with their raw bytes kept; a resend of each is acknowledged AA and writes no new
// version of anything; the others are AE and wait in the error queue.
func TestCorpus(t *testing.T) {
	corpus := loadCorpus(t)
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			versions := map[string]int64{} // Type/id -> version after the first pass
			var applied, errored int
			for _, c := range corpus {
				out := e.p.Process(e.ctx, Inbound{Channel: "corpus", Raw: c.raw})
				m := e.message(out.MessageID)
				if !bytes.Equal(m.Raw, c.raw) {
					t.Errorf("%s: stored raw differs from what was received", c.name)
				}
				if m.ControlID != c.name || m.Type == "" {
					t.Errorf("%s: stored header sender=%q control=%q type=%q", c.name, m.Sender, m.ControlID, m.Type)
				}
				if out.Code == "CA" { // the message asks for enhanced mode
					e.ack(out.ACK, "CA")
					out.ACK = out.AppACK
				}
				if !c.supported {
					if out.AppCode != "AE" {
						t.Errorf("%s: %s/%s", c.name, out.Code, out.AppCode)
						continue
					}
					if out.ACK != nil {
						e.ack(out.ACK, "AE")
					}
					if out.Status != store.MessageError || m.Status != store.MessageError || !strings.HasPrefix(m.Reason, "unsupported message type") {
						t.Errorf("%s: status %q/%q reason %q, want error/unsupported", c.name, out.Status, m.Status, m.Reason)
					}
					errored++
					continue
				}
				if out.AppCode != "AA" {
					t.Errorf("%s: %s/%s %s", c.name, out.Code, out.AppCode, out.Reason)
					continue
				}
				if out.ACK != nil {
					if ack := e.ack(out.ACK, "AA"); ack.Get("MSA-2") != c.name {
						t.Errorf("%s: MSA-2 = %q", c.name, ack.Get("MSA-2"))
					}
				}
				if m.Status != store.MessageApplied || len(m.Resources) == 0 {
					t.Errorf("%s: status %q with %d resources, reason %q", c.name, m.Status, len(m.Resources), m.Reason)
				}
				applied++
				for _, r := range m.Resources {
					parts := strings.Split(r, "/")
					versions[parts[0]+"/"+parts[1]] = 0
				}
			}
			if applied < 25 || errored == 0 {
				t.Fatalf("applied %d, errored %d: corpus not what the test expects", applied, errored)
			}
			for k := range versions {
				typ, id, _ := strings.Cut(k, "/")
				versions[k] = e.read(typ, id).Version
			}
			hist := func() int {
				n, before := 0, int64(0)
				for {
					page, err := e.st.History(e.ctx, store.HistoryQuery{Count: 500, Before: before})
					if err != nil {
						t.Fatal(err)
					}
					n += len(page.Versions)
					if page.Next == 0 {
						return n
					}
					before = page.Next
				}
			}
			histBefore := hist()
			for _, c := range corpus {
				if !c.supported {
					continue
				}
				out := e.p.Process(e.ctx, Inbound{Channel: "corpus", Raw: c.raw})
				if out.AppCode != "AA" || out.Code != "AA" && out.Code != "CA" {
					t.Errorf("%s resent: %s/%s", c.name, out.Code, out.AppCode)
				}
				m := e.message(out.MessageID)
				if m.Status != store.MessageDuplicate || len(m.Resources) == 0 {
					t.Errorf("%s resent: status %q, %d resources", c.name, m.Status, len(m.Resources))
				}
			}
			for k, v := range versions {
				typ, id, _ := strings.Cut(k, "/")
				if got := e.read(typ, id).Version; got != v {
					t.Errorf("%s: version %d after resend, was %d", k, got, v)
				}
			}
			if h := hist(); h != histBefore {
				t.Errorf("history has %d versions after the resend, %d before", h, histBefore)
			}
			page, err := e.st.ListMessages(e.ctx, store.MessageQuery{Status: store.MessageError, Count: 200})
			if err != nil || len(page.Messages) != errored {
				t.Errorf("error queue holds %d messages (%v), want %d", len(page.Messages), err, errored)
			}
			t.Logf("%d applied, %d unsupported (AE), %d resources", applied, errored, len(versions))
		})
	}
}

// TestRejected covers the AR cases: nothing parses, a bad segment after a readable
// MSH, a version or processing id not accepted, no control id.
func TestRejected(t *testing.T) {
	good := hospitalADT("A04", "R1", "20240301093000", "")
	tests := []struct {
		name        string
		raw         string
		sender      string
		errLocation string // ERR-2
		errCode     string // ERR-3.1
	}{
		// ERR-2.2 is an occurrence among segments with the ID: the missing first MSH;
		// an invalid segment ID has none (its position is in the text).
		{"garbage", "this is not HL7 at all", "", "MSH^1", "100"},
		{"binary", "\x00\x01\x02MSH|", "", "MSH^1", "100"},
		{"bad segment", strings.Replace(good, "PV1|", "pv1|", 1), "HIS^SQ-CHC-01", "", "102"},
		{"version", strings.Replace(good, "|P|2.4", "|P|2.1", 1), "HIS^SQ-CHC-01", "MSH^1^12", "203"},
		{"processing id", strings.Replace(good, "|P|2.4", "|X|2.4", 1), "HIS^SQ-CHC-01", "MSH^1^11", "202"},
		{"no control id", strings.Replace(good, "|R1|", "||", 1), "HIS^SQ-CHC-01", "MSH^1^10", "101"},
	}
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			for _, tc := range tests {
				out := e.process(tc.raw)
				ack := e.ack(out.ACK, "AR")
				if got := rawField(ack, "ERR", 2); got != tc.errLocation {
					t.Errorf("%s: ERR-2 = %q, want %q", tc.name, got, tc.errLocation)
				}
				if got := ack.Get("ERR-3.1"); got != tc.errCode {
					t.Errorf("%s: ERR-3.1 = %q, want %q", tc.name, got, tc.errCode)
				}
				if ack.Get("ERR-4") != "E" || ack.Get("ERR-8") == "" {
					t.Errorf("%s: ERR = %q", tc.name, ack.Get("ERR"))
				}
				m := e.message(out.MessageID)
				if m.Status != store.MessageRejected || m.Reason == "" || m.Sender != tc.sender || string(m.Raw) != tc.raw {
					t.Errorf("%s: stored %q reason %q sender %q", tc.name, m.Status, m.Reason, m.Sender)
				}
				if strings.Contains(m.Reason, "张三") || strings.Contains(m.Reason, "MRN0012345") {
					t.Errorf("%s: reason carries patient data: %q", tc.name, m.Reason)
				}
			}
		})
	}
}

// TestPatientMatching: a kiosk message identified only by the ID card lands on the
// hospital's Patient; a message whose MRN names one Patient and ID card another is AE
// and waits until the conflict is resolved, then Replay applies it.
func TestPatientMatching(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			out := e.process(hospitalADT("A04", "H1", "20240301093000", "~"+cardZhang+"^^^身份证^NNCHN"))
			e.ack(out.ACK, "AA")
			hosp := produced(e.message(out.MessageID), "Patient")
			if len(hosp) != 1 {
				t.Fatalf("hospital message produced Patients %v", hosp)
			}

			out = e.process(kioskORU("K1", cardZhang))
			e.ack(out.ACK, "AA")
			km := e.message(out.MessageID)
			if ps := produced(km, "Patient"); len(ps) != 1 || ps[0] != hosp[0] {
				t.Fatalf("kiosk message wrote Patients %v, want the hospital's %s", ps, hosp[0])
			}
			obs := produced(km, "Observation")
			if len(obs) != 2 {
				t.Fatalf("kiosk Observations %v", obs)
			}
			for _, id := range obs {
				if body := e.read("Observation", id).Body; !bytes.Contains(body, []byte(`"Patient/`+hosp[0]+`"`)) {
					t.Errorf("Observation %s does not refer to the hospital Patient: %s", id, body)
				}
			}
			if ps := e.patientsWith(idCardSystem, cardZhang); len(ps) != 1 {
				t.Fatalf("%d Patients carry the ID card", len(ps))
			}
			p := e.read("Patient", hosp[0])
			ids := identifiers(t, p.Body)
			if len(ids) != 2 {
				t.Errorf("merged Patient identifiers %+v, want MRN and ID card once each", ids)
			}
			if !bytes.Contains(p.Body, []byte("科苑路")) {
				t.Errorf("the kiosk message wiped the hospital's address: %s", p.Body)
			}

			// Another kiosk patient, then a hospital update whose MRN is 张三's and ID
			// card is 李四's.
			out = e.process(kioskORU("K2", cardLi))
			e.ack(out.ACK, "AA")
			li := produced(e.message(out.MessageID), "Patient")
			if len(li) != 1 || li[0] == hosp[0] {
				t.Fatalf("second kiosk patient %v", li)
			}
			conflict := hospitalADT("A08", "H2", "20240303100000", "~"+cardLi+"^^^身份证^NNCHN")
			out = e.process(conflict)
			ack := e.ack(out.ACK, "AE")
			if ack.Get("ERR-3.1") != "205" || rawField(ack, "ERR", 2) != "PID^1^3" {
				t.Errorf("conflict ACK = %q", out.ACK)
			}
			m := e.message(out.MessageID)
			if m.Status != store.MessageError || m.Reason != "message matches 2 patients" || len(m.Resources) != 0 {
				t.Fatalf("conflict stored %q %q %v", m.Status, m.Reason, m.Resources)
			}
			if v := e.read("Patient", hosp[0]).Version; v != p.Version {
				t.Errorf("the failed message changed the Patient (version %d, was %d)", v, p.Version)
			}

			// Replay before the fix fails again, on the same row.
			r, err := e.p.Replay(e.ctx, m.ID)
			if err != nil || r.Code != "AE" || r.MessageID != m.ID {
				t.Fatalf("replay: %+v %v", r, err)
			}
			if m2 := e.message(m.ID); m2.Attempts != 2 || m2.Status != store.MessageError {
				t.Errorf("after replay: attempts %d status %q", m2.Attempts, m2.Status)
			}
			// The registrar finds that 李四's kiosk record was wrong and removes it.
			del := e.svc.Handle(e.ctx, &interaction.Request{Method: http.MethodDelete, Path: "Patient/" + li[0]})
			if del.Status >= 300 {
				t.Fatalf("delete: %d %s", del.Status, del.Body)
			}
			r, err = e.p.Replay(e.ctx, m.ID)
			if err != nil || r.Code != "AA" || r.MessageID != m.ID || r.Status != store.MessageApplied {
				t.Fatalf("replay after fix: %+v %v", r, err)
			}
			m3 := e.message(m.ID)
			if m3.Attempts != 3 || m3.Status != store.MessageApplied || m3.Reason != "" && !strings.HasPrefix(m3.Reason, "warnings") {
				t.Errorf("after replay: attempts %d status %q reason %q", m3.Attempts, m3.Status, m3.Reason)
			}
			if ps := produced(m3, "Patient"); len(ps) != 1 || ps[0] != hosp[0] {
				t.Errorf("replayed message wrote Patients %v", ps)
			}
			got := identifiers(t, e.read("Patient", hosp[0]).Body)
			if len(got) != 3 {
				t.Errorf("identifiers after replay %+v, want MRN and both cards", got)
			}
			// A third replay of an applied message only acknowledges it.
			v := e.read("Patient", hosp[0]).Version
			if r, err = e.p.Replay(e.ctx, m.ID); err != nil || r.Code != "AA" || e.read("Patient", hosp[0]).Version != v {
				t.Errorf("replay of an applied message: %+v %v", r, err)
			}
			if _, err := e.p.Replay(e.ctx, "no-such-message"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("replay of an unknown id: %v", err)
			}
		})
	}
}

// TestStale: an update older than what the Patient reflects is stored applied with a
// stale reason and does not overwrite the newer data.
func TestStale(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			newer := strings.Replace(hospitalADT("A08", "S2", "20240305120000", ""), "13800138000", "13900000000", 1)
			out := e.process(newer)
			e.ack(out.ACK, "AA")
			pid := produced(e.message(out.MessageID), "Patient")[0]
			v := e.read("Patient", pid).Version
			out = e.process(hospitalADT("A08", "S1", "20240301093000", ""))
			e.ack(out.ACK, "AA")
			m := e.message(out.MessageID)
			if m.Status != store.MessageApplied || !strings.Contains(m.Reason, "stale: older than Patient/"+pid) {
				t.Errorf("stale message stored %q %q", m.Status, m.Reason)
			}
			if ps := produced(m, "Patient"); len(ps) != 0 {
				t.Errorf("stale message wrote Patient %v", ps)
			}
			p := e.read("Patient", pid)
			if p.Version != v || !bytes.Contains(p.Body, []byte("13900000000")) {
				t.Errorf("stale message overwrote the Patient: version %d, %s", p.Version, p.Body)
			}
			// The same event time again is not stale.
			out = e.process(hospitalADT("A08", "S3", "20240305120000", ""))
			if m := e.message(out.MessageID); strings.Contains(m.Reason, "stale") || e.read("Patient", pid).Version != v+1 {
				t.Errorf("equal event time: %q, version %d", m.Reason, e.read("Patient", pid).Version)
			}
		})
	}
}

// TestUnsupported: an MDM is AE and stored; Replay keeps it in the queue
// with one more attempt.
func TestUnsupported(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(corpusDir, "MDM-T02-01.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			out := e.process(string(raw))
			ack := e.ack(out.ACK, "AE")
			if ack.Get("ERR-3.1") != "200" || rawField(ack, "ERR", 2) != "MSH^1^9" {
				t.Errorf("ACK = %q", out.ACK)
			}
			m := e.message(out.MessageID)
			if m.Status != store.MessageError || m.Reason != "unsupported message type MDM^T02" || m.Type != "MDM^T02" {
				t.Errorf("stored %q %q %q", m.Status, m.Reason, m.Type)
			}
			r, err := e.p.Replay(e.ctx, m.ID)
			if err != nil || r.Code != "AE" {
				t.Fatalf("replay: %+v %v", r, err)
			}
			if m := e.message(m.ID); m.Attempts != 2 || m.Status != store.MessageError || !bytes.Equal(m.Raw, raw) {
				t.Errorf("after replay: attempts %d status %q", m.Attempts, m.Status)
			}
		})
	}
}

// toGB18030 re-encodes the UTF-8 message er7 in GB18030.
func toGB18030(t *testing.T, er7 string) []byte {
	t.Helper()
	m, err := hl7v2.Parse([]byte(er7), hl7v2.WithCharset("UTF-8"))
	if err != nil {
		t.Fatal(err)
	}
	gb, err := m.EncodeCharset("GB18030")
	if err != nil {
		t.Fatal(err)
	}
	return gb
}

// TestGB18030: a GB18030 message (labelled, and unlabelled on a channel configured
// for it) is applied with its Chinese text intact, stored as received, and answered
// in GB18030.
func TestGB18030(t *testing.T) {
	utf := hospitalADT("A04", "G1", "20240301093000", "~"+cardZhang+"^^^身份证^NNCHN")
	utf = strings.Replace(utf, "|P|2.4\r", "|P|2.4||||||GB 18030-2000\r", 1)
	gb := toGB18030(t, utf)
	unlabelled := bytes.Replace(bytes.Replace(gb, []byte("GB 18030-2000"), nil, 1), []byte("|G1|"), []byte("|G2|"), 1)
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			for _, in := range []Inbound{
				{Channel: "mllp", Raw: gb},
				{Channel: "mllp-gbk", Raw: unlabelled, Charset: "GBK"},
			} {
				out := e.p.Process(e.ctx, in)
				if out.Code != "AA" {
					t.Fatalf("%s: %+v", in.Channel, out)
				}
				ack, err := hl7v2.Parse(out.ACK, hl7v2.WithCharset("GB18030"))
				if err != nil || ack.Get("MSA-1") != "AA" || ack.Get("MSH-5") != "HIS" {
					t.Fatalf("ACK %q: %v", out.ACK, err)
				}
				rec := e.message(out.MessageID)
				if !bytes.Equal(rec.Raw, in.Raw) {
					t.Errorf("stored raw differs")
				}
				pid := produced(rec, "Patient")[0]
				body := e.read("Patient", pid).Body
				if !bytes.Contains(body, []byte("张三")) || !bytes.Contains(body, []byte("科苑路88弄")) {
					t.Errorf("Chinese text lost: %s", body)
				}
			}
		})
	}
}

// TestMislabelledCharset: GB18030 bytes under MSH-18 "UNICODE UTF-8" would store
// U+FFFD for every Chinese character; the message is answered AE pointing at MSH-18
// and waits in the error queue, and nothing is applied.
func TestMislabelledCharset(t *testing.T) {
	utf := hospitalADT("A04", "L1", "20240301093000", "~"+cardZhang+"^^^身份证^NNCHN")
	gb := toGB18030(t, utf)
	gb = bytes.Replace(gb, []byte("|P|2.4\r"), []byte("|P|2.4||||||UNICODE UTF-8\r"), 1)
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			out := e.p.Process(e.ctx, Inbound{Channel: "mllp", Raw: gb})
			if out.Code != "AE" || out.Status != store.MessageError {
				t.Fatalf("outcome %+v, want AE and the error queue", out)
			}
			ack, err := hl7v2.Parse(out.ACK)
			if err != nil || ack.Get("ERR-2.1") != "MSH" || ack.Get("ERR-2.3") != "18" || ack.Get("ERR-3.1") != "102" {
				t.Errorf("ERR of %q: %v", out.ACK, err)
			}
			if rec := e.message(out.MessageID); len(rec.Resources) != 0 || !bytes.Equal(rec.Raw, gb) {
				t.Errorf("stored %d resources / raw changed", len(rec.Resources))
			}
		})
	}
}

// TestEnhancedMode checks the commit and application acknowledgments MSH-15 and
// MSH-16 ask for.
func TestEnhancedMode(t *testing.T) {
	withAck := func(raw, accept, app string) string {
		return strings.Replace(raw, "|P|2.4\r", "|P|2.4|||"+accept+"|"+app+"\r", 1)
	}
	tests := []struct {
		name, raw       string
		code, appCode   string
		skip, appWanted bool
	}{
		{"AL AL success", withAck(hospitalADT("A04", "E1", "20240301093000", ""), "AL", "AL"), "CA", "AA", false, true},
		{"AL NE success", withAck(hospitalADT("A04", "E2", "20240301093000", ""), "AL", "NE"), "CA", "AA", false, false},
		{"NE ER success", withAck(hospitalADT("A04", "E3", "20240301093000", ""), "NE", "ER"), "CA", "AA", true, false},
		{"ER SU success", withAck(hospitalADT("A04", "E4", "20240301093000", ""), "ER", "SU"), "CA", "AA", true, true},
		{"AL ER app error", withAck(strings.Replace(hospitalADT("A04", "E5", "20240301093000", ""), "ADT^A04^ADT_A01", "MDM^T02", 1), "AL", "ER"), "CA", "AE", false, true},
		{"AL AL rejected", strings.Replace(withAck(hospitalADT("A04", "E6", "20240301093000", ""), "AL", "AL"), "|P|2.4", "|P|2.1", 1), "CR", "AR", false, false},
		{"SU AL rejected", strings.Replace(withAck(hospitalADT("A04", "E7", "20240301093000", ""), "SU", "AL"), "|P|2.4", "|Q|2.4", 1), "CR", "AR", true, false},
		{"AL only", withAck(hospitalADT("A04", "E8", "20240301093000", ""), "AL", ""), "CA", "AA", false, true},
	}
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			for _, tc := range tests {
				out := e.process(tc.raw)
				if out.Code != tc.code || out.AppCode != tc.appCode || out.SkipACK != tc.skip || (out.AppACK != nil) != tc.appWanted {
					t.Errorf("%s: code %s app %s skip %v appACK %v", tc.name, out.Code, out.AppCode, out.SkipACK, out.AppACK != nil)
					continue
				}
				ack := e.ack(out.ACK, tc.code)
				if tc.code == "CR" && ack.Get("ERR-4") != "E" {
					t.Errorf("%s: CR without ERR", tc.name)
				}
				if out.AppACK != nil {
					app := e.ack(out.AppACK, tc.appCode)
					if app.ControlID() == ack.ControlID() || app.Get("MSA-2") != ack.Get("MSA-2") || app.Get("MSH-15") != "NE" {
						t.Errorf("%s: application ACK %q", tc.name, out.AppACK)
					}
					if tc.appCode == "AE" && app.Get("ERR-3.1") != "200" {
						t.Errorf("%s: application ACK ERR %q", tc.name, app.Get("ERR"))
					}
				}
			}
		})
	}
}

// TestACK checks the acknowledgment's header, and that mapping warnings (a wrong ID
// card check character) come back as ERR segments of severity W on an AA.
func TestACK(t *testing.T) {
	e := newEnv(t, "sqlite", Config{})
	raw := hospitalADT("A04", "A1", "20240301093000", "~110105194912310021^^^身份证^NNCHN")
	out := e.process(raw)
	ack := e.ack(out.ACK, "AA")
	checks := map[string]string{
		"MSH-3": "FHIRGW", "MSH-4": "SHCH", "MSH-5": "HIS", "MSH-6": "SQ-CHC-01",
		"MSH-9": "ACK", "MSH-9.2": "A04", "MSH-11": "P", "MSH-12": "2.4", "MSA-2": "A1",
		"ERR-4": "W", "ERR-3.1": "0", "ERR-2.1": "PID", "ERR-2.2": "1", "ERR-2.3": "3", "ERR-5.1": "IDCARD_CHECK",
		"ERR-1.1": "PID", "ERR-1.3": "3",
	}
	for path, want := range checks {
		if got := ack.Get(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if id := ack.ControlID(); id == "" || id == "A1" {
		t.Errorf("ACK control id %q", id)
	}
	second := e.ack(e.process(strings.Replace(raw, "|A1|", "|A2|", 1)).ACK, "AA")
	if second.ControlID() == ack.ControlID() {
		t.Error("two ACKs share a control id")
	}
	m := e.message(out.MessageID)
	if !strings.Contains(m.Reason, "IDCARD_CHECK at PID-3") || strings.Contains(m.Reason, "110105") {
		t.Errorf("reason %q", m.Reason)
	}
}

// TestConcurrentCopies sends one message from four goroutines: it is applied once.
func TestConcurrentCopies(t *testing.T) {
	raw := hospitalADT("A04", "C1", "20240301093000", "~"+cardZhang+"^^^身份证^NNCHN")
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			outs := make([]Outcome, 4)
			var wg sync.WaitGroup
			for i := range outs {
				wg.Go(func() { outs[i] = e.process(raw) })
			}
			wg.Wait()
			count := map[string]int{}
			var pid string
			for _, o := range outs {
				e.ack(o.ACK, "AA")
				count[o.Status]++
				if o.Status == store.MessageApplied {
					pid = produced(e.message(o.MessageID), "Patient")[0]
				}
			}
			if count[store.MessageApplied] != 1 || count[store.MessageDuplicate] != 3 {
				t.Fatalf("statuses %v", count)
			}
			if v := e.read("Patient", pid).Version; v != 1 {
				t.Errorf("Patient version %d, want 1", v)
			}
			page, _ := e.st.ListMessages(e.ctx, store.MessageQuery{})
			if len(page.Messages) != 4 {
				t.Errorf("%d messages stored, want 4", len(page.Messages))
			}
		})
	}
}

// BenchmarkProcessADT applies a new patient's ADT^A04 per iteration.
func BenchmarkProcessADT(b *testing.B) {
	for _, kind := range storeKinds {
		b.Run(kind, func(b *testing.B) {
			e := newEnv(b, kind, Config{})
			i := 0
			for b.Loop() {
				i++
				raw := strings.Replace(hospitalADT("A04", fmt.Sprintf("B%d", i), "20240301093000", ""),
					"MRN0012345", fmt.Sprintf("MRN%07d", i), 1)
				if out := e.process(raw); out.Code != "AA" {
					b.Fatalf("%+v", out)
				}
			}
		})
	}
}
