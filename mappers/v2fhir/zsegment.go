package v2fhir

import (
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// ZSegment maps fields of one of a sender's own Z segments to extensions on a
// resource the message maps to. Z segments without a ZSegment are ignored (the
// raw message keeps them).
type ZSegment struct {
	// Resource is the type of the resource that carries the extensions: one of
	// ZSegmentResources. A Z segment whose resource the message does not map
	// (an Encounter in an ORU, A28 or A31, or without PV1) adds nothing; so does
	// any other type.
	Resource string
	// Fields are the mapped fields, in the order their extensions are added.
	Fields []ZField
}

// ZField maps one field of a Z segment to an extension with a valueString.
type ZField struct {
	Field int // 1-based field number
	// Component is the 1-based component of the field's first repetition whose
	// text (first subcomponent, unescaped, trimmed) is the value; 0 means 1.
	Component int
	URL       string // Extension.url
}

// ZSegmentResources returns the resource types a ZSegment may name: the
// message's Patient (the one mapped from PID) and its Encounter (PV1).
func ZSegmentResources() []string { return []string{"Patient", "Encounter"} }

// mapZSegments adds the extensions the sender's configured Z segments carry:
// for each occurrence, in message order, one extension per ZField whose value
// is not empty. Values are strings: a date or a code is kept as sent. An HL7
// null ("") adds nothing, since an extension cannot be deleted this way. Merge
// messages are left alone: their Patients are combined with stored records by
// the receiver (see Merge).
func (m *mapper) mapZSegments() {
	zs := m.cfg.Senders[m.sender].ZSegments
	if len(zs) == 0 || len(m.merges) > 0 {
		return
	}
	for _, s := range m.msg.Segments() {
		z, ok := zs[s.Name()]
		if !ok {
			continue
		}
		exts := m.extensionsOf(z.Resource)
		if exts == nil {
			continue
		}
		for _, f := range z.Fields {
			v := comp(s.Field(f.Field).Rep(1), max(f.Component, 1))
			if v == "" || v == `""` {
				continue
			}
			*exts = append(*exts, fhir.Extension{Url: f.URL, ValueString: &v})
		}
	}
}

// extensionsOf returns the extension list of the message's resource of the
// type, or nil when it mapped none.
func (m *mapper) extensionsOf(resourceType string) *[]fhir.Extension {
	switch resourceType {
	case "Patient":
		if p, ok := m.added("Patient", m.patientID).(*fhir.Patient); ok {
			return &p.Extension
		}
	case "Encounter":
		if m.encounter == nil {
			return nil
		}
		id := strings.TrimPrefix(value(m.encounter.Reference), "Encounter/")
		if e, ok := m.added("Encounter", id).(*fhir.Encounter); ok {
			return &e.Extension
		}
	}
	return nil
}
