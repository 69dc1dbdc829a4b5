package v2fhir

import (
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
