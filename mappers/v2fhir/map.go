package v2fhir

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/fhirjson"
)

// ErrUnsupported is returned for message types Map does not handle.
var ErrUnsupported = errors.New("v2fhir: unsupported message type")

// Warning is something the receiver should hear about without the message
// being rejected: an ERR segment's content, or a problem found by mapping
// (a bad ID card check character, a value that could not be mapped).
type Warning struct {
	Segment string // segment ID, e.g. "PID"
	// Sequence is the segment's occurrence among segments with its ID,
	// 1-based (ERR-2.2): 3 for the third OBX. 0 when not known.
	Sequence int
	Field    string // e.g. "PID-3[2]": field 3, second repetition
	Code     string // e.g. "IDCARD_CHECK"
	Text     string
}

// Entry is one mapped resource.
type Entry struct {
	Type string
	ID   string
	// Resource is a pointer to the samply struct, e.g. *fhir.Patient.
	Resource any
	JSON     json.RawMessage
	// Segment and Sequence locate the segment the resource was mapped from
	// (OBX of an Observation, RXA of an Immunization), as ERR-2 locates it:
	// ID and occurrence among segments with that ID. Empty when the
	// resource comes from no one segment. Warnings found after mapping
	// (an untranslated code) point there.
	Segment  string
	Sequence int
}

// Result is what one message maps to.
type Result struct {
	MessageType string // e.g. "ADT^A04"
	ControlID   string
	Resources   []Entry
	// Entries are the transaction that writes Resources: PUT by id, or a
	// conditional update for the Patient with Config.ConditionalPatient.
	Entries  []BundleEntry
	Warnings []Warning
	// Merges are the patient merges of a merge message (ADT^A40 and the like);
	// their Patients are in Resources but not in Entries (see Merge).
	Merges []Merge

	bundleID string
}

// Find returns the resources of the given type, in mapping order.
func (r *Result) Find(resourceType string) []Entry {
	var out []Entry
	for _, e := range r.Resources {
		if e.Type == resourceType {
			out = append(out, e)
		}
	}
	return out
}

// mapper holds the state of one Map call.
type mapper struct {
	// legacyCards maps the 18-character form of each first-generation card number
	// met to the 15 digits sent.
	legacyCards map[string]string
	msg         *hl7v2.Message
	cfg         Config
	sender      string
	res         []Entry // JSON filled in when the mapping is done
	seen        map[string]bool
	sources     map[string]hl7v2.Segment // "Type/id" → the segment it was mapped from
	// orderKeys maps the key of each unnumbered order (orderKey) to the
	// position of the first order of the message that has it.
	orderKeys map[string]string
	warnings  []Warning

	patientID  string
	patientRef string
	patientKey *fhir.Identifier // for the conditional update
	encounter  *fhir.Reference
	merges     []pendingMerge
}

// Map maps msg to FHIR R4. Unsupported message types give ErrUnsupported;
// a message without the segments its type needs (no PID) gives an error.
func Map(msg *hl7v2.Message, cfg Config) (*Result, error) {
	if msg == nil || msg.NumSegments() == 0 {
		return nil, fmt.Errorf("v2fhir: %w", missingSegment("MSH", 1, "empty message"))
	}
	code, trigger, _ := msg.Type()
	m := &mapper{msg: msg, cfg: cfg.withDefaults(), seen: map[string]bool{}}
	m.sender = msg.Get("MSH-4.1")
	if m.sender == "" {
		m.sender = msg.Get("MSH-3.1")
	}
	typ := code + "^" + trigger
	var err error
	switch {
	case code == "ADT" && adtTriggers[trigger]:
		err = m.mapADT(trigger)
	case code == "ADT" && mergeTriggers[trigger]:
		err = m.mapMerge()
	case typ == "ORU^R01":
		err = m.mapORU()
	case typ == "ORM^O01" || typ == "OML^O21":
		err = m.mapOrders()
	case typ == "VXU^V04":
		err = m.mapVXU()
	case code == "SIU" && isSIUTrigger(trigger):
		err = m.mapSIU(trigger)
	case (code == "REF" || code == "RRI") && referralTriggers[trigger]:
		err = m.mapReferral(code, trigger)
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, typ)
	}
	if err != nil {
		return nil, fmt.Errorf("v2fhir: map %s %s: %w", typ, msg.ControlID(), err)
	}
	m.mapZSegments()
	m.errSegments()
	out := &Result{MessageType: typ, ControlID: msg.ControlID(), Warnings: m.warnings}
	if out.Merges, err = m.mergeResults(); err != nil {
		return nil, fmt.Errorf("v2fhir: %w", err)
	}
	for _, e := range m.res {
		if s, ok := m.sources[e.Type+"/"+e.ID]; ok {
			e.Segment, e.Sequence = s.Name(), m.occurrence(s)
		}
		if e.JSON, err = marshal(e.Resource); err != nil {
			return nil, fmt.Errorf("v2fhir: marshal %s: %w", e.Type, err)
		}
		out.Resources = append(out.Resources, e)
	}
	if out.Entries, err = m.entries(out.Resources); err != nil {
		return nil, fmt.Errorf("v2fhir: %w", err)
	}
	out.bundleID = makeID("Bundle", m.sender, m.msg.ControlID())
	return out, nil
}

// BundleEntry is one entry of a transaction Bundle: the resource and the
// request that writes it.
type BundleEntry struct {
	FullURL  string // urn:uuid:<id>, which the other entries' references use
	Resource json.RawMessage
	Method   string // always PUT: an update by id or a conditional update
	URL      string
}

var adtTriggers = map[string]bool{
	"A01": true, "A02": true, "A03": true, "A04": true, "A05": true, "A06": true, "A07": true,
	"A08": true, "A11": true, "A13": true, "A28": true, "A31": true,
}

// namespace is the UUIDv5 namespace of every id Map makes.
var namespace = [16]byte{0x6b, 0x1c, 0x3e, 0x42, 0x9a, 0x5d, 0x4f, 0x21, 0x8e, 0x10, 0x3c, 0x7a, 0x11, 0x52, 0xd0, 0x9f}

// makeID returns the version 5 UUID of the resource type and key parts.
func makeID(resourceType string, key ...string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(resourceType))
	for _, k := range key {
		h.Write([]byte{0})
		h.Write([]byte(k))
	}
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// add appends r, a pointer to a samply resource of the given type and id,
// unless one with the same type and id is already there (a repeated segment
// describing the same thing).
func (m *mapper) add(resourceType, id string, r any) bool {
	k := resourceType + "/" + id
	if m.seen[k] {
		return false
	}
	m.seen[k] = true
	m.res = append(m.res, Entry{Type: resourceType, ID: id, Resource: r})
	return true
}

// addFrom is add for a resource mapped from segment s, which it records as
// the resource's source unless the resource was already there.
func (m *mapper) addFrom(s hl7v2.Segment, resourceType, id string, r any) bool {
	if !m.add(resourceType, id, r) {
		return false
	}
	if m.sources == nil {
		m.sources = map[string]hl7v2.Segment{}
	}
	m.sources[resourceType+"/"+id] = s
	return true
}

// added returns the resource already added with the type and id, or nil.
func (m *mapper) added(resourceType, id string) any {
	for _, e := range m.res {
		if e.Type == resourceType && e.ID == id {
			return e.Resource
		}
	}
	return nil
}

// marshal encodes a resource with resourceType first, where FHIR's own examples
// and every reader of a stored resource expect it. It encodes the resource's
// Other* type (samply's type without methods) instead of calling the
// resource's MarshalJSON, which writes resourceType last and makes
// encoding/json validate and compact its whole output once more. An
// Immunization needs more help: samply declares occurrenceDateTime and
// occurrenceString without omitempty (the generator made each choice of the
// required occurrence[x] required), so both would be written, one of them "";
// the outer fields shadow the embedded ones.
func marshal(r any) ([]byte, error) {
	switch v := r.(type) {
	case *fhir.AllergyIntolerance:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherAllergyIntolerance
		}{"AllergyIntolerance", fhir.OtherAllergyIntolerance(*v)})
	case *fhir.Appointment:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherAppointment
		}{"Appointment", fhir.OtherAppointment(*v)})
	case *fhir.Condition:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherCondition
		}{"Condition", fhir.OtherCondition(*v)})
	case *fhir.DiagnosticReport:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherDiagnosticReport
		}{"DiagnosticReport", fhir.OtherDiagnosticReport(*v)})
	case *fhir.Encounter:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherEncounter
		}{"Encounter", fhir.OtherEncounter(*v)})
	case *fhir.Observation:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherObservation
		}{"Observation", fhir.OtherObservation(*v)})
	case *fhir.Organization:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherOrganization
		}{"Organization", fhir.OtherOrganization(*v)})
	case *fhir.Patient:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherPatient
		}{"Patient", fhir.OtherPatient(*v)})
	case *fhir.Practitioner:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherPractitioner
		}{"Practitioner", fhir.OtherPractitioner(*v)})
	case *fhir.PractitionerRole:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherPractitionerRole
		}{"PractitionerRole", fhir.OtherPractitionerRole(*v)})
	case *fhir.Procedure:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherProcedure
		}{"Procedure", fhir.OtherProcedure(*v)})
	case *fhir.ServiceRequest:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherServiceRequest
		}{"ServiceRequest", fhir.OtherServiceRequest(*v)})
	case *fhir.Specimen:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherSpecimen
		}{"Specimen", fhir.OtherSpecimen(*v)})
	case *fhir.Task:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherTask
		}{"Task", fhir.OtherTask(*v)})
	case *fhir.Immunization:
		return json.Marshal(struct {
			ResourceType string `json:"resourceType"`
			fhir.OtherImmunization
			OccurrenceDateTime string `json:"occurrenceDateTime,omitempty"`
			OccurrenceString   string `json:"occurrenceString,omitempty"`
		}{"Immunization", fhir.OtherImmunization(*v), v.OccurrenceDateTime, v.OccurrenceString})
	}
	return nil, fmt.Errorf("marshal: %T is not a resource the mappers build", r)
}

// warn records a warning about field (e.g. "OBX-5[2]") of segment s.
func (m *mapper) warn(s hl7v2.Segment, field, code, format string, args ...any) {
	m.warnings = append(m.warnings, Warning{Segment: s.Name(), Sequence: m.occurrence(s), Field: field,
		Code: code, Text: fmt.Sprintf(format, args...)})
}

// errSegments turns ERR segments into warnings: ERR-2 (v2.5+) or ERR-1
// (earlier) locates the problem, ERR-3 is the code, ERR-8 (else ERR-3.2)
// the text.
func (m *mapper) errSegments() {
	for _, s := range m.msg.AllSegments("ERR") {
		loc := s.Field(2).Rep(1)
		code, text := fieldText(s, 3), comp(s.Field(3).Rep(1), 2)
		rep := comp(loc, 4) // ERL-4; ELD's fourth component is the code
		if loc.IsEmpty() {
			loc = s.Field(1).Rep(1) // ELD: segment^sequence^field^code&text
			if code == "" {
				code = sub(loc, 4, 1)
				text = sub(loc, 4, 2)
			}
		}
		if t := fieldText(s, 8); t != "" {
			text = t
		}
		seg := comp(loc, 1)
		field := ""
		if f := comp(loc, 3); f != "" && seg != "" {
			field = seg + "-" + f
			if rep != "" {
				field += "[" + rep + "]"
			}
		}
		seq, _ := strconv.Atoi(comp(loc, 2))
		m.warnings = append(m.warnings, Warning{Segment: seg, Sequence: max(seq, 0), Field: field, Code: code, Text: text})
	}
}

func ref(resourceType, id string) *fhir.Reference {
	return &fhir.Reference{Reference: ptr(resourceType + "/" + id)}
}

// entries lists the transaction entries that write the marshalled
// resources.
func (m *mapper) entries(res []Entry) ([]BundleEntry, error) {
	out := make([]BundleEntry, 0, len(res))
	for _, r := range res {
		p, isPatient := r.Resource.(*fhir.Patient)
		if isPatient && len(m.merges) > 0 {
			continue // a merge needs the stored records: see Merge
		}
		e := BundleEntry{FullURL: "urn:uuid:" + r.ID, Resource: r.JSON, Method: "PUT", URL: r.Type + "/" + r.ID}
		if isPatient && m.cfg.ConditionalPatient && m.patientKey != nil {
			// A conditional update must not carry an id the server did not
			// choose; the other entries point at the urn:uuid fullUrl.
			cp := *p
			cp.Id = nil
			j, err := marshal(&cp)
			if err != nil {
				return nil, fmt.Errorf("marshal Patient: %w", err)
			}
			e.Resource = j
			e.URL = "Patient?identifier=" + url.QueryEscape(value(m.patientKey.System)+"|"+value(m.patientKey.Value))
		}
		out = append(out, e)
	}
	return out, nil
}

// Bundle returns Entries as a transaction Bundle. Its id is derived from the
// message control id and sender, so a resent message gives the same Bundle.
// It is written directly: encoding it as a fhir.Bundle would make
// encoding/json validate and copy every resource once more.
func (r *Result) Bundle() json.RawMessage {
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","id":`)
	b.Write(fhirjson.Quote(r.bundleID))
	b.WriteString(`,"type":"transaction","entry":[`)
	for i, e := range r.Entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"fullUrl":`)
		b.Write(fhirjson.Quote(e.FullURL))
		b.WriteString(`,"resource":`)
		b.Write(e.Resource)
		b.WriteString(`,"request":{"method":`)
		b.Write(fhirjson.Quote(e.Method))
		b.WriteString(`,"url":`)
		b.Write(fhirjson.Quote(e.URL))
		b.WriteString(`}}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// subject returns the reference to the message's Patient.
func (m *mapper) subject() *fhir.Reference {
	return &fhir.Reference{Reference: ptr(m.patientRef)}
}

// ptr returns a pointer to v: samply structs hold optional members as
// pointers.
func ptr[T any](v T) *T { return &v }

// opt returns s as an optional string: nil when empty, since FHIR has no
// empty strings.
func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// value returns *p, or "" for nil.
func value(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func splitTrim(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(s, sep) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
