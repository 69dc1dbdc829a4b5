package v2fhir

import (
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/mappers/fhirr4"
)

// ErrUnsupported is returned for message types Map does not handle.
var ErrUnsupported = errors.New("v2fhir: unsupported message type")

// Warning is something the receiver should hear about without the message
// being rejected: an ERR segment's content, or a problem found by mapping
// (a bad ID card check character, a value that could not be mapped).
type Warning struct {
	Segment string // segment ID, e.g. "PID"
	Field   string // e.g. "PID-3[2]"
	Code    string // e.g. "IDCARD_CHECK"
	Text    string
}

// Entry is one mapped resource.
type Entry struct {
	Type     string
	ID       string
	Resource fhirr4.Resource
	JSON     json.RawMessage
}

// Result is what one message maps to.
type Result struct {
	MessageType string // e.g. "ADT^A04"
	ControlID   string
	Resources   []Entry
	// Bundle is the transaction Bundle that writes Resources: PUT by id, or
	// a conditional update for the Patient with Config.ConditionalPatient.
	Bundle   json.RawMessage
	Warnings []Warning
	// Merges are the patient merges of a merge message (ADT^A40 and the like);
	// their Patients are in Resources but not in Bundle (see Merge).
	Merges []Merge
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
	msg      *hl7v2.Message
	cfg      Config
	sender   string
	res      []fhirr4.Resource
	seen     map[string]bool
	warnings []Warning

	patientID  string
	patientRef string
	patientKey *fhirr4.Identifier // for the conditional update
	encounter  *fhirr4.Reference
	merges     []pendingMerge
}

// Map maps msg to FHIR R4. Unsupported message types give ErrUnsupported;
// a message without the segments its type needs (no PID) gives an error.
func Map(msg *hl7v2.Message, cfg Config) (*Result, error) {
	if msg == nil || msg.NumSegments() == 0 {
		return nil, errors.New("v2fhir: empty message")
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
	case code == "SIU" && siuStatus[trigger] != "":
		err = m.mapSIU(trigger)
	case (code == "REF" || code == "RRI") && referralTriggers[trigger]:
		err = m.mapReferral(code, trigger)
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, typ)
	}
	if err != nil {
		return nil, fmt.Errorf("v2fhir: map %s %s: %w", typ, msg.ControlID(), err)
	}
	m.errSegments()
	out := &Result{MessageType: typ, ControlID: msg.ControlID(), Warnings: m.warnings}
	if out.Merges, err = m.mergeResults(); err != nil {
		return nil, fmt.Errorf("v2fhir: %w", err)
	}
	for _, r := range m.res {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("v2fhir: marshal %s: %w", r.ResourceType(), err)
		}
		out.Resources = append(out.Resources, Entry{Type: r.ResourceType(), ID: r.ResourceID(), Resource: r, JSON: b})
	}
	b, err := json.Marshal(m.bundle())
	if err != nil {
		return nil, fmt.Errorf("v2fhir: marshal bundle: %w", err)
	}
	out.Bundle = b
	return out, nil
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

// add appends a resource unless one with the same type and id is already
// there (a repeated segment describing the same thing).
func (m *mapper) add(r fhirr4.Resource) bool {
	k := r.ResourceType() + "/" + r.ResourceID()
	if m.seen[k] {
		return false
	}
	m.seen[k] = true
	m.res = append(m.res, r)
	return true
}

func (m *mapper) warn(seg, field, code, format string, args ...any) {
	m.warnings = append(m.warnings, Warning{Segment: seg, Field: field, Code: code, Text: fmt.Sprintf(format, args...)})
}

// errSegments turns ERR segments into warnings: ERR-2 (v2.5+) or ERR-1
// (earlier) locates the problem, ERR-3 is the code, ERR-8 (else ERR-3.2)
// the text.
func (m *mapper) errSegments() {
	for _, s := range m.msg.AllSegments("ERR") {
		loc := s.Field(2).Rep(1)
		code, text := fieldText(s, 3), comp(s.Field(3).Rep(1), 2)
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
		}
		m.warnings = append(m.warnings, Warning{Segment: seg, Field: field, Code: code, Text: text})
	}
}

func ref(resourceType, id string) *fhirr4.Reference {
	return &fhirr4.Reference{Reference: resourceType + "/" + id}
}

// bundle builds the transaction Bundle. Its id is derived from the message
// control id and sender, so a resent message gives the same Bundle.
func (m *mapper) bundle() *fhirr4.Bundle {
	b := &fhirr4.Bundle{Type: "Bundle", BundleType: "transaction", ID: makeID("Bundle", m.sender, m.msg.ControlID())}
	for _, r := range m.res {
		if _, ok := r.(*fhirr4.Patient); ok && len(m.merges) > 0 {
			continue // a merge needs the stored records: see Merge
		}
		e := fhirr4.BundleEntry{
			FullURL:  "urn:uuid:" + r.ResourceID(),
			Resource: r,
			Request:  &fhirr4.BundleRequest{Method: "PUT", URL: r.ResourceType() + "/" + r.ResourceID()},
		}
		if p, ok := r.(*fhirr4.Patient); ok && m.cfg.ConditionalPatient && m.patientKey != nil {
			// A conditional update must not carry an id the server did not
			// choose; the other entries point at the urn:uuid fullUrl.
			cp := *p
			cp.ID = ""
			e.Resource = &cp
			e.Request.URL = "Patient?identifier=" + url.QueryEscape(m.patientKey.System+"|"+m.patientKey.Value)
		}
		b.Entry = append(b.Entry, e)
	}
	return b
}

// subject returns the reference to the message's Patient.
func (m *mapper) subject() *fhirr4.Reference {
	return &fhirr4.Reference{Reference: m.patientRef}
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
