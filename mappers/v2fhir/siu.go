package v2fhir

import (
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// siuStatus maps the SIU trigger to Appointment.status: a new booking
// (S12), a reschedule (S13) and a modification (S14) all leave the
// appointment booked; S15 cancels it.
var siuStatus = map[string]fhir.AppointmentStatus{
	"S12": fhir.AppointmentStatusBooked, "S13": fhir.AppointmentStatusBooked,
	"S14": fhir.AppointmentStatusBooked, "S15": fhir.AppointmentStatusCancelled,
}

// resourceStatus maps a filler status code (table 0278, AIx-12) to
// Appointment.participant.status.
var resourceStatus = map[string]fhir.ParticipationStatus{
	"BOOKED": fhir.ParticipationStatusAccepted, "COMPLETE": fhir.ParticipationStatusAccepted,
	"STARTED": fhir.ParticipationStatusAccepted, "OVERBOOK": fhir.ParticipationStatusAccepted,
	"CONFIRMED": fhir.ParticipationStatusAccepted, "PENDING": fhir.ParticipationStatusTentative,
	"WAITLIST": fhir.ParticipationStatusNeedsAction, "CANCELLED": fhir.ParticipationStatusDeclined,
	"DELETED": fhir.ParticipationStatusDeclined, "NOSHOW": fhir.ParticipationStatusDeclined,
	"BLOCKED": fhir.ParticipationStatusDeclined,
}

// isSIUTrigger reports whether Map handles SIU events of trigger.
func isSIUTrigger(trigger string) bool {
	_, ok := siuStatus[trigger]
	return ok
}

// mapSIU maps SIU^S12-S15 to the Patient, one Appointment and the Observations
// of the patient group's OBX (the Appointment's supportingInformation).
func (m *mapper) mapSIU(trigger string) error {
	sch, ok := m.msg.Segment("SCH")
	if !ok {
		return missingSegment("SCH", 1, "no SCH segment")
	}
	if err := m.mapPatient(); err != nil {
		return err
	}
	ap := &fhir.Appointment{Status: siuStatus[trigger]}
	var placer, filler []string
	for _, f := range []struct {
		n          int
		code, disp string
		key        *[]string
	}{{1, "PLAC", "Placer Identifier", &placer}, {2, "FILL", "Filler Identifier", &filler}} {
		if sys, v := m.ei(sch.Field(f.n).Rep(1)); v != "" {
			ap.Identifier = append(ap.Identifier, fhir.Identifier{System: opt(sys), Value: &v, Type: codeOnly(v20203, f.code, f.disp)})
			*f.key = []string{f.code, sys, v}
		}
	}
	key := filler
	if key == nil {
		key = placer
	}
	if key == nil {
		// SCH-2, the filler id, is the one the filler always knows.
		return m.segmentError(sch, 2, CodeRequiredFieldMissing, "SCH-1 and SCH-2 (appointment ids) are both empty")
	}
	// The filler's id is the key: SIU comes from the filler, which always
	// knows it, while the placer id may be missing from later events.
	id := makeID("Appointment", key...)
	ap.Id = &id

	if cc := m.cwe(sch.Field(7).Rep(1)); cc != nil {
		ap.ReasonCode = append(ap.ReasonCode, *cc)
	}
	ap.AppointmentType = m.cwe(sch.Field(8).Rep(1))
	if ap.Status == fhir.AppointmentStatusCancelled {
		ap.CancelationReason = m.cwe(sch.Field(6).Rep(1))
	}

	// TQ1 (v2.5+) replaces the deprecated SCH-11 TQ; either gives the slot.
	var start, end string
	if tq1, ok := m.msg.Segment("TQ1"); ok {
		start, end = m.fieldDateTime(tq1, 7), m.fieldDateTime(tq1, 8)
	}
	if start == "" {
		tq := sch.Field(11).Rep(1)
		start, end = m.dateTime(comp(tq, 4)), m.dateTime(comp(tq, 5))
	}
	switch {
	case start != "" && end != "":
		ap.Start, ap.End = &start, &end
	case start != "" || end != "":
		// app-2: start and end go together.
		m.warn(sch, "SCH-11", "APPOINTMENT_TIME", "appointment has a start or an end but not both")
	}

	// Only the NTEs of the schedule itself make the comment; those after
	// PID or a resource group annotate the patient or the resource.
	var notes []string
	for _, s := range m.msg.Segments() {
		if n := s.Name(); n == "PID" || n == "RGS" {
			break
		}
		if t := fieldText(s, 3); s.Name() == "NTE" && t != "" {
			notes = append(notes, t)
		}
	}
	ap.Comment = opt(strings.Join(notes, "\n"))

	ap.Participant = append(ap.Participant, fhir.AppointmentParticipant{Actor: m.subject(), Status: fhir.ParticipationStatusAccepted})
	for _, s := range m.msg.AllSegments("AIS") {
		if cc := m.cwe(s.Field(3).Rep(1)); cc != nil {
			ap.ServiceType = append(ap.ServiceType, *cc)
		}
	}
	for _, s := range m.msg.AllSegments("AIP") {
		for _, r := range reps(s, 3) {
			if rf := m.practitioner(r); rf != nil {
				ap.Participant = append(ap.Participant, m.participant(s, rf))
			}
		}
	}
	for _, s := range m.msg.AllSegments("AIL") {
		for _, r := range reps(s, 3) {
			if d := plDisplay(r); d != "" {
				ap.Participant = append(ap.Participant, m.participant(s, &fhir.Reference{Display: &d}))
			}
		}
	}
	// OBX in the patient group are observations about the patient for the
	// appointment (weight, vital signs), with their NTE as notes, as in ADT.
	for i, g := range m.obxGroups() {
		obs := m.contextObservation(g.obx, "Appointment/"+id, i) // ids per appointment: another booking has its own
		if obs == nil {
			continue
		}
		obs.Note = m.notes(g.nte)
		if !m.addFrom(g.obx, "Observation", *obs.Id, obs) {
			m.warn(g.obx, "OBX-3", "OBX_DUPLICATE", "OBX %d repeats an earlier observation; skipped", i+1)
			continue
		}
		ap.SupportingInformation = append(ap.SupportingInformation, *ref("Observation", *obs.Id))
	}
	m.add("Appointment", id, ap)
	return nil
}

// participant builds a participant from an AIP or AIL segment: its role or
// location type (field 4), start (field 6) and filler status (field 12).
func (m *mapper) participant(s hl7v2.Segment, actor *fhir.Reference) fhir.AppointmentParticipant {
	p := fhir.AppointmentParticipant{Actor: actor, Status: fhir.ParticipationStatusAccepted}
	if st, ok := resourceStatus[strings.ToUpper(fieldText(s, 12))]; ok {
		p.Status = st
	}
	if cc := m.cwe(s.Field(4).Rep(1)); cc != nil {
		p.Type = []fhir.CodeableConcept{*cc}
	}
	if st := m.fieldDateTime(s, 6); st != "" {
		p.Period = &fhir.Period{Start: &st}
	}
	return p
}

// plDisplay renders a PL (person location) for display: facility, building,
// floor, point of care, room, bed, else the description (PL.9).
func plDisplay(r hl7v2.Rep) string {
	var parts []string
	for _, i := range []int{4, 7, 8, 1, 2, 3} {
		if v := comp(r, i); v != "" {
			parts = append(parts, v)
		}
	}
	if len(parts) == 0 {
		return comp(r, 9)
	}
	return strings.Join(parts, " ")
}
