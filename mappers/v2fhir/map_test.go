package v2fhir

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// adtA04CN is a community health centre registration: the whole name in
// XPN.1, the ID card in PID-3 under its own authority, sex as GB/T 2261.1.
const adtA04CN = "MSH|^~\\&|HIS|SQ-CHC-01|FHIRGW|SHCH|20240301093000||ADT^A04^ADT_A01|MSG0001|P|2.4||||||GB 18030-2000\r" +
	"EVN|A04|20240301093000\r" +
	"PID|1||MRN0012345^^^SQ-CHC-01^MR~11010519491231002X^^^身份证^NNCHN||张三||19491231|1|||浦东新区张江镇^科苑路88弄3号201室^上海市^上海市^201203^CHN^H^^浦东新区||13800138000^PRN^CP\r" +
	"PV1|1|O|全科门诊||||D001^李医生|||||||||||V20240301001\r"

// oruKiosk is a kiosk measurement identified only by the ID card.
const oruKiosk = "MSH|^~\\&|KIOSK|HUT-0042|FHIRGW|SHCH|20240302081500+0800||ORU^R01^ORU_R01|K0042-77|P|2.5.1\r" +
	"PID|1||310101199001011234^^^身份证^NNCHN||李四||19900101|1\r" +
	"OBR|1||K0042-77-1|85354-9^Blood pressure panel^LN|||20240302081200+0800||||||||||||||||||F\r" +
	"OBX|1|NM|8480-6^Systolic blood pressure^LN||132|mm[Hg]^mm[Hg]^UCUM|90-139|N|||F|||20240302081200+0800\r" +
	"OBX|2|NM|8462-4^Diastolic blood pressure^LN||85|mmHg|60-89|N|||F|||20240302081200+0800\r" +
	"OBX|3|NM|14743-9^Glucose capillary^LN||6.1|mmol/L^^UCUM|3.9-6.1||||F|||20240302081300+0800\r"

func parse(t testing.TB, s string) *hl7v2.Message {
	t.Helper()
	m, err := hl7v2.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m
}

func mustMap(t testing.TB, m *hl7v2.Message, cfg Config) *Result {
	t.Helper()
	r, err := Map(m, cfg)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	return r
}

// code returns the code of an optional samply code, or "".
func code[T interface{ Code() string }](c *T) string {
	if c == nil {
		return ""
	}
	return (*c).Code()
}

func patientOf(t *testing.T, r *Result) *fhir.Patient {
	t.Helper()
	ps := r.Find("Patient")
	if len(ps) != 1 {
		t.Fatalf("got %d Patients", len(ps))
	}
	return ps[0].Resource.(*fhir.Patient)
}

func TestChineseADT(t *testing.T) {
	// The constant is UTF-8 text labelled GB 18030 in MSH-18; read it as
	// UTF-8 and write it out as the sender would, in GB18030. Without the
	// label the parser must fall back to GB18030 for non-UTF-8 bytes.
	utf, err := hl7v2.Parse([]byte(adtA04CN), hl7v2.WithCharset("UNICODE UTF-8"))
	if err != nil {
		t.Fatal(err)
	}
	gb, err := utf.EncodeCharset("GB 18030-2000")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(gb, []byte("张三")) {
		t.Fatal("EncodeCharset did not transcode")
	}
	unlabelled := bytes.Replace(gb, []byte("GB 18030-2000"), nil, 1)
	cfg := Config{Senders: map[string]Sender{"SQ-CHC-01": {IdentifierSystems: map[string]string{"SQ-CHC-01": "urn:oid:2.16.156.10011.1.2.310115"}}}}
	for name, msg := range map[string]*hl7v2.Message{"utf8": utf, "gb18030": parse(t, string(gb)), "unlabelled": parse(t, string(unlabelled))} {
		t.Run(name, func(t *testing.T) {
			r := mustMap(t, msg, cfg)
			p := patientOf(t, r)
			if len(p.Name) != 1 || value(p.Name[0].Text) != "张三" || value(p.Name[0].Family) != "" || p.Name[0].Given != nil {
				t.Errorf("name = %+v, want text 张三 only", p.Name)
			}
			if code(p.Gender) != "male" || value(p.BirthDate) != "1949-12-31" {
				t.Errorf("gender %q birthDate %q", p.Gender, value(p.BirthDate))
			}
			want := map[string]string{"urn:oid:2.16.156.10011.1.2.310115": "MRN0012345", IDCardSystemWST500: "11010519491231002X"}
			for _, id := range p.Identifier {
				if want[value(id.System)] == value(id.Value) {
					delete(want, value(id.System))
				}
			}
			if len(want) != 0 {
				t.Errorf("identifiers %+v missing %v", p.Identifier, want)
			}
			if a := p.Address; len(a) != 1 || value(a[0].City) != "上海市" || value(a[0].District) != "浦东新区" || value(a[0].PostalCode) != "201203" {
				t.Errorf("address = %+v", a)
			}
			// The card says female (even 17th digit) while PID-8 says 1.
			if !hasWarning(r, "IDCARD_SEX") || hasWarning(r, "IDCARD_CHECK") || hasWarning(r, "IDCARD_BIRTHDATE") {
				t.Errorf("warnings = %+v, want IDCARD_SEX only", r.Warnings)
			}
			if len(r.Find("Encounter")) != 1 {
				t.Errorf("no Encounter")
			}
		})
	}
}

func hasWarning(r *Result, code string) bool {
	for _, w := range r.Warnings {
		if w.Code == code {
			return true
		}
	}
	return false
}

func TestIDCardWarnings(t *testing.T) {
	tests := []struct {
		pid  string
		want []string
	}{
		{"PID|1||310101199001011234^^^身份证||王五||19900101|1", nil},
		{"PID|1||310101199001011235^^^身份证||王五||19900101|1", []string{"IDCARD_CHECK"}},
		{"PID|1||310101199001011234^^^身份证||王五||19900102|1", []string{"IDCARD_BIRTHDATE"}},
		{"PID|1||310101199001011234^^^身份证||王五||19900101|F", []string{"IDCARD_SEX"}},
		{"PID|1||MRN1^^^H||王五||19900101|1|||||||||||310101199001011235", []string{"IDCARD_CHECK"}},
		{"PID|1||31010119900101^^^身份证||王五||19900101|1", []string{"IDCARD_INVALID"}},
		// First-generation numbers (15 digits) in PID-19 and PID-3 are cards, with
		// their encoded birth date and sex checked.
		{"PID|1||MRN1^^^H||王五||19900101|1|||||||||||310101900101123", nil},
		{"PID|1||310101900101123^^^^NNCHN||王五||19900101|1", nil},
		{"PID|1||MRN1^^^H||王五||19900102|1|||||||||||310101900101123", []string{"IDCARD_BIRTHDATE"}},
		// A malformed number in PID-19 is still the card the sender meant: kept, reported.
		{"PID|1||MRN1^^^H||王五||19900101|1|||||||||||31010119900101123", []string{"IDCARD_INVALID"}},
	}
	for _, tt := range tests {
		r := mustMap(t, parse(t, "MSH|^~\\&|A|F|||20240101||ADT^A28|1|P|2.4\r"+tt.pid+"\r"), Config{})
		var got []string
		for _, w := range r.Warnings {
			got = append(got, w.Code)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: warnings %v, want %v", tt.pid, got, tt.want)
		}
		// A bad card is reported, never dropped.
		p := r.Find("Patient")[0].Resource.(*fhir.Patient)
		found := false
		for _, id := range p.Identifier {
			found = found || value(id.System) == IDCardSystemWST500
		}
		if !found {
			t.Errorf("%s: ID card identifier dropped: %+v", tt.pid, p.Identifier)
		}
		if strings.Contains(tt.pid, "310101900101123") {
			// Stored in its 18-character form, so that it matches the same person's
			// second-generation card from another sender.
			ok, old := false, false
			for _, id := range p.Identifier {
				ok = ok || value(id.System) == IDCardSystemWST500 && value(id.Value) == "310101199001011234"
				old = old || value(id.System) == IDCardSystemWST500 && value(id.Value) == "310101900101123" &&
					id.Use != nil && *id.Use == fhir.IdentifierUseOld
			}
			if !ok || !old {
				t.Errorf("%s: first-generation card not upgraded (%v) or not kept as sent (%v): %+v", tt.pid, ok, old, p.Identifier)
			}
		}
	}
}

func TestKioskORU(t *testing.T) {
	r := mustMap(t, parse(t, oruKiosk), Config{IDCardSystem: IDCardSystemHL7CN})
	p := patientOf(t, r)
	if len(p.Identifier) != 1 || value(p.Identifier[0].System) != IDCardSystemHL7CN || value(p.Identifier[0].Value) != "310101199001011234" {
		t.Fatalf("identifier = %+v", p.Identifier)
	}
	if *p.Id != makeID("Patient", IDCardSystemHL7CN, "310101199001011234") {
		t.Errorf("Patient id not derived from the ID card")
	}
	obs := r.Find("Observation")
	if len(obs) != 3 {
		t.Fatalf("got %d Observations", len(obs))
	}
	want := []struct{ code, value, unit, ucum, cat string }{
		{"8480-6", "132", "mm[Hg]", "mm[Hg]", "vital-signs"},
		{"8462-4", "85", "mmHg", "mm[Hg]", "vital-signs"},
		{"14743-9", "6.1", "mmol/L", "mmol/L", "laboratory"},
	}
	for i, w := range want {
		o := obs[i].Resource.(*fhir.Observation)
		q := o.ValueQuantity
		if value(o.Code.Coding[0].Code) != w.code || q == nil || q.Value == nil || string(*q.Value) != w.value || value(q.Unit) != w.unit || value(q.Code) != w.ucum || value(q.System) != "http://unitsofmeasure.org" {
			t.Errorf("obs %d = %+v %+v", i, o.Code, q)
		}
		if o.Status.Code() != "final" || value(o.EffectiveDateTime) == "" || value(o.Subject.Reference) != "Patient/"+*p.Id || value(o.Category[0].Coding[0].Code) != w.cat {
			t.Errorf("obs %d status %s effective %s subject %v category %v", i, o.Status, value(o.EffectiveDateTime), o.Subject, o.Category)
		}
		if rr := o.ReferenceRange; len(rr) != 1 || rr[0].Low == nil || rr[0].High == nil {
			t.Errorf("obs %d referenceRange %+v", i, rr)
		}
	}
	dr := r.Find("DiagnosticReport")
	if len(dr) != 1 || dr[0].Resource.(*fhir.DiagnosticReport).Status.Code() != "final" || len(dr[0].Resource.(*fhir.DiagnosticReport).Result) != 3 {
		t.Errorf("DiagnosticReport = %+v", dr)
	}
}

func TestOrderStatus(t *testing.T) {
	for _, tt := range []struct{ orc, want string }{
		{"ORC|NW|P1|||||||20240101120000|||D9^王^医生", "active"},
		{"ORC|CA|P1||||||||||D9", "revoked"},
		{"ORC|SC|P1|||CM", "completed"},
		{"ORC|XO|P1|||HD", "on-hold"},
	} {
		msg := "MSH|^~\\&|A|F|||20240101||ORM^O01|1|P|2.4\rPID|1||M1^^^H\r" + tt.orc + "\rOBR|1|P1||24725-4^CT Head^LN|S\r"
		sr := mustMap(t, parse(t, msg), Config{}).Find("ServiceRequest")
		if len(sr) != 1 {
			t.Fatalf("%s: %d ServiceRequests", tt.orc, len(sr))
		}
		s := sr[0].Resource.(*fhir.ServiceRequest)
		if s.Status.Code() != tt.want || s.Intent.Code() != "order" || s.Code == nil || value(s.Code.Coding[0].Code) != "24725-4" || (s.Requester == nil) == strings.Contains(tt.orc, "D9") || code(s.Priority) != "stat" {
			t.Errorf("%s: %+v", tt.orc, s)
		}
	}
}

func TestDeterministic(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "messages", "*.hl7"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		a, errA := mapBytes(data, corpusConfig)
		b, errB := mapBytes(data, corpusConfig)
		if (errA == nil) != (errB == nil) || errA == nil && !bytes.Equal(a.Bundle(), b.Bundle()) {
			t.Errorf("%s: mapping twice differs", filepath.Base(f))
		}
	}
	// Two messages about the same MRN give the same Patient id; a different
	// MRN another.
	ids := map[string]string{}
	for _, m := range []struct{ name, pid string }{
		{"a", "PID|1||MRN7^^^H||张三||19800101|1"},
		{"b", "PID|1||MRN7^^^H~310101199001011234^^^身份证||张三丰||19800101|1"},
		{"c", "PID|1||MRN8^^^H||张三||19800101|1"},
	} {
		r := mustMap(t, parse(t, "MSH|^~\\&|A|F|||20240101||ADT^A08|"+m.name+"|P|2.4\r"+m.pid+"\r"), Config{})
		ids[m.name] = r.Find("Patient")[0].ID
	}
	if ids["a"] != ids["b"] || ids["a"] == ids["c"] {
		t.Errorf("patient ids %v", ids)
	}
}

func mapBytes(data []byte, cfg Config) (*Result, error) {
	m, err := hl7v2.Parse(data)
	if err != nil {
		return nil, err
	}
	return Map(m, cfg)
}

func TestBundle(t *testing.T) {
	for _, cond := range []bool{false, true} {
		r := mustMap(t, parse(t, oruKiosk), Config{ConditionalPatient: cond})
		var b struct {
			Type  string
			Entry []struct {
				FullURL  string
				Resource map[string]any
				Request  struct{ Method, URL string }
			}
		}
		if err := json.Unmarshal(r.Bundle(), &b); err != nil {
			t.Fatal(err)
		}
		if b.Type != "transaction" || len(b.Entry) != len(r.Resources) {
			t.Fatalf("bundle type %s with %d entries for %d resources", b.Type, len(b.Entry), len(r.Resources))
		}
		for i, e := range b.Entry {
			res := r.Resources[i]
			wantURL := res.Type + "/" + res.ID
			if cond && res.Type == "Patient" {
				wantURL = "Patient?identifier=urn%3Aoid%3A2.16.156.10011.1.3%7C310101199001011234"
				if e.Resource["id"] != nil {
					t.Errorf("conditional Patient carries an id")
				}
			}
			if e.Request.Method != "PUT" || e.Request.URL != wantURL || e.FullURL != "urn:uuid:"+res.ID {
				t.Errorf("entry %d: %+v %s", i, e.Request, e.FullURL)
			}
		}
		obs := r.Find("Observation")[0].Resource.(*fhir.Observation)
		wantRef := "Patient/" + r.Resources[0].ID
		if cond {
			wantRef = "urn:uuid:" + r.Resources[0].ID
		}
		if value(obs.Subject.Reference) != wantRef {
			t.Errorf("conditional=%v subject %s, want %s", cond, value(obs.Subject.Reference), wantRef)
		}
	}
}

func TestERRWarnings(t *testing.T) {
	msg := "MSH|^~\\&|A|F|||20240101||ADT^A08|1|P|2.5\rPID|1||M1^^^H\rERR||PID^1^7|102^Data type error^HL70357|W||||Birth date malformed\r"
	r := mustMap(t, parse(t, msg), Config{})
	if len(r.Warnings) != 1 || r.Warnings[0] != (Warning{Segment: "PID", Sequence: 1, Field: "PID-7", Code: "102", Text: "Birth date malformed"}) {
		t.Errorf("warnings = %+v", r.Warnings)
	}
}

func TestUnsupported(t *testing.T) {
	_, err := Map(parse(t, "MSH|^~\\&|A|F|||20240101||MDM^T02|1|P|2.5\rPID|1||M1\r"), Config{})
	if err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("err = %v", err)
	}
}

func FuzzMap(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "messages", "*.hl7"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, dir := range []string{"adt", "referral"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.hl7"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(adtA04CN))
	f.Add([]byte(oruKiosk))
	f.Add([]byte(ormCN))
	f.Add([]byte(omlCN))
	f.Add([]byte(oruNotesCN))
	f.Add([]byte(omlNotesCN))
	f.Add([]byte(oruRepeatsHead + "OBX|1|CWE|6463-4^细菌培养^LN||112283007^大肠埃希菌^SCT~3092008^金黄色葡萄球菌^SCT||||||F\r"))
	for _, s := range vxuSIUSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := mapBytes(data, Config{})
		if err == nil && !json.Valid(r.Bundle()) {
			t.Fatalf("invalid bundle JSON")
		}
	})
}

func benchMap(b *testing.B, file string) {
	data, err := os.ReadFile(filepath.Join(corpusDir, "messages", file))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mapBytes(data, corpusConfig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMapADT(b *testing.B) { benchMap(b, "ADT-A01-01.hl7") }
func BenchmarkMapORU(b *testing.B) { benchMap(b, "LRI_2.0-NG_CBC_Typ_Message.hl7") }
