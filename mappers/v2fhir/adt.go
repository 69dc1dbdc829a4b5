package v2fhir

import (
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// mapADT maps ADT events: Patient always; Encounter from PV1/PV2 (not for
// A28/A31, which only update the person); AllergyIntolerance from AL1;
// Condition from DG1; Observation from OBX (height, weight, blood pressure
// recorded at admission) with the NTE after it as notes; Procedure from PR1.
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
	scope := "Patient/" + m.patientID
	if m.encounter != nil {
		scope = value(m.encounter.Reference)
	}
	// The IG's ADT maps have no NTE; senders put notes after an OBX all the
	// same, and they are about that observation (NTE[Observation]). An NTE
	// anywhere else in an ADT has no target and is left out.
	for i, g := range m.obxGroups() {
		obs := m.contextObservation(g.obx, scope, i)
		if obs == nil {
			continue
		}
		obs.Note = m.notes(g.nte)
		if !m.addFrom(g.obx, "Observation", *obs.Id, obs) {
			m.warn(g.obx, "OBX-3", "OBX_DUPLICATE", "OBX %d repeats an earlier observation; skipped", i+1)
		}
	}
	for i, s := range m.msg.AllSegments("PR1") {
		m.mapProcedure(s, i)
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
	e := &fhir.Encounter{Subject: m.subject()}
	class := fieldText(pv1, 2)
	if c, ok := m.cfg.PatientClasses[class]; ok {
		class = c
	}
	if c, ok := encounterClass[strings.ToUpper(class)]; ok {
		e.Class = fhir.Coding{System: ptr("http://terminology.hl7.org/CodeSystem/v3-ActCode"), Code: ptr(c[0]), Display: ptr(c[1])}
	} else {
		// Encounter.class is required; v3 NullFlavor UNK says we do not know.
		e.Class = fhir.Coding{System: ptr("http://terminology.hl7.org/CodeSystem/v3-NullFlavor"), Code: ptr("UNK"), Display: ptr("unknown")}
		if class != "" {
			m.warn(pv1, "PV1-2", "CLASS_UNMAPPED", "patient class %q has no mapping", class)
		}
	}
	admit, discharge := pv1.Field(44).Rep(1).Component(1).String(), pv1.Field(45).Rep(1).Component(1).String()
	e.Period = m.fieldPeriod(pv1, 44, 45)
	switch {
	case trigger == "A11":
		e.Status = fhir.EncounterStatusCancelled
	case discharge != "" || trigger == "A03":
		e.Status = fhir.EncounterStatusFinished
	case trigger == "A05" || trigger == "A14":
		e.Status = fhir.EncounterStatusPlanned
	default:
		e.Status = fhir.EncounterStatusInProgress
	}
	var id string
	visit := pv1.Field(19).Rep(1)
	if v := comp(visit, 1); v != "" {
		vn, _ := m.cx(visit)
		vn.Type = codeOnly(v20203, "VN", "Visit number")
		e.Identifier = append(e.Identifier, *vn)
		id = makeID("Encounter", value(vn.System), value(vn.Value))
	} else if admit != "" {
		id = makeID("Encounter", m.patientID, admit)
	} else {
		id = makeID("Encounter", m.sender, m.msg.ControlID())
	}
	e.Id = &id
	if r := pv1.Field(4).Rep(1); !r.IsEmpty() {
		if cc := m.cwe(r); cc != nil {
			if len(cc.Coding) > 0 && cc.Coding[0].System == nil {
				cc.Coding[0].System = ptr("http://terminology.hl7.org/CodeSystem/v2-0007")
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
				e.Participant = append(e.Participant, fhir.EncounterParticipant{
					Type:       []fhir.CodeableConcept{*codeOnly("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", p.code, "")},
					Individual: rf,
				})
			}
		}
	}
	if r := pv1.Field(10).Rep(1); !r.IsEmpty() {
		e.ServiceType = m.cwe(r)
	}
	h := &fhir.EncounterHospitalization{}
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
	m.add("Encounter", id, e)
	m.encounter = ref("Encounter", id)
}

var allergyCategory = map[string]fhir.AllergyIntoleranceCategory{ // table 0127 → category
	"DA": fhir.AllergyIntoleranceCategoryMedication, "FA": fhir.AllergyIntoleranceCategoryFood,
	"EA": fhir.AllergyIntoleranceCategoryEnvironment, "MA": fhir.AllergyIntoleranceCategoryMedication,
	"AA": fhir.AllergyIntoleranceCategoryEnvironment, "PA": fhir.AllergyIntoleranceCategoryEnvironment,
	"LA": fhir.AllergyIntoleranceCategoryEnvironment,
}

var allergyCriticality = map[string]fhir.AllergyIntoleranceCriticality{ // table 0128
	"SV": fhir.AllergyIntoleranceCriticalityHigh, "MO": fhir.AllergyIntoleranceCriticalityLow,
	"MI": fhir.AllergyIntoleranceCriticalityLow, "U": fhir.AllergyIntoleranceCriticalityUnableToAssess,
}

// mapAllergy maps AL1. The id comes from AL1-3 (the allergen) for the
// patient, so a resent list updates rather than duplicates.
func (m *mapper) mapAllergy(s hl7v2.Segment) {
	code := m.cwe(s.Field(3).Rep(1))
	if code == nil {
		return
	}
	id := makeID("AllergyIntolerance", m.patientID, fieldText(s, 3), value(code.Text))
	a := &fhir.AllergyIntolerance{Id: &id, Code: code, Patient: *m.subject()}
	a.ClinicalStatus = codeOnly("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active")
	if c, ok := allergyCategory[strings.ToUpper(fieldText(s, 2))]; ok {
		a.Category = []fhir.AllergyIntoleranceCategory{c}
	}
	if c, ok := allergyCriticality[strings.ToUpper(fieldText(s, 4))]; ok {
		a.Criticality = &c
	}
	for _, r := range reps(s, 5) {
		if cc := m.cwe(r); cc != nil {
			a.Reaction = append(a.Reaction, fhir.AllergyIntoleranceReaction{Manifestation: []fhir.CodeableConcept{*cc}})
		} else if t := r.String(); t != "" {
			a.Reaction = append(a.Reaction, fhir.AllergyIntoleranceReaction{Manifestation: []fhir.CodeableConcept{*textOnly(t)}})
		}
	}
	a.OnsetDateTime = opt(m.fieldDateTime(s, 6))
	m.addFrom(s, "AllergyIntolerance", id, a)
}

// mapCondition maps DG1 (diagnosis) to Condition, keyed by the DG1-20
// diagnosis identifier when sent, else the code, and returns its id ("" for
// a DG1 without a diagnosis).
func (m *mapper) mapCondition(s hl7v2.Segment) string {
	code := m.cwe(s.Field(3).Rep(1))
	if code == nil {
		if t := fieldText(s, 4); t != "" {
			code = textOnly(t)
		} else {
			return ""
		}
	}
	c := &fhir.Condition{Code: code, Subject: *m.subject(), Encounter: m.encounter}
	var id string
	if v := fieldText(s, 20); v != "" {
		c.Identifier = []fhir.Identifier{{Value: &v}}
		id = makeID("Condition", m.sender, v)
	} else {
		id = makeID("Condition", m.patientID, fieldText(s, 3), value(code.Text))
	}
	c.Id = &id
	c.Category = []fhir.CodeableConcept{*codeOnly("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", "Encounter Diagnosis")}
	c.OnsetDateTime = opt(m.fieldDateTime(s, 5))
	c.RecordedDate = opt(m.fieldDateTime(s, 19))
	for _, r := range reps(s, 16) {
		if rf := m.practitioner(r); rf != nil {
			c.Recorder = rf
			break
		}
	}
	m.addFrom(s, "Condition", id, c)
	return id
}
