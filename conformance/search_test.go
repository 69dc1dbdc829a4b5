package conformance

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/shch/fhirgw/conformance/fhirtest"
)

// searchIDs runs a search and returns the Type/id of its match entries, sorted.
func searchIDs(t *testing.T, s *fhirtest.Server, query string) []string {
	t.Helper()
	b := s.Must(http.StatusOK, "GET", query, nil).JSON(t)
	var out []string
	for _, e := range asSlice(b["entry"]) {
		em := e.(map[string]any)
		if str(em, "search", "mode") != "match" {
			continue
		}
		r := em["resource"].(map[string]any)
		out = append(out, r["resourceType"].(string)+"/"+r["id"].(string))
	}
	sort.Strings(out)
	return out
}

func seed(t *testing.T, s *fhirtest.Server) {
	t.Helper()
	put := func(path, body string) { s.Must(http.StatusCreated, "PUT", path, []byte(body)) }
	put("Organization/zj", `{"resourceType":"Organization","id":"zj","name":"张江社区卫生服务中心","identifier":[{"system":"urn:oid:2.16.156.10011.1.5","value":"PD001"}]}`)
	put("Patient/zs", `{"resourceType":"Patient","id":"zs","name":[{"text":"张三","family":"张","given":["三"]}],"gender":"male","birthDate":"1949-12-31",
	  "identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"NNCHN"}]},"system":"urn:oid:2.16.156.10011.1.3","value":"11010519491231002X"}],
	  "managingOrganization":{"reference":"Organization/zj"},"address":[{"city":"上海市"}]}`)
	put("Patient/ls", `{"resourceType":"Patient","id":"ls","name":[{"family":"Li","given":["Si"]}],"gender":"female","birthDate":"1985-06",
	  "telecom":[{"system":"phone","value":"13800000000"}]}`)
	put("Observation/bp1", `{"resourceType":"Observation","id":"bp1","status":"final","subject":{"reference":"Patient/zs"},
	  "code":{"coding":[{"system":"http://loinc.org","code":"8480-6","display":"Systolic blood pressure"}],"text":"收缩压"},
	  "effectiveDateTime":"2024-03-01T08:00:00+08:00","valueQuantity":{"value":132,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}`)
	put("Observation/glu", `{"resourceType":"Observation","id":"glu","status":"preliminary","subject":{"reference":"Patient/ls"},
	  "code":{"coding":[{"system":"http://loinc.org","code":"15074-8"}]},"effectiveDateTime":"2024-05-20",
	  "valueQuantity":{"value":5.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}`)
	put("Observation/panel", `{"resourceType":"Observation","id":"panel","status":"final","subject":{"reference":"Patient/ls"},
	  "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},"effectiveDateTime":"2024-05-20",
	  "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":125,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
	               {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":82,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`)
	put("Encounter/e1", `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
	  "subject":{"reference":"Patient/zs"},"period":{"start":"2024-03-01T08:00:00+08:00","end":"2024-03-01T09:00:00+08:00"}}`)
}

func TestSearchParameters(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		seed(t, s)
		tests := []struct {
			query string
			want  string
		}{
			// string
			{"Patient?name=张", "Patient/zs"},
			{"Patient?name=li", "Patient/ls"},
			{"Patient?name:exact=Li", "Patient/ls"},
			{"Patient?name:exact=li", ""},
			{"Patient?name:contains=三", "Patient/zs"},
			{"Patient?family=张,Li", "Patient/ls Patient/zs"},
			{"Patient?address-city=上海", "Patient/zs"},
			// token
			{"Patient?gender=male", "Patient/zs"},
			{"Patient?gender:not=male", "Patient/ls"},
			{"Patient?identifier=urn:oid:2.16.156.10011.1.3|11010519491231002X", "Patient/zs"},
			{"Patient?identifier=|11010519491231002X", ""},
			{"Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|NNCHN|11010519491231002X", "Patient/zs"},
			{"Patient?phone=13800000000", "Patient/ls"},
			{"Observation?code=http://loinc.org|8480-6", "Observation/bp1"},
			{"Observation?code=http://loinc.org|", "Observation/bp1 Observation/glu Observation/panel"},
			{"Observation?code:text=收缩压", "Observation/bp1"},
			{"Observation?code:text=systolic", "Observation/bp1"},
			{"Observation?status=final,preliminary", "Observation/bp1 Observation/glu Observation/panel"},
			// date
			{"Patient?birthdate=1949", "Patient/zs"},
			{"Patient?birthdate=lt1980", "Patient/zs"},
			{"Patient?birthdate=ge1985-06-15", "Patient/ls"},
			{"Patient?birthdate=1985-06-15", ""},
			{"Observation?date=2024-03", "Observation/bp1"},
			{"Observation?date=ge2024-01-01&date=lt2024-04-01", "Observation/bp1"},
			{"Encounter?date=2024-03-01", "Encounter/e1"},
			// quantity and number
			{"Observation?value-quantity=132", "Observation/bp1"},
			{"Observation?value-quantity=gt100|http://unitsofmeasure.org|mm[Hg]", "Observation/bp1"},
			{"Observation?value-quantity=5.4||mmol/L", "Observation/glu"},
			{"Observation?value-quantity=5", "Observation/glu"},
			{"Observation?value-quantity=5.0", ""},
			{"Observation?value-quantity=le6", "Observation/glu"},
			// reference
			{"Observation?subject=Patient/zs", "Observation/bp1"},
			{"Observation?patient=zs", "Observation/bp1"},
			{"Observation?subject:Patient=ls", "Observation/glu Observation/panel"},
			{"Patient?organization=Organization/zj", "Patient/zs"},
			{"Observation?subject:missing=true", ""},
			// chains and _has
			{"Observation?subject:Patient.name=张", "Observation/bp1"},
			{"Observation?patient.gender=female", "Observation/glu Observation/panel"},
			{"Observation?subject:Patient.organization.name=张江", "Observation/bp1"},
			{"Observation?subject:Patient.organization.identifier=PD001", "Observation/bp1"},
			{"Patient?_has:Observation:subject:code=8480-6", "Patient/zs"},
			{"Patient?_has:Observation:patient:status=preliminary", "Patient/ls"},
			{"Organization?_has:Patient:organization:_has:Observation:subject:code=8480-6", "Organization/zj"},
			// composite: every component matches within one item
			{"Observation?code-value-quantity=http://loinc.org|8480-6$gt100", "Observation/bp1"},
			{"Observation?code-value-quantity=http://loinc.org|8480-6$lt100", ""},
			{"Observation?code-value-quantity=15074-8$5.4,8480-6$132", "Observation/bp1 Observation/glu"},
			{"Observation?component-code-value-quantity=http://loinc.org|8480-6$gt100", "Observation/panel"},
			{"Observation?component-code-value-quantity=http://loinc.org|8462-4$gt100", ""},
			{"Observation?component-code-value-quantity=8462-4$lt90|http://unitsofmeasure.org|mm[Hg]", "Observation/panel"},
			// common parameters
			{"Patient?_id=zs,ls", "Patient/ls Patient/zs"},
			// system search
			{"?_id=zs", "Patient/zs"},
			{"?_type=Observation,Encounter", "Encounter/e1 Observation/bp1 Observation/glu Observation/panel"},
			// compartment
			{"Patient/zs/Observation", "Observation/bp1"},
			{"Patient/zs/Encounter?date=2024", "Encounter/e1"},
			{"Patient/ls/Encounter", ""},
		}
		for _, tc := range tests {
			got := strings.Join(searchIDs(t, s, tc.query), " ")
			if got != tc.want {
				t.Errorf("%s = [%s], want [%s]", tc.query, got, tc.want)
			}
		}
		// POST _search with a form body.
		r := s.Must(http.StatusOK, "POST", "Patient/_search", []byte(url.Values{"name": {"张"}}.Encode()), "Content-Type", "application/x-www-form-urlencoded")
		if tot := r.JSON(t)["total"]; fmt.Sprint(tot) != "1" {
			t.Errorf("POST _search total %v", tot)
		}
	})
}

func TestSearchErrorsAndWarnings(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		seed(t, s)
		for _, q := range []string{
			"Patient?birthdate=notadate", "Observation?value-quantity=abc", "Patient?_count=-1",
			"Patient?identifier:missing=maybe", "Patient?_has:Observation:subject", "Observation?status.name=x",
			"Patient?_total=sometimes", "Patient?_page=garbage",
		} {
			if r := s.Do("GET", q, nil); r.Status != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", q, r.Status)
			}
		}
		// Unknown parameter: ignored with a warning outcome, and left out of the self link.
		b := s.Must(http.StatusOK, "GET", "Patient?nonsense=1&gender=male", nil).JSON(t)
		var warned, self bool
		for _, e := range asSlice(b["entry"]) {
			if str(e.(map[string]any), "search", "mode") == "outcome" {
				warned = true
			}
		}
		for _, l := range asSlice(b["link"]) {
			lm := l.(map[string]any)
			if lm["relation"] == "self" {
				self = true
				if u := lm["url"].(string); strings.Contains(u, "nonsense") || !strings.Contains(u, "gender=male") {
					t.Errorf("self link %s", u)
				}
			}
		}
		if !warned || !self {
			t.Errorf("unknown parameter: warned %v, self link %v", warned, self)
		}
		s.Must(http.StatusBadRequest, "GET", "Patient?nonsense=1", nil, "Prefer", "handling=strict")
		s.Must(http.StatusBadRequest, "GET", "Patient?name:below=x", nil, "Prefer", "handling=strict")
	})
}

func TestIncludeSortSummary(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		seed(t, s)
		modes := func(query string) map[string]string {
			out := map[string]string{}
			for _, e := range asSlice(s.Must(http.StatusOK, "GET", query, nil).JSON(t)["entry"]) {
				em := e.(map[string]any)
				if r, ok := em["resource"].(map[string]any); ok {
					out[r["resourceType"].(string)+"/"+fmt.Sprint(r["id"])] = str(em, "search", "mode")
				}
			}
			return out
		}
		got := modes("Observation?code=8480-6&_include=Observation:subject")
		if got["Observation/bp1"] != "match" || got["Patient/zs"] != "include" || len(got) != 2 {
			t.Errorf("_include: %v", got)
		}
		got = modes("Observation?code=8480-6&_include=Observation:subject&_include:iterate=Patient:organization")
		if got["Organization/zj"] != "include" || len(got) != 3 {
			t.Errorf("_include:iterate: %v", got)
		}
		got = modes("Patient?_id=zs&_revinclude=Observation:subject&_revinclude=Encounter:subject")
		if got["Observation/bp1"] != "include" || got["Encounter/e1"] != "include" || len(got) != 3 {
			t.Errorf("_revinclude: %v", got)
		}
		order := func(query string) string {
			var ids []string
			for _, e := range asSlice(s.Must(http.StatusOK, "GET", query, nil).JSON(t)["entry"]) {
				ids = append(ids, fmt.Sprint(e.(map[string]any)["resource"].(map[string]any)["id"]))
			}
			return strings.Join(ids, ",")
		}
		if o := order("Patient?_sort=birthdate"); o != "zs,ls" {
			t.Errorf("_sort=birthdate: %s", o)
		}
		if o := order("Patient?_sort=-birthdate"); o != "ls,zs" {
			t.Errorf("_sort=-birthdate: %s", o)
		}
		if o := order("Observation?_sort=-value-quantity,_id"); o != "bp1,glu,panel" { // no value: last
			t.Errorf("_sort=-value-quantity: %s", o)
		}
		// _summary=count: only the total.
		b := s.Must(http.StatusOK, "GET", "Observation?_summary=count", nil).JSON(t)
		if fmt.Sprint(b["total"]) != "3" || len(asSlice(b["entry"])) != 0 {
			t.Errorf("_summary=count: %v", b)
		}
		// _elements keeps the named elements (and the mandatory ones) and marks the subset.
		b = s.Must(http.StatusOK, "GET", "Patient?_id=zs&_elements=gender", nil).JSON(t)
		p := asSlice(b["entry"])[0].(map[string]any)["resource"].(map[string]any)
		if p["gender"] != "male" || p["name"] != nil || p["birthDate"] != nil || !strings.Contains(fmt.Sprint(p["meta"]), "SUBSETTED") {
			t.Errorf("_elements=gender: %v", p)
		}
		// _summary=true keeps summary elements only: Patient.name is, Observation.valueQuantity is not... but
		// Observation.value[x] is a summary element; Patient.contact is not.
		b = s.Must(http.StatusOK, "GET", "Patient?_id=zs&_summary=true", nil).JSON(t)
		p = asSlice(b["entry"])[0].(map[string]any)["resource"].(map[string]any)
		if p["name"] == nil || p["address"] == nil || !strings.Contains(fmt.Sprint(p["meta"]), "SUBSETTED") {
			t.Errorf("_summary=true: %v", p)
		}
	})
}

// Paging links stay correct while data changes: no resource twice, none skipped.
func TestStablePaging(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		for i := range 23 {
			s.Must(http.StatusCreated, "PUT", fmt.Sprintf("Basic/b%02d", i), []byte(fmt.Sprintf(`{"resourceType":"Basic","id":"b%02d","code":{"text":"x"}}`, i)))
		}
		seen := map[string]int{}
		next := "Basic?_count=5"
		var pages []string
		for n := 0; next != ""; n++ {
			b := s.Must(http.StatusOK, "GET", next, nil).JSON(t)
			var ids []string
			for _, e := range asSlice(b["entry"]) {
				id := fmt.Sprint(e.(map[string]any)["resource"].(map[string]any)["id"])
				seen[id]++
				ids = append(ids, id)
			}
			pages = append(pages, strings.Join(ids, ","))
			if n == 1 { // a write between pages
				s.Must(http.StatusCreated, "PUT", "Basic/new", []byte(`{"resourceType":"Basic","id":"new","code":{"text":"x"}}`))
			}
			next = ""
			for _, l := range asSlice(b["link"]) {
				lm := l.(map[string]any)
				if lm["relation"] == "next" {
					u, _ := url.Parse(lm["url"].(string))
					next = "Basic?" + u.RawQuery
				}
			}
			if n > 10 {
				t.Fatal("paging does not end")
			}
		}
		for i := range 23 {
			if id := fmt.Sprintf("b%02d", i); seen[id] != 1 {
				t.Errorf("%s seen %d times across pages %v", id, seen[id], pages)
			}
		}
	})
}

func TestPatientEverything(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		seed(t, s)
		for i := range 30 {
			s.Must(http.StatusCreated, "PUT", fmt.Sprintf("Observation/o%02d", i), []byte(fmt.Sprintf(
				`{"resourceType":"Observation","id":"o%02d","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/zs"},"effectiveDateTime":"2023-01-%02d"}`, i, i%28+1)))
		}
		all := map[string]int{}
		next := "Patient/zs/$everything?_count=7"
		for n := 0; next != ""; n++ {
			b := s.Must(http.StatusOK, "GET", next, nil).JSON(t)
			for _, e := range asSlice(b["entry"]) {
				r := e.(map[string]any)["resource"].(map[string]any)
				all[r["resourceType"].(string)+"/"+fmt.Sprint(r["id"])]++
			}
			next = ""
			for _, l := range asSlice(b["link"]) {
				if lm := l.(map[string]any); lm["relation"] == "next" {
					u, _ := url.Parse(lm["url"].(string))
					next = "Patient/zs/$everything?" + u.RawQuery
				}
			}
			if n > 20 {
				t.Fatal("paging does not end")
			}
		}
		// The patient, its 31 observations and its encounter; nothing of Patient/ls.
		if len(all) != 33 || all["Patient/zs"] != 1 || all["Encounter/e1"] != 1 || all["Observation/glu"] != 0 {
			t.Errorf("$everything returned %d resources: %v", len(all), all)
		}
		for k, n := range all {
			if n != 1 {
				t.Errorf("%s on %d pages", k, n)
			}
		}
		got := searchIDs(t, s, "Patient/zs/$everything?_type=Encounter")
		if strings.Join(got, " ") != "Encounter/e1" {
			t.Errorf("_type=Encounter: %v", got)
		}
		got = searchIDs(t, s, "Patient/zs/$everything?start=2024-01-01&_count=100")
		if strings.Join(got, " ") != "Encounter/e1 Observation/bp1 Patient/zs" {
			t.Errorf("start=2024: %v", got)
		}
		s.Must(http.StatusNotFound, "GET", "Patient/nobody/$everything", nil)
	})
}

// A reference written as an absolute URL on this server's base is a local reference:
// searches by Type/id, by id and by the absolute URL find it, and _include follows it.
func TestAbsoluteLocalReferences(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		seed(t, s)
		s.Must(http.StatusCreated, "PUT", "Observation/abs", []byte(`{"resourceType":"Observation","id":"abs","status":"final",
		  "code":{"text":"体温"},"subject":{"reference":"`+s.URL+`/Patient/zs"}}`))
		s.Must(http.StatusCreated, "PUT", "Observation/other", []byte(`{"resourceType":"Observation","id":"other","status":"final",
		  "code":{"text":"体温"},"subject":{"reference":"https://other.example/fhir/Patient/zs"}}`))
		for _, q := range []string{
			"Observation?code:text=体温&subject=Patient/zs",
			"Observation?code:text=体温&subject=zs",
			"Observation?code:text=体温&subject=" + url.QueryEscape(s.URL+"/Patient/zs"),
			"Observation?code:text=体温&patient=zs",
		} {
			if got := searchIDs(t, s, q); fmt.Sprint(got) != "[Observation/abs]" {
				t.Errorf("%s: %v, want [Observation/abs]", q, got)
			}
		}
		if got := searchIDs(t, s, "Observation?subject="+url.QueryEscape("https://other.example/fhir/Patient/zs")); fmt.Sprint(got) != "[Observation/other]" {
			t.Errorf("another server's URL: %v", got)
		}
	})
}
