package v2fhir

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// ormCN is a community health centre's diabetes follow-up order to the
// district hospital laboratory: fasting glucose with the fasting status
// and a creatinine with the body weight the lab needs for eGFR, each
// reported as an OBX under its order (ask-at-order-entry questions).
const ormCN = "MSH|^~\\&|JWS|SQ-CHC-01|LIS|PDH-01|20240312080500+0800||ORM^O01^ORM_O01|ZJ0421|P|2.4\r" +
	"PID|1||CHC0012345^^^SQ-CHC-01^MR||张秀英||19491231|2\r" +
	"PV1|1|O|全科门诊||||D0012^王芳||||||||||||V20240312003\r" +
	"ORC|NW|SQ2024031201^SQ-CHC-01||||||1^^^20240312080000+0800^^R|20240312080000+0800|||D0012^王芳\r" +
	"OBR|1|SQ2024031201^SQ-CHC-01||14771-0^空腹血糖^LN|||20240312073000+0800\r" +
	"OBX|1|CWE|49541-6^空腹状态^LN||Y^是^HL70136||||||O|||20240312073000+0800\r" +
	"ORC|NW|SQ2024031202^SQ-CHC-01||||||||20240312080000+0800|||D0012^王芳\r" +
	"OBR|1|SQ2024031202^SQ-CHC-01||2160-0^肌酐^LN|||20240312073000+0800\r" +
	"OBX|1|NM|29463-7^体重^LN||62.5|kg^千克^UCUM|||||F\r" +
	"OBX|2|CWE|82810-3^妊娠状态^LN||60001007^未妊娠^SCT\r"

// omlCN is an OML^O21 with the specimen group: an OBX after SPM is still
// an observation supporting the order.
const omlCN = "MSH|^~\\&|JWS|SQ-CHC-01|LIS|PDH-01|20240312081000+0800||OML^O21^OML_O21|ZJ0422|P|2.5.1\r" +
	"PID|1||CHC0012345^^^SQ-CHC-01^MR||张秀英||19491231|2\r" +
	"ORC|NW|SQ2024031203^SQ-CHC-01||||||||20240312080000+0800\r" +
	"OBR|1|SQ2024031203^SQ-CHC-01||4548-4^糖化血红蛋白^LN|||20240312073000+0800\r" +
	"SPM|1|||BLD^全血^HL70487\r" +
	"OBX|1|DTM|AOE01^末次进餐时间^L||20240311190000+0800||||||O\r"

func serviceRequests(r *Result) []*fhir.ServiceRequest {
	return resources[fhir.ServiceRequest](r, "ServiceRequest")
}

func TestOrderObservations(t *testing.T) {
	r := mustMap(t, parse(t, ormCN), Config{})
	if len(r.Warnings) != 0 {
		t.Errorf("warnings: %+v", r.Warnings)
	}
	srs, obs := serviceRequests(r), observations(r)
	if len(srs) != 2 || len(obs) != 3 {
		t.Fatalf("got %d ServiceRequests and %d Observations, want 2 and 3", len(srs), len(obs))
	}
	pat, enc := patientOf(t, r), r.Find("Encounter")
	if len(enc) != 1 {
		t.Fatalf("%d Encounters", len(enc))
	}
	want := []struct {
		sr                int // index of the ServiceRequest it supports
		code, status, eff string
		vital             bool
	}{
		// OBX-11 O (order detail) is registered; without OBX-11 the status
		// is unknown, not taken from the order; effective is OBX-14 only,
		// never OBR-7 (the specimen collection time).
		{0, "49541-6", "registered", "2024-03-12T07:30:00+08:00", false},
		{1, "29463-7", "final", "", true},
		{1, "82810-3", "unknown", "", false},
	}
	for i, w := range want {
		o := obs[i]
		if value(o.Code.Coding[0].Code) != w.code || o.Status.Code() != w.status || value(o.EffectiveDateTime) != w.eff {
			t.Errorf("obs %d = %s %s %q, want %s %s %q", i, value(o.Code.Coding[0].Code), o.Status, value(o.EffectiveDateTime), w.code, w.status, w.eff)
		}
		if value(o.Subject.Reference) != "Patient/"+*pat.Id || o.Encounter == nil || value(o.Encounter.Reference) != "Encounter/"+enc[0].ID {
			t.Errorf("obs %d subject/encounter = %v/%v", i, o.Subject, o.Encounter)
		}
		if len(o.BasedOn) != 0 {
			t.Errorf("obs %d basedOn = %v: it supports the order, it is not its result", i, o.BasedOn)
		}
		if vital := len(o.Category) == 1 && value(o.Category[0].Coding[0].Code) == "vital-signs"; vital != w.vital || !w.vital && len(o.Category) != 0 {
			t.Errorf("obs %d category = %+v", i, o.Category)
		}
		found := false
		for _, s := range srs[w.sr].SupportingInfo {
			found = found || value(s.Reference) == "Observation/"+*o.Id
		}
		if !found {
			t.Errorf("obs %d (%s) not in ServiceRequest %d supportingInfo %v", i, w.code, w.sr, srs[w.sr].SupportingInfo)
		}
	}
	if len(srs[0].SupportingInfo) != 1 || len(srs[1].SupportingInfo) != 2 {
		t.Errorf("supportingInfo = %v / %v, want 1 and 2", srs[0].SupportingInfo, srs[1].SupportingInfo)
	}
	if q := obs[1].ValueQuantity; q == nil || q.Value == nil || string(*q.Value) != "62.5" || value(q.Code) != "kg" {
		t.Errorf("weight = %+v", q)
	}
	if cc := obs[2].ValueCodeableConcept; cc == nil || value(cc.Coding[0].Code) != "60001007" || value(cc.Coding[0].System) != snomedCT {
		t.Errorf("pregnancy status = %+v", cc)
	}
	// Ids are per order: the same OBX under the other order is another
	// Observation; a resend gives the same ids.
	again := observations(mustMap(t, parse(t, ormCN), Config{}))
	for i := range obs {
		if *again[i].Id != *obs[i].Id {
			t.Errorf("obs %d id differs on resend", i)
		}
	}
	moved := strings.Replace(ormCN, "OBX|1|CWE|49541-6^空腹状态^LN||Y^是^HL70136||||||O|||20240312073000+0800\r", "", 1)
	moved += "OBX|3|CWE|49541-6^空腹状态^LN||Y^是^HL70136||||||O|||20240312073000+0800\r"
	if m := observations(mustMap(t, parse(t, moved), Config{})); *m[2].Id == *obs[0].Id {
		t.Error("fasting status under another order has the same id")
	}
}

func TestOMLObservations(t *testing.T) {
	r := mustMap(t, parse(t, omlCN), Config{})
	srs, obs := serviceRequests(r), observations(r)
	if len(srs) != 1 || len(obs) != 1 {
		t.Fatalf("got %d ServiceRequests and %d Observations, want 1 and 1", len(srs), len(obs))
	}
	o := obs[0]
	if value(o.ValueDateTime) != "2024-03-11T19:00:00+08:00" || o.Status.Code() != "registered" || value(o.EffectiveDateTime) != "" || o.Encounter != nil {
		t.Errorf("observation = %+v", o)
	}
	if len(srs[0].SupportingInfo) != 1 || value(srs[0].SupportingInfo[0].Reference) != "Observation/"+*o.Id {
		t.Errorf("supportingInfo = %v", srs[0].SupportingInfo)
	}
	// Two groups with one order number make one ServiceRequest that lists
	// both groups' observations.
	twice := omlCN + "ORC|NW|SQ2024031203^SQ-CHC-01\rOBR|1|SQ2024031203^SQ-CHC-01||4548-4^糖化血红蛋白^LN\rOBX|1|ST|AOE02^备注^L||患者诉近期多饮\r"
	r = mustMap(t, parse(t, twice), Config{})
	srs, obs = serviceRequests(r), observations(r)
	if len(srs) != 1 || len(obs) != 2 || len(srs[0].SupportingInfo) != 2 {
		t.Errorf("repeated order number: %d ServiceRequests, %d Observations, supportingInfo %v", len(srs), len(obs), srs[0].SupportingInfo)
	}
}

// ordersHead opens an OML^O21 whose order groups carry no placer or filler
// number, as some instruments send them.
const ordersHead = "MSH|^~\\&|JWS|SQ-CHC-01|LIS|PDH-01|20240312081000+0800||OML^O21^OML_O21|ZJ0430|P|2.5.1\r" +
	"PID|1||CHC0012345^^^SQ-CHC-01^MR||张秀英||19491231|2\r"

func TestOrderKey(t *testing.T) {
	corpus, err := os.ReadFile(filepath.Join(corpusDir, "messages", "OML-O21-03.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  string
		want int // ServiceRequests
	}{
		{"same test, different placer group", ordersHead +
			"ORC|NW|||PG-1\rOBR|1|||14771-0^空腹血糖^LN|||20240312073000+0800\r" +
			"ORC|NW|||PG-2\rOBR|2|||14771-0^空腹血糖^LN|||20240312073000+0800\r", 2},
		{"same test, same placer group", ordersHead +
			"ORC|NW|||PG-1\rOBR|1|||14771-0^空腹血糖^LN|||20240312073000+0800\r" +
			"ORC|NW|||PG-1\rOBR|2|||14771-0^空腹血糖^LN|||20240312073000+0800\r", 2},
		{"OBR without ORC", ordersHead +
			"OBR|1|||14771-0^空腹血糖^LN|||20240312073000+0800\r" +
			"OBR|2|||14771-0^空腹血糖^LN|||20240312073000+0800\r", 2},
		{"one order number, two groups", ordersHead +
			"ORC|NW|SQ1^SQ-CHC-01||PG-1\rOBR|1|SQ1^SQ-CHC-01||14771-0^空腹血糖^LN\r" +
			"ORC|NW|SQ1^SQ-CHC-01||PG-2\rOBR|2|SQ1^SQ-CHC-01||14771-0^空腹血糖^LN\r", 1},
		{"OML-O21-03: five groups, three without order number", string(corpus), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := func() []string {
				var out []string
				for _, e := range mustMap(t, parse(t, tt.msg), Config{}).Find("ServiceRequest") {
					out = append(out, e.ID)
				}
				return out
			}
			first := ids()
			if len(first) != tt.want {
				t.Fatalf("%d ServiceRequests, want %d", len(first), tt.want)
			}
			// A resent message updates the same ServiceRequests.
			if again := ids(); !slices.Equal(again, first) {
				t.Errorf("ids differ on resend: %v, then %v", first, again)
			}
		})
	}
}

// The placer group number is part of the key: the same position in another
// requisition is another order.
func TestOrderKeyPlacerGroup(t *testing.T) {
	id := func(group string) string {
		msg := ordersHead + "ORC|NW|||" + group + "\rOBR|1|||14771-0^空腹血糖^LN|||20240312073000+0800\r"
		return mustMap(t, parse(t, msg), Config{}).Find("ServiceRequest")[0].ID
	}
	if id("PG-1") == id("PG-2") {
		t.Error("orders of two placer groups have one id")
	}
}

// An unnumbered order keeps its id when a later message lists it at another
// place: a final report of one test after a preliminary report of two.
func TestOrderKeyPosition(t *testing.T) {
	cbc := "ORC|RE\rOBR|1|||58410-2^血常规^LN|||20240312073000+0800\r"
	bmp := "ORC|RE\rOBR|2|||24323-8^生化全项^LN|||20240312073000+0800\r"
	ids := func(msg string) map[string]string { // code -> id
		out := map[string]string{}
		for _, sr := range serviceRequests(mustMap(t, parse(t, msg), Config{})) {
			out[*sr.Code.Coding[0].Code] = *sr.Id
		}
		return out
	}
	both, alone := ids(ordersHead+cbc+bmp), ids(ordersHead+bmp)
	if both["24323-8"] == "" || both["24323-8"] != alone["24323-8"] {
		t.Errorf("the second order's id %q in a message of two, %q alone", both["24323-8"], alone["24323-8"])
	}
}

func TestOrderGroupTiming(t *testing.T) {
	msg := ordersHead +
		"ORC|NW|SQ1^SQ-CHC-01\rTQ1|1||||||||S\rOBR|1|SQ1^SQ-CHC-01||14771-0^空腹血糖^LN\r" +
		"ORC|NW|SQ2^SQ-CHC-01\rTQ1|1||||||||R\rOBR|2|SQ2^SQ-CHC-01||2160-0^肌酐^LN\r" +
		"ORC|NW|SQ3^SQ-CHC-01\rOBR|3|SQ3^SQ-CHC-01||4548-4^糖化血红蛋白^LN\r" +
		"OBR|4|SQ4^SQ-CHC-01||2093-3^总胆固醇^LN\rTQ1|1||||||||A\r"
	srs := serviceRequests(mustMap(t, parse(t, msg), Config{}))
	want := []string{"stat", "routine", "", "asap"} // the third has no TQ1 of its own
	if len(srs) != len(want) {
		t.Fatalf("%d ServiceRequests, want %d", len(srs), len(want))
	}
	for i, w := range want {
		if got := code(srs[i].Priority); got != w {
			t.Errorf("order %d priority = %q, want %q", i+1, got, w)
		}
	}
}

func TestOrderReasonAndParent(t *testing.T) {
	msg := ordersHead +
		"ORC|NW|SQ1^SQ-CHC-01\rOBR|1|SQ1^SQ-CHC-01||14771-0^空腹血糖^LN" + strings.Repeat("|", 27) + "E11.9^2型糖尿病^I10\r" +
		"DG1|1||E11.9^2型糖尿病^I10|||W\r" +
		"OBX|1|CWE|49541-6^空腹状态^LN||Y^是^HL70136||||||O\r" +
		"ORC|NW|SQ2^SQ-CHC-01||||||SQ1&SQ-CHC-01^F1&LIS\rOBR|2|SQ2^SQ-CHC-01||2160-0^肌酐^LN\r" +
		"DG1|1||E11.9^2型糖尿病^I10|||W\rDG1|2||N18.3^慢性肾脏病3期^I10|||W\r" +
		"ORC|NW|SQ3^SQ-CHC-01||||||^F9&LIS\rOBR|3|SQ3^SQ-CHC-01||4548-4^糖化血红蛋白^LN\r"
	r := mustMap(t, parse(t, msg), Config{})
	srs := serviceRequests(r)
	if len(srs) != 3 {
		t.Fatalf("%d ServiceRequests", len(srs))
	}
	conds := resources[fhir.Condition](r, "Condition")
	if len(conds) != 2 {
		t.Fatalf("%d Conditions, want 2 (E11.9 once, N18.3)", len(conds))
	}
	condCode := map[string]string{}
	for _, c := range conds {
		condCode["Condition/"+*c.Id] = value(c.Code.Coding[0].Code)
		if value(c.Subject.Reference) != "Patient/"+*patientOf(t, r).Id {
			t.Errorf("Condition subject = %v", c.Subject)
		}
	}
	for i, want := range [][]string{{"E11.9"}, {"E11.9", "N18.3"}, nil} {
		var got []string
		for _, rf := range srs[i].ReasonReference {
			got = append(got, condCode[value(rf.Reference)])
		}
		if !slices.Equal(got, want) {
			t.Errorf("order %d reasonReference = %v, want %v", i+1, got, want)
		}
	}
	if len(srs[0].ReasonCode) != 1 {
		t.Errorf("OBR-31 reasonCode = %v", srs[0].ReasonCode)
	}

	// ORC-8: the parent by its placer number, else its filler number.
	wantParent := []struct{ typ, system, value string }{
		{},
		{"PLAC", "urn:fhirgw:v2:id:SQ-CHC-01", "SQ1"},
		{"FILL", "urn:fhirgw:v2:id:LIS", "F9"},
	}
	for i, w := range wantParent {
		b := srs[i].BasedOn
		if w.value == "" {
			if len(b) != 0 {
				t.Errorf("order %d basedOn = %+v, want none", i+1, b)
			}
			continue
		}
		if len(b) != 1 || b[0].Identifier == nil || b[0].Reference != nil || value(b[0].Type) != "ServiceRequest" {
			t.Fatalf("order %d basedOn = %+v", i+1, b)
		}
		id := b[0].Identifier
		if value(id.Value) != w.value || value(id.System) != w.system || id.Type == nil || value(id.Type.Coding[0].Code) != w.typ {
			t.Errorf("order %d basedOn identifier = %s|%s %+v, want %s|%s %s", i+1, value(id.System), value(id.Value), id.Type, w.system, w.value, w.typ)
		}
	}
	// The parent reference names the system the parent's own identifier has.
	if sys := value(srs[0].Identifier[0].System); sys != wantParent[1].system {
		t.Errorf("parent's placer identifier system = %s, want %s", sys, wantParent[1].system)
	}
}

// OBR-29 names the parent where ORC-8 is not sent; ORC-8 wins when both are.
func TestOrderParentOBR29(t *testing.T) {
	obr29 := strings.Repeat("|", 25) + "SQ1&SQ-CHC-01" // OBR-4 is the 4th field; OBR-29 25 fields on
	msg := ordersHead +
		"ORC|NW|SQ2^SQ-CHC-01\rOBR|1|SQ2^SQ-CHC-01||14771-0^空腹血糖^LN" + obr29 + "\r" +
		"ORC|NW|SQ3^SQ-CHC-01||||||SQ9&SQ-CHC-01\rOBR|2|SQ3^SQ-CHC-01||2160-0^肌酐^LN" + obr29 + "\r"
	srs := serviceRequests(mustMap(t, parse(t, msg), Config{}))
	if len(srs) != 2 {
		t.Fatalf("%d ServiceRequests", len(srs))
	}
	for i, want := range []string{"SQ1", "SQ9"} {
		if b := srs[i].BasedOn; len(b) != 1 || b[0].Identifier == nil || value(b[0].Identifier.Value) != want {
			t.Errorf("order %d basedOn = %+v, want the parent %s", i+1, b, want)
		}
	}
}
