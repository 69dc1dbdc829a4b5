package v2fhir

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// siuCN builds a hypertension follow-up booking at a community health
// centre for the given trigger, with SCH-6 (event reason) and the timing
// either in TQ1 or, for old senders, in SCH-11.
func siuCN(trigger, reason string, tq1 bool) string {
	sch11 := ""
	if !tq1 {
		sch11 = "^^^20240310083000^20240310084500"
	}
	msg := "MSH|^~\\&|HIS|SQ-CHC-01|FHIRGW|SHCH|20240301093000||SIU^" + trigger + "^SIU_S12|SIU-" + trigger + "|P|2.5.1||||||UNICODE UTF-8\r" +
		"SCH|APT-P-1^HIS|APT-F-1^SQ-CHC-01|||||" + reason + "|HTN^慢病随访^L|||" + sch11 + "\r"
	if tq1 {
		msg += "TQ1|||||||20240310083000|20240310084500\r"
	}
	return msg + "NTE|1||请空腹前来测血糖\r" +
		"PID|1||MRN0012345^^^SQ-CHC-01^MR||欧阳^娜娜||19560704|2\r" +
		"RGS|1|A\r" +
		"AIS|1|A|GP^全科门诊^L|20240310083000|||15|min\r" +
		"AIL|1|A|全科诊室^3^^SQ-CHC-01|C^Clinic^HL70305||20240310083000||||||Booked\r" +
		"AIP|1|A|D001^李^建国|GP^全科医生^L||20240310083000||||||Booked\r"
}

func appointment(t *testing.T, r *Result) *fhir.Appointment {
	t.Helper()
	as := r.Find("Appointment")
	if len(as) != 1 {
		t.Fatalf("got %d Appointments", len(as))
	}
	return as[0].Resource.(*fhir.Appointment)
}

func TestSIU(t *testing.T) {
	wantID := makeID("Appointment", "FILL", "urn:fhirgw:v2:id:SQ-CHC-01", "APT-F-1")
	tests := []struct {
		trigger, reason string
		tq1             bool
		status, cancel  string
	}{
		{"S12", "FU^高血压随访^L", true, "booked", ""},
		{"S13", "FU^高血压随访^L", false, "booked", ""},
		{"S14", "", true, "booked", ""},
		{"S15", "", true, "cancelled", ""},
	}
	for _, tt := range tests {
		t.Run(tt.trigger, func(t *testing.T) {
			msg := siuCN(tt.trigger, tt.reason, tt.tq1)
			if tt.trigger == "S15" {
				// SCH-6 event reason is why it was cancelled.
				msg = strings.Replace(msg, "|APT-F-1^SQ-CHC-01||||", "|APT-F-1^SQ-CHC-01||||PAT^患者要求取消^L|", 1)
				msg = strings.ReplaceAll(msg, "|Booked\r", "|Cancelled\r")
			}
			r := mustMap(t, parse(t, msg), Config{})
			a := appointment(t, r)
			p := patientOf(t, r)
			if *a.Id != wantID {
				t.Errorf("id %s, want %s (same for every event)", *a.Id, wantID)
			}
			if a.Status.Code() != tt.status {
				t.Errorf("status %s, want %s", a.Status, tt.status)
			}
			if value(a.Start) != "2024-03-10T08:30:00+08:00" || value(a.End) != "2024-03-10T08:45:00+08:00" {
				t.Errorf("start %s end %s", value(a.Start), value(a.End))
			}
			if ids := a.Identifier; len(ids) != 2 || value(ids[0].Value) != "APT-P-1" || value(ids[0].Type.Coding[0].Code) != "PLAC" || value(ids[1].Value) != "APT-F-1" || value(ids[1].Type.Coding[0].Code) != "FILL" {
				t.Errorf("identifiers %+v", ids)
			}
			if (len(a.ReasonCode) == 1 && value(a.ReasonCode[0].Coding[0].Display) == "高血压随访") != (tt.reason != "") {
				t.Errorf("reasonCode %+v for SCH-7 %q", a.ReasonCode, tt.reason)
			}
			if len(a.ServiceType) != 1 || value(a.ServiceType[0].Coding[0].Code) != "GP" || value(a.ServiceType[0].Coding[0].Display) != "全科门诊" {
				t.Errorf("serviceType %+v", a.ServiceType)
			}
			if value(a.Comment) != "请空腹前来测血糖" {
				t.Errorf("comment %q", value(a.Comment))
			}
			if (a.CancelationReason != nil) != (tt.trigger == "S15") || tt.trigger == "S15" && value(a.CancelationReason.Coding[0].Code) != "PAT" {
				t.Errorf("cancelationReason %+v", a.CancelationReason)
			}
			pt := a.Participant
			if len(pt) != 3 {
				t.Fatalf("participants %+v", pt)
			}
			other := "accepted"
			if tt.trigger == "S15" {
				other = "declined"
			}
			got := []string{
				value(pt[0].Actor.Reference) + " " + pt[0].Status.Code(),
				value(pt[1].Actor.Display) + " " + pt[1].Status.Code() + " " + value(pt[1].Type[0].Coding[0].Display),
				value(pt[2].Actor.Display) + " " + pt[2].Status.Code(),
			}
			want := []string{"Patient/" + *p.Id + " accepted", "李建国 " + other + " 全科医生", "SQ-CHC-01 全科诊室 3 " + other}
			if !slices.Equal(got, want) {
				t.Errorf("participants %q, want %q", got, want)
			}
			if !strings.HasPrefix(value(pt[1].Actor.Reference), "Practitioner/") || len(r.Find("Practitioner")) != 1 {
				t.Errorf("practitioner not mapped: %+v", pt[1].Actor)
			}
			if value(p.Name[0].Family) != "欧阳" || value(p.Name[0].Text) != "欧阳娜娜" {
				t.Errorf("patient name %+v", p.Name)
			}
			again := mustMap(t, parse(t, msg), Config{})
			if !bytes.Equal(r.Bundle(), again.Bundle()) {
				t.Errorf("mapping twice differs")
			}
		})
	}
}

func TestSIUErrors(t *testing.T) {
	for _, msg := range []string{
		"MSH|^~\\&|HIS|F|||20240101||SIU^S12|1|P|2.5.1\rPID|1||M1^^^H\r",                // no SCH
		"MSH|^~\\&|HIS|F|||20240101||SIU^S12|1|P|2.5.1\rSCH||||||||||\rPID|1||M1^^^H\r", // no ids
		"MSH|^~\\&|HIS|F|||20240101||SIU^S12|1|P|2.5.1\rSCH|A1\r",                       // no PID
	} {
		if _, err := Map(parse(t, msg), Config{}); err == nil {
			t.Errorf("no error for %q", msg)
		}
	}
	// S16-S26 are not mapped (yet).
	if _, err := Map(parse(t, "MSH|^~\\&|HIS|F|||20240101||SIU^S17|1|P|2.5.1\rSCH|A1\rPID|1||M1\r"), Config{}); err == nil {
		t.Errorf("SIU^S17 mapped")
	}
	// Half a slot is dropped with a warning (app-2: start and end together).
	r := mustMap(t, parse(t, "MSH|^~\\&|HIS|F|||20240101||SIU^S12|1|P|2.5.1\rSCH|A1\rTQ1|||||||20240310083000\rPID|1||M1^^^H\r"), Config{})
	if a := appointment(t, r); value(a.Start) != "" || value(a.End) != "" || !hasWarning(r, "APPOINTMENT_TIME") {
		t.Errorf("start %q end %q warnings %+v", value(a.Start), value(a.End), r.Warnings)
	}
}

// vxuSIUSeeds are added to FuzzMap's seed corpus.
var vxuSIUSeeds = []string{vxuCN, vxuRefused, siuCN("S12", "FU^随访^L", true), siuCN("S15", "", false)}

// TestCorpusVXUSIU compares the Immunizations and Appointments of the
// corpus VXU and SIU messages with FHIR-Converter's on the key fields.
func TestCorpusVXUSIU(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "messages", "*.hl7"))
	compared := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := mapBytes(data, corpusConfig)
		if err != nil || res.MessageType != "VXU^V04" && !strings.HasPrefix(res.MessageType, "SIU") {
			continue
		}
		base := strings.TrimSuffix(filepath.Base(f), ".hl7")
		exp := loadExpected(t, strings.Replace(res.MessageType, "^", "_", 1), base)
		if exp == nil {
			continue
		}
		var c []check
		if res.MessageType == "VXU^V04" {
			compareList(base, "Immunization", ours(res, "Immunization"), byType(exp, "Immunization"), &c, compareImmunization)
		} else {
			compareList(base, "Appointment", ours(res, "Appointment"), byType(exp, "Appointment"), &c, compareAppointment)
		}
		for _, d := range c {
			t.Errorf("%s %s: got %s, FHIR-Converter has %s", d.file, d.field, d.got, d.want)
		}
		compared[res.MessageType]++
	}
	t.Logf("compared %v", compared)
	if compared["VXU^V04"] == 0 || compared["SIU^S12"] == 0 || compared["SIU^S15"] == 0 {
		t.Errorf("corpus VXU/SIU messages missing: %v", compared)
	}
}

func identifierValues(v any) []string {
	var out []string
	for _, i := range list(v) {
		out = append(out, str(i.(obj)["value"]))
	}
	slices.Sort(out)
	return out
}

func compareImmunization(where string, g, e obj, c *[]check) {
	diff := func(field string, got, want any) {
		*c = append(*c, check{where, field, fmt.Sprint(got), fmt.Sprint(want)})
	}
	for _, k := range []string{"status", "lotNumber", "expirationDate", "primarySource"} {
		if fmt.Sprint(g[k]) != fmt.Sprint(e[k]) {
			diff(k, g[k], e[k])
		}
	}
	if !sameInstant(str(g["occurrenceDateTime"]), str(e["occurrenceDateTime"])) {
		diff("occurrenceDateTime", g["occurrenceDateTime"], e["occurrenceDateTime"])
	}
	// Codes only: FHIR-Converter names local systems differently.
	for _, k := range []string{"vaccineCode", "route", "site"} {
		_, gc := firstCoding(orEmpty(g[k]))
		_, ec := firstCoding(orEmpty(e[k]))
		if gc != ec {
			diff(k, gc, ec)
		}
	}
	if a, b := identifierValues(g["identifier"]), identifierValues(e["identifier"]); !slices.Equal(a, b) {
		diff("identifier", a, b)
	}
	eq, _ := e["doseQuantity"].(obj)
	gq, _ := g["doseQuantity"].(obj)
	// RXA-6 999 is "unknown amount" in the CDC guide: we leave the dose out,
	// FHIR-Converter says 999.
	if eq != nil && fmt.Sprint(eq["value"]) != "999" && (gq == nil || fmt.Sprint(gq["value"]) != fmt.Sprint(eq["value"]) || gq["code"] != eq["code"]) {
		diff("doseQuantity", gq, eq)
	}
}

func compareAppointment(where string, g, e obj, c *[]check) {
	diff := func(field string, got, want any) {
		*c = append(*c, check{where, field, fmt.Sprint(got), fmt.Sprint(want)})
	}
	if g["status"] != e["status"] {
		diff("status", g["status"], e["status"])
	}
	for _, k := range []string{"start", "end"} {
		if !sameInstant(str(g[k]), str(e[k])) {
			diff(k, g[k], e[k])
		}
	}
	if a, b := identifierValues(g["identifier"]), identifierValues(e["identifier"]); !slices.Equal(a, b) {
		diff("identifier", a, b)
	}
	// The patient is always a participant, accepted.
	found := false
	for _, p := range list(g["participant"]) {
		p := p.(obj)
		ref := str(orEmpty(p["actor"])["reference"])
		found = found || strings.HasPrefix(ref, "Patient/") && p["status"] == "accepted"
	}
	if !found {
		diff("participant", g["participant"], "accepted patient")
	}
}

func orEmpty(v any) obj {
	if o, ok := v.(obj); ok {
		return o
	}
	return obj{}
}

// The patient's OBX of an SIU belong to that appointment: another booking of the
// same patient, with an observation of the same code and no time, is another
// Observation, not an overwrite of this one.
func TestSIUObservationPerAppointment(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(corpusDir, "messages", "SIU-S12-01.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	noTime := strings.Replace(string(data), "|F|||20210914|", "|F||||", 1)
	other := strings.Replace(strings.Replace(noTime, "SCH|12345|36996|", "SCH|12346|36997|", 1), "||72|beats/min", "||95|beats/min", 1)
	obs := func(msg string) (string, []string) {
		res := mustMap(t, parse(t, msg), Config{})
		ap := res.Find("Appointment")[0].Resource.(*fhir.Appointment)
		var sup []string
		for _, r := range ap.SupportingInformation {
			sup = append(sup, *r.Reference)
		}
		os := res.Find("Observation")
		if len(os) != 1 {
			t.Fatalf("%d Observations, want 1", len(os))
		}
		return os[0].ID, sup
	}
	a, supA := obs(noTime)
	b, _ := obs(other)
	if a == b {
		t.Errorf("two appointments' observations share the id %s", a)
	}
	if len(supA) != 1 || supA[0] != "Observation/"+a {
		t.Errorf("supportingInformation %v, want Observation/%s", supA, a)
	}
}
