package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/shch/fhirgw/gateway/index"
	"github.com/shch/fhirgw/gateway/searchparam"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/shch/fhirgw/conformance/fhirtest"
	"github.com/shch/fhirgw/gateway/fhirjson"
)

// forEachStore runs a test against every store kind.
func forEachStore(t *testing.T, fn func(t *testing.T, s *fhirtest.Server)) {
	for _, kind := range fhirtest.Stores {
		t.Run(kind, func(t *testing.T) {
			fn(t, fhirtest.Start(t, kind))
		})
	}
}

const patientZhang = `{"resourceType":"Patient","identifier":[{"system":"urn:oid:2.16.156.10011.1.3","value":"11010519491231002X"},{"system":"urn:oid:1.2.3.hospital","value":"MRN-1"}],"active":true,
 "name":[{"text":"张三"}],"gender":"male","birthDate":"1949-12-31","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1949-12-31T08:30:00+08:00"}]},
 "address":[{"use":"home","text":"上海市浦东新区张江镇科苑路88弄1号101室","state":"上海市","city":"上海市","district":"浦东新区"}]}`

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

func issues(t *testing.T, r *fhirtest.Response) []map[string]any {
	t.Helper()
	m := r.JSON(t)
	if m["resourceType"] != "OperationOutcome" {
		t.Fatalf("expected an OperationOutcome, got %s", r.Body)
	}
	var out []map[string]any
	for _, i := range m["issue"].([]any) {
		out = append(out, i.(map[string]any))
	}
	return out
}

func TestCreateReadUpdateDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		r := s.Must(http.StatusCreated, "POST", "Patient", []byte(patientZhang))
		created := r.JSON(t)
		id := str(created, "id")
		if id == "" || str(created, "meta", "versionId") != "1" || str(created, "meta", "lastUpdated") == "" {
			t.Fatalf("created resource lacks id/meta: %s", r.Body)
		}
		if loc := r.Header.Get("Location"); loc != s.URL+"/Patient/"+id+"/_history/1" {
			t.Errorf("Location = %q", loc)
		}
		if et := r.Header.Get("ETag"); et != `W/"1"` {
			t.Errorf("ETag = %q", et)
		}
		// Everything the client sent survives: primitive extension, Chinese text.
		if ok, _ := fhirjson.Equal(strip(t, r.Body, "meta", "id"), strip(t, []byte(patientZhang), "meta", "id")); !ok {
			t.Errorf("created body differs from what was sent:\n%s", r.Body)
		}

		read := s.Must(http.StatusOK, "GET", "Patient/"+id, nil)
		if !bytes.Equal(read.Body, r.Body) {
			t.Errorf("read differs from create response:\n%s\n%s", read.Body, r.Body)
		}
		if ct := read.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
			t.Errorf("Content-Type = %q", ct)
		}
		s.Must(http.StatusNotModified, "GET", "Patient/"+id, nil, "If-None-Match", `W/"1"`)
		s.Must(http.StatusOK, "GET", "Patient/"+id, nil, "If-None-Match", `W/"7"`)
		s.Must(http.StatusNotModified, "GET", "Patient/"+id, nil, "If-None-Match", `W/"7", W/"1"`) // a list
		s.Must(http.StatusNotModified, "GET", "Patient/"+id, nil, "If-None-Match", `*`)
		// If-None-Match decides; If-Modified-Since is then ignored (RFC 9110 13.2.2).
		s.Must(http.StatusOK, "GET", "Patient/"+id, nil, "If-None-Match", `W/"7"`, "If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")
		s.Must(http.StatusNotModified, "GET", "Patient/"+id, nil, "If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")
		s.Must(http.StatusOK, "GET", "Patient/"+id, nil, "If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")

		upd := strings.Replace(patientZhang, `"active":true`, `"id":"`+id+`","active":false`, 1)
		r2 := s.Must(http.StatusOK, "PUT", "Patient/"+id, []byte(upd))
		if str(r2.JSON(t), "meta", "versionId") != "2" || r2.Header.Get("ETag") != `W/"2"` {
			t.Errorf("update did not make version 2: %s", r2.Body)
		}
		s.Must(http.StatusPreconditionFailed, "PUT", "Patient/"+id, []byte(upd), "If-Match", `W/"1"`)
		s.Must(http.StatusOK, "PUT", "Patient/"+id, []byte(upd), "If-Match", `W/"2"`)

		v1 := s.Must(http.StatusOK, "GET", "Patient/"+id+"/_history/1", nil)
		if !bytes.Equal(v1.Body, r.Body) {
			t.Errorf("vread 1 differs from the created version")
		}
		s.Must(http.StatusNotFound, "GET", "Patient/"+id+"/_history/99", nil)

		d := s.Must(http.StatusNoContent, "DELETE", "Patient/"+id, nil)
		if d.Header.Get("ETag") != `W/"4"` {
			t.Errorf("delete ETag = %q, want W/\"4\"", d.Header.Get("ETag"))
		}
		gone := s.Must(http.StatusGone, "GET", "Patient/"+id, nil)
		issues(t, gone)
		s.Must(http.StatusGone, "GET", "Patient/"+id+"/_history/4", nil)
		s.Must(http.StatusOK, "GET", "Patient/"+id+"/_history/3", nil)
		s.Must(http.StatusNoContent, "DELETE", "Patient/"+id, nil) // deleting again is fine
		// Re-creating after delete continues the version sequence.
		re := s.Must(http.StatusCreated, "PUT", "Patient/"+id, []byte(upd))
		if str(re.JSON(t), "meta", "versionId") != "5" {
			t.Errorf("re-created version = %s, want 5", str(re.JSON(t), "meta", "versionId"))
		}
		// Update as create with a client-chosen id.
		own := strings.Replace(patientZhang, `"active":true`, `"id":"sh-resident-001","active":true`, 1)
		s.Must(http.StatusCreated, "PUT", "Patient/sh-resident-001", []byte(own))
		s.Must(http.StatusOK, "GET", "Patient/sh-resident-001", nil)
		// DELETE of something that never existed.
		s.Must(http.StatusNoContent, "DELETE", "Patient/never-was", nil)
		s.Must(http.StatusPreconditionFailed, "DELETE", "Patient/sh-resident-001", nil, "If-Match", `W/"9"`)
		s.Must(http.StatusNoContent, "DELETE", "Patient/sh-resident-001", nil, "If-Match", `W/"1"`)
	})
}

// strip removes top-level members for comparisons.
func strip(t *testing.T, body []byte, keys ...string) []byte {
	t.Helper()
	obj, err := fhirjson.ParseObject(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		obj = obj.Delete(k)
	}
	return obj.Bytes()
}

func TestDecimalPrecisionAndOrderSurvive(t *testing.T) {
	obs := `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"14743-9"}],"text":"指尖血糖"},"valueQuantity":{"value":6.10,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"},"referenceRange":[{"low":{"value":3.90},"high":{"value":1.5e1}}]}`
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		r := s.Must(http.StatusCreated, "POST", "Observation", []byte(obs))
		for _, lit := range []string{`"value":6.10`, `"value":3.90`, `"value":1.5e1`, `"text":"指尖血糖"`} {
			if !bytes.Contains(r.Body, []byte(lit)) {
				t.Errorf("stored body lost %s: %s", lit, r.Body)
			}
		}
		id := str(r.JSON(t), "id")
		read := s.Must(http.StatusOK, "GET", "Observation/"+id, nil)
		if !bytes.Contains(read.Body, []byte(`"value":6.10`)) {
			t.Errorf("read lost the decimal precision: %s", read.Body)
		}
		pretty := s.Must(http.StatusOK, "GET", "Observation/"+id+"?_pretty=true", nil)
		if !bytes.Contains(pretty.Body, []byte("\n  \"id\"")) || !bytes.Contains(pretty.Body, []byte(`"value": 6.10`)) {
			t.Errorf("_pretty=true is not indented or lost precision: %s", pretty.Body)
		}
	})
}

func TestErrors(t *testing.T) {
	for _, kind := range fhirtest.Stores {
		t.Run(kind, func(t *testing.T) {
			s := fhirtest.Start(t, kind, fhirtest.Options{MaxBody: 4096})
			s.Must(http.StatusCreated, "PUT", "Patient/p1", []byte(`{"resourceType":"Patient","id":"p1"}`))
			big := `{"resourceType":"Patient","name":[{"text":"` + strings.Repeat("x", 5000) + `"}]}`
			tests := []struct {
				name         string
				method, path string
				body         string
				header       []string
				status       int
				expression   string
			}{
				{"malformed JSON", "POST", "Patient", `{"resourceType":"Patient",`, nil, 400, ""},
				{"not an object", "POST", "Patient", `[1,2]`, nil, 400, ""},
				{"type differs from URL", "POST", "Patient", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, nil, 400, ""},
				{"body id differs on update", "PUT", "Patient/p1", `{"resourceType":"Patient","id":"p2"}`, nil, 400, ""},
				{"no body id on update", "PUT", "Patient/p1", `{"resourceType":"Patient"}`, nil, 400, ""},
				{"invalid id", "GET", "Patient/bad$id", "", nil, 400, ""},
				{"unknown type", "GET", "Patient2/1", "", nil, 404, ""},
				{"unknown type create", "POST", "Foo", `{"resourceType":"Foo"}`, nil, 404, ""},
				{"missing resource", "GET", "Patient/nope", "", nil, 404, ""},
				{"body too large", "POST", "Patient", big, nil, 413, ""},
				{"unsupported media type", "POST", "Patient", `{"resourceType":"Patient"}`, []string{"Content-Type", "text/plain"}, 415, ""},
				{"XML body", "POST", "Patient", `<Patient xmlns="http://hl7.org/fhir"/>`, []string{"Content-Type", "application/fhir+xml"}, 415, ""},
				{"wrong fhirVersion", "POST", "Patient", `{"resourceType":"Patient"}`, []string{"Content-Type", "application/fhir+json; fhirVersion=3.0"}, 415, ""},
				{"charset other than UTF-8", "POST", "Patient", `{"resourceType":"Patient"}`, []string{"Content-Type", "application/fhir+json; charset=GBK"}, 415, ""},
				{"XML wanted", "GET", "Patient/p1", "", []string{"Accept", "application/fhir+xml"}, 406, ""},
				{"_format xml", "GET", "Patient/p1?_format=xml", "", nil, 406, ""},
				{"unknown element", "POST", "Patient", `{"resourceType":"Patient","nickname":"x"}`, nil, 422, "Patient.nickname"},
				{"wrong JSON type", "POST", "Patient", `{"resourceType":"Patient","active":"yes"}`, nil, 422, "Patient.active"},
				{"nested wrong type", "POST", "Patient", `{"resourceType":"Patient","name":[{"given":"Zhang"}]}`, nil, 422, "Patient.name[0].given"},
				{"missing resourceType", "POST", "Patient", `{"active":true}`, nil, 422, ""},
				{"bad date", "POST", "Patient", `{"resourceType":"Patient","birthDate":"1949-13-45"}`, nil, 422, "Patient.birthDate"},
				{"patch wrong media type", "PATCH", "Patient/p1", `[]`, []string{"Content-Type", "application/fhir+json"}, 415, ""},
				{"delete on type without criteria", "DELETE", "Patient", "", nil, 405, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var body []byte
					if tt.body != "" {
						body = []byte(tt.body)
					}
					r := s.Do(tt.method, tt.path, body, tt.header...)
					if r.Status != tt.status {
						t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
					}
					is := issues(t, r)
					if tt.expression != "" {
						found := false
						for _, i := range is {
							for _, e := range asSlice(i["expression"]) {
								found = found || e == tt.expression
							}
						}
						if !found {
							t.Errorf("no issue at %s: %s", tt.expression, r.Body)
						}
					}
				})
			}
			// Nothing of the failed requests was written.
			h := s.Must(http.StatusOK, "GET", "_history", nil).JSON(t)
			if n := len(asSlice(h["entry"])); n != 1 {
				t.Errorf("system history has %d entries after failed requests, want 1", n)
			}
		})
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func TestPrefer(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		r := s.Must(http.StatusCreated, "POST", "Patient", []byte(patientZhang), "Prefer", "return=minimal")
		if len(r.Body) != 0 || r.Header.Get("Location") == "" {
			t.Errorf("return=minimal: body %q, Location %q", r.Body, r.Header.Get("Location"))
		}
		r = s.Must(http.StatusCreated, "POST", "Patient", []byte(patientZhang), "Prefer", "return=OperationOutcome")
		issues(t, r)
		r = s.Must(http.StatusCreated, "POST", "Patient", []byte(patientZhang), "Prefer", "return=representation")
		if r.JSON(t)["resourceType"] != "Patient" {
			t.Errorf("return=representation: %s", r.Body)
		}
	})
}

func TestPatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		id := str(s.Must(http.StatusCreated, "POST", "Patient", []byte(patientZhang)).JSON(t), "id")
		patch := func(doc string, header ...string) *fhirtest.Response {
			return s.Do("PATCH", "Patient/"+id, []byte(doc), append([]string{"Content-Type", "application/json-patch+json"}, header...)...)
		}
		r := patch(`[{"op":"replace","path":"/birthDate","value":"1949-12-30"},{"op":"add","path":"/telecom","value":[{"system":"phone","value":"13800000000"}]}]`)
		if r.Status != 200 {
			t.Fatalf("patch: %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		if str(m, "birthDate") != "1949-12-30" || str(m, "meta", "versionId") != "2" || m["_birthDate"] == nil {
			t.Errorf("patched resource wrong: %s", r.Body)
		}
		if r := patch(`[{"op":"test","path":"/gender","value":"female"}]`); r.Status != 422 {
			t.Errorf("failing test op: %d, want 422", r.Status)
		}
		if r := patch(`[{"op":"add","path":"/favouriteColour","value":"red"}]`); r.Status != 422 {
			t.Errorf("patch producing an invalid resource: %d, want 422", r.Status)
		}
		if r := patch(`[{"op":"replace","path":"/id","value":"other"}]`); r.Status != 422 {
			t.Errorf("patch changing the id: %d, want 422", r.Status)
		}
		if r := patch(`not json`); r.Status != 400 {
			t.Errorf("malformed patch: %d, want 400", r.Status)
		}
		if r := patch(`[{"op":"remove","path":"/active"}]`, "If-Match", `W/"1"`); r.Status != 412 {
			t.Errorf("patch with stale If-Match: %d, want 412", r.Status)
		}
		if r := patch(`[{"op":"remove","path":"/active"}]`, "If-Match", `W/"2"`); r.Status != 200 {
			t.Errorf("patch with current If-Match: %d %s", r.Status, r.Body)
		}
		if r := s.Do("PATCH", "Patient/missing", []byte(`[]`), "Content-Type", "application/json-patch+json"); r.Status != 404 {
			t.Errorf("patch of a missing resource: %d", r.Status)
		}
	})
}

func TestConditionalInteractions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		idc := url.QueryEscape("urn:oid:2.16.156.10011.1.3|11010519491231002X")
		r1 := s.Must(http.StatusCreated, "POST", "Patient", []byte(patientZhang), "If-None-Exist", "identifier="+idc)
		id := str(r1.JSON(t), "id")
		r2 := s.Must(http.StatusOK, "POST", "Patient", []byte(patientZhang), "If-None-Exist", "identifier="+idc)
		if str(r2.JSON(t), "id") != id {
			t.Errorf("conditional create made a second patient")
		}
		// Search finds exactly one.
		b := s.Must(http.StatusOK, "GET", "Patient?identifier="+idc, nil).JSON(t)
		if b["total"] != json.Number("1") {
			t.Errorf("search total = %v, want 1", b["total"])
		}
		// Conditional update: one match -> update that resource.
		upd := strings.Replace(patientZhang, `"active":true`, `"active":false`, 1)
		r3 := s.Must(http.StatusOK, "PUT", "Patient?identifier="+idc, []byte(upd))
		if str(r3.JSON(t), "id") != id || str(r3.JSON(t), "meta", "versionId") != "2" {
			t.Errorf("conditional update did not update %s: %s", id, r3.Body)
		}
		// No match -> create.
		other := `{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.3.hospital","value":"MRN-2"}],"name":[{"text":"欧阳娜娜"}]}`
		r4 := s.Must(http.StatusCreated, "PUT", "Patient?identifier=urn:oid:1.2.3.hospital|MRN-2", []byte(other))
		id2 := str(r4.JSON(t), "id")
		// Two patients share the system: many matches -> 412 for create, update and delete.
		sys := "identifier=" + url.QueryEscape("urn:oid:1.2.3.hospital|")
		s.Must(http.StatusPreconditionFailed, "POST", "Patient", []byte(other), "If-None-Exist", sys)
		s.Must(http.StatusPreconditionFailed, "PUT", "Patient?"+sys, []byte(other))
		s.Must(http.StatusPreconditionFailed, "DELETE", "Patient?"+sys, nil)
		// Unknown criteria are not silently dropped from conditional operations.
		s.Must(http.StatusBadRequest, "PUT", "Patient?nickname=x", []byte(other))
		// Conditional delete of one.
		s.Must(http.StatusNoContent, "DELETE", "Patient?identifier=urn:oid:1.2.3.hospital|MRN-2", nil)
		s.Must(http.StatusGone, "GET", "Patient/"+id2, nil)
		s.Must(http.StatusNoContent, "DELETE", "Patient?identifier=urn:oid:1.2.3.hospital|nobody", nil)
		// Conditional patch.
		r5 := s.Do("PATCH", "Patient?identifier="+idc, []byte(`[{"op":"replace","path":"/active","value":true}]`), "Content-Type", "application/json-patch+json")
		if r5.Status != 200 || str(r5.JSON(t), "id") != id {
			t.Errorf("conditional patch: %d %s", r5.Status, r5.Body)
		}
	})
}

func TestSearchBasics(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		var ids []string
		for i := 0; i < 5; i++ {
			body := fmt.Sprintf(`{"resourceType":"Patient","identifier":[{"system":"urn:test","value":"v%d"}]}`, i)
			ids = append(ids, str(s.Must(http.StatusCreated, "POST", "Patient", []byte(body)).JSON(t), "id"))
		}
		s.Must(http.StatusCreated, "POST", "Observation", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"}}`))
		b := s.Must(http.StatusOK, "GET", "Patient?_id="+ids[1]+","+ids[3], nil).JSON(t)
		if b["type"] != "searchset" || b["total"] != json.Number("2") {
			t.Errorf("_id search: %v", b)
		}
		b = s.Must(http.StatusOK, "GET", "Patient?identifier=v2", nil).JSON(t)
		if b["total"] != json.Number("1") {
			t.Errorf("identifier code-only search total = %v", b["total"])
		}
		b = s.Must(http.StatusOK, "GET", "Patient?_lastUpdated=gt2000-01-01&_count=2&_total=accurate", nil).JSON(t)
		if b["total"] != json.Number("5") || len(asSlice(b["entry"])) != 2 {
			t.Errorf("_lastUpdated with _count=2: total %v, %d entries", b["total"], len(asSlice(b["entry"])))
		}
		// Without _total the server does not count beyond the page.
		b = s.Must(http.StatusOK, "GET", "Patient?_lastUpdated=gt2000-01-01&_count=2", nil).JSON(t)
		if _, ok := b["total"]; ok || len(asSlice(b["entry"])) != 2 {
			t.Errorf("_count=2 without _total: total %v, %d entries", b["total"], len(asSlice(b["entry"])))
		}
		// Follow next links: every patient exactly once.
		seen := map[string]bool{}
		next := s.URL + "/Patient?_count=2"
		for pages := 0; next != "" && pages < 10; pages++ {
			page := s.Must(http.StatusOK, "GET", next, nil).JSON(t)
			next = ""
			for _, l := range asSlice(page["link"]) {
				if lm := l.(map[string]any); lm["relation"] == "next" {
					next = lm["url"].(string)
				}
			}
			for _, e := range asSlice(page["entry"]) {
				id := str(e.(map[string]any), "resource", "id")
				if seen[id] {
					t.Errorf("patient %s on two pages", id)
				}
				seen[id] = true
			}
		}
		if len(seen) != 5 {
			t.Errorf("paging returned %d patients, want 5", len(seen))
		}
		b = s.Must(http.StatusOK, "GET", "Patient?_lastUpdated=lt2000-01-01", nil).JSON(t)
		if b["total"] != json.Number("0") {
			t.Errorf("_lastUpdated=lt2000: total %v", b["total"])
		}
		// Unknown parameters: ignored and reported, or 400 under handling=strict.
		r := s.Must(http.StatusOK, "GET", "Patient?favourite=blue", nil)
		if !bytes.Contains(r.Body, []byte(`"mode":"outcome"`)) || r.JSON(t)["total"] != json.Number("5") {
			t.Errorf("unknown parameter not reported as an outcome entry: %s", r.Body)
		}
		for _, l := range asSlice(r.JSON(t)["link"]) {
			if lm := l.(map[string]any); lm["relation"] == "self" && strings.Contains(lm["url"].(string), "favourite") {
				t.Errorf("self link shows an ignored parameter: %s", lm["url"])
			}
		}
		s.Must(http.StatusBadRequest, "GET", "Patient?favourite=blue", nil, "Prefer", "handling=strict")
		s.Must(http.StatusBadRequest, "GET", "Patient?_lastUpdated=yesterday", nil)
		// POST _search with a form body.
		r = s.Do("POST", "Patient/_search", []byte("identifier=v4"), "Content-Type", "application/x-www-form-urlencoded")
		if r.Status != 200 || r.JSON(t)["total"] != json.Number("1") {
			t.Errorf("POST _search: %d %s", r.Status, r.Body)
		}
	})
}

func TestHistory(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		id := str(s.Must(http.StatusCreated, "POST", "Patient", []byte(patientZhang)).JSON(t), "id")
		upd := strings.Replace(patientZhang, `"active":true`, `"id":"`+id+`","active":false`, 1)
		s.Must(http.StatusOK, "PUT", "Patient/"+id, []byte(upd))
		s.Must(http.StatusNoContent, "DELETE", "Patient/"+id, nil)
		s.Must(http.StatusCreated, "POST", "Observation", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"}}`))

		h := s.Must(http.StatusOK, "GET", "Patient/"+id+"/_history", nil).JSON(t)
		entries := asSlice(h["entry"])
		if h["type"] != "history" || len(entries) != 3 {
			t.Fatalf("instance history: %v", h)
		}
		wantMethods := []string{"DELETE", "PUT", "POST"}
		for i, e := range entries {
			em := e.(map[string]any)
			if m := str(em, "request", "method"); m != wantMethods[i] {
				t.Errorf("entry %d method %s, want %s", i, m, wantMethods[i])
			}
		}
		if _, ok := entries[0].(map[string]any)["resource"]; ok {
			t.Errorf("the delete entry carries a resource")
		}
		if n := len(asSlice(s.Must(http.StatusOK, "GET", "Patient/_history", nil).JSON(t)["entry"])); n != 3 {
			t.Errorf("type history has %d entries, want 3", n)
		}
		// System history, paged one by one, visits all four versions once.
		var got []string
		next := s.URL + "/_history?_count=1"
		for next != "" && len(got) < 10 {
			p := s.Must(http.StatusOK, "GET", next, nil).JSON(t)
			for _, e := range asSlice(p["entry"]) {
				em := e.(map[string]any)
				got = append(got, str(em, "fullUrl")+"@"+str(em, "response", "etag"))
			}
			next = ""
			for _, l := range asSlice(p["link"]) {
				if lm := l.(map[string]any); lm["relation"] == "next" {
					next = lm["url"].(string)
				}
			}
		}
		if len(got) != 4 {
			t.Errorf("paged system history: %v", got)
		}
		// _since in the future: nothing.
		if n := len(asSlice(s.Must(http.StatusOK, "GET", "_history?_since=2100-01-01T00:00:00Z", nil).JSON(t)["entry"])); n != 0 {
			t.Errorf("_since in the future returned %d entries", n)
		}
		// _count=0: the number of versions only, as in search.
		for path, want := range map[string]string{"Patient/" + id + "/_history": "3", "Patient/_history": "3", "_history": "4",
			"_history?_since=2100-01-01T00:00:00Z": "0", "Observation/_history?_page=1": "1"} {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			p := s.Must(http.StatusOK, "GET", path+sep+"_count=0", nil).JSON(t)
			if p["total"] != json.Number(want) || len(asSlice(p["entry"])) != 0 {
				t.Errorf("%s with _count=0: total %v, %d entries; want total %s and none", path, p["total"], len(asSlice(p["entry"])), want)
			}
		}
		s.Must(http.StatusNotFound, "GET", "Patient/unknown/_history", nil)
		s.Must(http.StatusBadRequest, "GET", "_history?_since=notadate", nil)
		s.Must(http.StatusBadRequest, "GET", "_history?_count=-1", nil)
	})
}

func TestCapabilityStatement(t *testing.T) {
	s := fhirtest.Start(t, "sqlite")
	cs := s.Must(http.StatusOK, "GET", "metadata", nil).JSON(t)
	if cs["resourceType"] != "CapabilityStatement" || cs["fhirVersion"] != "4.0.1" {
		t.Fatalf("metadata: %v", cs)
	}
	for _, f := range asSlice(cs["format"]) {
		if strings.Contains(f.(string), "xml") {
			t.Errorf("format claims XML, which is not supported")
		}
	}
	rest := asSlice(cs["rest"])[0].(map[string]any)
	resources := asSlice(rest["resource"])
	if len(resources) != 146 {
		t.Errorf("%d resource types, want the 146 of R4", len(resources))
	}
	// Patient claims exactly the official parameters the server indexes: every R4
	// Patient (and Resource/DomainResource) parameter of a supported type that has a
	// FHIRPath expression, plus _id and _lastUpdated.
	want := []string{"_id", "_lastUpdated"}
	for _, d := range index.Applicable(searchparam.Official(), "Patient") {
		if _, ok := index.KindOf(d.Type); ok && index.ForType(d.Expression, "Patient") != "" {
			want = append(want, d.Code)
		}
	}
	sort.Strings(want)
	claimed := 0
	for _, r := range resources {
		rm := r.(map[string]any)
		typ := rm["type"].(string)
		var params []string
		for _, p := range asSlice(rm["searchParam"]) {
			name := p.(map[string]any)["name"].(string)
			params = append(params, name)
			// Nothing claimed that is not implemented: every claimed parameter is
			// accepted under strict handling.
			if typ == "Patient" || typ == "Observation" || typ == "SearchParameter" || typ == "Bundle" {
				s.Must(http.StatusOK, "GET", typ+"?"+name+":missing=true&_count=1", nil, "Prefer", "handling=strict")
			}
			claimed++
		}
		if typ != "Patient" {
			continue
		}
		sort.Strings(params)
		if strings.Join(params, ",") != strings.Join(want, ",") {
			t.Errorf("Patient search parameters = %v, want %v", params, want)
		}
	}
	if claimed < 1300 {
		t.Errorf("only %d search parameters claimed across all types", claimed)
	}
	// Every interaction claimed answers: spot-check via the API.
	s.Must(http.StatusOK, "GET", "Patient/_history", nil)
	s.Must(http.StatusOK, "GET", "Patient", nil)
}

func TestOperationalEndpoints(t *testing.T) {
	s := fhirtest.Start(t, "sqlite")
	s.Must(http.StatusOK, "GET", s.Root+"/healthz", nil)
	s.Must(http.StatusOK, "GET", s.Root+"/readyz", nil)
	s.Must(http.StatusNotFound, "GET", "Patient/x", nil)
	m := s.Must(http.StatusOK, "GET", s.Root+"/metrics", nil)
	for _, want := range []string{`fhirgw_http_requests_total{code="404",interaction="read",resource_type="Patient"} 1`, "fhirgw_store_operation_duration_seconds", "fhirgw_http_request_duration_seconds"} {
		if !bytes.Contains(m.Body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// An update that changes nothing keeps the version; any change makes a new one.
func TestNoOpUpdateKeepsVersion(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		body := []byte(`{"resourceType":"Practitioner","id":"gp","meta":{"tag":[{"code":"t"}]},"name":[{"text":"李医生"}],"extension":[{"url":"http://x.example/score","valueDecimal":1.50}]}`)
		s.Must(http.StatusCreated, "PUT", "Practitioner/gp", body)
		r := s.Must(http.StatusOK, "PUT", "Practitioner/gp", body)
		if r.Header.Get("ETag") != `W/"1"` {
			t.Errorf("unchanged update made version %s", r.Header.Get("ETag"))
		}
		// 1.5 is not 1.50: decimals keep their precision, so this is a change.
		r = s.Must(http.StatusOK, "PUT", "Practitioner/gp", []byte(strings.Replace(string(body), "1.50", "1.5", 1)))
		if r.Header.Get("ETag") != `W/"2"` {
			t.Errorf("changed update: version %s, want 2", r.Header.Get("ETag"))
		}
		// A changed tag is a change too.
		r = s.Must(http.StatusOK, "PUT", "Practitioner/gp", []byte(strings.Replace(string(body), `"code":"t"`, `"code":"u"`, 1)))
		if r.Header.Get("ETag") != `W/"3"` {
			t.Errorf("changed tag: version %s, want 3", r.Header.Get("ETag"))
		}
		if n := len(asSlice(s.Must(http.StatusOK, "GET", "Practitioner/gp/_history", nil).JSON(t)["entry"])); n != 3 {
			t.Errorf("history has %d versions, want 3", n)
		}
	})
}

// Content negotiation: application/json and the fhirVersion and charset parameters are
// accepted in, and the answer is FHIR JSON in UTF-8 unless the client asked for plain
// application/json.
func TestContentNegotiation(t *testing.T) {
	s := fhirtest.Start(t, "sqlite")
	for _, ct := range []string{"application/json", "application/fhir+json; fhirVersion=4.0", "application/fhir+json; charset=utf-8"} {
		r := s.Do("POST", "Patient", []byte(`{"resourceType":"Patient"}`), "Content-Type", ct)
		if r.Status != http.StatusCreated {
			t.Errorf("Content-Type %q: status %d: %s", ct, r.Status, r.Body)
		}
	}
	s.Must(http.StatusCreated, "PUT", "Patient/cn1", []byte(`{"resourceType":"Patient","id":"cn1"}`))
	for _, tc := range []struct {
		path, accept, want string
	}{
		{"Patient/cn1", "", "application/fhir+json"},
		{"Patient/cn1", "application/fhir+json; fhirVersion=4.0", "application/fhir+json"},
		{"Patient/cn1", "application/json", "application/json"},
		{"Patient/cn1?_format=json", "", "application/fhir+json"},
		{"Patient/cn1?_format=application/json", "", "application/json"},
	} {
		var h []string
		if tc.accept != "" {
			h = []string{"Accept", tc.accept}
		}
		r := s.Must(http.StatusOK, "GET", tc.path, nil, h...)
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != tc.want || !strings.EqualFold(params["charset"], "utf-8") {
			t.Errorf("GET %s (Accept %q): Content-Type %q, want %s; charset=utf-8", tc.path, tc.accept, r.Header.Get("Content-Type"), tc.want)
		}
	}
}
