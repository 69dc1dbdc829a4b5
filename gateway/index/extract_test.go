package index

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shch/fhirgw/conformance/fhirpkg"
	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
)

func TestForType(t *testing.T) {
	tests := []struct{ expr, typ, want string }{
		{"AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | Observation.subject", "CarePlan", "CarePlan.subject.where(resolve() is Patient)"},
		{"Patient.name | Person.name", "Person", "Person.name"},
		{"(ActivityDefinition.useContext.value as CodeableConcept) | (Library.useContext.value as CodeableConcept)", "Library", "(Library.useContext.value as CodeableConcept)"},
		{"Resource.meta.tag", "Patient", "Resource.meta.tag"},
		{"Observation.code | Observation.component.code.where('a|b' = 'x')", "Observation", "Observation.code | Observation.component.code.where('a|b' = 'x')"},
		{"Patient.name", "Observation", ""},
	}
	for _, tt := range tests {
		if got := ForType(tt.expr, tt.typ); got != tt.want {
			t.Errorf("ForType(%q, %s) = %q, want %q", tt.expr, tt.typ, got, tt.want)
		}
	}
}

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Chalmers", "chalmers"},
		{"Müller", "muller"},
		{"张三", "张三"},
		{"ＺＨＡＮＧ", "zhang"},
		{"already lower", "already lower"},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func newExtractor(t testing.TB) *Extractor {
	x, errs := NewExtractor(searchparam.Official(), fhirschema.ResourceTypes(), nil)
	for _, err := range errs {
		t.Errorf("compile: %v", err)
	}
	return x
}

func TestExtractPatient(t *testing.T) {
	x := newExtractor(t)
	body := []byte(`{"resourceType":"Patient","id":"p","meta":{"tag":[{"system":"urn:t","code":"kiosk"}]},
	 "identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"NNCHN"}]},"system":"urn:oid:2.16.156.10011.1.3","value":"11010519491231002X"}],
	 "name":[{"text":"张三","family":"张","given":["三"]}],"gender":"male","birthDate":"1949-12",
	 "telecom":[{"system":"phone","value":"13800000000"}],"address":[{"city":"上海市","district":"浦东新区"}],
	 "generalPractitioner":[{"reference":"Practitioner/gp1"}],"managingOrganization":{"reference":"http://other.example/fhir/Organization/o"}}`)
	idx, err := x.Index(context.Background(), "Patient", body)
	if err != nil {
		t.Fatal(err)
	}
	hasTok := func(param, system, code string) bool {
		return slices.ContainsFunc(idx.Tokens, func(e store.TokenEntry) bool { return e.Param == param && e.System == system && e.Code == code })
	}
	hasStr := func(param, exact string) bool {
		return slices.ContainsFunc(idx.Strings, func(e store.StringEntry) bool { return e.Param == param && e.Exact == exact })
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"identifier", hasTok("identifier", "urn:oid:2.16.156.10011.1.3", "11010519491231002X")},
		{"identifier:of-type", hasTok("identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203", "NNCHN|11010519491231002X")},
		{"gender", hasTok("gender", "", "male")},
		{"phone", hasTok("phone", "phone", "13800000000")},
		{"telecom", hasTok("telecom", "phone", "13800000000")},
		{"_tag", hasTok("_tag", "urn:t", "kiosk")},
		{"name text", hasStr("name", "张三")},
		{"family", hasStr("family", "张")},
		{"given", hasStr("given", "三")},
		{"address-city", hasStr("address-city", "上海市")},
		{"general-practitioner", slices.Contains(idx.References, store.ReferenceEntry{Param: "general-practitioner", TargetType: "Practitioner", TargetID: "gp1"})},
		{"organization absolute", slices.Contains(idx.References, store.ReferenceEntry{Param: "organization", URL: "http://other.example/fhir/Organization/o"})},
		{"birthdate month", slices.Contains(idx.Dates, store.DateEntry{Param: "birthdate",
			Low:  time.Date(1949, 12, 1, 0, 0, 0, 0, time.UTC),
			High: time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Microsecond)})},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s not indexed; index: %+v", c.name, idx)
		}
	}
}

func TestExtractObservation(t *testing.T) {
	x := newExtractor(t)
	body := []byte(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8480-6","display":"Systolic BP"}],"text":"收缩压"},
	 "subject":{"reference":"Patient/p"},"effectivePeriod":{"start":"2024-03-01T08:00:00+08:00"},
	 "valueQuantity":{"value":132.5,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}`)
	idx, err := x.Index(context.Background(), "Observation", body)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(idx.Quantities, store.QuantityEntry{Param: "value-quantity", Value: 132.5, System: "http://unitsofmeasure.org", Code: "mm[Hg]", Unit: "mmHg"}) {
		t.Errorf("value-quantity: %+v", idx.Quantities)
	}
	if !slices.Contains(idx.References, store.ReferenceEntry{Param: "subject", TargetType: "Patient", TargetID: "p"}) ||
		!slices.Contains(idx.References, store.ReferenceEntry{Param: "patient", TargetType: "Patient", TargetID: "p"}) {
		t.Errorf("subject/patient: %+v", idx.References)
	}
	if !slices.ContainsFunc(idx.Tokens, func(e store.TokenEntry) bool {
		return e.Param == "code" && e.Code == "8480-6" && e.Text == "收缩压 systolic bp"
	}) {
		t.Errorf("code: %+v", idx.Tokens)
	}
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	if !slices.Contains(idx.Dates, store.DateEntry{Param: "date", Low: start}) {
		t.Errorf("date (open period): %+v", idx.Dates)
	}
}

// A composite is indexed per item only when every component has a value: an
// Observation with a code and a valueQuantity has code-value-quantity rows (code and
// value in the same group) but no code-value-date, -string or -concept rows.
func TestExtractCompositeComplete(t *testing.T) {
	x := newExtractor(t)
	body := []byte(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
	 "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
	              {"code":{"coding":[{"system":"http://loinc.org","code":"9999-9"}]}},
	              {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}],
	 "valueQuantity":{"value":132,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}`)
	idx, err := x.Index(context.Background(), "Observation", body)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string][]string{}
	for _, e := range idx.Tokens {
		params[e.Param] = append(params[e.Param], e.Code)
	}
	for _, e := range idx.Quantities {
		params[e.Param] = append(params[e.Param], "q")
	}
	want := map[string][]string{
		"code-value-quantity#0$0":           {"8480-6"},
		"code-value-quantity#0$1":           {"q"},
		"component-code-value-quantity#0$0": {"8462-4"},
		"component-code-value-quantity#0$1": {"q"},
		// the component without a value is skipped and the groups stay numbered densely
		"component-code-value-quantity#1$0": {"8480-6"},
		"component-code-value-quantity#1$1": {"q"},
	}
	for p, codes := range want {
		if !slices.Equal(params[p], codes) {
			t.Errorf("%s = %v, want %v", p, params[p], codes)
		}
	}
	for p := range params {
		for _, absent := range []string{"code-value-date#", "code-value-string#", "code-value-concept#", "component-code-value-quantity#2$"} {
			if len(p) >= len(absent) && p[:len(absent)] == absent {
				t.Errorf("unexpected rows for %s: %v", p, params[p])
			}
		}
	}
}

// code-value-date indexes an Observation's valueDateTime with its code, although the
// R4 definition's component says value.as(DateTime) (see componentErratum).
func TestExtractCodeValueDate(t *testing.T) {
	x := newExtractor(t)
	body := []byte(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8665-2"}]},"valueDateTime":"2016-12-30"}`)
	idx, err := x.Index(context.Background(), "Observation", body)
	if err != nil {
		t.Fatal(err)
	}
	want := store.DateEntry{Param: "code-value-date#0$1", Low: time.Date(2016, 12, 30, 0, 0, 0, 0, time.UTC),
		High: time.Date(2016, 12, 30, 23, 59, 59, 999999000, time.UTC)}
	if !slices.Contains(idx.Dates, want) {
		t.Errorf("code-value-date value: %+v", idx.Dates)
	}
}

// Every official example is indexed without error, and most produce rows.
func TestExtractExamples(t *testing.T) {
	dir := fhirpkg.TestDir(t)
	x := newExtractor(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	rows, indexed := 0, 0
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ ResourceType string }
		if err := json.Unmarshal(body, &head); err != nil || !fhirschema.IsResourceType(head.ResourceType) {
			continue
		}
		typ := head.ResourceType
		idx, err := x.Index(context.Background(), typ, body)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if idx.Len() > 0 {
			indexed++
		}
		rows += idx.Len()
	}
	t.Logf("%d examples, %d with index rows, %d rows", len(files), indexed, rows)
	if indexed < len(files)*8/10 {
		t.Errorf("only %d of %d examples produced index rows", indexed, len(files))
	}
}

func BenchmarkExtractPatient(b *testing.B) {
	dir := fhirpkg.TestDir(b)
	body, err := os.ReadFile(filepath.Join(dir, "Patient-example.json"))
	if err != nil {
		b.Fatal(err)
	}
	x := newExtractor(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := x.Index(context.Background(), "Patient", body); err != nil {
			b.Fatal(err)
		}
	}
}

// An absolute reference on the server's own base is a local reference: it is indexed
// by target as well as by URL; other servers' URLs, contained and logical references
// stay URLs.
func TestLocalBaseReferences(t *testing.T) {
	base := *newExtractor(t)
	base.LocalBase = "https://fhir.sq.example/fhir/"
	body := []byte(`{"resourceType":"Observation","status":"final","code":{"text":"血压"},
		"subject":{"reference":"https://fhir.sq.example/fhir/Patient/p1"},
		"performer":[{"reference":"https://fhir.sq.example/fhir/Practitioner/d1/_history/3"},
			{"reference":"https://other.example/fhir/Practitioner/d1"},
			{"reference":"https://fhir.sq.example/fhir/metadata"},
			{"reference":"#org"}]}`)
	for _, tc := range []struct {
		x    *Extractor
		want map[string]string // param|url -> target
	}{
		{&base, map[string]string{
			"subject|https://fhir.sq.example/fhir/Patient/p1":                   "Patient/p1",
			"performer|https://fhir.sq.example/fhir/Practitioner/d1/_history/3": "Practitioner/d1",
			"performer|https://other.example/fhir/Practitioner/d1":              "/",
			"performer|https://fhir.sq.example/fhir/metadata":                   "/",
			"performer|#org": "/",
		}},
		{newExtractor(t), map[string]string{ // no local base: URLs only
			"subject|https://fhir.sq.example/fhir/Patient/p1": "/",
		}},
	} {
		idx, err := tc.x.Index(context.Background(), "Observation", body)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range idx.References {
			got[r.Param+"|"+r.URL] = r.TargetType + "/" + r.TargetID
		}
		for k, want := range tc.want {
			if got[k] != want {
				t.Errorf("LocalBase %q: %s indexed as %q, want %q", tc.x.LocalBase, k, got[k], want)
			}
		}
	}
	// A canonical on the local base names the resource, not its version.
	idx, err := base.Index(context.Background(), "CarePlan", []byte(`{"resourceType":"CarePlan","status":"active","intent":"plan",
		"subject":{"reference":"Patient/p1"},"instantiatesCanonical":["https://fhir.sq.example/fhir/PlanDefinition/hbp|2"]}`))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range idx.References {
		if r.Param == "instantiates-canonical" {
			found = r.TargetType == "PlanDefinition" && r.TargetID == "hbp"
		}
	}
	if !found {
		t.Errorf("canonical on the local base indexed as %+v", idx.References)
	}
}
