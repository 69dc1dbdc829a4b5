package v2fhir

import (
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

const (
	v20443     = "http://terminology.hl7.org/CodeSystem/v2-0443"
	mvxSystem  = "http://hl7.org/fhir/sid/mvx"
	cvxSystem  = "http://hl7.org/fhir/sid/cvx"
	actReason  = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	loincFund  = "30963-3" // vaccine funding source
	loincElig  = "64994-7" // vaccine funding program eligibility
	unknownCVX = "999"     // CVX "unknown vaccine or immune globulin"
)

// immunizationStatus maps RXA-20 (table 0322) to Immunization.status.
var immunizationStatus = map[string]fhir.ImmunizationStatusCodes{
	"CP": fhir.ImmunizationStatusCodesCompleted, "PA": fhir.ImmunizationStatusCodesCompleted,
	"RE": fhir.ImmunizationStatusCodesNotDone, "NA": fhir.ImmunizationStatusCodesNotDone,
}

// mapVXU maps VXU^V04: the Patient, an Encounter when PV1 is sent, and one
// Immunization per RXA with the ORC before it and the RXR and OBX after it.
// An OBX after the RXA that the Immunization takes (funding source, program
// eligibility) is folded into it; any other OBX is an Observation, part of
// the Immunization, or of the patient when no RXA came before it (the IG's
// ORDER.OBSERVATION and PERSON_OBSERVATION groups). NTE after an OBX are
// the Observation's notes (NTE[Annotation]); NTE after the RXA or RXR, or
// after an OBX the Immunization took, are the Immunization's.
func (m *mapper) mapVXU() error {
	if err := m.mapPatient(); err != nil {
		return err
	}
	m.mapEncounter("V04")
	var (
		orc    hl7v2.Segment
		hasORC bool
		cur    *fhir.Immunization
		n      int
		nObs   int
		// Where an NTE goes: the Observation of the OBX before it, else the
		// Immunization; neither after any other segment.
		noteObs *fhir.Observation
		noteIm  *fhir.Immunization
	)
	for _, s := range m.msg.Segments() {
		switch s.Name() {
		case "ORC":
			orc, hasORC, cur = s, true, nil
			noteObs, noteIm = nil, nil
		case "RXA":
			cur = m.immunization(s, orc, hasORC)
			n++
			// An RXA belongs to the ORC before it only; the next RXA without
			// an ORC (v2.3.1 style) stands alone.
			hasORC = false
			noteObs, noteIm = nil, cur
		case "RXR":
			if cur != nil {
				cur.Route = m.cwe(s.Field(1).Rep(1))
				cur.Site = m.cwe(s.Field(2).Rep(1))
			}
		case "OBX":
			noteObs, noteIm = nil, nil
			if cur != nil && m.immunizationOBX(cur, s) {
				noteIm = cur
				break
			}
			scope := "Patient/" + m.patientID
			if cur != nil {
				scope = "Immunization/" + *cur.Id
			}
			obs := m.contextObservation(s, scope, nObs)
			nObs++
			if obs == nil {
				break
			}
			if cur != nil {
				obs.PartOf = []fhir.Reference{*ref("Immunization", *cur.Id)}
			}
			if m.addFrom(s, "Observation", *obs.Id, obs) {
				noteObs = obs
			} else {
				m.warn(s, "OBX-3", "OBX_DUPLICATE", "OBX %d repeats an earlier observation; skipped", m.occurrence(s))
			}
		case "NTE":
			a := m.annotation(s)
			switch {
			case a == nil:
			case noteObs != nil:
				noteObs.Note = append(noteObs.Note, *a)
			case noteIm != nil:
				noteIm.Note = append(noteIm.Note, *a)
			}
		case "PRT", "TQ1", "TQ2":
			// Participation and timing details keep the NTE's target.
		default:
			noteObs, noteIm = nil, nil
		}
	}
	if n == 0 {
		return missingSegment("RXA", 1, "no RXA segment")
	}
	return nil
}

// immunization maps one RXA (with its ORC) and adds the Immunization.
func (m *mapper) immunization(rxa, orc hl7v2.Segment, hasORC bool) *fhir.Immunization {
	im := &fhir.Immunization{Patient: *m.subject(), Encounter: m.encounter}
	var filler *fhir.Identifier
	if hasORC {
		for _, f := range []struct {
			n          int
			code, disp string
		}{{2, "PLAC", "Placer Identifier"}, {3, "FILL", "Filler Identifier"}} {
			if sys, v := m.ei(orc.Field(f.n).Rep(1)); v != "" {
				id := fhir.Identifier{System: opt(sys), Value: &v, Type: codeOnly(v20203, f.code, f.disp)}
				im.Identifier = append(im.Identifier, id)
				if f.code == "FILL" {
					filler = &id
				}
			}
		}
	}

	if cc := m.cwe(rxa.Field(5).Rep(1)); cc != nil {
		im.VaccineCode = *cc
	} else {
		// vaccineCode is required; CVX 999 says "unknown".
		im.VaccineCode = *codeOnly(cvxSystem, unknownCVX, "unknown vaccine or immune globulin")
		m.warn(rxa, "RXA-5", "VACCINE_MISSING", "RXA-5 administered code is empty")
	}
	start := fieldText(rxa, 3)
	if im.OccurrenceDateTime = m.dateTime(start); im.OccurrenceDateTime == "" {
		// occurrence[x] is required: keep what the sender wrote.
		im.OccurrenceString = "unknown"
		if start != "" {
			im.OccurrenceString = start
		}
		m.warn(rxa, "RXA-3", "DATETIME_INVALID", "RXA-3 %q is not a date/time", start)
	}

	var id string
	switch {
	case filler != nil:
		id = makeID("Immunization", "FILL", value(filler.System), value(filler.Value))
	default:
		code := ""
		if len(im.VaccineCode.Coding) > 0 {
			code = value(im.VaccineCode.Coding[0].System) + "|" + value(im.VaccineCode.Coding[0].Code)
		}
		id = makeID("Immunization", m.patientID, code, im.OccurrenceDateTime+im.OccurrenceString)
	}
	im.Id = &id

	// RXA-6 999 means "amount unknown" (CDC IZ guide), not 999 mL.
	if amt := fieldText(rxa, 6); amt != "" && amt != "999" {
		if q, err := m.quantity(amt, rxa.Field(7).Rep(1)); err == nil {
			im.DoseQuantity = q
		} else {
			m.warn(rxa, "RXA-6", "DOSE_INVALID", "RXA-6: %v", err)
		}
	}

	// RXA-9: NIP001 00 is a new record from the administering provider
	// (primary source); anything else is historical, reported by someone.
	if src := rxa.Field(9).Rep(1); !src.IsEmpty() {
		primary := comp(src, 1) == "00"
		im.PrimarySource = &primary
		if !primary {
			im.ReportOrigin = m.cwe(src)
		}
	}

	for _, r := range reps(rxa, 10) {
		if rf := m.practitioner(r); rf != nil {
			im.Performer = append(im.Performer, fhir.ImmunizationPerformer{
				Function: codeOnly(v20443, "AP", "Administering Provider"), Actor: *rf,
			})
		}
	}
	if hasORC {
		for _, r := range reps(orc, 12) {
			if rf := m.practitioner(r); rf != nil {
				im.Performer = append(im.Performer, fhir.ImmunizationPerformer{
					Function: codeOnly(v20443, "OP", "Ordering Provider"), Actor: *rf,
				})
				break
			}
		}
	}

	im.LotNumber = opt(fieldText(rxa, 15))
	im.ExpirationDate = m.fieldDate(rxa, 16, "DATETIME_INVALID")
	if mf := rxa.Field(17).Rep(1); !mf.IsEmpty() {
		// No Organization is made for the manufacturer: the MVX code is a
		// logical identifier and the name a display.
		rf := &fhir.Reference{Display: opt(comp(mf, 2))}
		if code := comp(mf, 1); code != "" {
			rf.Identifier = &fhir.Identifier{System: opt(m.mvxSystem(comp(mf, 3))), Value: &code}
			if rf.Display == nil {
				rf.Display = &code
			}
		}
		im.Manufacturer = rf
	}

	status := strings.ToUpper(fieldText(rxa, 20))
	if s, ok := immunizationStatus[status]; ok {
		im.Status = s
	} else {
		im.Status = fhir.ImmunizationStatusCodesCompleted // RXA-20 empty: CDC guide says assume complete
		if status != "" {
			m.warn(rxa, "RXA-20", "STATUS_UNMAPPED", "completion status %q has no mapping", status)
		}
	}
	if strings.EqualFold(fieldText(rxa, 21), "D") {
		im.Status = fhir.ImmunizationStatusCodesEnteredInError
	}
	if im.Status == fhir.ImmunizationStatusCodesNotDone {
		im.StatusReason = m.cwe(rxa.Field(18).Rep(1))
		if im.StatusReason == nil && status == "RE" {
			im.StatusReason = codeOnly(actReason, "PATOBJ", "patient objection")
		}
		if im.StatusReason == nil {
			im.StatusReason = textOnly("not administered")
		}
	}
	im.Recorded = opt(m.fieldDateTime(rxa, 22))

	m.addFrom(rxa, "Immunization", id, im)
	return im
}

// mvxSystem is the system of an RXA-17 manufacturer code.
func (m *mapper) mvxSystem(name string) string {
	if name == "" || strings.EqualFold(name, "MVX") {
		return mvxSystem
	}
	return m.codeSystem(name)
}

// immunizationOBX takes the funding source and program eligibility the
// CDC IZ guide sends as OBX after the RXA, and reports whether obx is one
// of those (mapped into the Immunization rather than to an Observation).
func (m *mapper) immunizationOBX(im *fhir.Immunization, obx hl7v2.Segment) bool {
	code := fieldText(obx, 3)
	if code != loincFund && code != loincElig {
		return false
	}
	v := m.cwe(obx.Field(5).Rep(1))
	switch {
	case v == nil:
	case code == loincFund:
		im.FundingSource = v
	default:
		im.ProgramEligibility = append(im.ProgramEligibility, *v)
	}
	return true
}
