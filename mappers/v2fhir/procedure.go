package v2fhir

import (
	"time"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// procedureRoles are the PR1 practitioner fields and the SNOMED CT
// performer function the IG assigns them; PR1-12 has none, since the
// field does not say what the practitioner did.
var procedureRoles = []struct {
	field         int
	code, display string
}{
	{8, "88189002", "Anesthesiologist"},
	{11, "304292004", "Surgeon"},
	{12, "", ""},
}

// mapProcedure maps PR1 to Procedure (IG segment map PR1[Procedure]) and
// returns its id, or "" when the PR1 names no procedure. The id comes from
// the procedure identifier PR1-19 when sent, else from the patient, code
// and time, so a resent PR1 updates the same Procedure. Status is unknown:
// the IG leaves it to the message context, and neither an ADT nor a
// referral says whether the procedure is done or planned.
func (m *mapper) mapProcedure(s hl7v2.Segment, idx int) string {
	code := m.procedureCode(s)
	if code == nil {
		m.warn(s, "PR1-3", "PR1_NO_CODE", "PR1 %d has no procedure code or description; skipped", idx+1)
		return ""
	}
	p := &fhir.Procedure{Status: fhir.EventStatusUnknown, Code: code, Subject: *m.subject(), Encounter: m.encounter}
	var id string
	if sys, v := m.ei(s.Field(19).Rep(1)); v != "" {
		p.Identifier = []fhir.Identifier{{System: opt(sys), Value: &v}}
		id = makeID("Procedure", sys, v)
	} else {
		id = makeID("Procedure", m.patientID, fieldText(s, 3), value(code.Text), fieldText(s, 5))
	}
	p.Id = &id
	p.PerformedDateTime, p.PerformedPeriod = m.procedureTime(m.fieldDateTime(s, 5), fieldText(s, 7))
	if r := s.Field(6).Rep(1); !r.IsEmpty() {
		p.Category = m.cwe(r)
	}
	for _, role := range procedureRoles {
		for _, r := range reps(s, role.field) {
			if rf := m.practitioner(r); rf != nil {
				pp := fhir.ProcedurePerformer{Actor: *rf}
				if role.code != "" {
					pp.Function = codeOnly(snomedCT, role.code, role.display)
				}
				p.Performer = append(p.Performer, pp)
			}
		}
	}
	for _, r := range reps(s, 15) {
		if cc := m.cwe(r); cc != nil {
			p.ReasonCode = append(p.ReasonCode, *cc)
		}
	}
	p.PartOf = m.parentProcedure(s, id)
	m.addFrom(s, "Procedure", id, p)
	return id
}

// procedureTime maps PR1-5 and PR1-7 (minutes): a period from PR1-5 to
// PR1-5 plus the minutes when both are sent and PR1-5 has a time of day,
// else a dateTime.
func (m *mapper) procedureTime(dt, minutes string) (*string, *fhir.Period) {
	if dt == "" || minutes == "" {
		return opt(dt), nil
	}
	t, err := time.Parse(time.RFC3339, dt)
	n, ok := number(minutes)
	if err != nil || !ok {
		return &dt, nil
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e6 { // beyond a year and a half is no duration
		return &dt, nil
	}
	end := t.Add(time.Duration(f * float64(time.Minute)))
	return nil, &fhir.Period{Start: &dt, End: ptr(end.Format(time.RFC3339))}
}

// parentProcedure maps PR1-25 parent procedure ID (v2.8+) to partOf, as the
// IG's PR1[Procedure] map does: the Procedure whose identifier it is. When
// a PR1 of this message carries that identifier (PR1-19) the reference is to
// its Procedure; otherwise it is a logical reference by identifier, since
// the parent may be in no store the message reaches. PR1-14 procedure
// priority has no target in the IG and is not mapped.
func (m *mapper) parentProcedure(s hl7v2.Segment, id string) []fhir.Reference {
	sys, v := m.ei(s.Field(25).Rep(1))
	if v == "" {
		return nil
	}
	rf := fhir.Reference{Type: ptr("Procedure"), Identifier: &fhir.Identifier{System: opt(sys), Value: &v}}
	for _, o := range m.msg.AllSegments("PR1") {
		if m.procedureCode(o) == nil {
			continue // skipped by mapProcedure: no Procedure to point to
		}
		if os, ov := m.ei(o.Field(19).Rep(1)); ov == v && os == sys {
			if pid := makeID("Procedure", sys, v); pid != id {
				rf.Reference = ptr("Procedure/" + pid)
				break
			}
			return nil // its own parent
		}
	}
	return []fhir.Reference{rf}
}

// procedureCode is the procedure a PR1 names: PR1-3, with the description
// PR1-4 as its text; nil when it names none (mapProcedure skips it).
func (m *mapper) procedureCode(s hl7v2.Segment) *fhir.CodeableConcept {
	code := m.cwe(s.Field(3).Rep(1))
	if desc := fieldText(s, 4); desc != "" {
		if code == nil {
			code = &fhir.CodeableConcept{}
		}
		if code.Text == nil {
			code.Text = &desc
		}
	}
	return code
}
