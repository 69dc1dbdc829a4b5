package v2fhir

import (
	"strings"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/mappers/fhirr4"
)

// mapADT maps ADT events: Patient always; Encounter from PV1/PV2 (not for
// A28/A31, which only update the person); AllergyIntolerance from AL1;
// Condition from DG1.
func (m *mapper) mapADT(trigger string) error {
	if err := m.mapPatient(); err != nil {
		return err
	}
	if trigger != "A28" && trigger != "A31" {
		m.mapEncounter(trigger)
	}
	for _, s := range m.msg.AllSegments("AL1") {
		m.mapAllergy(s)
	}
	for _, s := range m.msg.AllSegments("DG1") {
		m.mapCondition(s)
	}
	return nil
}

var encounterClass = map[string][2]string{ // table 0004 → v3-ActCode
	"E": {"EMER", "emergency"}, "I": {"IMP", "inpatient encounter"}, "O": {"AMB", "ambulatory"},
	"P": {"PRENC", "pre-admission"}, "R": {"AMB", "ambulatory"}, "B": {"IMP", "inpatient encounter"},
	"C": {"AMB", "ambulatory"}, "N": {"AMB", "ambulatory"},
}

// mapEncounter maps PV1/PV2. The id comes from the visit number (PV1-19),
// else from the patient and admit time, else from the message.
func (m *mapper) mapEncounter(trigger string) {
	pv1, ok := m.msg.Segment("PV1")
	if !ok {
		return
	}
	e := &fhirr4.Encounter{Base: fhirr4.Base{Type: "Encounter"}, Subject: m.subject()}
	class := fieldText(pv1, 2)
	if c, ok := m.cfg.PatientClasses[class]; ok {
		class = c
	}
	if c, ok := encounterClass[strings.ToUpper(class)]; ok {
		e.Class = fhirr4.Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: c[0], Display: c[1]}
	} else {
		// Encounter.class is required; v3 NullFlavor UNK says we do not know.
		e.Class = fhirr4.Coding{System: "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", Code: "UNK", Display: "unknown"}
		if class != "" {
			m.warn("PV1", "PV1-2", "CLASS_UNMAPPED", "patient class %q has no mapping", class)
		}
	}
	admit, discharge := pv1.Field(44).Rep(1).Component(1).String(), pv1.Field(45).Rep(1).Component(1).String()
	e.Period = m.period(admit, discharge)
	switch {
	case trigger == "A11":
		e.Status = "cancelled"
	case discharge != "" || trigger == "A03":
		e.Status = "finished"
	case trigger == "A05" || trigger == "A14":
		e.Status = "planned"
	default:
		e.Status = "in-progress"
	}
	visit := pv1.Field(19).Rep(1)
	if v := comp(visit, 1); v != "" {
		id, _ := m.cx(visit)
		id.Type = codeOnly(v20203, "VN", "Visit number")
		e.Identifier = append(e.Identifier, *id)
		e.ID = makeID("Encounter", id.System, id.Value)
	} else if admit != "" {
		e.ID = makeID("Encounter", m.patientID, admit)
	} else {
		e.ID = makeID("Encounter", m.sender, m.msg.ControlID())
	}
	if r := pv1.Field(4).Rep(1); !r.IsEmpty() {
		if cc := m.cwe(r); cc != nil {
			if len(cc.Coding) > 0 && cc.Coding[0].System == "" {
				cc.Coding[0].System = "http://terminology.hl7.org/CodeSystem/v2-0007"
			}
			e.Type = append(e.Type, *cc)
		}
	}
	for _, p := range []struct {
		field int
		code  string
	}{{7, "ATND"}, {8, "REF"}, {9, "CON"}, {17, "ADM"}} {
		for _, r := range reps(pv1, p.field) {
			if rf := m.practitioner(r); rf != nil {
				e.Participant = append(e.Participant, fhirr4.EncounterParticipant{
					Type:       []fhirr4.CodeableConcept{*codeOnly("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", p.code, "")},
					Individual: rf,
				})
			}
		}
	}
	if r := pv1.Field(10).Rep(1); !r.IsEmpty() {
		e.ServiceType = m.cwe(r)
	}
	h := &fhirr4.Hospitalization{}
	if r := pv1.Field(14).Rep(1); !r.IsEmpty() {
		h.AdmitSource = m.cwe(r)
	}
	if r := pv1.Field(13).Rep(1); !r.IsEmpty() {
		h.ReAdmission = codeOnly("http://terminology.hl7.org/CodeSystem/v2-0092", comp(r, 1), "")
	}
	if r := pv1.Field(36).Rep(1); !r.IsEmpty() {
		h.DischargeDisposition = m.cwe(r)
	}
	if h.AdmitSource != nil || h.ReAdmission != nil || h.DischargeDisposition != nil {
		e.Hospitalization = h
	}
	if pv2, ok := m.msg.Segment("PV2"); ok {
		if r := pv2.Field(3).Rep(1); !r.IsEmpty() {
			if cc := m.cwe(r); cc != nil {
				e.ReasonCode = append(e.ReasonCode, *cc)
			}
		}
	}
	m.add(e)
	m.encounter = ref("Encounter", e.ID)
}

var allergyCategory = map[string]string{ // table 0127 → category
	"DA": "medication", "FA": "food", "EA": "environment", "MA": "medication",
	"AA": "environment", "PA": "environment", "LA": "environment",
}

var allergyCriticality = map[string]string{"SV": "high", "MO": "low", "MI": "low", "U": "unable-to-assess"}

// mapAllergy maps AL1. The id comes from AL1-3 (the allergen) for the
// patient, so a resent list updates rather than duplicates.
func (m *mapper) mapAllergy(s hl7v2.Segment) {
	code := m.cwe(s.Field(3).Rep(1))
	if code == nil {
		return
	}
	a := &fhirr4.AllergyIntolerance{Base: fhirr4.Base{Type: "AllergyIntolerance"}, Code: code, Patient: *m.subject()}
	a.ID = makeID("AllergyIntolerance", m.patientID, fieldText(s, 3), code.Text)
	a.ClinicalStatus = codeOnly("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active")
	if c, ok := allergyCategory[strings.ToUpper(fieldText(s, 2))]; ok {
		a.Category = []string{c}
	}
	a.Criticality = allergyCriticality[strings.ToUpper(fieldText(s, 4))]
	for _, r := range reps(s, 5) {
		if cc := m.cwe(r); cc != nil {
			a.Reaction = append(a.Reaction, fhirr4.AllergyReaction{Manifestation: []fhirr4.CodeableConcept{*cc}})
		} else if t := r.String(); t != "" {
			a.Reaction = append(a.Reaction, fhirr4.AllergyReaction{Manifestation: []fhirr4.CodeableConcept{{Text: t}}})
		}
	}
	a.OnsetDateTime = m.dateTime(fieldText(s, 6))
	m.add(a)
}

// mapCondition maps DG1 (diagnosis) to Condition, keyed by the DG1-20
// diagnosis identifier when sent, else the code.
func (m *mapper) mapCondition(s hl7v2.Segment) {
	code := m.cwe(s.Field(3).Rep(1))
	if code == nil {
		if t := fieldText(s, 4); t != "" {
			code = &fhirr4.CodeableConcept{Text: t}
		} else {
			return
		}
	}
	c := &fhirr4.Condition{Base: fhirr4.Base{Type: "Condition"}, Code: code, Subject: *m.subject(), Encounter: m.encounter}
	if v := fieldText(s, 20); v != "" {
		c.Identifier = []fhirr4.Identifier{{Value: v}}
		c.ID = makeID("Condition", m.sender, v)
	} else {
		c.ID = makeID("Condition", m.patientID, fieldText(s, 3), code.Text)
	}
	c.Category = []fhirr4.CodeableConcept{*codeOnly("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", "Encounter Diagnosis")}
	c.OnsetDateTime = m.dateTime(fieldText(s, 5))
	c.RecordedDate = m.dateTime(fieldText(s, 19))
	for _, r := range reps(s, 16) {
		if rf := m.practitioner(r); rf != nil {
			c.Recorder = rf
			break
		}
	}
	m.add(c)
}
