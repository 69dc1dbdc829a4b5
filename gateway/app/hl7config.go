package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/ingest"
	"github.com/shch/fhirgw/mappers/v2fhir"
)

// HL7Config is the JSON file given with --hl7-config. Every field is optional.
//
//	{
//	  "identifierSystems": {"SHCH": "urn:oid:2.16.156.10011.0.1.1"},
//	  "senders": {"HOSP1": {"identifierSystems": {"MRN": "urn:oid:1.2.3"}, "defaultSystem": "urn:oid:1.2.3",
//	    "conceptMaps": ["http://example.org/fhir/ConceptMap/hosp1-lab|2"],
//	    "zSegments": {"ZPV": {"resource": "Encounter", "fields": {"2.2": "http://example.org/fhir/StructureDefinition/team"}}}}},
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
	// ZSegments maps fields of the sender's Z segments, keyed by segment ID, to
	// extensions on the mapped resources.
	ZSegments map[string]HL7ZSegment `json:"zSegments"`
}

// HL7ZSegment is one Z segment's mapping (v2fhir.ZSegment).
type HL7ZSegment struct {
	// Resource is the resource type that carries the extensions (Patient, Encounter).
	Resource string `json:"resource"`
	// Fields maps a field number ("2": its first component) or a field and component
	// ("2.3") to the extension URL its value goes under, as a valueString.
	Fields map[string]string `json:"fields"`
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
		for _, k := range slices.Sorted(maps.Keys(f.Senders)) {
			s := f.Senders[k]
			zs, err := zSegments(s.ZSegments)
			if err != nil {
				return ingest.Config{}, fmt.Errorf("senders[%q].zSegments%w", k, err)
			}
			m.Senders[k] = v2fhir.Sender{IdentifierSystems: s.IdentifierSystems, DefaultSystem: s.DefaultSystem, ZSegments: zs}
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

// zSegments checks and converts one sender's Z segment mappings. Its errors start
// with the path below zSegments (["ZPV"].fields["2"]: ...) for the caller to prefix.
func zSegments(in map[string]HL7ZSegment) (map[string]v2fhir.ZSegment, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]v2fhir.ZSegment, len(in))
	for _, id := range slices.Sorted(maps.Keys(in)) {
		z := in[id]
		if !isZSegmentID(id) {
			return nil, fmt.Errorf("[%q]: not a Z segment ID (Z and two upper-case letters or digits)", id)
		}
		if !slices.Contains(v2fhir.ZSegmentResources(), z.Resource) {
			return nil, fmt.Errorf("[%q].resource: %q is not one of %s", id, z.Resource, strings.Join(v2fhir.ZSegmentResources(), ", "))
		}
		if len(z.Fields) == 0 {
			return nil, fmt.Errorf("[%q].fields: no fields", id)
		}
		seen := map[[2]int]string{}
		var fields []v2fhir.ZField
		for _, key := range slices.Sorted(maps.Keys(z.Fields)) {
			u := z.Fields[key]
			field, component, ok := zFieldKey(key)
			if !ok {
				return nil, fmt.Errorf("[%q].fields[%q]: not a field number (N, or N.M for component M; from 1, no leading zeros)", id, key)
			}
			if first, dup := seen[[2]int{field, component}]; dup {
				return nil, fmt.Errorf("[%q].fields[%q]: the same value as fields[%q]", id, key, first)
			}
			seen[[2]int{field, component}] = key
			if !isAbsoluteURL(u) {
				return nil, fmt.Errorf("[%q].fields[%q]: %q is not an absolute URL", id, key, u)
			}
			fields = append(fields, v2fhir.ZField{Field: field, Component: component, URL: u})
		}
		// Extensions follow field order, whatever the order of the JSON object: a
		// resent message must map to the same resource.
		slices.SortFunc(fields, func(a, b v2fhir.ZField) int {
			if a.Field != b.Field {
				return a.Field - b.Field
			}
			return a.Component - b.Component
		})
		out[id] = v2fhir.ZSegment{Resource: z.Resource, Fields: fields}
	}
	return out, nil
}

// isZSegmentID reports whether id can name a Z segment: Z and two upper-case
// letters or digits, as segment IDs are.
func isZSegmentID(id string) bool {
	if len(id) != 3 || id[0] != 'Z' {
		return false
	}
	for _, c := range []byte(id[1:]) {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// zFieldKey parses "N" (component 1 of field N) or "N.M".
func zFieldKey(key string) (field, component int, ok bool) {
	f, c, hasComp := strings.Cut(key, ".")
	if field, ok = positive(f); !ok {
		return 0, 0, false
	}
	if !hasComp {
		return field, 1, true
	}
	if component, ok = positive(c); !ok {
		return 0, 0, false
	}
	return field, component, true
}

// positive parses a positive decimal number without sign or leading zeros.
func positive(s string) (int, bool) {
	if s == "" || s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// isAbsoluteURL reports whether s is an absolute URI without white space, as
// Extension.url must be ("http://...", "urn:oid:...").
func isAbsoluteURL(s string) bool {
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && (u.Host != "" || u.Opaque != "")
}
