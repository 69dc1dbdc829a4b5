package app

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shch/fhirgw/mappers/v2fhir"
)

func TestParseHL7Config(t *testing.T) {
	cfg, err := ParseHL7Config([]byte(`{
		"identifierSystems": {"SHCH": "urn:oid:2.16.156.10011.0.1.1"},
		"senders": {"HOSP1": {"identifierSystems": {"MRN": "urn:oid:1.2.3"}, "defaultSystem": "urn:oid:1.2.3.4",
			"conceptMaps": ["http://shch.example.org/fhir/ConceptMap/hosp1-lab|2"]}},
		"timeZone": "Asia/Shanghai",
		"channelCharsets": {"mllp": "GB18030"},
		"acceptVersions": ["2.4"]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Mapping.IdentifierSystems["SHCH"]; got != "urn:oid:2.16.156.10011.0.1.1" {
		t.Errorf("identifier system %q", got)
	}
	if s := cfg.Mapping.Senders["HOSP1"]; s.IdentifierSystems["MRN"] != "urn:oid:1.2.3" || s.DefaultSystem != "urn:oid:1.2.3.4" {
		t.Errorf("sender %+v", s)
	}
	if got := cfg.ConceptMaps["HOSP1"]; len(got) != 1 || got[0] != "http://shch.example.org/fhir/ConceptMap/hosp1-lab|2" {
		t.Errorf("concept maps %v", cfg.ConceptMaps)
	}
	if cfg.Mapping.Location == nil || cfg.Mapping.Location.String() != "Asia/Shanghai" {
		t.Errorf("location %v", cfg.Mapping.Location)
	}
	if cfg.ChannelCharsets["mllp"] != "GB18030" || len(cfg.AcceptVersions) != 1 {
		t.Errorf("config %+v", cfg)
	}
	for _, bad := range []string{
		`{"identifierSystem": {}}`,                // misspelt
		`{"timeZone": "Mars/Olympus"}`,            // unknown zone
		`{"channelCharsets": {"mllp": "EBCDIC"}}`, // unsupported charset
		`[`,
		`{"senders": {"H": {"conceptMaps": ["lab-map"]}}}`, // not a canonical URL
	} {
		if _, err := ParseHL7Config([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error %q", bad, err)
		}
	}
}

func TestParseHL7ConfigZSegments(t *testing.T) {
	const sd = "http://sh-health.example/fhir/StructureDefinition/"
	cfg, err := ParseHL7Config([]byte(`{"senders": {
		"SQ-CHC-01": {"zSegments": {
			"ZPV": {"resource": "Encounter", "fields": {"5": "` + sd + `contract-status", "2.2": "` + sd + `team-name", "2": "` + sd + `team", "10": "` + sd + `x"}},
			"ZPI": {"resource": "Patient", "fields": {"1": "urn:oid:2.16.156.10011.1.2"}}}},
		"HOSP1": {"defaultSystem": "urn:oid:1.2.3"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	zs := cfg.Mapping.Senders["SQ-CHC-01"].ZSegments
	want := map[string]v2fhir.ZSegment{
		// Fields in field order, whatever the JSON order: extensions must come out the
		// same for every resend.
		"ZPV": {Resource: "Encounter", Fields: []v2fhir.ZField{
			{Field: 2, Component: 1, URL: sd + "team"}, {Field: 2, Component: 2, URL: sd + "team-name"},
			{Field: 5, Component: 1, URL: sd + "contract-status"}, {Field: 10, Component: 1, URL: sd + "x"}}},
		"ZPI": {Resource: "Patient", Fields: []v2fhir.ZField{{Field: 1, Component: 1, URL: "urn:oid:2.16.156.10011.1.2"}}},
	}
	if !reflect.DeepEqual(zs, want) {
		t.Errorf("zSegments\n got %+v\nwant %+v", zs, want)
	}
	if zs := cfg.Mapping.Senders["HOSP1"].ZSegments; zs != nil {
		t.Errorf("HOSP1 zSegments %+v", zs)
	}

	for _, tc := range []struct{ zSegments, path string }{
		{`{"PV1": {"resource": "Encounter", "fields": {"2": "` + sd + `a"}}}`, `zSegments["PV1"]: not a Z segment ID`},
		{`{"ZP": {"resource": "Encounter", "fields": {"2": "` + sd + `a"}}}`, `zSegments["ZP"]: not a Z segment ID`},
		{`{"ZPVX": {"resource": "Encounter", "fields": {"2": "` + sd + `a"}}}`, `zSegments["ZPVX"]: not a Z segment ID`},
		{`{"zpv": {"resource": "Encounter", "fields": {"2": "` + sd + `a"}}}`, `zSegments["zpv"]: not a Z segment ID`},
		{`{"ZPV": {"resource": "Observation", "fields": {"2": "` + sd + `a"}}}`, `zSegments["ZPV"].resource: "Observation" is not one of Patient, Encounter`},
		{`{"ZPV": {"fields": {"2": "` + sd + `a"}}}`, `zSegments["ZPV"].resource: "" is not one of`},
		{`{"ZPV": {"resource": "Encounter"}}`, `zSegments["ZPV"].fields: no fields`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"0": "` + sd + `a"}}}`, `zSegments["ZPV"].fields["0"]: not a field number`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"-2": "` + sd + `a"}}}`, `zSegments["ZPV"].fields["-2"]: not a field number`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"02": "` + sd + `a"}}}`, `zSegments["ZPV"].fields["02"]: not a field number`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"two": "` + sd + `a"}}}`, `zSegments["ZPV"].fields["two"]: not a field number`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"2.": "` + sd + `a"}}}`, `zSegments["ZPV"].fields["2."]: not a field number`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"2.0": "` + sd + `a"}}}`, `zSegments["ZPV"].fields["2.0"]: not a field number`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"2.1.1": "` + sd + `a"}}}`, `zSegments["ZPV"].fields["2.1.1"]: not a field number`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"2": "` + sd + `a", "2.1": "` + sd + `b"}}}`, `zSegments["ZPV"].fields["2.1"]: the same value as fields["2"]`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"2": "family-doctor-team"}}}`, `zSegments["ZPV"].fields["2"]: "family-doctor-team" is not an absolute URL`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"2": "/fhir/StructureDefinition/team"}}}`, `zSegments["ZPV"].fields["2"]: "/fhir/StructureDefinition/team" is not an absolute URL`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"2": "http://"}}}`, `zSegments["ZPV"].fields["2"]: "http://" is not an absolute URL`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"2": "` + sd + `team name"}}}`, `zSegments["ZPV"].fields["2"]: "` + sd + `team name" is not an absolute URL`},
		{`{"ZPV": {"resource": "Encounter", "fields": {"2": ""}}}`, `zSegments["ZPV"].fields["2"]: "" is not an absolute URL`},
		{`{"ZPV": {"resource": "Encounter", "field": {"2": "` + sd + `a"}}}`, `unknown field "field"`},
	} {
		_, err := ParseHL7Config([]byte(`{"senders": {"SQ-CHC-01": {"zSegments": ` + tc.zSegments + `}}}`))
		if err == nil {
			t.Errorf("%s: no error", tc.zSegments)
			continue
		}
		if !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: error %q does not say %q", tc.zSegments, err, tc.path)
		}
		if tc.path[0] == 'z' && !strings.HasPrefix(err.Error(), `senders["SQ-CHC-01"].`+tc.path) {
			t.Errorf("%s: error %q does not name the sender", tc.zSegments, err)
		}
	}
}

// FuzzParseHL7Config checks that any document either fails or gives Z segment
// mappings that keep the documented rules, in field order.
func FuzzParseHL7Config(f *testing.F) {
	f.Add(`{"senders": {"S": {"zSegments": {"ZPV": {"resource": "Encounter", "fields": {"2.2": "http://a.example/x", "10": "urn:oid:1.2"}}}}}}`)
	f.Add(`{"senders": {"S": {"zSegments": {"Z01": {"resource": "Patient", "fields": {"1": "http://a.example/x"}}}}}}`)
	f.Add(`{"senders": {"S": {"zSegments": {"ZPV": {"resource": "Encounter", "fields": {"02": "x"}}}}}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		cfg, err := ParseHL7Config([]byte(doc))
		if err != nil {
			return
		}
		for k, s := range cfg.Mapping.Senders {
			for id, z := range s.ZSegments {
				if !isZSegmentID(id) || !slices.Contains(v2fhir.ZSegmentResources(), z.Resource) || len(z.Fields) == 0 {
					t.Fatalf("sender %q: accepted %q %+v", k, id, z)
				}
				for i, fl := range z.Fields {
					if fl.Field < 1 || fl.Component < 1 || !isAbsoluteURL(fl.URL) {
						t.Fatalf("sender %q %s: accepted field %+v", k, id, fl)
					}
					if i > 0 && (z.Fields[i-1].Field > fl.Field || z.Fields[i-1].Field == fl.Field && z.Fields[i-1].Component >= fl.Component) {
						t.Fatalf("sender %q %s: fields out of order %+v", k, id, z.Fields)
					}
				}
			}
		}
	})
}
