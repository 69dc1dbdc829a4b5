package terminology

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/shch/fhirgw/conformance/fhirpkg"
	"github.com/shch/fhirgw/gateway/store"
)

// example loads an official R4 example ConceptMap.
func example(t *testing.T, name string) (*ConceptMap, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fhirpkg.TestDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return m, data
}

// brief is a match reduced to what the tables compare.
type brief struct {
	Eq, System, Code string
}

func briefs(ms []Match) []brief {
	var out []brief
	for _, m := range ms {
		out = append(out, brief{m.Equivalence, m.Concept.System, m.Concept.Code})
	}
	return out
}

const (
	addressUse   = "http://hl7.org/fhir/address-use"
	v3AddressUse = "http://terminology.hl7.org/CodeSystem/v3-AddressUse"
	v2Specimen   = "http://terminology.hl7.org/CodeSystem/v2-0487"
	snomed       = "http://snomed.info/sct"
	icd10us      = "http://hl7.org/fhir/sid/icd-10-us"
)

func TestTranslateExamples(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		file string
		req  Request
		want []brief
	}{
		// ConceptMap-101: FHIR address use to v3, unmapped mode fixed ("temp").
		{"ConceptMap-101.json", Request{System: addressUse, Code: "home"}, []brief{{"equivalent", v3AddressUse, "H"}}},
		{"ConceptMap-101.json", Request{System: addressUse, Code: "work", TargetSystem: v3AddressUse}, []brief{{"equivalent", v3AddressUse, "WP"}}},
		{"ConceptMap-101.json", Request{System: addressUse, Code: "old"}, []brief{{"disjoint", v3AddressUse, "BAD"}}},
		{"ConceptMap-101.json", Request{System: addressUse, Code: "billing"}, []brief{{"relatedto", v3AddressUse, "temp"}}},
		{"ConceptMap-101.json", Request{System: addressUse, Code: "home", TargetSystem: snomed}, nil},
		{"ConceptMap-101.json", Request{System: snomed, Code: "home"}, nil},
		{"ConceptMap-101.json", Request{System: v3AddressUse, Code: "TMP", Reverse: true}, []brief{{"equivalent", addressUse, "temp"}}},
		// ConceptMap-102: v2 specimen types to SNOMED CT; unmatched targets, one code
		// in three elements, one code mapped and also listed as unmatched.
		{"ConceptMap-102.json", Request{System: v2Specimen, Code: "ACNE"}, []brief{{"equivalent", snomed, "309068002"}}},
		{"ConceptMap-102.json", Request{System: v2Specimen, Code: "ASERU"}, []brief{{"unmatched", "", ""}}},
		{"ConceptMap-102.json", Request{System: v2Specimen, Code: "CNJT"}, []brief{{"equivalent", snomed, "119401005"}, {"equivalent", snomed, "128160006"}, {"equivalent", snomed, "258498002"}}},
		{"ConceptMap-102.json", Request{System: v2Specimen, Code: "CSITE"}, []brief{{"equivalent", snomed, "258507003"}, {"unmatched", "", ""}}},
		{"ConceptMap-102.json", Request{System: v2Specimen, Code: "NOSUCH"}, nil},
		// ConceptMap-103: SNOMED CT to ICD-10-US, narrower; reversed it is wider.
		{"ConceptMap-103.json", Request{System: snomed, Code: "263204007"}, []brief{{"narrower", icd10us, "S52.209A"}}},
		{"ConceptMap-103.json", Request{System: icd10us, Code: "S52.209A", Reverse: true}, []brief{{"wider", snomed, "263204007"}}},
		// The second element of ConceptMap-103 has no code: nothing maps from "".
		{"ConceptMap-103.json", Request{System: snomed, Code: ""}, nil},
		// ConceptMap-example2: the target depends on another element's value.
		{"ConceptMap-example2.json", Request{System: "http://example.org/fhir/example1", Code: "code"}, nil},
		{"ConceptMap-example2.json", Request{System: "http://example.org/fhir/example1", Code: "code", Dependencies: []Dependency{
			{Property: "http://example.org/fhir/property-value/example", System: "http://example.org/fhir/example3", Value: "some-code"}}},
			[]brief{{"equivalent", "http://example.org/fhir/example2", "code2"}}},
		{"ConceptMap-example2.json", Request{System: "http://example.org/fhir/example1", Code: "code", Dependencies: []Dependency{
			{Property: "http://example.org/fhir/property-value/example", Value: "other-code"}}}, nil},
	}
	for _, tc := range tests {
		m, _ := example(t, tc.file)
		tr := &Translator{Maps: []*ConceptMap{m}}
		got, err := tr.TranslateRequest(ctx, tc.req)
		if err != nil {
			t.Errorf("%s %+v: %v", tc.file, tc.req, err)
			continue
		}
		if !reflect.DeepEqual(briefs(got), tc.want) {
			t.Errorf("%s %+v:\n got %v\nwant %v", tc.file, tc.req, briefs(got), tc.want)
		}
		for _, g := range got {
			if g.Source != m.URL+"|"+m.Version {
				t.Errorf("%s: match source %q", tc.file, g.Source)
			}
		}
	}
}

// TestReverseAgainstExample checks reverse translation of every SNOMED CT code of
// ConceptMap-102 against a plain walk of the example's JSON.
func TestReverseAgainstExample(t *testing.T) {
	m, data := example(t, "ConceptMap-102.json")
	var raw struct {
		Group []struct {
			Element []struct {
				Code   string `json:"code"`
				Target []struct {
					Code string `json:"code"`
				} `json:"target"`
			} `json:"element"`
		} `json:"group"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, e := range raw.Group[0].Element {
		for _, tg := range e.Target {
			if tg.Code != "" {
				want[tg.Code] = append(want[tg.Code], e.Code)
			}
		}
	}
	if len(want) < 50 {
		t.Fatalf("example has only %d target codes", len(want))
	}
	tr := &Translator{Maps: []*ConceptMap{m}}
	for code, sources := range want {
		got, err := tr.TranslateRequest(context.Background(), Request{System: snomed, Code: code, Reverse: true})
		if err != nil {
			t.Fatal(err)
		}
		var codes []string
		for _, g := range got {
			if g.Concept.System != v2Specimen || g.Equivalence != "equivalent" {
				t.Errorf("%s: match %+v", code, g)
			}
			codes = append(codes, g.Concept.Code)
		}
		if !slices.Equal(codes, sources) {
			t.Errorf("reverse %s = %v, want %v", code, codes, sources)
		}
	}
}

func TestProduct(t *testing.T) {
	m, _ := example(t, "ConceptMap-102.json")
	got, err := (&Translator{Maps: []*ConceptMap{m}}).Translate(context.Background(), v2Specimen, "ACNFLD", snomed)
	if err != nil {
		t.Fatal(err)
	}
	want := []Dependency{{Property: "TypeModifier", System: snomed, Value: "47002008"}}
	if len(got) != 1 || !reflect.DeepEqual(got[0].Product, want) {
		t.Errorf("ACNFLD = %+v, want one match with product %+v", got, want)
	}
}

func TestOtherMap(t *testing.T) {
	m, _ := example(t, "ConceptMap-example2.json")
	map2, err := Parse([]byte(`{"resourceType":"ConceptMap","url":"http://example.org/fhir/ConceptMap/map2","status":"draft",
		"group":[{"source":"http://example.org/fhir/example1","target":"http://example.org/fhir/example4",
		"element":[{"code":"other","target":[{"code":"o4","equivalence":"wider"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	resolve := func(ctx context.Context, canonical string) (*ConceptMap, error) {
		asked = append(asked, canonical)
		if canonical == map2.URL {
			return map2, nil
		}
		return nil, ErrNotFound
	}
	ctx := context.Background()
	tr := &Translator{Maps: []*ConceptMap{m}, Resolve: resolve}
	got, err := tr.Translate(ctx, "http://example.org/fhir/example1", "other", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []brief{{"wider", "http://example.org/fhir/example4", "o4"}}; !reflect.DeepEqual(briefs(got), want) {
		t.Errorf("other-map: %v, want %v", briefs(got), want)
	}
	if len(got) == 1 && got[0].Source != map2.URL {
		t.Errorf("match source %q, want the other map", got[0].Source)
	}
	if !slices.Equal(asked, []string{map2.URL}) {
		t.Errorf("resolved %v", asked)
	}
	// Without a resolver other-map is ignored; an unknown other map is an error.
	if got, err := (&Translator{Maps: []*ConceptMap{m}}).Translate(ctx, "http://example.org/fhir/example1", "other", ""); err != nil || got != nil {
		t.Errorf("no resolver: %v, %v", got, err)
	}
	m.Groups[0].Unmapped.URL = "http://example.org/missing"
	if _, err := tr.Translate(ctx, "http://example.org/fhir/example1", "other", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing other map: %v", err)
	}
	// A map whose unmapped rule names itself stops instead of looping.
	m.Groups[0].Unmapped.URL = m.URL
	self := &Translator{Maps: []*ConceptMap{m}, Resolve: func(context.Context, string) (*ConceptMap, error) { return m, nil }}
	if _, err := self.Translate(ctx, "http://example.org/fhir/example1", "other", ""); err == nil {
		t.Error("a self-referencing other-map did not stop")
	}
}

func TestUnmappedProvided(t *testing.T) {
	m, err := Parse([]byte(`{"resourceType":"ConceptMap","status":"active","group":[{"source":"urn:a","target":"urn:b",
		"element":[{"code":"x","target":[{"code":"y","equivalence":"equal"}]}],"unmapped":{"mode":"provided"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tr := &Translator{Maps: []*ConceptMap{m}}
	for code, want := range map[string][]brief{"x": {{"equal", "urn:b", "y"}}, "z": {{"equivalent", "urn:b", "z"}}} {
		got, err := tr.Translate(context.Background(), "urn:a", code, "")
		if err != nil || !reflect.DeepEqual(briefs(got), want) {
			t.Errorf("%s: %v %v, want %v", code, briefs(got), err, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{``, `{`, `[]`, `{"resourceType":"ValueSet"}`, `{"resourceType":"ConceptMap","group":{}}`} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}

func TestEveryExampleParses(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fhirpkg.TestDir(t), "ConceptMap-*.json"))
	if err != nil || len(files) < 80 {
		t.Fatalf("found %d example ConceptMaps: %v", len(files), err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(data)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		// Every element code translates to at least what the example lists for it.
		tr := &Translator{Maps: []*ConceptMap{m}}
		for _, g := range m.Groups {
			for _, e := range g.Elements {
				if e.Code == "" {
					continue
				}
				n := 0 // targets that hold without dependencies
				for _, tg := range e.Targets {
					if len(tg.DependsOn) == 0 {
						n++
					}
				}
				got, err := tr.Translate(context.Background(), g.Source, e.Code, g.Target)
				if err != nil || len(got) < n {
					t.Errorf("%s: %s|%s gave %d matches (%v), example lists %d", filepath.Base(f), g.Source, e.Code, len(got), err, n)
				}
			}
		}
	}
}

func TestLoaderCachesVersions(t *testing.T) {
	body := func(code string) []byte {
		return []byte(`{"resourceType":"ConceptMap","url":"urn:m","status":"active","group":[{"source":"urn:a","target":"urn:b","element":[{"code":"x","target":[{"code":"` + code + `","equivalence":"equivalent"}]}]}]}`)
	}
	l := NewLoader()
	v1, err := l.FromResource(store.Resource{Type: "ConceptMap", ID: "m", Version: 1, Body: body("y1")})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := l.FromResource(store.Resource{Type: "ConceptMap", ID: "m", Version: 1, Body: body("y1")})
	if again != v1 {
		t.Error("the same version was parsed twice")
	}
	v2, err := l.FromResource(store.Resource{Type: "ConceptMap", ID: "m", Version: 2, Body: body("y2")})
	if err != nil {
		t.Fatal(err)
	}
	if got := v2.Groups[0].Elements[0].Targets[0].Code; got != "y2" || v2.VersionID != 2 || v2.ID != "m" {
		t.Errorf("version 2: code %q, %s/%d", got, v2.ID, v2.VersionID)
	}
}

// FuzzTranslate checks that no ConceptMap, however malformed, makes Parse or
// translation panic or loop. Seeds: official examples in testdata/fuzz.
func FuzzTranslate(f *testing.F) {
	f.Add([]byte(`{"resourceType":"ConceptMap","group":[{"source":"a","target":"b","element":[{"code":"x","target":[{"code":"y","equivalence":"wider"}]}],"unmapped":{"mode":"other-map","url":"u"}}]}`), "x")
	f.Fuzz(func(t *testing.T, data []byte, code string) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		tr := &Translator{Maps: []*ConceptMap{m}, Resolve: func(context.Context, string) (*ConceptMap, error) { return m, nil }}
		for _, g := range m.Groups {
			for _, rev := range []bool{false, true} {
				ms, err := tr.TranslateRequest(context.Background(), Request{System: g.Source, Code: code, Reverse: rev})
				if err != nil {
					continue
				}
				for _, x := range ms {
					if x.Equivalence == "" {
						t.Fatalf("match without equivalence: %+v", x)
					}
				}
			}
		}
	})
}
