package v2fhir

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// vxuCN is a community health centre hepatitis B dose for a child: local
// vaccine code with the CVX code as the alternate coding, a Chinese
// manufacturer, nurse and site, and an ID card. 䶮 (CJK Ext. A) takes four
// bytes in GB18030.
const vxuCN = "MSH|^~\\&|IIS|SQ-CHC-01|FHIRGW|SHCH|20240305101500+0800||VXU^V04^VXU_V04|VXU0001|P|2.5.1||||||GB 18030-2000\r" +
	"PID|1||MRN0099^^^SQ-CHC-01^MR~310115202301010018^^^身份证^NNCHN||王䶮||20230101|1|||张江路1号^^上海市^上海市^201203^CHN^H^^浦东新区\r" +
	"ORC|RE|P-778^SQ-CHC-01|F-9001^SQ-CHC-01|||||||N01^赵^护士\r" +
	"RXA|0|1|20240305100000+0800||HepB-10^乙肝疫苗(酿酒酵母)10μg^NIP-CN^45^Hep B, unspecified formulation^CVX|0.5|mL^mL^UCUM||00^新接种记录^NIP001|N01^赵^护士|^^^SQ-CHC-01||||B202311A|20251130|DLSW^大连汉信生物^MVX|||CP|A|20240305101000+0800\r" +
	"RXR|IM^肌内注射^HL70162|LA^左上臂^HL70163\r" +
	"OBX|1|CE|64994-7^Vaccine funding program eligibility^LN|1|V02^免疫规划^HL70064||||||F\r"

// vxuRefused is a parent's refusal of MMR with a reason (RXA-18), sent
// without ORC; and a second RXA refused with no reason.
const vxuRefused = "MSH|^~\\&|IIS|SQ-CHC-01|FHIRGW|SHCH|20240306090000||VXU^V04|VXU0002|P|2.5.1\r" +
	"PID|1||MRN0100^^^SQ-CHC-01^MR||李^小红||20220615|2\r" +
	"RXA|0|1|20240306||03^MMR^CVX|999||||||||||||00^家长拒绝^NIP002||RE\r" +
	"RXA|0|1|20240306||10^IPV^CVX|999||||||||||||||RE\r"

func immunizations(t *testing.T, r *Result) []*fhir.Immunization {
	t.Helper()
	var out []*fhir.Immunization
	for _, e := range r.Find("Immunization") {
		out = append(out, e.Resource.(*fhir.Immunization))
	}
	return out
}

func TestVXU(t *testing.T) {
	// The same message as UTF-8 and as the sender's GB18030 bytes must map
	// to the same Bundle.
	utf, err := hl7v2.Parse([]byte(vxuCN), hl7v2.WithCharset("UNICODE UTF-8"))
	if err != nil {
		t.Fatal(err)
	}
	gb, err := utf.EncodeCharset("GB 18030-2000")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(gb, []byte("王䶮")) {
		t.Fatal("EncodeCharset did not transcode")
	}
	rUTF := mustMap(t, utf, Config{})
	rGB := mustMap(t, parse(t, string(gb)), Config{})
	if !bytes.Equal(rUTF.Bundle(), rGB.Bundle()) {
		t.Errorf("GB18030 and UTF-8 bundles differ:\n%s\n%s", rUTF.Bundle(), rGB.Bundle())
	}

	p := patientOf(t, rUTF)
	if value(p.Name[0].Text) != "王䶮" {
		t.Errorf("patient name %+v", p.Name)
	}
	ims := immunizations(t, rUTF)
	if len(ims) != 1 {
		t.Fatalf("got %d Immunizations", len(ims))
	}
	im := ims[0]
	tests := []struct{ field, got, want string }{
		{"id", *im.Id, makeID("Immunization", "FILL", "urn:fhirgw:v2:id:SQ-CHC-01", "F-9001")},
		{"status", im.Status.Code(), "completed"},
		{"patient", value(im.Patient.Reference), "Patient/" + *p.Id},
		{"vaccineCode[0]", value(im.VaccineCode.Coding[0].System) + "|" + value(im.VaccineCode.Coding[0].Code) + "|" + value(im.VaccineCode.Coding[0].Display), "urn:fhirgw:v2:cs:NIP-CN|HepB-10|乙肝疫苗(酿酒酵母)10μg"},
		{"vaccineCode[1]", value(im.VaccineCode.Coding[1].System) + "|" + value(im.VaccineCode.Coding[1].Code), "http://hl7.org/fhir/sid/cvx|45"},
		{"occurrence", im.OccurrenceDateTime, "2024-03-05T10:00:00+08:00"},
		{"recorded", value(im.Recorded), "2024-03-05T10:10:00+08:00"},
		{"dose", string(*im.DoseQuantity.Value) + " " + value(im.DoseQuantity.Code), "0.5 mL"},
		{"lot", value(im.LotNumber), "B202311A"},
		{"expiration", value(im.ExpirationDate), "2025-11-30"},
		{"manufacturer", value(im.Manufacturer.Display) + "|" + value(im.Manufacturer.Identifier.System) + "|" + value(im.Manufacturer.Identifier.Value), "大连汉信生物|http://hl7.org/fhir/sid/mvx|DLSW"},
		{"route", value(im.Route.Coding[0].System) + "|" + value(im.Route.Coding[0].Code), "http://terminology.hl7.org/CodeSystem/v2-0162|IM"},
		{"site", value(im.Site.Coding[0].Display), "左上臂"},
		{"performer", value(im.Performer[0].Function.Coding[0].Code) + " " + value(im.Performer[0].Actor.Display), "AP 赵护士"},
		{"eligibility", value(im.ProgramEligibility[0].Coding[0].Code), "V02"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.field, tt.got, tt.want)
		}
	}
	if im.PrimarySource == nil || !*im.PrimarySource || im.ReportOrigin != nil {
		t.Errorf("primarySource %v reportOrigin %v, want a primary source", im.PrimarySource, im.ReportOrigin)
	}
	if im.StatusReason != nil {
		t.Errorf("completed dose has statusReason %+v", im.StatusReason)
	}
	if ids := im.Identifier; len(ids) != 2 || value(ids[0].Value) != "P-778" || value(ids[1].Value) != "F-9001" || value(ids[1].Type.Coding[0].Code) != "FILL" {
		t.Errorf("identifiers %+v", ids)
	}
}

func TestVXUStatus(t *testing.T) {
	r := mustMap(t, parse(t, vxuRefused), Config{})
	ims := immunizations(t, r)
	if len(ims) != 2 {
		t.Fatalf("got %d Immunizations", len(ims))
	}
	pid := *patientOf(t, r).Id
	for i, w := range []struct{ code, reason string }{{"03", "00"}, {"10", "PATOBJ"}} {
		im := ims[i]
		if im.Status.Code() != "not-done" || im.StatusReason == nil || value(im.StatusReason.Coding[0].Code) != w.reason {
			t.Errorf("RXA %d: status %s reason %+v, want not-done/%s", i, im.Status, im.StatusReason, w.reason)
		}
		// No ORC: the id comes from the patient, vaccine and date.
		if want := makeID("Immunization", pid, cvxSystem+"|"+w.code, "2024-03-06"); *im.Id != want {
			t.Errorf("RXA %d: id %s, want %s", i, *im.Id, want)
		}
		if im.DoseQuantity != nil {
			t.Errorf("RXA %d: 999 (unknown amount) became dose %+v", i, im.DoseQuantity)
		}
	}

	for _, tt := range []struct{ rxa20, rxa21, want string }{
		{"CP", "A", "completed"}, {"PA", "A", "completed"}, {"NA", "A", "not-done"},
		{"", "A", "completed"}, {"CP", "D", "entered-in-error"},
	} {
		msg := "MSH|^~\\&|IIS|F|||20240101||VXU^V04|1|P|2.5.1\rPID|1||M1^^^H\r" +
			"RXA|0|1|20240101||08^HepB^CVX|0.5|mL||01^Historical^NIP001|||||||||||" + tt.rxa20 + "|" + tt.rxa21 + "\r"
		im := immunizations(t, mustMap(t, parse(t, msg), Config{}))[0]
		if im.Status.Code() != tt.want {
			t.Errorf("RXA-20 %q RXA-21 %q: status %s, want %s", tt.rxa20, tt.rxa21, im.Status, tt.want)
		}
		if (im.StatusReason != nil) != (tt.want == "not-done") {
			t.Errorf("RXA-20 %q: statusReason %+v", tt.rxa20, im.StatusReason)
		}
		if im.PrimarySource == nil || *im.PrimarySource || im.ReportOrigin == nil {
			t.Errorf("historical record: primarySource %v reportOrigin %v", im.PrimarySource, im.ReportOrigin)
		}
	}
}

func TestVXUErrors(t *testing.T) {
	for _, msg := range []string{
		"MSH|^~\\&|IIS|F|||20240101||VXU^V04|1|P|2.5.1\rPID|1||M1^^^H\rORC|RE||F1\r",
		"MSH|^~\\&|IIS|F|||20240101||VXU^V04|1|P|2.5.1\rRXA|0|1|20240101||08^HepB^CVX\r",
	} {
		if _, err := Map(parse(t, msg), Config{}); err == nil {
			t.Errorf("no error for %q", strings.ReplaceAll(msg, "\r", "\n"))
		}
	}
	// A bad date and no vaccine code are warned about, not dropped.
	r := mustMap(t, parse(t, "MSH|^~\\&|IIS|F|||20240101||VXU^V04|1|P|2.5.1\rPID|1||M1^^^H\rRXA|0|1|20241301\r"), Config{})
	im := immunizations(t, r)[0]
	if im.OccurrenceString != "20241301" || value(im.VaccineCode.Coding[0].Code) != unknownCVX || !hasWarning(r, "DATETIME_INVALID") || !hasWarning(r, "VACCINE_MISSING") {
		t.Errorf("occurrence %q vaccine %+v warnings %+v", im.OccurrenceString, im.VaccineCode, r.Warnings)
	}
}

// TestVXUNotes: an NTE after the RXA (or RXR) annotates the Immunization; an
// OBX the Immunization does not take is an Observation, part of it (or of the
// patient, before any RXA), with the NTE after it as notes; an NTE after a
// funding OBX, which the Immunization takes, is the Immunization's.
func TestVXUNotes(t *testing.T) {
	msg := "MSH|^~\\&|IIS|SQ-CHC-01|FHIRGW|SHCH|20240305101500+0800||VXU^V04^VXU_V04|VXU0003|P|2.5.1\r" +
		"PID|1||MRN0099^^^SQ-CHC-01^MR||王小明||20230101|1\r" +
		"OBX|1|CWE|59784-9^Disease with presumed immunity^LN|1|38907003^水痘^SCT||||||F\r" +
		"NTE|1||家长口述曾患水痘\r" +
		"ORC|RE||F-9101^SQ-CHC-01\r" +
		"RXA|0|1|20240305100000+0800||HepB-10^乙肝疫苗^NIP-CN|0.5|mL||00^新接种记录^NIP001||||||B202311A||||CP\r" +
		"NTE|1||接种后留观30分钟无异常\r" +
		"RXR|IM^肌内注射^HL70162|LA^左上臂^HL70163\r" +
		"NTE|1||左上臂三角肌\r" +
		"OBX|1|CE|64994-7^Vaccine funding program eligibility^LN|1|V02^免疫规划^HL70064||||||F\r" +
		"NTE|1||免疫规划内疫苗\r" +
		"OBX|2|CE|69764-9^Document type^LN|2|253088698300012711120420^乙肝疫苗知情同意书^cdcgs1vis||||||F\r" +
		"NTE|1||已签署知情同意书\r" +
		"NTE|2||监护人：王建国\r"
	r := mustMap(t, parse(t, msg), Config{})
	ims := immunizations(t, r)
	if len(ims) != 1 {
		t.Fatalf("%d Immunizations", len(ims))
	}
	im := ims[0]
	obs := observations(r)
	if len(obs) != 2 {
		t.Fatalf("%d Observations, want the patient's and the VIS document's", len(obs))
	}
	tests := []struct {
		name   string
		notes  []fhir.Annotation
		want   []string
		partOf []fhir.Reference
	}{
		{"Immunization", im.Note, []string{"接种后留观30分钟无异常", "左上臂三角肌", "免疫规划内疫苗"}, nil},
		{"patient Observation", obs[0].Note, []string{"家长口述曾患水痘"}, nil},
		{"Observation about the dose", obs[1].Note, []string{"已签署知情同意书", "监护人：王建国"}, []fhir.Reference{*ref("Immunization", *im.Id)}},
	}
	for i, tt := range tests {
		if got := noteTexts(tt.notes); !slices.Equal(got, tt.want) {
			t.Errorf("%s notes = %q, want %q", tt.name, got, tt.want)
		}
		if i == 0 {
			continue
		}
		o := obs[i-1]
		var got, want []string
		for _, p := range o.PartOf {
			got = append(got, value(p.Reference))
		}
		for _, p := range tt.partOf {
			want = append(want, value(p.Reference))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s partOf = %v, want %v", tt.name, got, want)
		}
	}
	if len(im.ProgramEligibility) != 1 || value(im.ProgramEligibility[0].Coding[0].Code) != "V02" {
		t.Errorf("programEligibility %+v", im.ProgramEligibility)
	}
}
