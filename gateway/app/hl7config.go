package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/ingest"
	"github.com/shch/fhirgw/mappers/v2fhir"
)

// HL7Config is the JSON file given with --hl7-config. Every field is optional.
//
//	{
//	  "identifierSystems": {"SHCH": "urn:oid:2.16.156.10011.0.1.1"},
//	  "senders": {"HOSP1": {"identifierSystems": {"MRN": "urn:oid:1.2.3"}, "defaultSystem": "urn:oid:1.2.3",
//	    "conceptMaps": ["http://example.org/fhir/ConceptMap/hosp1-lab|2"]}},
//	  "idCardSystem": "urn:oid:2.16.156.10011.1.3",
//	  "timeZone": "Asia/Shanghai",
//	  "channelCharsets": {"mllp": "GB18030"}
//	}
type HL7Config struct {
	// IdentifierSystems maps assigning authorities (CX.4) to identifier systems.
	IdentifierSystems map[string]string `json:"identifierSystems"`
	// Senders holds per-sender settings keyed by MSH-4.1, or MSH-3.1.
	Senders              map[string]HL7Sender `json:"senders"`
	IdentifierSystemBase string               `json:"identifierSystemBase"`
	CodeSystems          map[string]string    `json:"codeSystems"`
	CodeSystemBase       string               `json:"codeSystemBase"`
	IDCardSystem         string               `json:"idCardSystem"`
	IDCardAuthorities    []string             `json:"idCardAuthorities"`
	// TimeZone is the IANA zone of times sent without an offset (default UTC+8).
	TimeZone            string            `json:"timeZone"`
	ConditionalPatient  bool              `json:"conditionalPatient"`
	PatientClasses      map[string]string `json:"patientClasses"`
	AcceptVersions      []string          `json:"acceptVersions"`
	AcceptProcessingIDs []string          `json:"acceptProcessingIds"`
	TrustedSystems      []string          `json:"trustedSystems"`
	// ChannelCharsets overrides MSH-18 per channel ("mllp", "http", "file").
	ChannelCharsets map[string]string `json:"channelCharsets"`
}

// HL7Sender is one sender's settings.
type HL7Sender struct {
	IdentifierSystems map[string]string `json:"identifierSystems"`
	DefaultSystem     string            `json:"defaultSystem"`
	// ConceptMaps are the canonical URLs ("url" or "url|version") of the stored
	// ConceptMaps that translate this sender's local codes.
	ConceptMaps []string `json:"conceptMaps"`
}

// LoadHL7Config reads an HL7Config file into the pipeline configuration. An empty
// name gives the defaults.
func LoadHL7Config(name string) (ingest.Config, error) {
	if name == "" {
		return ingest.Config{}, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return ingest.Config{}, fmt.Errorf("read HL7 config: %w", err)
	}
	cfg, err := ParseHL7Config(data)
	if err != nil {
		return ingest.Config{}, fmt.Errorf("HL7 config %s: %w", name, err)
	}
	return cfg, nil
}

// ParseHL7Config decodes an HL7Config document. Unknown fields are errors, so that a
// misspelt setting is not silently ignored.
func ParseHL7Config(data []byte) (ingest.Config, error) {
	var f HL7Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return ingest.Config{}, fmt.Errorf("decode: %w", err)
	}
	m := v2fhir.Config{
		IdentifierSystems: f.IdentifierSystems, IdentifierSystemBase: f.IdentifierSystemBase,
		CodeSystems: f.CodeSystems, CodeSystemBase: f.CodeSystemBase,
		IDCardSystem: f.IDCardSystem, IDCardAuthorities: f.IDCardAuthorities,
		ConditionalPatient: f.ConditionalPatient, PatientClasses: f.PatientClasses,
	}
	if len(f.Senders) > 0 {
		m.Senders = make(map[string]v2fhir.Sender, len(f.Senders))
		for k, s := range f.Senders {
			m.Senders[k] = v2fhir.Sender{IdentifierSystems: s.IdentifierSystems, DefaultSystem: s.DefaultSystem}
		}
	}
	var conceptMaps map[string][]string
	for k, s := range f.Senders {
		for _, c := range s.ConceptMaps {
			if u, _, _ := strings.Cut(c, "|"); !strings.Contains(u, ":") {
				return ingest.Config{}, fmt.Errorf("senders[%q].conceptMaps: %q is not a canonical URL", k, c)
			}
		}
		if len(s.ConceptMaps) > 0 {
			if conceptMaps == nil {
				conceptMaps = map[string][]string{}
			}
			conceptMaps[k] = s.ConceptMaps
		}
	}
	if f.TimeZone != "" {
		loc, err := time.LoadLocation(f.TimeZone)
		if err != nil {
			return ingest.Config{}, fmt.Errorf("timeZone: %w", err)
		}
		m.Location = loc
	}
	for ch, cs := range f.ChannelCharsets {
		if _, err := hl7v2.LookupCharset(cs); err != nil {
			return ingest.Config{}, fmt.Errorf("channelCharsets[%q]: %w", ch, err)
		}
	}
	return ingest.Config{Mapping: m, AcceptVersions: f.AcceptVersions, AcceptProcessingIDs: f.AcceptProcessingIDs,
		TrustedSystems: f.TrustedSystems, ChannelCharsets: f.ChannelCharsets, ConceptMaps: conceptMaps}, nil
}
