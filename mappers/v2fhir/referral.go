package v2fhir

import (
	"errors"
	"strings"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/mappers/fhirr4"
)

// Two-way referral (双向转诊): a community health centre refers a resident
// to a hospital with REF^I12 (changes it with I13, cancels it with I14) and
// the hospital answers with RRI (accepted, rejected, completed). Each
// message maps to the referral ServiceRequest and a Task that carries the
// workflow state; both ids come from the originating referral number
// (RF1-6), so the hospital's RRI updates the resources the REF created.

// referralTriggers are the REF and RRI trigger events Map handles.
var referralTriggers = map[string]bool{"I12": true, "I13": true, "I14": true}

const (
	v20283   = "http://terminology.hl7.org/CodeSystem/v2-0283"
	snomedCT = "http://snomed.info/sct"
)

// referralStatus maps RF1-1 (table 0283, plus the hold and cancel codes
// sites send) to ServiceRequest.status.
var referralStatus = map[string]string{
	"P": "active", "A": "active", "R": "revoked", "E": "revoked", "H": "on-hold",
	"C": "revoked", "CA": "revoked", "CM": "completed", "COMPLETED": "completed",
}

// referralStatusDisplay names the table 0283 codes for Task.businessStatus.
var referralStatusDisplay = map[string]string{"A": "Accepted", "E": "Expired", "P": "Pending", "R": "Rejected"}

// taskStatus maps RF1-1 of a response (RRI) to Task.status.
var rriTaskStatus = map[string]string{
	"A": "accepted", "R": "rejected", "CM": "completed", "COMPLETED": "completed",
	"H": "on-hold", "C": "cancelled", "CA": "cancelled", "E": "failed", "P": "received",
}

// mapReferral maps REF^I12-I14 and RRI^I12-I14.
func (m *mapper) mapReferral(code, trigger string) error {
	rf1, ok := m.msg.Segment("RF1")
	if !ok {
		return errors.New("no RF1 segment")
	}
	if err := m.mapPatient(); err != nil {
		return err
	}
	m.mapEncounter(trigger)
	key, ids, err := m.referralIDs(rf1, code == "RRI")
	if err != nil {
		return err
	}
	status := strings.ToUpper(fieldText(rf1, 1))

	sr := &fhirr4.ReferralRequest{ServiceRequest: fhirr4.ServiceRequest{
		Base:       fhirr4.Base{Type: "ServiceRequest", ID: makeID("ServiceRequest", key...)},
		Identifier: ids,
		Intent:     "order",
		Category:   []fhirr4.CodeableConcept{*codeOnly(snomedCT, "3457005", "Patient referral")},
		Priority:   priorities[strings.ToUpper(fieldText(rf1, 2))],
		Code:       m.cwe(rf1.Field(3).Rep(1)),
		Subject:    *m.subject(),
		Encounter:  m.encounter,
		AuthoredOn: m.dateTime(fieldText(rf1, 7)),
	}}
	if sr.AuthoredOn == "" {
		sr.AuthoredOn = m.dateTime(fieldText(rf1, 9)) // process date
	}
	sr.OccurrencePeriod = m.period(fieldText(rf1, 7), fieldText(rf1, 8))
	switch s, known := referralStatus[status]; {
	case trigger == "I14":
		sr.Status = "revoked"
	case known:
		sr.Status = s
	case status == "":
		sr.Status = "active"
	default:
		sr.Status = "unknown"
		m.warn("RF1", "RF1-1", "STATUS_UNMAPPED", "referral status %q has no mapping", status)
	}
	for _, r := range reps(rf1, 10) {
		if cc := m.cwe(r); cc != nil {
			sr.ReasonCode = append(sr.ReasonCode, *cc)
		}
	}
	for _, dg1 := range m.msg.AllSegments("DG1") {
		if cc := m.cwe(dg1.Field(3).Rep(1)); cc != nil {
			sr.ReasonCode = append(sr.ReasonCode, *cc)
		} else if t := fieldText(dg1, 4); t != "" {
			sr.ReasonCode = append(sr.ReasonCode, fhirr4.CodeableConcept{Text: t})
		}
	}

	var requester, owner *fhirr4.Reference
	for _, prd := range m.msg.AllSegments("PRD") {
		for _, role := range reps(prd, 1) {
			switch strings.ToUpper(comp(role, 1)) {
			case "RP":
				if requester == nil {
					requester = m.provider(prd)
				}
			case "RT":
				if p := m.provider(prd); p != nil {
					sr.Performer = append(sr.Performer, *p)
					if owner == nil {
						owner = p
					}
				}
			}
		}
	}
	sr.Requester = requester
	m.add(sr)

	t := &fhirr4.Task{
		Base:         fhirr4.Base{Type: "Task", ID: makeID("Task", key...)},
		Identifier:   ids,
		Intent:       "order",
		Priority:     sr.Priority,
		Code:         codeOnly("http://hl7.org/fhir/CodeSystem/task-code", "fulfill", "Fulfill the focal request"),
		Focus:        ref("ServiceRequest", sr.ID),
		For:          m.subject(),
		Encounter:    m.encounter,
		AuthoredOn:   sr.AuthoredOn,
		LastModified: m.dateTime(m.msg.Get("MSH-7.1")),
		Requester:    requester,
		Owner:        owner,
	}
	if p := m.period("", fieldText(rf1, 8)); p != nil {
		t.Restriction = &fhirr4.TaskRestriction{Period: p} // fulfil before the referral expires
	}
	if len(sr.ReasonCode) > 0 {
		t.ReasonCode = &sr.ReasonCode[0]
	}
	t.Status = taskStatus(code, trigger, status)
	t.BusinessStatus = m.businessStatus(rf1, trigger, t.Status)
	m.add(t)
	return nil
}

// taskStatus is the two-way referral workflow: a referral is requested,
// the hospital accepts or rejects it and completes it, and the centre may
// cancel it.
func taskStatus(code, trigger, rf1Status string) string {
	switch {
	case trigger == "I14":
		return "cancelled"
	case code == "RRI":
		if s, ok := rriTaskStatus[rf1Status]; ok {
			return s
		}
		return "received"
	}
	switch rf1Status {
	case "H":
		return "on-hold"
	case "C", "CA":
		return "cancelled"
	case "E":
		return "failed"
	}
	return "requested"
}

// businessStatus is RF1-1 as sent (with the table 0283 system when the
// sender named none) and the workflow state as text.
func (m *mapper) businessStatus(rf1 hl7v2.Segment, trigger, taskStatus string) *fhirr4.CodeableConcept {
	if trigger == "I14" {
		return &fhirr4.CodeableConcept{Text: taskStatus}
	}
	cc := m.cwe(rf1.Field(1).Rep(1))
	if cc == nil {
		return &fhirr4.CodeableConcept{Text: taskStatus}
	}
	if len(cc.Coding) > 0 && cc.Coding[0].System == "" {
		if d, ok := referralStatusDisplay[strings.ToUpper(cc.Coding[0].Code)]; ok {
			cc.Coding[0].System = v20283
			if cc.Coding[0].Display == "" {
				cc.Coding[0].Display = d
			}
		}
	}
	cc.Text = taskStatus
	return cc
}

// referralIDs returns the business key of the referral and its identifiers:
// the originating referral number RF1-6 (typed PLAC, since the referring
// side placed it) and the external referral id RF1-11. A number without an
// assigning authority belongs to the party that made it, which is the
// sender of a REF but the receiver of an RRI; so the key does not depend on
// which side sent the message.
func (m *mapper) referralIDs(rf1 hl7v2.Segment, response bool) (key []string, ids []fhirr4.Identifier, err error) {
	origin, other := m.sender, m.receiver()
	if response {
		origin, other = other, origin
	}
	orig := m.referralID(rf1.Field(6).Rep(1), origin)
	ext := m.referralID(rf1.Field(11).Rep(1), other)
	switch {
	case orig != nil:
		orig.Type = codeOnly(v20203, "PLAC", "Placer Identifier")
		ids = append(ids, *orig)
		key = []string{"referral", orig.System, orig.Value}
	case ext != nil:
		key = []string{"referral-external", ext.System, ext.Value}
	default:
		return nil, nil, errors.New("RF1 has no referral identifier (RF1-6, RF1-11)")
	}
	if ext != nil {
		ids = append(ids, *ext)
	}
	return key, ids, nil
}

// referralID maps an EI; owner stands in for a missing assigning authority.
func (m *mapper) referralID(r hl7v2.Rep, owner string) *fhirr4.Identifier {
	v := comp(r, 1)
	if v == "" {
		return nil
	}
	ns, uid, uidType := comp(r, 2), comp(r, 3), comp(r, 4)
	if ns != "" || uid != "" {
		return &fhirr4.Identifier{System: m.identifierSystem(ns, uid, uidType), Value: v}
	}
	sys := m.cfg.Senders[owner].DefaultSystem
	if sys == "" && owner != "" {
		sys = m.cfg.IdentifierSystemBase + strings.ReplaceAll(owner, " ", "-")
	}
	return &fhirr4.Identifier{System: sys, Value: v}
}

// receiver is the receiving facility (MSH-6), else application (MSH-5).
func (m *mapper) receiver() string {
	if r := m.msg.Get("MSH-6.1"); r != "" {
		return r
	}
	return m.msg.Get("MSH-5.1")
}

// provider maps a PRD segment to a Practitioner (PRD-2 name, PRD-7
// identifier), an Organization (PRD-10, else the facility of PRD-4; address
// PRD-11, else PRD-3) and, when both are known or a department is named
// (PRD-4.1), the PractitionerRole linking them. It returns the reference
// that best names the party: the role, else the practitioner, else the
// organisation.
func (m *mapper) provider(prd hl7v2.Segment) *fhirr4.Reference {
	org := m.prdOrganization(prd)
	orgKey := ""
	if org != nil {
		orgKey = org.ID
	}
	pr := m.prdPractitioner(prd, orgKey)
	dept := comp(prd.Field(4).Rep(1), 1)
	if pr == nil && org == nil {
		return nil
	}
	if org != nil && (pr != nil || dept != "") {
		role := &fhirr4.PractitionerRole{Base: fhirr4.Base{Type: "PractitionerRole"}, Organization: ref("Organization", org.ID)}
		role.Organization.Display = org.Name
		display := org.Name
		prID := ""
		if pr != nil {
			prID = pr.ID
			role.Practitioner = ref("Practitioner", pr.ID)
			if len(pr.Name) > 0 {
				role.Practitioner.Display = pr.Name[0].Text
				display = pr.Name[0].Text + " (" + org.Name + ")"
			}
		}
		if dept != "" {
			role.Specialty = []fhirr4.CodeableConcept{{Text: dept}}
		}
		for _, r := range reps(prd, 5) {
			if c := xtn(r); c != nil {
				role.Telecom = append(role.Telecom, *c)
			}
		}
		role.ID = makeID("PractitionerRole", prID, org.ID, dept)
		m.add(role)
		rf := ref("PractitionerRole", role.ID)
		rf.Display = display
		return rf
	}
	if pr != nil {
		rf := ref("Practitioner", pr.ID)
		if len(pr.Name) > 0 {
			rf.Display = pr.Name[0].Text
		}
		return rf
	}
	rf := ref("Organization", org.ID)
	rf.Display = org.Name
	return rf
}

// prdOrganization maps the provider's organisation. Its id comes from an
// identifier with an assigning authority, else from the name: both sides
// of a referral name the same hospital, and a sender-scoped key would give
// the hospital a different id in the REF and in the RRI.
func (m *mapper) prdOrganization(prd hl7v2.Segment) *fhirr4.Organization {
	xon := prd.Field(10).Rep(1)
	loc := prd.Field(4).Rep(1)
	name := comp(xon, 1)
	if name == "" {
		name = sub(loc, 4, 1) // PL.4 facility
	}
	if name == "" {
		name = comp(loc, 9) // PL.9 location description
	}
	idv := comp(xon, 10)
	if idv == "" {
		idv = comp(xon, 3)
	}
	if name == "" && idv == "" {
		return nil
	}
	o := &fhirr4.Organization{Base: fhirr4.Base{Type: "Organization"}, Name: name}
	ns, uid, uidType := sub(xon, 6, 1), sub(xon, 6, 2), sub(xon, 6, 3)
	if idv != "" {
		id := fhirr4.Identifier{System: m.identifierSystem(ns, uid, uidType), Value: idv}
		if t := comp(xon, 7); t != "" {
			id.Type = codeOnly(v20203, t, "")
		}
		o.Identifier = []fhirr4.Identifier{id}
	}
	switch {
	case idv != "" && (ns != "" || uid != ""):
		o.ID = makeID("Organization", o.Identifier[0].System, idv)
	case name != "":
		o.ID = makeID("Organization", "name", name)
	default:
		o.ID = makeID("Organization", o.Identifier[0].System, idv)
	}
	for _, f := range []int{11, 3} {
		if a := m.xad(prd.Field(f).Rep(1)); a != nil {
			o.Address = []fhirr4.Address{*a}
			break
		}
	}
	for _, r := range reps(prd, 13) {
		if c := xtn(r); c != nil {
			o.Telecom = append(o.Telecom, *c)
		}
	}
	m.add(o)
	return o
}

// prdPractitioner maps PRD-2 and PRD-7 (PLN: id ^ type ^ state ^
// expiration). The identifier's system is named after the PLN type (a
// licence or practising-certificate number is unique within it), else
// after the organisation the provider works for.
func (m *mapper) prdPractitioner(prd hl7v2.Segment, orgKey string) *fhirr4.Practitioner {
	name := xpn(prd.Field(2).Rep(1), 0)
	pln := prd.Field(7).Rep(1)
	idv := comp(pln, 1)
	if name == nil && idv == "" {
		return nil
	}
	pr := &fhirr4.Practitioner{Base: fhirr4.Base{Type: "Practitioner"}}
	if name != nil {
		pr.Name = []fhirr4.HumanName{*name}
	}
	scope := orgKey
	if scope == "" {
		scope = m.sender
	}
	if idv != "" {
		var sys string
		if t := comp(pln, 2); t != "" {
			sys = m.identifierSystem(t, "", "")
		} else {
			sys = m.cfg.IdentifierSystemBase + "org-" + scope
		}
		id := fhirr4.Identifier{System: sys, Value: idv}
		id.Period = m.period("", comp(pln, 4))
		pr.Identifier = []fhirr4.Identifier{id}
		pr.ID = makeID("Practitioner", sys, idv)
	} else {
		pr.ID = makeID("Practitioner", scope, name.Text, name.Family)
	}
	m.add(pr)
	return pr
}
