package v2fhir

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// testdata/adt/adt-a01-vitals.hl7 is an inpatient admission to a district
// hospital's cardiology ward: the nurse records height, weight, blood
// pressure and temperature at admission, a smoking status and a free-text
// allergy note, and the message carries the planned coronary angiography
// as PR1.

func readADT(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "adt", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// resources returns the mapped resources of type T (e.g. fhir.Observation).
func resources[T any](r *Result, typ string) []*T {
	var out []*T
	for _, e := range r.Find(typ) {
		out = append(out, e.Resource.(*T))
	}
	return out
}

func observations(r *Result) []*fhir.Observation {
	return resources[fhir.Observation](r, "Observation")
}

func TestADTObservations(t *testing.T) {
	r := mustMap(t, parse(t, readADT(t, "adt-a01-vitals.hl7")), Config{})
	if len(r.Warnings) != 0 {
		t.Errorf("warnings: %+v", r.Warnings)
	}
	pat := patientOf(t, r)
	enc := r.Find("Encounter")
	if len(enc) != 1 {
		t.Fatalf("%d Encounters", len(enc))
	}
	obs := observations(r)
	want := []struct {
		code, value, unit, ucum string
		vital                   bool
		status, effective       string
		interp, rangeText       string
	}{
		{"8302-2", "165", "厘米", "cm", true, "final", "2024-03-05T08:30:00+08:00", "", ""},
		{"29463-7", "58.5", "千克", "kg", true, "final", "2024-03-05T08:30:00+08:00", "", ""},
		{"8480-6", "152", "毫米汞柱", "mm[Hg]", true, "final", "2024-03-05T08:35:00+08:00", "H", "90-139"},
		{"8462-4", "96", "毫米汞柱", "mm[Hg]", true, "final", "2024-03-05T08:35:00+08:00", "H", "60-89"},
		{"8310-5", "36.8", "℃", "Cel", true, "final", "2024-03-05T08:30:00+08:00", "", ""},
		{"72166-2", "", "", "", false, "final", "2024-03-05T08:30:00+08:00", "", ""},
		{"GMS01", "", "", "", false, "preliminary", "", "", ""},
	}
	if len(obs) != len(want) {
		t.Fatalf("got %d Observations, want %d", len(obs), len(want))
	}
	ids := map[string]bool{}
	for i, w := range want {
		o := obs[i]
		ids[*o.Id] = true
		if value(o.Code.Coding[0].Code) != w.code {
			t.Errorf("obs %d code = %+v, want %s", i, o.Code, w.code)
		}
		if o.Status.Code() != w.status || value(o.EffectiveDateTime) != w.effective {
			t.Errorf("obs %d status/effective = %s/%s, want %s/%s", i, o.Status, value(o.EffectiveDateTime), w.status, w.effective)
		}
		if o.Subject == nil || value(o.Subject.Reference) != "Patient/"+*pat.Id || o.Encounter == nil || value(o.Encounter.Reference) != "Encounter/"+enc[0].ID {
			t.Errorf("obs %d subject/encounter = %v/%v", i, o.Subject, o.Encounter)
		}
		if w.value != "" {
			q := o.ValueQuantity
			if q == nil || q.Value == nil || string(*q.Value) != w.value || value(q.Unit) != w.unit || value(q.Code) != w.ucum || value(q.System) != "http://unitsofmeasure.org" {
				t.Errorf("obs %d value = %+v, want %s %s (%s)", i, q, w.value, w.unit, w.ucum)
			}
		}
		isVital := len(o.Category) == 1 && value(o.Category[0].Coding[0].Code) == "vital-signs"
		if isVital != w.vital || !w.vital && len(o.Category) != 0 {
			t.Errorf("obs %d category = %+v, want vital-signs: %v (and no laboratory category)", i, o.Category, w.vital)
		}
		gotInterp := ""
		if len(o.Interpretation) > 0 {
			gotInterp = value(o.Interpretation[0].Coding[0].Code)
		}
		if gotInterp != w.interp {
			t.Errorf("obs %d interpretation = %q, want %q", i, gotInterp, w.interp)
		}
		if w.rangeText != "" {
			if rr := o.ReferenceRange; len(rr) != 1 || value(rr[0].Text) != w.rangeText || rr[0].Low == nil || rr[0].High == nil || value(rr[0].High.Code) != "mm[Hg]" {
				t.Errorf("obs %d referenceRange = %+v, want %s in mm[Hg]", i, rr, w.rangeText)
			}
		}
	}
	if len(ids) != len(want) {
		t.Errorf("Observation ids not distinct: %v", ids)
	}
	if cc := obs[5].ValueCodeableConcept; cc == nil || value(cc.Coding[0].System) != snomedCT || value(cc.Coding[0].Code) != "8517006" {
		t.Errorf("smoking status value = %+v, want SNOMED 8517006", cc)
	}
	if s := obs[6].ValueString; s == nil || *s != "青霉素皮试阳性（2019年）" {
		t.Errorf("allergy note value = %v", s)
	}
	// OBX-21 is the height's own identifier, and its id comes from it.
	h := obs[0]
	if len(h.Identifier) != 1 || value(h.Identifier[0].Value) != "OBS20240305001" || value(h.Identifier[0].System) != "urn:fhirgw:v2:id:PDH-01" {
		t.Errorf("height identifier = %+v, want OBX-21", h.Identifier)
	}
	if *h.Id != makeID("Observation", "urn:fhirgw:v2:id:PDH-01", "OBS20240305001", "8302-2") {
		t.Errorf("height id %s not derived from OBX-21", *h.Id)
	}
	// Every Observation is in the Bundle.
	for _, o := range obs {
		if !strings.Contains(string(r.Bundle()), `"url":"Observation/`+*o.Id+`"`) {
			t.Errorf("Observation %s not in the Bundle", *o.Id)
		}
	}
}

// TestADTObservationIDs checks the id discipline: an A08 resending the
// admission's measurements updates the same Observations; a new
// measurement (another OBX-14) is a new one; a registration without a
// visit (A28) scopes them to the patient.
func TestADTObservationIDs(t *testing.T) {
	a01 := readADT(t, "adt-a01-vitals.hl7")
	idsOf := func(msg string) []string {
		var out []string
		for _, o := range observations(mustMap(t, parse(t, msg), Config{})) {
			out = append(out, *o.Id)
		}
		return out
	}
	base := idsOf(a01)
	a08 := strings.Replace(strings.Replace(a01, "ADT^A01^ADT_A01|PDH20240305-0007", "ADT^A08^ADT_A01|PDH20240305-0031", 1), "EVN|A01", "EVN|A08", 1)
	if got := idsOf(a08); strings.Join(got, " ") != strings.Join(base, " ") {
		t.Errorf("A08 ids %v, want the A01's %v", got, base)
	}
	// The weight measured again at 10:00 is another Observation; the
	// others stay.
	later := strings.Replace(a01, "58.5|kg^千克^UCUM|||||F|||20240305083000+0800", "58.0|kg^千克^UCUM|||||F|||20240305100000+0800", 1)
	got := idsOf(later)
	for i := range base {
		if (got[i] == base[i]) != (i != 1) {
			t.Errorf("obs %d id changed: %v, want only the weight's to change", i, got[i] != base[i])
		}
	}
	// Another visit number gives other ids.
	other := strings.Replace(a01, "V2024030500012", "V2024030500099", 1)
	if got := idsOf(other); got[1] == base[1] {
		t.Error("weight id does not depend on the visit")
	}
	// A28 has no encounter: the patient scopes the Observations.
	a28 := strings.Replace(strings.Replace(a01, "ADT^A01^ADT_A01", "ADT^A28^ADT_A05", 1), "EVN|A01", "EVN|A28", 1)
	r := mustMap(t, parse(t, a28), Config{})
	pat := patientOf(t, r)
	for _, o := range observations(r) {
		if o.Encounter != nil || value(o.Subject.Reference) != "Patient/"+*pat.Id {
			t.Errorf("A28 Observation %s subject %v encounter %v", value(o.Code.Coding[0].Code), o.Subject, o.Encounter)
		}
	}
	if got := idsOf(a28); got[1] == base[1] {
		t.Error("A28 weight id equals the A01 one, whose scope is the encounter")
	}
	// The same OBX twice is mapped once, with a warning.
	dup := strings.Replace(a01, "AL1|", "OBX|2|NM|29463-7^体重^LN||58.5|kg^千克^UCUM|||||F|||20240305083000+0800\rAL1|", 1)
	r = mustMap(t, parse(t, dup), Config{})
	if len(r.Find("Observation")) != 7 || !hasWarning(r, "OBX_DUPLICATE") {
		t.Errorf("duplicate OBX: %d Observations, warnings %+v", len(r.Find("Observation")), r.Warnings)
	}
	// An OBX without OBX-3 is skipped with a warning.
	nocode := strings.Replace(a01, "AL1|", "OBX|8|NM|||70|kg\rAL1|", 1)
	r = mustMap(t, parse(t, nocode), Config{})
	if len(r.Find("Observation")) != 7 || !hasWarning(r, "OBX_NO_CODE") {
		t.Errorf("OBX without code: %d Observations, warnings %+v", len(r.Find("Observation")), r.Warnings)
	}
}

func TestADTProcedure(t *testing.T) {
	a01 := readADT(t, "adt-a01-vitals.hl7")
	r := mustMap(t, parse(t, a01), Config{})
	ps := r.Find("Procedure")
	if len(ps) != 1 {
		t.Fatalf("%d Procedures", len(ps))
	}
	p := ps[0].Resource.(*fhir.Procedure)
	pat, enc := patientOf(t, r), r.Find("Encounter")[0]
	if p.Status.Code() != "unknown" || value(p.Subject.Reference) != "Patient/"+*pat.Id || p.Encounter == nil || value(p.Encounter.Reference) != "Encounter/"+enc.ID {
		t.Errorf("status/subject/encounter = %s/%v/%v", p.Status, p.Subject, p.Encounter)
	}
	if p.Code == nil || value(p.Code.Coding[0].Code) != "88.57" || value(p.Code.Coding[0].Display) != "冠状动脉造影" || value(p.Code.Text) != "冠状动脉造影术" {
		t.Errorf("code = %+v, want PR1-3 88.57 with the PR1-4 text", p.Code)
	}
	// PR1-5 with PR1-7 45 minutes: a period.
	if value(p.PerformedDateTime) != "" || p.PerformedPeriod == nil || value(p.PerformedPeriod.Start) != "2024-03-06T10:00:00+08:00" || value(p.PerformedPeriod.End) != "2024-03-06T10:45:00+08:00" {
		t.Errorf("performed = %q %+v", value(p.PerformedDateTime), p.PerformedPeriod)
	}
	if p.Category == nil || value(p.Category.Coding[0].System) != "http://terminology.hl7.org/CodeSystem/v2-0230" || value(p.Category.Coding[0].Code) != "D" {
		t.Errorf("category = %+v, want PR1-6 D", p.Category)
	}
	wantPerf := []struct{ name, function string }{{"赵敏", "88189002"}, {"钱伟", "304292004"}, {"孙丽", ""}}
	if len(p.Performer) != len(wantPerf) {
		t.Fatalf("performer = %+v", p.Performer)
	}
	for i, w := range wantPerf {
		pp := p.Performer[i]
		fn := ""
		if pp.Function != nil {
			fn = value(pp.Function.Coding[0].Code)
		}
		if value(pp.Actor.Display) != w.name || !strings.HasPrefix(value(pp.Actor.Reference), "Practitioner/") || fn != w.function {
			t.Errorf("performer %d = %+v %v, want %s function %q", i, pp.Actor, pp.Function, w.name, w.function)
		}
		if pr := r.Find("Practitioner"); !func() bool {
			for _, e := range pr {
				if "Practitioner/"+e.ID == value(pp.Actor.Reference) {
					return true
				}
			}
			return false
		}() {
			t.Errorf("performer %d: no Practitioner %s", i, value(pp.Actor.Reference))
		}
	}
	if len(p.ReasonCode) != 1 || value(p.ReasonCode[0].Coding[0].Code) != "I20.0" {
		t.Errorf("reasonCode = %+v, want PR1-15 I20.0", p.ReasonCode)
	}
	if len(p.Identifier) != 1 || value(p.Identifier[0].Value) != "PR20240306001" || *p.Id != makeID("Procedure", value(p.Identifier[0].System), "PR20240306001") {
		t.Errorf("identifier %+v id %s, want both from PR1-19", p.Identifier, *p.Id)
	}

	pr1 := func(msg string) string {
		for _, s := range strings.Split(msg, "\r") {
			if strings.HasPrefix(s, "PR1|") {
				return s
			}
		}
		return ""
	}(a01)
	fields := strings.Split(pr1, "|")
	with := func(edits map[int]string) *Result {
		fs := append([]string(nil), fields...)
		for f, v := range edits {
			fs[f] = v
		}
		return mustMap(t, parse(t, strings.Replace(a01, pr1, strings.Join(fs, "|"), 1)), Config{})
	}
	proc := func(r *Result) *fhir.Procedure {
		ps := r.Find("Procedure")
		if len(ps) != 1 {
			t.Fatalf("%d Procedures", len(ps))
		}
		return ps[0].Resource.(*fhir.Procedure)
	}
	// Without PR1-7, or with a date only, a dateTime.
	if q := proc(with(map[int]string{7: ""})); value(q.PerformedDateTime) != "2024-03-06T10:00:00+08:00" || q.PerformedPeriod != nil {
		t.Errorf("no minutes: performed %q %+v", value(q.PerformedDateTime), q.PerformedPeriod)
	}
	if q := proc(with(map[int]string{5: "20240306"})); value(q.PerformedDateTime) != "2024-03-06" || q.PerformedPeriod != nil {
		t.Errorf("date only: performed %q %+v", value(q.PerformedDateTime), q.PerformedPeriod)
	}
	// Without PR1-19 the id comes from the patient, code and time: stable,
	// and another time is another procedure.
	a, b := proc(with(map[int]string{19: ""})), proc(with(map[int]string{19: ""}))
	c := proc(with(map[int]string{19: "", 5: "20240307100000+0800"}))
	if *a.Id != *b.Id || *a.Id == *c.Id || *a.Id == *p.Id || len(a.Identifier) != 0 {
		t.Errorf("ids without PR1-19: %s %s %s (with PR1-19 %s)", *a.Id, *b.Id, *c.Id, *p.Id)
	}
	// Only the description: code is the text.
	if q := proc(with(map[int]string{3: ""})); q.Code == nil || len(q.Code.Coding) != 0 || value(q.Code.Text) != "冠状动脉造影术" {
		t.Errorf("description only: code %+v", q.Code)
	}
	// Neither code nor description: skipped with a warning.
	r = with(map[int]string{3: "", 4: ""})
	if len(r.Find("Procedure")) != 0 || !hasWarning(r, "PR1_NO_CODE") {
		t.Errorf("PR1 without code: %d Procedures, warnings %+v", len(r.Find("Procedure")), r.Warnings)
	}
}

// TestProcedureParent: PR1-25 parent procedure ID is partOf, pointing at the
// Procedure of the PR1 whose PR1-19 it names when the message has one, else
// by identifier. PR1-14 (priority) has no IG target.
func TestProcedureParent(t *testing.T) {
	head := "MSH|^~\\&|HIS|PDH-01|FHIRGW|SHCH|20240305090000+0800||ADT^A01^ADT_A01|P25-%d|P|2.8\r" +
		"EVN|A01|20240305080000+0800\r" +
		"PID|1||ZY0098765^^^PDH-01^MR||陈建国||19580312|1\r" +
		"PV1|1|I|心内科^0301^02^PDH-01\r"
	pr1 := func(code, id, parent string) string {
		return "PR1|1||" + code + "^操作" + code + "^ICD9CM3||20240306100000+0800|||||||||1|||||" + id + "^PDH-01||||||" + parent + "\r"
	}
	parentID := makeID("Procedure", "urn:fhirgw:v2:id:PDH-01", "PR-P")
	tests := []struct {
		name, body string
		want       map[string]string // procedure code → partOf reference, or "id:" + identifier value
	}{
		{"parent in the message", pr1("88.57", "PR-P", "") + pr1("88.56", "PR-C", "PR-P^PDH-01"),
			map[string]string{"88.57": "", "88.56": "Procedure/" + parentID}},
		{"parent after the child", pr1("88.56", "PR-C", "PR-P^PDH-01") + pr1("88.57", "PR-P", ""),
			map[string]string{"88.57": "", "88.56": "Procedure/" + parentID}},
		{"parent elsewhere", pr1("88.56", "PR-C", "PR-X^PDH-01"), map[string]string{"88.56": "id:PR-X"}},
		{"no parent", pr1("88.56", "PR-C", ""), map[string]string{"88.56": ""}},
		{"its own parent", pr1("88.56", "PR-C", "PR-C^PDH-01"), map[string]string{"88.56": ""}},
		// A PR1 without a code becomes no Procedure, so a child cannot point to it.
		{"parent skipped for want of a code", strings.Replace(pr1("X", "PR-P", ""), "X^操作X^ICD9CM3", "", 1) + pr1("88.56", "PR-C", "PR-P^PDH-01"),
			map[string]string{"88.56": "id:PR-P"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustMap(t, parse(t, fmt.Sprintf(head, i)+tt.body), Config{})
			got := map[string]string{}
			for _, p := range resources[fhir.Procedure](r, "Procedure") {
				k := value(p.Code.Coding[0].Code)
				switch {
				case len(p.PartOf) == 0:
					got[k] = ""
				case p.PartOf[0].Reference != nil:
					got[k] = value(p.PartOf[0].Reference)
				case p.PartOf[0].Identifier != nil && value(p.PartOf[0].Type) == "Procedure":
					got[k] = "id:" + value(p.PartOf[0].Identifier.Value)
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("partOf = %v, want %v", got, tt.want)
			}
		})
	}
}
