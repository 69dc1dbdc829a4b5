package interaction

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/terminology"
)

// FuzzTranslateParams drives the $translate parameter readers (URL and Parameters
// body) and the answer they lead to: nothing may panic, every refusal must be a FHIR
// outcome, and every answer must be a Parameters resource with a result.
func FuzzTranslateParams(f *testing.F) {
	cm := `{"resourceType":"ConceptMap","url":"urn:m","group":[{"source":"urn:a","target":"urn:b","element":[{"code":"x","target":[{"code":"y","equivalence":"equivalent","product":[{"property":"p","value":"v"}]}]}],"unmapped":{"mode":"provided"}}]}`
	for _, seed := range [][2]string{
		{"url=urn:m&system=urn:a&code=x", ""},
		{"coding=urn:a|x&targetsystem=urn:b&reverse=true", ""},
		{"", `{"resourceType":"Parameters","parameter":[{"name":"conceptMap","resource":` + cm + `},{"name":"coding","valueCoding":{"system":"urn:a","code":"x"}}]}`},
		{"", `{"resourceType":"Parameters","parameter":[{"name":"conceptMap","resource":` + cm + `},{"name":"codeableConcept","valueCodeableConcept":{"coding":[{"system":"urn:a","code":"z"}]}},{"name":"reverse","valueBoolean":false}]}`},
		{"", `{"resourceType":"Parameters","parameter":[{"name":"system","valueUri":"urn:b"},{"name":"code","valueCode":"y"},{"name":"dependency","part":[{"name":"element","valueUri":"p"},{"name":"concept","valueCodeableConcept":{"coding":[{"code":"v"}]}}]}]}`},
		{"reverse=maybe", `{"resourceType":"Parameters","parameter":[{"name":"code"}]}`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, query, body string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		req := &Request{Method: http.MethodPost, Query: q, Body: []byte(body)}
		var p translateParams
		err = p.fromQuery(req)
		if err == nil && body != "" {
			err = p.fromBody(req.Body)
		}
		var codings []terminology.Coding
		if err == nil {
			codings, err = p.codings()
		}
		if err != nil {
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Status != http.StatusBadRequest {
				t.Fatalf("refusal is not a 400 outcome: %v", err)
			}
			return
		}
		var maps []*terminology.ConceptMap
		if len(p.conceptMap) > 0 {
			m, err := terminology.Parse(p.conceptMap)
			if err != nil {
				return
			}
			maps = append(maps, m)
		}
		tr := &terminology.Translator{Maps: maps}
		var matches []terminology.Match
		for _, c := range codings {
			ms, err := tr.TranslateRequest(context.Background(), terminology.Request{System: c.System, Code: c.Code,
				TargetSystem: p.targetSys, Reverse: p.reverse, Dependencies: p.dependencies})
			if err != nil {
				t.Fatalf("translate without a resolver failed: %v", err)
			}
			matches = append(matches, ms...)
		}
		var out struct {
			ResourceType string
			Parameter    []struct{ Name string }
		}
		if err := json.Unmarshal(translateResult(codings, matches), &out); err != nil || out.ResourceType != "Parameters" ||
			len(out.Parameter) == 0 || out.Parameter[0].Name != "result" {
			t.Fatalf("answer %+v (%v)", out, err)
		}
	})
}
