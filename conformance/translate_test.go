package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shch/fhirgw/conformance/fhirpkg"
	"github.com/shch/fhirgw/conformance/fhirtest"
)

// translated is a $translate answer reduced to what the tests compare.
type translated struct {
	Result  bool
	Message string
	Matches []string // "equivalence system|code source"
}

func readTranslate(t *testing.T, r *fhirtest.Response) translated {
	t.Helper()
	type coding struct{ System, Code string }
	type part struct {
		Name         string
		ValueBoolean *bool
		ValueString  string
		ValueCode    string
		ValueURI     string `json:"valueUri"`
		ValueCoding  *coding
		Part         []part
	}
	var ps struct {
		ResourceType string
		Parameter    []part
	}
	if err := json.Unmarshal(r.Body, &ps); err != nil || ps.ResourceType != "Parameters" {
		t.Fatalf("not Parameters (%v): %s", err, r.Body)
	}
	var out translated
	seenResult := false
	for _, p := range ps.Parameter {
		switch p.Name {
		case "result":
			if p.ValueBoolean == nil {
				t.Fatalf("result without valueBoolean: %s", r.Body)
			}
			out.Result, seenResult = *p.ValueBoolean, true
		case "message":
			out.Message = p.ValueString
		case "match":
			var eq, concept, source string
			for _, q := range p.Part {
				switch q.Name {
				case "equivalence":
					eq = q.ValueCode
				case "concept":
					concept = q.ValueCoding.System + "|" + q.ValueCoding.Code
				case "source":
					source = q.ValueURI
				}
			}
			out.Matches = append(out.Matches, strings.TrimSpace(eq+" "+concept+" "+source))
		}
	}
	if !seenResult {
		t.Fatalf("no result parameter: %s", r.Body)
	}
	return out
}

func exampleBody(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fhirpkg.TestDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTranslate(t *testing.T) {
	const (
		map101     = "http://hl7.org/fhir/ConceptMap/101"
		src101     = map101 + "|4.0.1"
		map103     = "http://hl7.org/fhir/ConceptMap/103"
		addressUse = "http://hl7.org/fhir/address-use"
		v3         = "http://terminology.hl7.org/CodeSystem/v3-AddressUse"
		snomed     = "http://snomed.info/sct"
	)
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		s.Must(http.StatusCreated, "PUT", "ConceptMap/101", exampleBody(t, "ConceptMap-101.json"))
		s.Must(http.StatusCreated, "POST", "ConceptMap", exampleBody(t, "ConceptMap-103.json"))
		s.Must(http.StatusCreated, "POST", "ConceptMap", exampleBody(t, "ConceptMap-102.json"))

		get := func(path string, q url.Values) translated {
			t.Helper()
			return readTranslate(t, s.Must(http.StatusOK, "GET", path+"?"+q.Encode(), nil))
		}
		post := func(path, params string) translated {
			t.Helper()
			return readTranslate(t, s.Must(http.StatusOK, "POST", path, []byte(`{"resourceType":"Parameters","parameter":[`+params+`]}`)))
		}
		tests := []struct {
			name string
			got  func() translated
			want translated
		}{
			{"url, system and code", func() translated {
				return get("ConceptMap/$translate", url.Values{"url": {map101}, "system": {addressUse}, "code": {"home"}})
			}, translated{Result: true, Matches: []string{"equivalent " + v3 + "|H " + src101}}},
			{"instance, disjoint", func() translated {
				return get("ConceptMap/101/$translate", url.Values{"system": {addressUse}, "code": {"old"}})
			}, translated{Result: false, Message: "only unmatched or disjoint mappings for " + addressUse + "|old", Matches: []string{"disjoint " + v3 + "|BAD " + src101}}},
			{"unmapped fixed", func() translated {
				return get("ConceptMap/101/$translate", url.Values{"system": {addressUse}, "code": {"billing"}})
			}, translated{Result: true, Matches: []string{"relatedto " + v3 + "|temp " + src101}}},
			{"wrong target system", func() translated {
				return get("ConceptMap/101/$translate", url.Values{"system": {addressUse}, "code": {"home"}, "targetsystem": {snomed}})
			}, translated{Result: false, Message: "no translation found for " + addressUse + "|home"}},
			{"map chosen by source system", func() translated {
				return get("ConceptMap/$translate", url.Values{"system": {snomed}, "code": {"263204007"}})
			}, translated{Result: true, Matches: []string{"narrower http://hl7.org/fhir/sid/icd-10-us|S52.209A " + map103 + "|4.0.1"}}},
			{"coding in the URL", func() translated {
				return get("ConceptMap/$translate", url.Values{"url": {map101}, "coding": {addressUse + "|work"}})
			}, translated{Result: true, Matches: []string{"equivalent " + v3 + "|WP " + src101}}},
			{"POST coding", func() translated {
				return post("ConceptMap/$translate", `{"name":"url","valueUri":"`+map101+`"},{"name":"coding","valueCoding":{"system":"`+addressUse+`","code":"temp"}}`)
			}, translated{Result: true, Matches: []string{"equivalent " + v3 + "|TMP " + src101}}},
			{"POST codeableConcept", func() translated {
				return post("ConceptMap/101/$translate", `{"name":"codeableConcept","valueCodeableConcept":{"coding":[{"system":"`+addressUse+`","code":"home"},{"system":"`+addressUse+`","code":"work"}]}}`)
			}, translated{Result: true, Matches: []string{"equivalent " + v3 + "|H " + src101, "equivalent " + v3 + "|WP " + src101}}},
			{"POST reverse", func() translated {
				return post("ConceptMap/$translate", `{"name":"system","valueUri":"`+v3+`"},{"name":"code","valueCode":"WP"},{"name":"reverse","valueBoolean":true}`)
			}, translated{Result: true, Matches: []string{"equivalent " + addressUse + "|work " + src101}}},
			{"GET reverse narrowed by target value set", func() translated {
				return get("ConceptMap/$translate", url.Values{"system": {v3}, "code": {"WP"}, "reverse": {"true"}, "target": {"http://example.org/other-vs"}})
			}, translated{Result: false, Message: "no translation found for " + v3 + "|WP"}},
			{"POST inline conceptMap", func() translated {
				return post("ConceptMap/$translate", `{"name":"conceptMap","resource":`+string(exampleBody(t, "ConceptMap-103.json"))+`},{"name":"system","valueUri":"`+snomed+`"},{"name":"code","valueCode":"263204007"}`)
			}, translated{Result: true, Matches: []string{"narrower http://hl7.org/fhir/sid/icd-10-us|S52.209A " + map103 + "|4.0.1"}}},
		}
		for _, tc := range tests {
			if got := tc.got(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
			}
		}

		// Errors are OperationOutcomes: unknown maps 404, missing codes 400.
		for _, tc := range []struct {
			method, path string
			body         string
			want         int
		}{
			{"GET", "ConceptMap/$translate?url=http://example.org/none&system=" + addressUse + "&code=home", "", http.StatusNotFound},
			{"GET", "ConceptMap/$translate?url=" + map101 + "&conceptMapVersion=9&system=" + addressUse + "&code=home", "", http.StatusNotFound},
			{"GET", "ConceptMap/nosuch/$translate?system=" + addressUse + "&code=home", "", http.StatusNotFound},
			{"GET", "ConceptMap/$translate?url=" + map101 + "&system=" + addressUse, "", http.StatusBadRequest},
			{"GET", "ConceptMap/$translate?url=" + map101 + "&code=home", "", http.StatusBadRequest},
			{"POST", "ConceptMap/$translate", `{"resourceType":"Parameters","parameter":[{"name":"url","valueUri":"` + map101 + `"}]}`, http.StatusBadRequest},
			{"POST", "ConceptMap/$translate", `{"resourceType":"Patient"}`, http.StatusBadRequest},
			{"DELETE", "ConceptMap/$translate", "", http.StatusMethodNotAllowed},
		} {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			r := s.Do(tc.method, tc.path, body)
			if r.Status != tc.want || r.JSON(t)["resourceType"] != "OperationOutcome" {
				t.Errorf("%s %s: %d %s, want %d OperationOutcome", tc.method, tc.path, r.Status, r.Body, tc.want)
			}
		}

		// A POST of the operation writes nothing.
		var hist struct{ Entry []json.RawMessage }
		if err := json.Unmarshal(s.Must(http.StatusOK, "GET", "ConceptMap/101/_history", nil).Body, &hist); err != nil || len(hist.Entry) != 1 {
			t.Errorf("ConceptMap/101 has %d versions after $translate (%v)", len(hist.Entry), err)
		}

		// An updated map answers at once, in this process and any other (nothing is
		// cached across versions).
		updated := strings.Replace(string(exampleBody(t, "ConceptMap-101.json")), `"code":"H"`, `"code":"HP"`, 1)
		if updated == string(exampleBody(t, "ConceptMap-101.json")) {
			t.Fatal("ConceptMap-101 has no target H to change")
		}
		s.Must(http.StatusOK, "PUT", "ConceptMap/101", []byte(updated))
		if got := get("ConceptMap/$translate", url.Values{"url": {map101}, "system": {addressUse}, "code": {"home"}}); !reflect.DeepEqual(got.Matches, []string{"equivalent " + v3 + "|HP " + src101}) {
			t.Errorf("after update: %+v", got)
		}

		// The CapabilityStatement lists the operation on ConceptMap.
		var cs struct {
			Rest []struct {
				Resource []struct {
					Type      string
					Operation []struct{ Name, Definition string }
				}
			}
		}
		if err := json.Unmarshal(s.Must(http.StatusOK, "GET", "metadata", nil).Body, &cs); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range cs.Rest[0].Resource {
			for _, op := range r.Operation {
				if r.Type == "ConceptMap" && op.Name == "translate" && op.Definition == "http://hl7.org/fhir/OperationDefinition/ConceptMap-translate" {
					found = true
				}
			}
		}
		if !found {
			t.Error("CapabilityStatement does not list ConceptMap $translate")
		}
	})
}
