package v2fhir

import (
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// notes maps NTE segments to Annotations, one per NTE as the IG's
// NTE[Observation] and NTE[ServiceRequest] maps have it; an NTE without a
// comment is skipped (Annotation.text is required).
func (m *mapper) notes(segs []hl7v2.Segment) []fhir.Annotation {
	var out []fhir.Annotation
	for _, s := range segs {
		if a := m.annotation(s); a != nil {
			out = append(out, *a)
		}
	}
	return out
}

// annotation maps one NTE: NTE-3 to text, NTE-5 to the author, NTE-6 to
// the time. NTE-3 is FT and repeats; each repetition is a line (a hard
// line break, as for TX), and \.br\ inside one is a line break too. NTE-4
// (comment type) is not mapped: the IG (STU1) has no NTE[Annotation] segment
// map, its NTE[Observation] map leaves NTE-4 out and its NTE[ServiceRequest]
// map names only a placeholder ("extension??-noteType") for it. The
// Extensions Pack's annotationType extension would be the place should the
// IG adopt it.
func (m *mapper) annotation(s hl7v2.Segment) *fhir.Annotation {
	var lines []string
	for _, r := range s.Field(3).Reps() {
		// The whole repetition, separators kept: FT has no components, and a
		// sender's unescaped ^ belongs to the text.
		t := r.String()
		if t == `""` {
			t = ""
		}
		lines = append(lines, strings.TrimRight(t, " \t"))
	}
	text := strings.Trim(strings.Join(lines, "\n"), "\n")
	if strings.TrimSpace(text) == "" {
		return nil
	}
	a := &fhir.Annotation{Text: text, Time: opt(m.fieldDateTime(s, 6))}
	if r := s.Field(5).Rep(1); !r.IsEmpty() {
		a.AuthorReference = m.practitioner(r)
	}
	return a
}

// obxGroups returns every OBX of the message with the NTE segments that
// follow it (PRT may come between, as in v2.7+ observation groups): the
// messages whose OBX do not sit in ORC/OBR order groups (ADT, REF, RRI).
func (m *mapper) obxGroups() []obxGroup {
	var out []obxGroup
	open := false // the last OBX still takes NTE
	for _, s := range m.msg.Segments() {
		switch s.Name() {
		case "OBX":
			out = append(out, obxGroup{obx: s})
			open = true
		case "NTE":
			if open {
				g := &out[len(out)-1]
				g.nte = append(g.nte, s)
			}
		case "PRT":
		default:
			open = false
		}
	}
	return out
}
