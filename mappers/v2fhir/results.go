package v2fhir

import (
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// order is one ORC/OBR group with the OBX, NTE, TQ1, DG1 and SPM segments
// after it.
type order struct {
	orc, obr hl7v2.Segment
	hasORC   bool
	hasOBR   bool
	nte      []hl7v2.Segment // NTE after the ORC or OBR: notes on the order
	obx      []obxGroup
	spm      []hl7v2.Segment
	tq1      []hl7v2.Segment // timing of this order, not of the message's first
	dg1      []hl7v2.Segment // diagnoses given as the order's reason
}

// obxGroup is an OBX with the NTE segments after it.
type obxGroup struct {
	obx hl7v2.Segment
	nte []hl7v2.Segment
	// basedOn is the order the OBX is a result of, for supporting
	// observations that are results (a referral's OBR group); else nil.
	basedOn *fhir.Reference
}

// orders groups the message's order segments. An ORC followed by an OBR
// forms one group; an OBR without an ORC starts its own group. An NTE
// belongs to the OBX it follows, else to the ORC or OBR (the IG's ORU,
// ORM and OML maps); one after any other segment (PID, SPM) is not an
// order's.
func (m *mapper) orders() []*order {
	var out []*order
	var cur *order
	const (
		noteNone = iota
		noteOrder
		noteOBX
	)
	target := noteNone
	for _, s := range m.msg.Segments() {
		switch s.Name() {
		case "ORC":
			cur = &order{orc: s, hasORC: true}
			out = append(out, cur)
			target = noteOrder
		case "OBR":
			if cur == nil || cur.hasOBR {
				cur = &order{}
				out = append(out, cur)
			}
			cur.obr, cur.hasOBR = s, true
			target = noteOrder
		case "OBX":
			target = noteNone
			if cur != nil {
				cur.obx = append(cur.obx, obxGroup{obx: s})
				target = noteOBX
			}
		case "SPM":
			target = noteNone
			if cur != nil {
				cur.spm = append(cur.spm, s)
			}
		case "NTE":
			switch target {
			case noteOrder:
				cur.nte = append(cur.nte, s)
			case noteOBX:
				g := &cur.obx[len(cur.obx)-1]
				g.nte = append(g.nte, s)
			}
		// Order details, which some senders put before the order's NTE:
		// they leave the NTE target alone.
		case "TQ1":
			if cur != nil {
				cur.tq1 = append(cur.tq1, s)
			}
		case "TQ2", "PRT", "TCD", "CTD":
		case "DG1":
			target = noteNone
			if cur != nil {
				cur.dg1 = append(cur.dg1, s)
			}
		default:
			target = noteNone
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
func (m *mapper) orderIDs(o *order) (placer, filler *fhir.Identifier) {
	get := func(f int) *fhir.Identifier {
		for _, s := range []struct {
			seg hl7v2.Segment
			ok  bool
		}{{o.orc, o.hasORC}, {o.obr, o.hasOBR}} {
			if !s.ok {
				continue
			}
			if sys, v := m.ei(s.seg.Field(f).Rep(1)); v != "" {
				return &fhir.Identifier{System: opt(sys), Value: &v}
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
// number, else the patient, test code and times, with the placer group
// number (ORC-4) when there is one. An order whose key an earlier order of
// the same message already has adds its position, or orders for the same
// test in one message would merge; the first keeps a key without it, so that
// it does not change when a later message lists the orders differently (and
// keys made before positions were added still find their orders).
func (m *mapper) orderKey(o *order, placer, filler *fhir.Identifier) []string {
	switch {
	case placer != nil:
		return []string{"PLAC", value(placer.System), value(placer.Value)}
	case filler != nil:
		return []string{"FILL", value(filler.System), value(filler.Value)}
	}
	key := []string{m.patientID, fieldText(o.obr, 4), fieldText(o.obr, 7), fieldText(o.orc, 9)}
	if g := fieldText(o.orc, 4); g != "" {
		key = append(key, g)
	}
	first := o.obr
	if o.hasORC {
		first = o.orc
	}
	pos := first.Name() + "#" + itoa(m.occurrence(first))
	base := strings.Join(key, "\x00")
	if m.orderKeys == nil {
		m.orderKeys = map[string]string{}
	}
	if p, ok := m.orderKeys[base]; !ok {
		m.orderKeys[base] = pos
	} else if p != pos {
		key = append(key, pos)
	}
	return key
}

var drStatus = map[string]fhir.DiagnosticReportStatus{ // table 0123 → DiagnosticReport.status
	"O": fhir.DiagnosticReportStatusRegistered, "I": fhir.DiagnosticReportStatusRegistered,
	"S": fhir.DiagnosticReportStatusPartial, "A": fhir.DiagnosticReportStatusPartial,
	"P": fhir.DiagnosticReportStatusPreliminary, "C": fhir.DiagnosticReportStatusCorrected,
	"R": fhir.DiagnosticReportStatusPartial, "F": fhir.DiagnosticReportStatusFinal,
	"X": fhir.DiagnosticReportStatusCancelled, "M": fhir.DiagnosticReportStatusCorrected,
}

// reportObservationStatus gives an Observation the status of its report:
// each report status in drStatus but partial names an observation status
// too.
var reportObservationStatus = map[fhir.DiagnosticReportStatus]fhir.ObservationStatus{
	fhir.DiagnosticReportStatusRegistered:  fhir.ObservationStatusRegistered,
	fhir.DiagnosticReportStatusPartial:     fhir.ObservationStatusPreliminary,
	fhir.DiagnosticReportStatusPreliminary: fhir.ObservationStatusPreliminary,
	fhir.DiagnosticReportStatusCorrected:   fhir.ObservationStatusCorrected,
	fhir.DiagnosticReportStatusFinal:       fhir.ObservationStatusFinal,
	fhir.DiagnosticReportStatusCancelled:   fhir.ObservationStatusCancelled,
}

var obsStatus = map[string]fhir.ObservationStatus{ // table 0085 → Observation.status
	"C": fhir.ObservationStatusCorrected, "D": fhir.ObservationStatusEnteredInError,
	"F": fhir.ObservationStatusFinal, "I": fhir.ObservationStatusRegistered,
	"N": fhir.ObservationStatusCancelled, "O": fhir.ObservationStatusRegistered,
	"P": fhir.ObservationStatusPreliminary, "R": fhir.ObservationStatusPreliminary,
	"S": fhir.ObservationStatusPreliminary, "U": fhir.ObservationStatusFinal,
	"W": fhir.ObservationStatusEnteredInError, "X": fhir.ObservationStatusCancelled,
	"A": fhir.ObservationStatusAmended,
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
		return missingSegment("OBR", 1, "no OBR segment")
	}
	for _, o := range groups {
		if !o.hasOBR {
			continue
		}
		sr := m.serviceRequest(o, fhir.RequestIntentFillerOrder)
		placer, filler := m.orderIDs(o)
		key := m.orderKey(o, placer, filler)
		drID := makeID("DiagnosticReport", key...)
		dr := &fhir.DiagnosticReport{Id: &drID, Subject: m.subject(), Encounter: m.encounter}
		if filler != nil {
			dr.Identifier = append(dr.Identifier, *filler)
		}
		if placer != nil {
			dr.Identifier = append(dr.Identifier, *placer)
		}
		dr.BasedOn = []fhir.Reference{*ref("ServiceRequest", *sr.Id)}
		if cc := m.cwe(o.obr.Field(4).Rep(1)); cc != nil {
			dr.Code = *cc
		}
		if st, ok := drStatus[strings.ToUpper(fieldText(o.obr, 25))]; ok {
			dr.Status = st
		} else {
			dr.Status = fhir.DiagnosticReportStatusUnknown
		}
		dr.EffectiveDateTime = opt(m.fieldDateTime(o.obr, 7))
		dr.Issued = opt(instant(m.fieldDateTime(o.obr, 22)))
		for i, s := range o.spm {
			sp := m.specimen(s, drID, i)
			if sp != "" {
				dr.Specimen = append(dr.Specimen, *ref("Specimen", sp))
			}
		}
		m.addFrom(o.obr, "DiagnosticReport", drID, dr)
		for i, g := range o.obx {
			obs := m.observation(g.obx, o, drID, i)
			if obs == nil {
				continue
			}
			obs.Note = m.notes(g.nte)
			obs.BasedOn = []fhir.Reference{*ref("ServiceRequest", *sr.Id)}
			if len(dr.Specimen) == 1 {
				obs.Specimen = &dr.Specimen[0]
			}
			if m.addFrom(g.obx, "Observation", *obs.Id, obs) {
				dr.Result = append(dr.Result, *ref("Observation", *obs.Id))
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

// isVitalSign reports whether code has a LOINC coding of vitalSigns.
func isVitalSign(code *fhir.CodeableConcept) bool {
	for _, c := range code.Coding {
		if value(c.System) == "http://loinc.org" && vitalSigns[value(c.Code)] {
			return true
		}
	}
	return false
}

// contextObservation maps an OBX that is not a result of an OBR: vital
// signs recorded at admission (ADT) or observations supporting an order
// (ORM/OML). Status and effective time come from the OBX alone, since the
// OBR's result status and observation time describe the ordered test, not
// this observation. The id comes from the observation instance identifier
// OBX-21 (with the code) when sent, else from scope (the encounter, the
// patient or the order), the code, sub-id and OBX-14, so a resent or
// updated message (A08 after A01) updates the same Observation; without
// OBX-14 the position stands in.
// Only vital signs get a category: these are not laboratory results.
func (m *mapper) contextObservation(s hl7v2.Segment, scope string, idx int) *fhir.Observation {
	obs := m.observation(s, &order{}, scope, idx)
	if obs == nil {
		return nil
	}
	if sys, v := m.ei(s.Field(21).Rep(1)); v != "" {
		obs.Identifier = []fhir.Identifier{{System: opt(sys), Value: &v}}
		// With the code: senders have been seen to repeat one OBX-21 on
		// different observations.
		obs.Id = ptr(makeID("Observation", sys, v, fieldText(s, 3)))
	} else {
		when := fieldText(s, 14)
		if when == "" {
			when = "#" + itoa(idx)
		}
		obs.Id = ptr(makeID("Observation", scope, fieldText(s, 3), fieldText(s, 4), when))
	}
	if !isVitalSign(&obs.Code) {
		obs.Category = nil
	}
	return obs
}

// observation maps one OBX. The id is the report's id with the OBX
// position, code and sub-id: stable across resends of the same report.
func (m *mapper) observation(s hl7v2.Segment, o *order, reportID string, idx int) *fhir.Observation {
	code := m.cwe(s.Field(3).Rep(1))
	if code == nil {
		m.warn(s, "OBX-3", "OBX_NO_CODE", "OBX %d has no observation identifier; skipped", idx+1)
		return nil
	}
	obs := &fhir.Observation{Code: *code, Subject: m.subject(), Encounter: m.encounter}
	obs.Id = ptr(makeID("Observation", reportID, itoa(idx), fieldText(s, 3), fieldText(s, 4)))
	status, known := obsStatus[strings.ToUpper(fieldText(s, 11))]
	if !known && o.hasOBR {
		if rs, ok := drStatus[strings.ToUpper(fieldText(o.obr, 25))]; ok {
			status, known = reportObservationStatus[rs]
		}
	}
	if !known {
		status = fhir.ObservationStatusUnknown
	}
	obs.Status = status
	cat := "laboratory"
	if isVitalSign(code) {
		cat = "vital-signs"
	}
	obs.Category = []fhir.CodeableConcept{*codeOnly("http://terminology.hl7.org/CodeSystem/observation-category", cat, "")}
	rr := m.referenceRange(fieldText(s, 7), s.Field(6).Rep(1))
	if !m.value(obs, s, rr) && rr != nil {
		obs.ReferenceRange = []fhir.ObservationReferenceRange{*rr}
	}
	obs.EffectiveDateTime = opt(m.fieldDateTime(s, 14))
	if obs.EffectiveDateTime == nil && o.hasOBR {
		obs.EffectiveDateTime = opt(m.dateTime(fieldText(o.obr, 7)))
	}
	obs.Issued = opt(instant(m.fieldDateTime(s, 19)))
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

// obxValue is the value of one OBX-5 repetition, in the member its type
// gives: Observation.value[x] or Observation.component.value[x].
type obxValue struct {
	quantity *fhir.Quantity
	cc       *fhir.CodeableConcept
	str      *string
	rng      *fhir.Range
	ratio    *fhir.Ratio
	dateTime *string
}

func (v obxValue) setObservation(obs *fhir.Observation) {
	obs.ValueQuantity, obs.ValueCodeableConcept, obs.ValueString = v.quantity, v.cc, v.str
	obs.ValueRange, obs.ValueRatio, obs.ValueDateTime = v.rng, v.ratio, v.dateTime
}

func (v obxValue) setComponent(c *fhir.ObservationComponent) {
	c.ValueQuantity, c.ValueCodeableConcept, c.ValueString = v.quantity, v.cc, v.str
	c.ValueRange, c.ValueRatio, c.ValueDateTime = v.rng, v.ratio, v.dateTime
}

// value maps OBX-5 by its value type OBX-2. A repeating OBX-5 becomes one
// Observation.component per repetition, each with the OBX-3 code and the
// OBX-7 reference range (the IG's OBX[Observation-Component] map, which
// FHIR-Converter follows), except for TX and FT: their repetitions are the
// lines of one text (v2 TX: a repeat delimiter is a hard line break), which
// stays one valueString. rr is the parsed OBX-7; it reports whether the
// value went into components, which then carry the reference range.
func (m *mapper) value(obs *fhir.Observation, s hl7v2.Segment, rr *fhir.ObservationReferenceRange) (components bool) {
	vt := strings.ToUpper(fieldText(s, 2))
	vals := reps(s, 5)
	switch {
	case len(vals) == 0:
		return false
	case !knownValueTypes[vt]:
		// ED, RP and other types are documents or references, which a
		// DiagnosticReport.presentedForm or DocumentReference would carry.
		m.warn(s, "OBX-2", "OBX_TYPE", "OBX value type %q not mapped", vt)
		return false
	case vt == "TX" || vt == "FT":
		parts := make([]string, len(vals))
		for i, r := range vals {
			parts[i] = r.String()
		}
		t := strings.Join(parts, "\n")
		obs.ValueString = &t
		return false
	case len(vals) == 1:
		m.repValue(s, vt, vals[0], s.Field(6).Rep(1), "OBX-5").setObservation(obs)
		return false
	}
	for i, r := range vals {
		c := fhir.ObservationComponent{Code: obs.Code}
		m.repValue(s, vt, r, s.Field(6).Rep(1), "OBX-5["+itoa(i+1)+"]").setComponent(&c)
		if rr != nil {
			c.ReferenceRange = []fhir.ObservationReferenceRange{*rr}
		}
		obs.Component = append(obs.Component, c)
	}
	return true
}

// knownValueTypes are the OBX-2 value types repValue maps.
var knownValueTypes = map[string]bool{
	"NM": true, "SN": true, "NR": true, "ST": true, "TX": true, "FT": true,
	"CE": true, "CWE": true, "CNE": true, "CF": true, "DT": true, "TS": true, "DTM": true,
}

// repValue maps one OBX-5 repetition r of value type vt with the unit
// OBX-6. A value that is not what its type says is kept as a string, with a
// warning located at field.
func (m *mapper) repValue(obx hl7v2.Segment, vt string, r, unit hl7v2.Rep, field string) obxValue {
	var v obxValue
	bad := func(err string) obxValue {
		m.warn(obx, field, "OBX_VALUE", "%s %q is not a valid %s: %s", field, r.String(), vt, err)
		t := r.String()
		return obxValue{str: &t}
	}
	switch vt {
	case "NM":
		raw := strings.TrimSpace(r.String())
		var cmp *fhir.QuantityComparator
		for _, c := range []string{"<=", ">=", "<", ">"} {
			if strings.HasPrefix(raw, c) {
				cmp, raw = comparator(c), strings.TrimSpace(raw[len(c):])
				break
			}
		}
		q, err := m.quantity(raw, unit)
		if err != nil {
			return bad(err.Error())
		}
		q.Comparator = cmp
		v.quantity = q
	case "SN":
		cmp, n1, sep, n2 := comp(r, 1), comp(r, 2), comp(r, 3), comp(r, 4)
		switch {
		case sep == ":" || sep == "/":
			a, err1 := m.quantity(n1, hl7v2.Rep{})
			b, err2 := m.quantity(n2, hl7v2.Rep{})
			if err1 != nil || err2 != nil {
				return bad("bad ratio")
			}
			v.ratio = &fhir.Ratio{Numerator: a, Denominator: b}
		case sep == "-" || sep == "+" && n2 != "":
			a, err1 := m.quantity(n1, unit)
			b, err2 := m.quantity(n2, unit)
			if err1 != nil || err2 != nil {
				return bad("bad range")
			}
			v.rng = &fhir.Range{Low: a, High: b}
		default:
			q, err := m.quantity(n1, unit)
			if err != nil {
				return bad(err.Error())
			}
			q.Comparator = comparator(cmp)
			v.quantity = q
		}
	case "NR":
		a, err1 := m.quantity(comp(r, 1), unit)
		b, err2 := m.quantity(comp(r, 2), unit)
		rg := &fhir.Range{}
		if err1 == nil {
			rg.Low = a
		}
		if err2 == nil {
			rg.High = b
		}
		if rg.Low == nil && rg.High == nil {
			return bad("empty range")
		}
		v.rng = rg
	case "ST", "TX", "FT":
		t := r.String()
		v.str = &t
	case "CE", "CWE", "CNE", "CF":
		v.cc = m.cwe(r)
	case "DT", "TS", "DTM":
		dt := m.dateTime(comp(r, 1))
		if dt == "" {
			return bad("not a date")
		}
		v.dateTime = &dt
	}
	return v
}

// comparator returns the Quantity.comparator of c, or nil when c is none.
func comparator(c string) *fhir.QuantityComparator {
	switch c {
	case "<":
		return ptr(fhir.QuantityComparatorLessThan)
	case "<=":
		return ptr(fhir.QuantityComparatorLessOrEquals)
	case ">=":
		return ptr(fhir.QuantityComparatorGreaterOrEquals)
	case ">":
		return ptr(fhir.QuantityComparatorGreaterThan)
	}
	return nil
}

// referenceRange parses OBX-7 forms "a-b", "a - b", "<b", ">a", "a to b";
// other text stays text.
func (m *mapper) referenceRange(v string, unit hl7v2.Rep) *fhir.ObservationReferenceRange {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	rr := &fhir.ObservationReferenceRange{Text: &v}
	q := func(s string) *fhir.Quantity {
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
	sp := &fhir.Specimen{Subject: m.subject()}
	r := s.Field(2).Rep(1)
	var id string
	for i, typ := range []string{"PLAC", "FILL"} {
		if v := sub(r, i+1, 1); v != "" {
			sys := m.identifierSystem(sub(r, i+1, 2), sub(r, i+1, 3), sub(r, i+1, 4))
			sp.Identifier = append(sp.Identifier, fhir.Identifier{System: opt(sys), Value: &v, Type: codeOnly(v20203, typ, "")})
			if id == "" {
				id = makeID("Specimen", sys, v)
			}
		}
	}
	if id == "" {
		id = makeID("Specimen", reportID, itoa(idx))
	}
	sp.Id = &id
	sp.Type = m.cwe(s.Field(4).Rep(1))
	col := &fhir.SpecimenCollection{}
	if rg := s.Field(17).Rep(1); !rg.IsEmpty() {
		start, end := comp(rg, 1), comp(rg, 2)
		start, end = m.checkedDateTime(s, "SPM-17", start), m.checkedDateTime(s, "SPM-17", end)
		if end == "" {
			col.CollectedDateTime = opt(start)
		} else {
			col.CollectedPeriod = &fhir.Period{Start: opt(start), End: &end}
		}
	}
	if r := s.Field(7).Rep(1); !r.IsEmpty() {
		col.Method = m.cwe(r)
	}
	if r := s.Field(8).Rep(1); !r.IsEmpty() {
		col.BodySite = m.cwe(r)
	}
	if col.CollectedDateTime != nil || col.CollectedPeriod != nil || col.Method != nil || col.BodySite != nil {
		sp.Collection = col
	}
	sp.ReceivedTime = opt(m.fieldDateTime(s, 18))
	m.addFrom(s, "Specimen", id, sp)
	return id
}
