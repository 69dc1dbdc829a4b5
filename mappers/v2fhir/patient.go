package v2fhir

import (
	"errors"
	"strings"
	"time"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/mappers/idcard"
)

const v20203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

// idCardTypes are CX.5 identifier type codes Chinese senders use for the
// citizen ID card ("NNCHN" per table 0203's NNxxx pattern).
var idCardTypes = map[string]bool{"NNCHN": true, "NI": true, "CZ": true, "SFZ": true, "01": true}

// identifierSystem resolves the system of a CX from its assigning authority
// (CX.4): per-sender table, global table, the universal id when it is an
// ISO OID or UUID, else the configured base + namespace. Without an
// authority the sender's default system is used, so MRNs of different
// senders never collide.
func (m *mapper) identifierSystem(ns, uid, uidType string) string {
	snd := m.cfg.Senders[m.sender]
	for _, tbl := range []map[string]string{snd.IdentifierSystems, m.cfg.IdentifierSystems} {
		for _, k := range []string{ns, uid} {
			if k == "" {
				continue
			}
			if s, ok := tbl[k]; ok {
				return s
			}
		}
	}
	switch {
	case uid != "" && strings.EqualFold(uidType, "ISO"):
		return "urn:oid:" + uid
	case uid != "" && strings.EqualFold(uidType, "UUID"):
		return "urn:uuid:" + uid
	case strings.Contains(ns, "://") || strings.HasPrefix(ns, "urn:"):
		return ns
	case ns != "":
		return m.cfg.IdentifierSystemBase + strings.ReplaceAll(ns, " ", "-")
	case snd.DefaultSystem != "":
		return snd.DefaultSystem
	case m.sender != "":
		return m.cfg.IdentifierSystemBase + m.sender
	}
	return ""
}

// cx maps a CX repetition to an Identifier and reports whether it is a
// citizen ID card.
func (m *mapper) cx(r hl7v2.Rep) (*fhir.Identifier, bool) {
	v := comp(r, 1)
	if v == "" {
		return nil, false
	}
	ns, uid, uidType, typ := sub(r, 4, 1), sub(r, 4, 2), sub(r, 4, 3), strings.ToUpper(comp(r, 5))
	id := &fhir.Identifier{Value: &v}
	if typ != "" {
		id.Type = codeOnly(v20203, typ, "")
	}
	sys := m.identifierSystem(ns, uid, uidType)
	id.System = opt(sys)
	// A card type with a value that is not a well-formed number is still a
	// card, mistyped: kept as one so that checkIDCard reports it, as for
	// PID-19.
	card := m.cfg.isIDCardAuthority(ns) || m.cfg.isIDCardAuthority(uid) ||
		sys == IDCardSystemWST500 || sys == IDCardSystemHL7CN ||
		idCardTypes[typ] && (idcard.Looks(v) || cardAttempt(v))
	if card {
		m.markIDCard(id)
	}
	id.Period = m.period(comp(r, 7), comp(r, 8))
	return id, card
}

func (m *mapper) markIDCard(id *fhir.Identifier) {
	// A first-generation 15-digit number in its 18-character form, which the same
	// person's second-generation card and other senders use.
	v, upgraded := idcard.Upgrade(value(id.Value))
	if upgraded {
		if m.legacyCards == nil {
			m.legacyCards = map[string]string{}
		}
		m.legacyCards[v] = idcard.Normalize(value(id.Value))
	}
	id.Value = opt(v)
	id.System = opt(m.cfg.IDCardSystem)
	id.Use = ptr(fhir.IdentifierUseOfficial)
	id.Type = &fhir.CodeableConcept{
		Coding: []fhir.Coding{{System: ptr(v20203), Code: ptr("NI"), Display: ptr("National unique individual identifier")}},
		Text:   ptr("居民身份证"),
	}
}

var genders = map[string]fhir.AdministrativeGender{
	"M": fhir.AdministrativeGenderMale, "F": fhir.AdministrativeGenderFemale,
	"O": fhir.AdministrativeGenderOther, "A": fhir.AdministrativeGenderOther,
	"U": fhir.AdministrativeGenderUnknown, "N": fhir.AdministrativeGenderUnknown,
	// GB/T 2261.1: 0 unknown, 1 male, 2 female, 9 not stated.
	"0": fhir.AdministrativeGenderUnknown, "1": fhir.AdministrativeGenderMale,
	"2": fhir.AdministrativeGenderFemale, "9": fhir.AdministrativeGenderUnknown,
}

// gender looks up an administrative sex code (PID-8, NK1-15).
func gender(code string) *fhir.AdministrativeGender {
	g, ok := genders[strings.ToUpper(code)]
	if !ok {
		return nil
	}
	return &g
}

// sameIdentifier reports whether a and b have the same system and value.
func sameIdentifier(a, b fhir.Identifier) bool {
	return value(a.System) == value(b.System) && value(a.Value) == value(b.Value)
}

// mapPatient maps PID (with PD1 and NK1) to the Patient every other
// resource refers to.
func (m *mapper) mapPatient() error {
	pid, ok := m.msg.Segment("PID")
	if !ok {
		return missingSegment("PID", 1, "no PID segment")
	}
	_, err := m.patientFrom(pid)
	return err
}

// patientFrom maps one PID segment (a merge message has one per pair) and makes
// it the message's current Patient.
func (m *mapper) patientFrom(pid hl7v2.Segment) (*fhir.Patient, error) {
	p := &fhir.Patient{}
	var primary, card *fhir.Identifier
	var add func(id *fhir.Identifier)
	add = func(id *fhir.Identifier) {
		for _, have := range p.Identifier {
			if sameIdentifier(have, *id) {
				return
			}
		}
		p.Identifier = append(p.Identifier, *id)
		if old, ok := m.legacyCards[value(id.Value)]; ok && value(id.System) == m.cfg.IDCardSystem {
			// The number as sent too: records stored under it still match.
			add(&fhir.Identifier{Use: ptr(fhir.IdentifierUseOld), System: id.System, Value: ptr(old), Type: id.Type})
		}
	}
	for i, r := range reps(pid, 3) {
		id, isCard := m.cx(r)
		if id == nil {
			continue
		}
		if isCard {
			m.checkIDCard(pid, "PID-3["+itoa(i+1)+"]", value(id.Value))
			if card == nil {
				card = id
			}
		} else if primary == nil {
			primary = id
		}
		add(id)
	}
	for _, f := range []int{2, 4} {
		for i, r := range reps(pid, f) {
			if id, isCard := m.cx(r); id != nil {
				if isCard {
					if !hasIdentifier(p.Identifier, *id) { // PID-3 has it: warned there
						m.checkIDCard(pid, "PID-"+itoa(f)+"["+itoa(i+1)+"]", value(id.Value))
					}
					if card == nil {
						card = id
					}
				}
				add(id)
			}
		}
	}
	if v := fieldText(pid, 19); v != "" {
		// Chinese senders put the ID card number in PID-19 (SSN in the US).
		id := &fhir.Identifier{Value: &v}
		if idcard.Looks(v) || cardAttempt(v) {
			m.markIDCard(id)
			m.checkIDCard(pid, "PID-19", value(id.Value))
			if card == nil {
				card = id
			}
		} else {
			id.System = ptr("http://hl7.org/fhir/sid/us-ssn")
			id.Type = codeOnly(v20203, "SB", "Social Beneficiary Identifier")
		}
		add(id)
	}
	if r := pid.Field(20).Rep(1); comp(r, 1) != "" {
		id := &fhir.Identifier{Value: ptr(comp(r, 1)), Type: codeOnly(v20203, "DL", "Driver's license number")}
		if a := comp(r, 2); a != "" {
			id.System = opt(m.identifierSystem(a, "", ""))
		}
		add(id)
	}
	key := primary
	if key == nil {
		key = card
	}
	if key == nil && len(p.Identifier) > 0 {
		key = &p.Identifier[0]
	}
	if key == nil {
		return nil, m.segmentError(pid, 3, CodeRequiredFieldMissing, "PID has no patient identifier (PID-2, PID-3, PID-4, PID-19)")
	}
	id := makeID("Patient", value(key.System), value(key.Value))
	p.Id = &id
	m.patientID, m.patientKey = id, key
	m.patientRef = "Patient/" + id
	if m.cfg.ConditionalPatient {
		m.patientRef = "urn:uuid:" + id
	}

	for _, f := range []int{5, 9} {
		for _, r := range reps(pid, f) {
			if n := xpn(r, 0); n != nil {
				p.Name = append(p.Name, *n)
			}
		}
	}
	// Dropped rather than guessed, but not silently: the ACK says why.
	p.BirthDate = m.fieldDate(pid, 7, "BIRTHDATE_INVALID")
	sex := strings.ToUpper(fieldText(pid, 8))
	p.Gender = gender(sex)
	if sex != "" && p.Gender == nil {
		m.warn(pid, "PID-8", "SEX_UNMAPPED", "administrative sex %q not in table 0001 or GB/T 2261.1", sex)
	}
	for _, r := range reps(pid, 11) {
		if a := m.xad(r); a != nil {
			p.Address = append(p.Address, *a)
		}
	}
	for _, t := range []struct {
		field int
		use   *fhir.ContactPointUse
	}{{13, ptr(fhir.ContactPointUseHome)}, {14, ptr(fhir.ContactPointUseWork)}, {40, nil}} {
		for _, r := range reps(pid, t.field) {
			if c := xtn(r); c != nil {
				if c.Use == nil {
					c.Use = t.use
				}
				p.Telecom = append(p.Telecom, *c)
			}
		}
	}
	if r := pid.Field(15).Rep(1); !r.IsEmpty() {
		if cc := m.cwe(r); cc != nil {
			p.Communication = []fhir.PatientCommunication{{Language: *cc}}
		}
	}
	if r := pid.Field(16).Rep(1); !r.IsEmpty() {
		p.MaritalStatus = m.cwe(r)
	}
	switch strings.ToUpper(fieldText(pid, 24)) {
	case "Y":
		if n := fieldText(pid, 25); isDigits(n) {
			v := int(n[0] - '0')
			if len(n) == 1 {
				p.MultipleBirthInteger = &v
			}
		}
		if p.MultipleBirthInteger == nil {
			t := true
			p.MultipleBirthBoolean = &t
		}
	case "N":
		f := false
		p.MultipleBirthBoolean = &f
	}
	if dt := m.fieldDateTime(pid, 29); dt != "" {
		p.DeceasedDateTime = &dt
	} else {
		switch strings.ToUpper(fieldText(pid, 30)) {
		case "Y":
			t := true
			p.DeceasedBoolean = &t
		case "N":
			f := false
			p.DeceasedBoolean = &f
		}
	}
	if card != nil {
		m.crossCheckIDCard(pid, value(card.Value), p)
	}
	for _, nk := range m.msg.AllSegments("NK1") {
		if c := m.contact(nk); c != nil {
			p.Contact = append(p.Contact, *c)
		}
	}
	if pd1, ok := m.msg.Segment("PD1"); ok {
		for _, r := range reps(pd1, 4) {
			if pr := m.practitioner(r); pr != nil {
				p.GeneralPractitioner = append(p.GeneralPractitioner, *pr)
			}
		}
	}
	m.res = append([]Entry{{Type: "Patient", ID: id, Resource: p}}, m.res...) // the Patient first in the Bundle
	m.seen["Patient/"+id] = true
	return p, nil
}

// cardAttempt reports whether a value that is not a well-formed card number
// is still meant as one (in PID-19, or in a CX typed as a card): 14 to 19
// digits (or X), where a US social security number has 9. It is kept as the card it was meant to be, and
// checkIDCard reports it as malformed.
func cardAttempt(v string) bool {
	v = idcard.Normalize(v)
	if len(v) < 14 || len(v) > 19 {
		return false
	}
	for i := range len(v) {
		if (v[i] < '0' || v[i] > '9') && v[i] != 'X' {
			return false
		}
	}
	return true
}

// checkIDCard validates a card number and warns about a bad one; the
// identifier is kept either way, since the sender's record is what it is.
func (m *mapper) checkIDCard(seg hl7v2.Segment, field, v string) {
	_, err := idcard.Parse(v)
	switch {
	case err == nil:
	case errors.Is(err, idcard.ErrCheck):
		m.warn(seg, field, "IDCARD_CHECK", "citizen ID card check character is wrong: %v", err)
	default:
		m.warn(seg, field, "IDCARD_INVALID", "citizen ID card number is malformed: %v", err)
	}
}

// crossCheckIDCard warns when the birth date or sex encoded in the card
// disagree with PID-7 / PID-8.
func (m *mapper) crossCheckIDCard(pid hl7v2.Segment, v string, p *fhir.Patient) {
	n, err := idcard.Parse(v)
	if err != nil && !errors.Is(err, idcard.ErrCheck) {
		return
	}
	if bd, birth := n.BirthDate.Format(time.DateOnly), value(p.BirthDate); len(birth) == 10 && bd != birth {
		m.warn(pid, "PID-7", "IDCARD_BIRTHDATE", "birth date %s disagrees with the ID card's %s", birth, bd)
	}
	if g := p.Gender; g != nil && (*g == fhir.AdministrativeGenderMale || *g == fhir.AdministrativeGenderFemale) && g.Code() != n.Sex.String() {
		m.warn(pid, "PID-8", "IDCARD_SEX", "sex %s disagrees with the ID card's %s", g.Code(), n.Sex)
	}
}

// contact maps NK1 to Patient.contact.
func (m *mapper) contact(nk hl7v2.Segment) *fhir.PatientContact {
	c := &fhir.PatientContact{}
	if r := nk.Field(2).Rep(1); !r.IsEmpty() {
		c.Name = xpn(r, 0)
	}
	if r := nk.Field(3).Rep(1); !r.IsEmpty() {
		if cc := m.cwe(r); cc != nil {
			c.Relationship = append(c.Relationship, *cc)
		}
	}
	if r := nk.Field(7).Rep(1); !r.IsEmpty() {
		if cc := m.cwe(r); cc != nil {
			c.Relationship = append(c.Relationship, *cc)
		}
	}
	if r := nk.Field(4).Rep(1); !r.IsEmpty() {
		c.Address = m.xad(r)
	}
	for _, t := range []struct {
		field int
		use   *fhir.ContactPointUse
	}{{5, ptr(fhir.ContactPointUseHome)}, {6, ptr(fhir.ContactPointUseWork)}, {40, nil}} {
		for _, r := range reps(nk, t.field) {
			if cp := xtn(r); cp != nil {
				if cp.Use == nil {
					cp.Use = t.use
				}
				c.Telecom = append(c.Telecom, *cp)
			}
		}
	}
	c.Gender = gender(fieldText(nk, 15))
	c.Period = m.fieldPeriod(nk, 8, 9)
	if c.Name == nil && c.Address == nil && len(c.Telecom) == 0 {
		return nil
	}
	return c
}

// practitioner maps an XCN to a Practitioner resource (id from XCN.1 and
// its authority XCN.9, else from the name) and returns a reference to it.
func (m *mapper) practitioner(r hl7v2.Rep) *fhir.Reference {
	idv := comp(r, 1)
	name := xpn(r, 1)
	if idv == "" && name == nil {
		return nil
	}
	pr := &fhir.Practitioner{}
	if name != nil {
		pr.Name = []fhir.HumanName{*name}
	}
	var id string
	if idv != "" {
		sys := m.identifierSystem(sub(r, 9, 1), sub(r, 9, 2), sub(r, 9, 3))
		pr.Identifier = []fhir.Identifier{{System: opt(sys), Value: &idv}}
		id = makeID("Practitioner", sys, idv)
	} else {
		id = makeID("Practitioner", m.sender, value(name.Text), value(name.Family))
	}
	pr.Id = &id
	m.add("Practitioner", id, pr)
	rf := ref("Practitioner", id)
	if name != nil {
		rf.Display = name.Text
	}
	return rf
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
