package conformance

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/shch/fhirgw/conformance/fhirtest"
)

func entries(t *testing.T, r *fhirtest.Response) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range asSlice(r.JSON(t)["entry"]) {
		out = append(out, e.(map[string]any))
	}
	return out
}

func TestTransaction(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		s.Must(http.StatusCreated, "PUT", "Patient/old", []byte(`{"resourceType":"Patient","id":"old"}`))
		s.Must(http.StatusCreated, "PUT", "Organization/csc-zj", []byte(`{"resourceType":"Organization","id":"csc-zj","identifier":[{"system":"urn:oid:2.16.156.10011.1.5","value":"PDHOSP001"}],"name":"张江社区卫生服务中心"}`))
		// Entries are listed in an order the server must rearrange: GET, PUT, POST, DELETE.
		tx := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"request":{"method":"GET","url":"Patient?identifier=urn:test|tx-1"}},
		 {"fullUrl":"urn:uuid:0c1e7b38-2c1d-4b4e-9a36-6f3a1f6f0a01","resource":{"resourceType":"Observation","id":"bp-1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
		   "subject":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},"performer":[{"reference":"Organization?identifier=urn:oid:2.16.156.10011.1.5|PDHOSP001"}],
		   "valueQuantity":{"value":132.0,"unit":"mm[Hg]","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
		   "request":{"method":"PUT","url":"Observation/bp-1"}},
		 {"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","resource":{"resourceType":"Patient","identifier":[{"system":"urn:test","value":"tx-1"}],"name":[{"text":"李四"}]},
		   "request":{"method":"POST","url":"Patient"}},
		 {"request":{"method":"DELETE","url":"Patient/old"}}
		]}`
		r := s.Must(http.StatusOK, "POST", "", []byte(tx))
		b := r.JSON(t)
		if b["type"] != "transaction-response" {
			t.Fatalf("response type %v", b["type"])
		}
		es := entries(t, r)
		if len(es) != 4 {
			t.Fatalf("%d response entries, want 4", len(es))
		}
		want := []string{"200 OK", "201 Created", "201 Created", "204 No Content"}
		for i, e := range es {
			if st := str(e, "response", "status"); st != want[i] {
				t.Errorf("entry %d status %q, want %q", i, st, want[i])
			}
		}
		// The GET ran after the POST, inside the transaction: it sees the new patient.
		found := es[0]["resource"].(map[string]any)
		if found["total"] != json.Number("1") {
			t.Errorf("GET entry ran before the POST: %v", found)
		}
		patientLoc := str(es[2], "response", "location")
		pid := strings.Split(patientLoc, "/")[1]
		if !strings.HasPrefix(patientLoc, "Patient/"+pid+"/_history/1") || str(es[2], "response", "etag") != `W/"1"` {
			t.Errorf("POST entry location %q etag %q", patientLoc, str(es[2], "response", "etag"))
		}
		obs := s.Must(http.StatusOK, "GET", "Observation/bp-1", nil).JSON(t)
		if ref := str(obs, "subject", "reference"); ref != "Patient/"+pid {
			t.Errorf("urn:uuid reference rewritten to %q, want Patient/%s", ref, pid)
		}
		perf := asSlice(obs["performer"])[0].(map[string]any)["reference"]
		if perf != "Organization/csc-zj" {
			t.Errorf("conditional reference resolved to %v", perf)
		}
		s.Must(http.StatusGone, "GET", "Patient/old", nil)
	})
}

func TestTransactionIsAllOrNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		before := len(asSlice(s.Must(http.StatusOK, "GET", "_history", nil).JSON(t)["entry"]))
		// The last entry fails (If-Match on a resource that does not exist): nothing stays.
		tx := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"fullUrl":"urn:uuid:a","resource":{"resourceType":"Patient","name":[{"text":"王五"}]},"request":{"method":"POST","url":"Patient"}},
		 {"resource":{"resourceType":"Patient","id":"p2"},"request":{"method":"PUT","url":"Patient/p2"}},
		 {"resource":{"resourceType":"Patient","id":"p3"},"request":{"method":"PUT","url":"Patient/p3","ifMatch":"W/\"4\""}}
		]}`
		r := s.Do("POST", "", []byte(tx))
		if r.Status != http.StatusPreconditionFailed {
			t.Fatalf("failed transaction: status %d, want 412: %s", r.Status, r.Body)
		}
		issues(t, r)
		after := len(asSlice(s.Must(http.StatusOK, "GET", "_history", nil).JSON(t)["entry"]))
		if after != before {
			t.Errorf("a failed transaction left %d versions behind", after-before)
		}
		s.Must(http.StatusNotFound, "GET", "Patient/p2", nil)
		// A structurally invalid entry fails the whole transaction with 422 and its path.
		bad := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"resource":{"resourceType":"Patient","id":"p4"},"request":{"method":"PUT","url":"Patient/p4"}},
		 {"resource":{"resourceType":"Patient","id":"p5","gender":7},"request":{"method":"PUT","url":"Patient/p5"}}]}`
		r = s.Do("POST", "", []byte(bad))
		if r.Status != 422 || !strings.Contains(string(r.Body), "Bundle.entry[1].resource.gender") {
			t.Errorf("invalid entry: %d %s", r.Status, r.Body)
		}
		s.Must(http.StatusNotFound, "GET", "Patient/p4", nil)
		// A reference to a fullUrl that is not in the bundle.
		dangling := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:nowhere"}},"request":{"method":"POST","url":"Observation"}}]}`
		if r := s.Do("POST", "", []byte(dangling)); r.Status != 400 {
			t.Errorf("dangling urn:uuid: %d %s", r.Status, r.Body)
		}
		if r := s.Do("POST", "", []byte(`{"resourceType":"Bundle","type":"collection"}`)); r.Status != 400 {
			t.Errorf("collection bundle posted to the base: %d", r.Status)
		}
	})
}

func TestBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		batch := `{"resourceType":"Bundle","type":"batch","entry":[
		 {"resource":{"resourceType":"Patient","id":"b1"},"request":{"method":"PUT","url":"Patient/b1"}},
		 {"resource":{"resourceType":"Patient","id":"b2","active":"no"},"request":{"method":"PUT","url":"Patient/b2"}},
		 {"request":{"method":"GET","url":"Patient/missing"}},
		 {"request":{"method":"GET","url":"Patient/b1"}},
		 {"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
		 {"request":{"url":"Patient"}},
		 {"request":{"method":"HEAD","url":"Patient/b1"}}
		]}`
		r := s.Must(http.StatusOK, "POST", "", []byte(batch))
		es := entries(t, r)
		want := []string{"201", "422", "404", "200", "201", "400", "200"}
		if len(es) == len(want) && (es[6]["resource"] != nil || str(es[6], "response", "etag") == "") {
			t.Errorf("HEAD entry: %v, want the ETag and no resource", es[6])
		}
		if len(es) == len(want) && es[3]["resource"] == nil {
			t.Errorf("GET entry without its resource: %v", es[3])
		}
		if len(es) != len(want) {
			t.Fatalf("%d entries, want %d", len(es), len(want))
		}
		for i, e := range es {
			if st := str(e, "response", "status"); !strings.HasPrefix(st, want[i]) {
				t.Errorf("entry %d: status %q, want %s", i, st, want[i])
			}
		}
		if es[1]["response"].(map[string]any)["outcome"] == nil {
			t.Errorf("failed entry carries no outcome")
		}
		s.Must(http.StatusOK, "GET", "Patient/b1", nil)
		s.Must(http.StatusNotFound, "GET", "Patient/b2", nil)
		// Prefer: return=minimal applies to each entry.
		r = s.Must(http.StatusOK, "POST", "", []byte(`{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]}`), "Prefer", "return=minimal")
		if e := entries(t, r)[0]; e["resource"] != nil || str(e, "response", "location") == "" {
			t.Errorf("return=minimal batch entry: %v", e)
		}
	})
}

// Transaction rules of https://hl7.org/fhir/R4/http.html#trules that implementation
// guides lean on: a conditional update that creates can be referred to by its fullUrl;
// a JSON Patch entry's references are rewritten like a resource's; and entries whose
// identities overlap make the transaction fail, leaving no trace.
func TestTransactionRules(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		s.Must(http.StatusCreated, "PUT", "Patient/p77", []byte(`{"resourceType":"Patient","id":"p77"}`))
		tx := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"fullUrl":"urn:uuid:6253a0a4-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","identifier":[{"system":"urn:cp","value":"new1"}],"name":[{"text":"王五"}]},
		   "request":{"method":"PUT","url":"Patient?identifier=urn:cp|new1"}},
		 {"resource":{"resourceType":"Observation","status":"final","code":{"text":"体重"},"subject":{"reference":"urn:uuid:6253a0a4-0000-4000-8000-000000000001"}},
		   "request":{"method":"POST","url":"Observation"}},
		 {"fullUrl":"urn:uuid:6253a0a4-0000-4000-8000-000000000002","resource":{"resourceType":"Organization","name":"金杨社区卫生服务中心"},
		   "request":{"method":"POST","url":"Organization"}},
		 {"resource":{"resourceType":"Binary","contentType":"application/json-patch+json",
		   "data":"` + base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/managingOrganization","value":{"reference":"urn:uuid:6253a0a4-0000-4000-8000-000000000002"}},`+
			`{"op":"add","path":"/generalPractitioner","value":[{"reference":"Practitioner/x"}]},`+
			`{"op":"replace","path":"/generalPractitioner/0/reference","value":"urn:uuid:6253a0a4-0000-4000-8000-000000000002"}]`)) + `"},
		   "request":{"method":"PATCH","url":"Patient/p77"}}
		]}`
		es := entries(t, s.Must(http.StatusOK, "POST", "", []byte(tx)))
		loc := func(i int) string {
			l := str(es[i], "response", "location")
			return strings.Join(strings.Split(l, "/")[:2], "/")
		}
		if st := str(es[0], "response", "status"); !strings.HasPrefix(st, "201") {
			t.Fatalf("conditional update that creates: status %q", st)
		}
		obs := s.Must(http.StatusOK, "GET", loc(1), nil).JSON(t)
		if got := str(obs, "subject", "reference"); got != loc(0) {
			t.Errorf("Observation.subject = %q, want the created Patient %q", got, loc(0))
		}
		p := s.Must(http.StatusOK, "GET", "Patient/p77", nil).JSON(t)
		if got := str(p, "managingOrganization", "reference"); got != loc(2) {
			t.Errorf("patched managingOrganization = %q, want %q", got, loc(2))
		}
		if gp := asSlice(p["generalPractitioner"]); len(gp) != 1 || gp[0].(map[string]any)["reference"] != loc(2) {
			t.Errorf("patched generalPractitioner = %v, want a reference to %q", gp, loc(2))
		}

		overlap := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"resource":{"resourceType":"Organization","id":"org0","name":"甲"},"request":{"method":"PUT","url":"Organization/org0"}},
		 {"request":{"method":"DELETE","url":"Organization/org0"}}
		]}`
		r := s.Must(http.StatusBadRequest, "POST", "", []byte(overlap))
		if !strings.Contains(string(r.Body), "both act on Organization/org0") {
			t.Errorf("overlap refused with %s", r.Body)
		}
		s.Must(http.StatusNotFound, "GET", "Organization/org0", nil)
	})
}

// A conditional reference finds a resource the same transaction creates (by
// identifier), as well as stored ones; two candidates are 412.
func TestConditionalReferenceToCreatedResource(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		tx := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"resource":{"resourceType":"Patient","managingOrganization":{"reference":"Organization?identifier=urn:oid:2.16.156.10011.1.5|JY001"}},
		   "request":{"method":"POST","url":"Patient"}},
		 {"resource":{"resourceType":"Organization","identifier":[{"system":"urn:oid:2.16.156.10011.1.5","value":"JY001"}],"name":"金杨社区卫生服务中心"},
		   "request":{"method":"POST","url":"Organization"}}
		]}`
		es := entries(t, s.Must(http.StatusOK, "POST", "", []byte(tx)))
		org := strings.Join(strings.Split(str(es[1], "response", "location"), "/")[:2], "/")
		pat := strings.Join(strings.Split(str(es[0], "response", "location"), "/")[:2], "/")
		if got := str(s.Must(http.StatusOK, "GET", pat, nil).JSON(t), "managingOrganization", "reference"); got != org {
			t.Errorf("managingOrganization = %q, want the Organization created alongside, %q", got, org)
		}
		// Now one is stored and the transaction creates another: ambiguous.
		r := s.Must(http.StatusPreconditionFailed, "POST", "", []byte(tx))
		if !strings.Contains(string(r.Body), "matches 2 resources") {
			t.Errorf("ambiguous conditional reference: %s", r.Body)
		}
	})
}

// Overlap rules in detail: a conditional update that would create, but finds the
// resource an earlier entry writes, fails the transaction instead of leaving other
// entries pointing at a resource that is never created; a conditional create that
// matches a stored resource writes nothing and does not count as acting on it.
func TestTransactionOverlapDetails(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		twice := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"fullUrl":"urn:uuid:d1d1d1d1-0000-4000-8000-000000000001","resource":{"resourceType":"Practitioner","identifier":[{"system":"urn:d","value":"D1"}]},
		   "request":{"method":"PUT","url":"Practitioner?identifier=urn:d|D1"}},
		 {"fullUrl":"urn:uuid:d1d1d1d1-0000-4000-8000-000000000002","resource":{"resourceType":"Practitioner","identifier":[{"system":"urn:d","value":"D1"}],"active":true},
		   "request":{"method":"PUT","url":"Practitioner?identifier=urn:d|D1"}},
		 {"resource":{"resourceType":"Observation","status":"final","code":{"text":"血压"},"performer":[{"reference":"urn:uuid:d1d1d1d1-0000-4000-8000-000000000002"}]},
		   "request":{"method":"POST","url":"Observation"}}
		]}`
		s.Must(http.StatusBadRequest, "POST", "", []byte(twice))
		if got := searchIDs(t, s, "Practitioner?identifier=urn:d|D1"); len(got) != 0 {
			t.Errorf("failed transaction left %v", got)
		}

		s.Must(http.StatusCreated, "PUT", "Practitioner/dr", []byte(`{"resourceType":"Practitioner","id":"dr","identifier":[{"system":"urn:d","value":"DR"}]}`))
		ok := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"resource":{"resourceType":"Practitioner","identifier":[{"system":"urn:d","value":"DR"}]},
		   "request":{"method":"POST","url":"Practitioner","ifNoneExist":"identifier=urn:d|DR"}},
		 {"resource":{"resourceType":"Practitioner","id":"dr","identifier":[{"system":"urn:d","value":"DR"}],"active":true},
		   "request":{"method":"PUT","url":"Practitioner/dr"}}
		]}`
		es := entries(t, s.Must(http.StatusOK, "POST", "", []byte(ok)))
		if st := str(es[0], "response", "status"); !strings.HasPrefix(st, "200") {
			t.Errorf("conditional create that matched: %q, want 200", st)
		}
		// A conditional delete acts on what it matches: with a PUT of it, overlap.
		del := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"request":{"method":"DELETE","url":"Practitioner?identifier=urn:d|DR"}},
		 {"resource":{"resourceType":"Practitioner","id":"dr","active":false},"request":{"method":"PUT","url":"Practitioner/dr"}}
		]}`
		s.Must(http.StatusBadRequest, "POST", "", []byte(del))
		s.Must(http.StatusOK, "GET", "Practitioner/dr", nil)
	})
}
