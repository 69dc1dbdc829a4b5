package app

import (
	"strings"
	"testing"
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
