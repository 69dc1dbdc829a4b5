package v2fhir

import (
	"errors"
	"strings"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/mappers/fhirr4"
)

// order is one ORC/OBR group with the OBX, NTE and SPM segments after it.
type order struct {
	orc, obr hl7v2.Segment
	hasORC   bool
	hasOBR   bool
	obx      []hl7v2.Segment
	spm      []hl7v2.Segment
}

// orders groups the message's order segments. An ORC followed by an OBR
// forms one group; an OBR without an ORC starts its own group.
func (m *mapper) orders() []*order {
	var out []*order
	var cur *order
	for _, s := range m.msg.Segments() {
		switch s.Name() {
		case "ORC":
			cur = &order{orc: s, hasORC: true}
			out = append(out, cur)
		case "OBR":
			if cur == nil || cur.hasOBR {
				cur = &order{}
				out = append(out, cur)
			}
			cur.obr, cur.hasOBR = s, true
		case "OBX":
			if cur != nil {
				cur.obx = append(cur.obx, s)
			}
		case "SPM":
			if cur != nil {
				cur.spm = append(cur.spm, s)
			}
		}
	}
	return out
}

// ei returns the system and value of an entity identifier (EI).
func (m *mapper) ei(r hl7v2.Rep) (system, value string) {
	value = comp(r, 1)
	if value == "" {
		return "", ""
	}
	return m.identifierSystem(comp(r, 2), comp(r, 3), comp(r, 4)), value
}

// orderIDs returns the placer and filler order numbers (ORC-2/3, else
// OBR-2/3) as identifiers typed PLAC and FILL.
func (m *mapper) orderIDs(o *order) (placer, filler *fhirr4.Identifier) {
	get := func(f int) *fhirr4.Identifier {
		for _, s := range []struct {
			seg hl7v2.Segment
			ok  bool
		}{{o.orc, o.hasORC}, {o.obr, o.hasOBR}} {
			if !s.ok {
				continue
			}
			if sys, v := m.ei(s.seg.Field(f).Rep(1)); v != "" {
				return &fhirr4.Identifier{System: sys, Value: v}
			}
		}
		return nil
	}
	placer, filler = get(2), get(3)
	if placer != nil {
		placer.Type = codeOnly(v20203, "PLAC", "Placer Identifier")
	}
	if filler != nil {
		filler.Type = codeOnly(v20203, "FILL", "Filler Identifier")
	}
	return placer, filler
}

// orderKey is the business key of an order: placer number, else filler
// number, else the patient, test code and time.
func (m *mapper) orderKey(o *order, placer, filler *fhirr4.Identifier) []string {
	switch {
	case placer != nil:
		return []string{"PLAC", placer.System, placer.Value}
	case filler != nil:
		return []string{"FILL", filler.System, filler.Value}
	}
	return []string{m.patientID, fieldText(o.obr, 4), fieldText(o.obr, 7), fieldText(o.orc, 9)}
}

var drStatus = map[string]string{ // table 0123 → DiagnosticReport.status
	"O": "registered", "I": "registered", "S": "partial", "A": "partial", "P": "preliminary",
	"C": "corrected", "R": "partial", "F": "final", "X": "cancelled", "M": "corrected",
}

var obsStatus = map[string]string{ // table 0085 → Observation.status
	"C": "corrected", "D": "entered-in-error", "F": "final", "I": "registered", "N": "cancelled",
	"O": "registered", "P": "preliminary", "R": "preliminary", "S": "preliminary", "U": "final",
	"W": "entered-in-error", "X": "cancelled", "A": "amended",
}

// mapORU maps ORU^R01: per OBR a ServiceRequest (the filler's view of the
// order), a DiagnosticReport, its Observations and Specimens.
func (m *mapper) mapORU() error {
	if err := m.mapPatient(); err != nil {
		return err
	}
	m.mapEncounter("R01")
	groups := m.orders()
	if len(groups) == 0 {
		return errors.New("no OBR segment")
	}
	for _, o := range groups {
		if !o.hasOBR {
			continue
		}
		sr := m.serviceRequest(o, "filler-order")
		placer, filler := m.orderIDs(o)
		key := m.orderKey(o, placer, filler)
		dr := &fhirr4.DiagnosticReport{Base: fhirr4.Base{Type: "DiagnosticReport"}, Subject: m.subject(), Encounter: m.encounter}
		dr.ID = makeID("DiagnosticReport", key...)
		if filler != nil {
			dr.Identifier = append(dr.Identifier, *filler)
		}
		if placer != nil {
			dr.Identifier = append(dr.Identifier, *placer)
		}
		dr.BasedOn = []fhirr4.Reference{*ref("ServiceRequest", sr.ID)}
		if cc := m.cwe(o.obr.Field(4).Rep(1)); cc != nil {
			dr.Code = *cc
		}
		dr.Status = drStatus[strings.ToUpper(fieldText(o.obr, 25))]
		if dr.Status == "" {
			dr.Status = "unknown"
		}
		dr.EffectiveDateTime = m.dateTime(fieldText(o.obr, 7))
		dr.Issued = instant(m.dateTime(fieldText(o.obr, 22)))
		for i, s := range o.spm {
			sp := m.specimen(s, dr.ID, i)
			if sp != "" {
				dr.Specimen = append(dr.Specimen, *ref("Specimen", sp))
			}
		}
		m.add(dr)
		for i, s := range o.obx {
			obs := m.observation(s, o, dr.ID, i)
			if obs == nil {
				continue
			}
			obs.BasedOn = []fhirr4.Reference{*ref("ServiceRequest", sr.ID)}
			if len(dr.Specimen) == 1 {
				obs.Specimen = &dr.Specimen[0]
			}
			if m.add(obs) {
				dr.Result = append(dr.Result, *ref("Observation", obs.ID))
			}
		}
	}
	return nil
}

// instant returns dt if it has a time (FHIR instant needs one), else "".
func instant(dt string) string {
	if strings.Contains(dt, "T") {
		return dt
	}
	return ""
}

// vitalSigns are the LOINC codes of the FHIR vital signs profile and the
// kiosk measurements that get category vital-signs.
var vitalSigns = map[string]bool{
	"85354-9": true, "8480-6": true, "8462-4": true, "8867-4": true, "29463-7": true, "8302-2": true,
	"39156-5": true, "8310-5": true, "59408-5": true, "2708-6": true, "9279-1": true, "8287-5": true,
}

// observation maps one OBX. The id is the report's id with the OBX
// position, code and sub-id: stable across resends of the same report.
func (m *mapper) observation(s hl7v2.Segment, o *order, reportID string, idx int) *fhirr4.Observation {
	code := m.cwe(s.Field(3).Rep(1))
	if code == nil {
		m.warn("OBX", "OBX-3", "OBX_NO_CODE", "OBX %d has no observation identifier; skipped", idx+1)
		return nil
	}
	obs := &fhirr4.Observation{Base: fhirr4.Base{Type: "Observation"}, Code: *code, Subject: m.subject(), Encounter: m.encounter}
	obs.ID = makeID("Observation", reportID, itoa(idx), fieldText(s, 3), fieldText(s, 4))
	obs.Status = obsStatus[strings.ToUpper(fieldText(s, 11))]
	if obs.Status == "" && o.hasOBR {
		obs.Status = drStatus[strings.ToUpper(fieldText(o.obr, 25))]
		if obs.Status == "partial" {
			obs.Status = "preliminary"
		}
	}
	if obs.Status == "" {
		obs.Status = "unknown"
	}
	cat := "laboratory"
	for _, c := range code.Coding {
		if c.System == "http://loinc.org" && vitalSigns[c.Code] {
			cat = "vital-signs"
		}
	}
	obs.Category = []fhirr4.CodeableConcept{*codeOnly("http://terminology.hl7.org/CodeSystem/observation-category", cat, "")}
	m.value(obs, s)
	obs.EffectiveDateTime = m.dateTime(fieldText(s, 14))
	if obs.EffectiveDateTime == "" && o.hasOBR {
		obs.EffectiveDateTime = m.dateTime(fieldText(o.obr, 7))
	}
	obs.Issued = instant(m.dateTime(fieldText(s, 19)))
	if rr := m.referenceRange(fieldText(s, 7), s.Field(6).Rep(1)); rr != nil {
		obs.ReferenceRange = []fhirr4.ObservationRefRange{*rr}
	}
	for _, r := range reps(s, 8) {
		if c := comp(r, 1); c != "" {
			obs.Interpretation = append(obs.Interpretation, *codeOnly("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", c, comp(r, 2)))
		}
	}
	if r := s.Field(17).Rep(1); !r.IsEmpty() {
		obs.Method = m.cwe(r)
	}
	for _, r := range reps(s, 16) {
		if rf := m.practitioner(r); rf != nil {
			obs.Performer = append(obs.Performer, *rf)
		}
	}
	return obs
}

// value maps OBX-5 by its value type OBX-2.
func (m *mapper) value(obs *fhirr4.Observation, s hl7v2.Segment) {
	vt := strings.ToUpper(fieldText(s, 2))
	vals := reps(s, 5)
	if len(vals) == 0 {
		return
	}
	unit := s.Field(6).Rep(1)
	bad := func(err string) {
		m.warn("OBX", "OBX-5", "OBX_VALUE", "OBX-5 %q is not a valid %s: %s", vals[0].String(), vt, err)
		t := vals[0].String()
		obs.ValueString = &t
	}
	if len(vals) > 1 && vt != "ST" && vt != "TX" && vt != "FT" {
		m.warn("OBX", "OBX-5", "OBX_REPEATS", "OBX-5 has %d repetitions of type %s; only the first is mapped", len(vals), vt)
	}
	first := vals[0]
	switch vt {
	case "NM":
		raw := strings.TrimSpace(first.String())
		cmp := ""
		for _, c := range []string{"<=", ">=", "<", ">"} {
			if strings.HasPrefix(raw, c) {
				cmp, raw = c, strings.TrimSpace(raw[len(c):])
				break
			}
		}
		q, err := m.quantity(raw, unit)
		if err != nil {
			bad(err.Error())
			return
		}
		q.Comparator = cmp
		obs.ValueQuantity = q
	case "SN":
		cmp, n1, sep, n2 := comp(first, 1), comp(first, 2), comp(first, 3), comp(first, 4)
		switch {
		case sep == ":" || sep == "/":
			a, err1 := m.quantity(n1, hl7v2.Rep{})
			b, err2 := m.quantity(n2, hl7v2.Rep{})
			if err1 != nil || err2 != nil {
				bad("bad ratio")
				return
			}
			obs.ValueRatio = &fhirr4.Ratio{Numerator: a, Denominator: b}
		case sep == "-" || sep == "+" && n2 != "":
			a, err1 := m.quantity(n1, unit)
			b, err2 := m.quantity(n2, unit)
			if err1 != nil || err2 != nil {
				bad("bad range")
				return
			}
			obs.ValueRange = &fhirr4.Range{Low: a, High: b}
		default:
			q, err := m.quantity(n1, unit)
			if err != nil {
				bad(err.Error())
				return
			}
			if cmp == "<" || cmp == ">" || cmp == "<=" || cmp == ">=" {
				q.Comparator = cmp
			}
			obs.ValueQuantity = q
		}
	case "NR":
		a, err1 := m.quantity(comp(first, 1), unit)
		b, err2 := m.quantity(comp(first, 2), unit)
		rg := &fhirr4.Range{}
		if err1 == nil {
			rg.Low = a
		}
		if err2 == nil {
			rg.High = b
		}
		if rg.Low == nil && rg.High == nil {
			bad("empty range")
			return
		}
		obs.ValueRange = rg
	case "ST", "TX", "FT":
		parts := make([]string, len(vals))
		for i, r := range vals {
			parts[i] = r.String()
		}
		t := strings.Join(parts, "\n")
		obs.ValueString = &t
	case "CE", "CWE", "CNE", "CF":
		obs.ValueCodeableConcept = m.cwe(first)
	case "DT", "TS", "DTM":
		if dt := m.dateTime(comp(first, 1)); dt != "" {
			obs.ValueDateTime = dt
		} else {
			bad("not a date")
		}
	default:
		// ED, RP and other types are documents or references, which a
		// DiagnosticReport.presentedForm or DocumentReference would carry.
		m.warn("OBX", "OBX-2", "OBX_TYPE", "OBX value type %q not mapped", vt)
	}
}

// referenceRange parses OBX-7 forms "a-b", "a - b", "<b", ">a", "a to b";
// other text stays text.
func (m *mapper) referenceRange(v string, unit hl7v2.Rep) *fhirr4.ObservationRefRange {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	rr := &fhirr4.ObservationRefRange{Text: v}
	q := func(s string) *fhirr4.Quantity {
		x, err := m.quantity(s, unit)
		if err != nil {
			return nil
		}
		return x
	}
	switch {
	case strings.HasPrefix(v, "<"):
		rr.High = q(strings.TrimLeft(v, "<="))
	case strings.HasPrefix(v, ">"):
		rr.Low = q(strings.TrimLeft(v, ">="))
	default:
		lo, hi, ok := strings.Cut(v, " to ")
		if !ok {
			// Split at a dash that is not a leading minus sign.
			if i := strings.Index(v[1:], "-"); i >= 0 {
				lo, hi, ok = v[:i+1], v[i+2:], true
			}
		}
		if ok {
			rr.Low, rr.High = q(lo), q(hi)
			if rr.Low == nil || rr.High == nil {
				rr.Low, rr.High = nil, nil
			}
		}
	}
	return rr
}

// specimen maps SPM; the id comes from SPM-2 (placer or filler specimen
// id), else from the report and position.
func (m *mapper) specimen(s hl7v2.Segment, reportID string, idx int) string {
	sp := &fhirr4.Specimen{Base: fhirr4.Base{Type: "Specimen"}, Subject: m.subject()}
	r := s.Field(2).Rep(1)
	for i, typ := range []string{"PLAC", "FILL"} {
		if v := sub(r, i+1, 1); v != "" {
			sys := m.identifierSystem(sub(r, i+1, 2), sub(r, i+1, 3), sub(r, i+1, 4))
			sp.Identifier = append(sp.Identifier, fhirr4.Identifier{System: sys, Value: v, Type: codeOnly(v20203, typ, "")})
		}
	}
	if len(sp.Identifier) > 0 {
		sp.ID = makeID("Specimen", sp.Identifier[0].System, sp.Identifier[0].Value)
	} else {
		sp.ID = makeID("Specimen", reportID, itoa(idx))
	}
	sp.Type = m.cwe(s.Field(4).Rep(1))
	col := &fhirr4.SpecimenCollection{}
	if rg := s.Field(17).Rep(1); !rg.IsEmpty() {
		start, end := comp(rg, 1), comp(rg, 2)
		if end == "" {
			col.CollectedDateTime = m.dateTime(start)
		} else {
			col.CollectedPeriod = m.period(start, end)
		}
	}
	if r := s.Field(7).Rep(1); !r.IsEmpty() {
		col.Method = m.cwe(r)
	}
	if r := s.Field(8).Rep(1); !r.IsEmpty() {
		col.BodySite = m.cwe(r)
	}
	if *col != (fhirr4.SpecimenCollection{}) {
		sp.Collection = col
	}
	sp.ReceivedTime = m.dateTime(fieldText(s, 18))
	m.add(sp)
	return sp.ID
}
