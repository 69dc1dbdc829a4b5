// Package v2fhir maps parsed HL7 v2 messages to FHIR R4 resources and a
// transaction Bundle, following the HL7 v2-to-FHIR implementation guide
// (segment maps PID→Patient, PV1→Encounter, OBR/OBX→DiagnosticReport and
// Observation, ORC/OBR→ServiceRequest, AL1→AllergyIntolerance,
// DG1→Condition, SPM→Specimen, PR1→Procedure, OBX outside results →
// Observation) and, where the guide leaves room, Microsoft
// FHIR-Converter's behaviour, with the Chinese practices of the Shanghai
// community health network (citizen ID cards, GB/T 2261.1 sex codes, whole
// Chinese names).
//
// Resource ids are name-based UUIDs (SHA-1, version 5) of the resource type
// and its business identifiers, so a resent message maps to the same ids and
// the Bundle's PUTs are idempotent.
package v2fhir

import (
	"strings"
	"time"
)

// Identifier systems for the citizen ID card (居民身份证): WS/T 500 and the
// HL7 China connectathon IG. Both are recognised; Config.IDCardSystem picks
// the one emitted.
const (
	IDCardSystemWST500 = "urn:oid:2.16.156.10011.1.3"
	IDCardSystemHL7CN  = "urn:oid:2.16.840.1.113883.2.23.1.19.1"
)

// Config adapts the mapping to a deployment and its senders. The zero
// Config is usable: Map fills the defaults.
type Config struct {
	// IdentifierSystems maps an assigning authority (CX.4.1 namespace, or
	// CX.4.2 universal id) to an identifier system URI, for all senders.
	IdentifierSystems map[string]string
	// Senders holds per-sender settings keyed by MSH-4.1 (sending facility)
	// or, failing that, MSH-3.1 (sending application).
	Senders map[string]Sender
	// IdentifierSystemBase prefixes an unknown assigning authority to make
	// a system URI. Default "urn:fhirgw:v2:id:".
	IdentifierSystemBase string
	// CodeSystems maps a v2 coding system name (CWE.3) to a URI, in addition
	// to the built-in table (LN, SCT, I10, UCUM, HL7nnnn...).
	CodeSystems map[string]string
	// CodeSystemBase prefixes an unknown coding system name. Default
	// "urn:fhirgw:v2:cs:".
	CodeSystemBase string
	// IDCardSystem is the system emitted for citizen ID cards. Default
	// IDCardSystemWST500.
	IDCardSystem string
	// IDCardAuthorities are CX.4 values that mean "citizen ID card" besides
	// the two ID card OIDs and the CX.5 type codes NNCHN, ID, RI... .
	IDCardAuthorities []string
	// Location is the time zone of times sent without an offset. Default
	// China Standard Time (UTC+8).
	Location *time.Location
	// ConditionalPatient makes the Bundle write the Patient with a
	// conditional update on its identifier (Patient?identifier=system|value)
	// instead of a PUT by id, so an existing Patient found by identifier is
	// updated whatever its id. References then use the Patient's urn:uuid.
	ConditionalPatient bool
	// PatientClasses maps local PV1-2 codes (numbers in many Chinese
	// hospitals) to the HL7 table 0004 codes before mapping to Encounter.class.
	PatientClasses map[string]string
}

// Sender holds settings for one sending facility or application.
type Sender struct {
	// IdentifierSystems maps this sender's assigning authorities to systems;
	// it wins over Config.IdentifierSystems.
	IdentifierSystems map[string]string
	// DefaultSystem is the system of identifiers that arrive without an
	// assigning authority. Default: IdentifierSystemBase + the sender key.
	DefaultSystem string
	// ZSegments maps fields of this sender's Z segments, keyed by segment ID
	// ("ZPV"), to extensions on the mapped resources (zsegment.go).
	ZSegments map[string]ZSegment
}

var cst = time.FixedZone("CST", 8*3600)

func (c Config) withDefaults() Config {
	if c.IdentifierSystemBase == "" {
		c.IdentifierSystemBase = "urn:fhirgw:v2:id:"
	}
	if c.CodeSystemBase == "" {
		c.CodeSystemBase = "urn:fhirgw:v2:cs:"
	}
	if c.IDCardSystem == "" {
		c.IDCardSystem = IDCardSystemWST500
	}
	if c.Location == nil {
		c.Location = cst
	}
	return c
}

// defaultIDCardAuthorities are assigning authority names seen for the ID
// card in Chinese feeds.
var defaultIDCardAuthorities = []string{"身份证", "居民身份证", "SFZ", "IDCARD", "ID_CARD", "CHN_ID", "2.16.156.10011.1.3", "2.16.840.1.113883.2.23.1.19.1"}

func (c Config) isIDCardAuthority(a string) bool {
	if a == "" {
		return false
	}
	for _, s := range defaultIDCardAuthorities {
		if strings.EqualFold(s, a) {
			return true
		}
	}
	for _, s := range c.IDCardAuthorities {
		if strings.EqualFold(s, a) {
			return true
		}
	}
	return false
}
