package v2fhir

import (
	"slices"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
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
	v20284   = "http://terminology.hl7.org/CodeSystem/v2-0284"
	snomedCT = "http://snomed.info/sct"
)

// referralCategory names the table 0284 codes of RF1-5.
var referralCategory = map[string]string{"A": "Ambulatory", "E": "Emergency", "I": "Inpatient", "O": "Outpatient"}

// referralStatus maps RF1-1 (table 0283, plus the hold and cancel codes
// sites send) to ServiceRequest.status.
var referralStatus = map[string]fhir.RequestStatus{
	"P": requestActive, "A": requestActive, "R": requestRevoked, "E": requestRevoked, "H": requestOnHold,
	"C": requestRevoked, "CA": requestRevoked, "CM": requestCompleted, "COMPLETED": requestCompleted,
}

// referralStatusDisplay names the table 0283 codes for Task.businessStatus.
var referralStatusDisplay = map[string]string{"A": "Accepted", "E": "Expired", "P": "Pending", "R": "Rejected"}

// taskStatus maps RF1-1 of a response (RRI) to Task.status.
var rriTaskStatus = map[string]fhir.TaskStatus{
	"A": fhir.TaskStatusAccepted, "R": fhir.TaskStatusRejected, "CM": fhir.TaskStatusCompleted,
	"COMPLETED": fhir.TaskStatusCompleted, "H": fhir.TaskStatusOnHold, "C": fhir.TaskStatusCancelled,
	"CA": fhir.TaskStatusCancelled, "E": fhir.TaskStatusFailed, "P": fhir.TaskStatusReceived,
}

// mapReferral maps REF^I12-I14 and RRI^I12-I14.
func (m *mapper) mapReferral(code, trigger string) error {
	rf1, ok := m.msg.Segment("RF1")
	if !ok {
		return missingSegment("RF1", 1, "no RF1 segment")
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

	srID := makeID("ServiceRequest", key...)
	sr := &fhir.ServiceRequest{
		Id:         &srID,
		Identifier: ids,
		Intent:     fhir.RequestIntentOrder,
		Category:   []fhir.CodeableConcept{*codeOnly(snomedCT, "3457005", "Patient referral")},
		Priority:   priority(fieldText(rf1, 2)),
		Code:       m.cwe(rf1.Field(3).Rep(1)),
		Subject:    *m.subject(),
		Encounter:  m.encounter,
		AuthoredOn: opt(m.fieldDateTime(rf1, 7)),
	}
	if sr.AuthoredOn == nil {
		sr.AuthoredOn = opt(m.fieldDateTime(rf1, 9)) // process date
	}
	if cc := m.cwe(rf1.Field(5).Rep(1)); cc != nil {
		// RF1-5 referral category (table 0284: inpatient, outpatient,
		// ambulatory, emergency) sits beside the fixed referral category.
		if len(cc.Coding) > 0 && cc.Coding[0].System == nil {
			if d, ok := referralCategory[strings.ToUpper(value(cc.Coding[0].Code))]; ok {
				cc.Coding[0].System = ptr(v20284)
				if cc.Coding[0].Display == nil {
					cc.Coding[0].Display = &d
				}
			}
		}
		sr.Category = append(sr.Category, *cc)
	}
	sr.Insurance = m.authorizations()
	// RF1-7 was warned about above.
	if start, end := m.dateTime(fieldText(rf1, 7)), m.fieldDateTime(rf1, 8); start != "" || end != "" {
		sr.OccurrencePeriod = &fhir.Period{Start: opt(start), End: opt(end)}
	}
	switch s, known := referralStatus[status]; {
	case trigger == "I14":
		sr.Status = requestRevoked
	case known:
		sr.Status = s
	case status == "":
		sr.Status = requestActive
	default:
		sr.Status = fhir.RequestStatusUnknown
		m.warn(rf1, "RF1-1", "STATUS_UNMAPPED", "referral status %q has no mapping", status)
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
			sr.ReasonCode = append(sr.ReasonCode, *textOnly(t))
		}
	}

	var requester, owner *fhir.Reference
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
	for i, pr1 := range m.msg.AllSegments("PR1") {
		// A PR1 sent twice maps to one Procedure, listed once.
		if id := m.mapProcedure(pr1, i); id != "" && !slices.ContainsFunc(sr.SupportingInfo, func(r fhir.Reference) bool {
			return value(r.Reference) == "Procedure/"+id
		}) {
			sr.SupportingInfo = append(sr.SupportingInfo, *ref("Procedure", id))
		}
	}
	// OBX (the referral's clinical information, in REF and RRI after PR1 or
	// OBR) support the referral as they support an order; those of an OBR
	// are also results of that earlier order.
	groups := m.obxGroups()
	m.priorOrders(sr, groups)
	m.supportingObservations(sr, groups)
	sr.Note = append(sr.Note, m.notes(referralNotes(m.msg))...)
	m.add("ServiceRequest", srID, sr)

	taskID := makeID("Task", key...)
	t := &fhir.Task{
		Id:           &taskID,
		Identifier:   ids,
		Intent:       "order",
		Priority:     sr.Priority,
		Code:         codeOnly("http://hl7.org/fhir/CodeSystem/task-code", "fulfill", "Fulfill the focal request"),
		Focus:        ref("ServiceRequest", srID),
		For:          m.subject(),
		Encounter:    m.encounter,
		AuthoredOn:   sr.AuthoredOn,
		LastModified: opt(m.dateTime(m.msg.Get("MSH-7.1"))),
		Requester:    requester,
		Owner:        owner,
	}
	if p := m.period("", fieldText(rf1, 8)); p != nil {
		t.Restriction = &fhir.TaskRestriction{Period: p} // fulfil before the referral expires
	}
	if len(sr.ReasonCode) > 0 {
		t.ReasonCode = &sr.ReasonCode[0]
	}
	t.Status = taskStatus(code, trigger, status)
	t.BusinessStatus = m.businessStatus(rf1, trigger, t.Status)
	m.add("Task", taskID, t)
	return nil
}

// priorOrders maps each observation group of a REF or RRI (an OBR with its
// NTE and OBX: a test already ordered, whose results support the referral)
// to a ServiceRequest by the IG's OBR segment map (intent order, ids from
// the placer or filler number as for any order), lists it in the
// referral's supportingInfo and marks it on groups as the order their OBX
// are results of. The IG has no REF or RRI message map; this follows its
// ORU map, where each OBX is based on its OBR's ServiceRequest.
func (m *mapper) priorOrders(referral *fhir.ServiceRequest, groups []obxGroup) {
	var byOBX map[int]*obxGroup // OBX occurrence → its group
	for _, o := range m.orders() {
		if !o.hasOBR {
			continue // an ORC alone is no observation group
		}
		prior := m.serviceRequest(o, fhir.RequestIntentOrder)
		referral.SupportingInfo = appendRef(referral.SupportingInfo, *ref("ServiceRequest", *prior.Id))
		if byOBX == nil {
			byOBX = make(map[int]*obxGroup, len(groups))
			for i := range groups {
				byOBX[m.occurrence(groups[i].obx)] = &groups[i]
			}
		}
		for _, g := range o.obx {
			if og := byOBX[m.occurrence(g.obx)]; og != nil {
				og.basedOn = ref("ServiceRequest", *prior.Id)
			}
		}
	}
}

// taskStatus is the two-way referral workflow: a referral is requested,
// the hospital accepts or rejects it and completes it, and the centre may
// cancel it.
func taskStatus(code, trigger, rf1Status string) fhir.TaskStatus {
	switch {
	case trigger == "I14":
		return fhir.TaskStatusCancelled
	case code == "RRI":
		if s, ok := rriTaskStatus[rf1Status]; ok {
			return s
		}
		return fhir.TaskStatusReceived
	}
	switch rf1Status {
	case "H":
		return fhir.TaskStatusOnHold
	case "C", "CA":
		return fhir.TaskStatusCancelled
	case "E":
		return fhir.TaskStatusFailed
	}
	return fhir.TaskStatusRequested
}

// businessStatus is RF1-1 as sent (with the table 0283 system when the
// sender named none) and the workflow state as text.
func (m *mapper) businessStatus(rf1 hl7v2.Segment, trigger string, taskStatus fhir.TaskStatus) *fhir.CodeableConcept {
	if trigger == "I14" {
		return textOnly(taskStatus.Code())
	}
	cc := m.cwe(rf1.Field(1).Rep(1))
	if cc == nil {
		return textOnly(taskStatus.Code())
	}
	if len(cc.Coding) > 0 && cc.Coding[0].System == nil {
		if d, ok := referralStatusDisplay[strings.ToUpper(value(cc.Coding[0].Code))]; ok {
			cc.Coding[0].System = ptr(v20283)
			if cc.Coding[0].Display == nil {
				cc.Coding[0].Display = &d
			}
		}
	}
	cc.Text = ptr(taskStatus.Code())
	return cc
}

// referralIDs returns the business key of the referral and its identifiers:
// the originating referral number RF1-6 (typed PLAC, since the referring
// side placed it) and the external referral id RF1-11. A number without an
// assigning authority belongs to the party that made it, which is the
// sender of a REF but the receiver of an RRI; so the key does not depend on
// which side sent the message.
func (m *mapper) referralIDs(rf1 hl7v2.Segment, response bool) (key []string, ids []fhir.Identifier, err error) {
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
		key = []string{"referral", value(orig.System), value(orig.Value)}
	case ext != nil:
		key = []string{"referral-external", value(ext.System), value(ext.Value)}
	default:
		return nil, nil, m.segmentError(rf1, 6, CodeRequiredFieldMissing, "RF1 has no referral identifier (RF1-6, RF1-11)")
	}
	if ext != nil {
		ids = append(ids, *ext)
	}
	return key, ids, nil
}

// referralID maps an EI; owner stands in for a missing assigning authority.
func (m *mapper) referralID(r hl7v2.Rep, owner string) *fhir.Identifier {
	v := comp(r, 1)
	if v == "" {
		return nil
	}
	ns, uid, uidType := comp(r, 2), comp(r, 3), comp(r, 4)
	if ns != "" || uid != "" {
		return &fhir.Identifier{System: opt(m.identifierSystem(ns, uid, uidType)), Value: &v}
	}
	sys := m.cfg.Senders[owner].DefaultSystem
	if sys == "" && owner != "" {
		sys = m.cfg.IdentifierSystemBase + strings.ReplaceAll(owner, " ", "-")
	}
	return &fhir.Identifier{System: opt(sys), Value: &v}
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
func (m *mapper) provider(prd hl7v2.Segment) *fhir.Reference {
	org := m.prdOrganization(prd)
	orgKey := ""
	if org != nil {
		orgKey = *org.Id
	}
	pr := m.prdPractitioner(prd, orgKey)
	dept := comp(prd.Field(4).Rep(1), 1)
	if pr == nil && org == nil {
		return nil
	}
	if org != nil && (pr != nil || dept != "") {
		orgName := value(org.Name)
		role := &fhir.PractitionerRole{Organization: ref("Organization", *org.Id)}
		role.Organization.Display = org.Name
		display := orgName
		prID := ""
		if pr != nil {
			prID = *pr.Id
			role.Practitioner = ref("Practitioner", prID)
			if len(pr.Name) > 0 {
				role.Practitioner.Display = pr.Name[0].Text
				display = value(pr.Name[0].Text) + " (" + orgName + ")"
			}
		}
		if dept != "" {
			role.Specialty = []fhir.CodeableConcept{*textOnly(dept)}
		}
		for _, r := range reps(prd, 5) {
			if c := xtn(r); c != nil {
				role.Telecom = append(role.Telecom, *c)
			}
		}
		id := makeID("PractitionerRole", prID, *org.Id, dept)
		role.Id = &id
		m.add("PractitionerRole", id, role)
		rf := ref("PractitionerRole", id)
		rf.Display = opt(display)
		return rf
	}
	if pr != nil {
		rf := ref("Practitioner", *pr.Id)
		if len(pr.Name) > 0 {
			rf.Display = pr.Name[0].Text
		}
		return rf
	}
	rf := ref("Organization", *org.Id)
	rf.Display = org.Name
	return rf
}

// prdOrganization maps the provider's organisation. Its id comes from an
// identifier with an assigning authority, else from the name: both sides
// of a referral name the same hospital, and a sender-scoped key would give
// the hospital a different id in the REF and in the RRI.
func (m *mapper) prdOrganization(prd hl7v2.Segment) *fhir.Organization {
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
	o := &fhir.Organization{Name: opt(name)}
	ns, uid, uidType := sub(xon, 6, 1), sub(xon, 6, 2), sub(xon, 6, 3)
	sys := ""
	if idv != "" {
		sys = m.identifierSystem(ns, uid, uidType)
		id := fhir.Identifier{System: opt(sys), Value: &idv}
		if t := comp(xon, 7); t != "" {
			id.Type = codeOnly(v20203, t, "")
		}
		o.Identifier = []fhir.Identifier{id}
	}
	var id string
	switch {
	case idv != "" && (ns != "" || uid != ""):
		id = makeID("Organization", sys, idv)
	case name != "":
		id = makeID("Organization", "name", name)
	default:
		id = makeID("Organization", sys, idv)
	}
	o.Id = &id
	for _, f := range []int{11, 3} {
		if a := m.xad(prd.Field(f).Rep(1)); a != nil {
			o.Address = []fhir.Address{*a}
			break
		}
	}
	for _, r := range reps(prd, 13) {
		if c := xtn(r); c != nil {
			o.Telecom = append(o.Telecom, *c)
		}
	}
	m.add("Organization", id, o)
	return o
}

// prdPractitioner maps PRD-2 and PRD-7 (PLN: id ^ type ^ state ^
// expiration). The identifier's system is named after the PLN type (a
// licence or practising-certificate number is unique within it), else
// after the organisation the provider works for.
func (m *mapper) prdPractitioner(prd hl7v2.Segment, orgKey string) *fhir.Practitioner {
	name := xpn(prd.Field(2).Rep(1), 0)
	pln := prd.Field(7).Rep(1)
	idv := comp(pln, 1)
	if name == nil && idv == "" {
		return nil
	}
	pr := &fhir.Practitioner{}
	if name != nil {
		pr.Name = []fhir.HumanName{*name}
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
		pr.Identifier = []fhir.Identifier{{System: opt(sys), Value: &idv, Period: m.period("", comp(pln, 4))}}
		pr.Id = ptr(makeID("Practitioner", sys, idv))
	} else {
		pr.Id = ptr(makeID("Practitioner", scope, value(name.Text), value(name.Family)))
	}
	m.add("Practitioner", *pr.Id, pr)
	return pr
}

// authorizations maps the AUT segments (the payer's authorisation of the
// referral or of a procedure) to logical references to the payer's
// ClaimResponse: AUT-6 authorization identifier, AUT-3 payer name. The
// full authorisation (AUT-4/5 period, AUT-7 reimbursement limit, AUT-8/9
// treatment counts) would be a ClaimResponse of use preauthorization,
// which needs the insurer as an Organization and the claim items; the
// referral only needs to say under which authorisation it travels. An
// identifier without an assigning authority belongs to the payer AUT-2.
func (m *mapper) authorizations() []fhir.Reference {
	var out []fhir.Reference
	seen := map[string]bool{}
	for _, aut := range m.msg.AllSegments("AUT") {
		owner := fieldText(aut, 2)
		if owner == "" {
			owner = m.sender
		}
		id := m.referralID(aut.Field(6).Rep(1), owner)
		if id == nil {
			continue
		}
		k := value(id.System) + "|" + value(id.Value)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, fhir.Reference{Type: ptr("ClaimResponse"), Identifier: id, Display: opt(fieldText(aut, 3))})
	}
	return out
}

// referralNotes are the NTE segments that close a REF or RRI, after the visit
// (PV1, PV2): in REF_I12 and RRI_I12 they are about the referral itself.
func referralNotes(msg *hl7v2.Message) []hl7v2.Segment {
	var out []hl7v2.Segment
	after := ""
	for _, s := range msg.Segments() {
		switch n := s.Name(); n {
		case "NTE":
			if after == "PV1" || after == "PV2" {
				out = append(out, s)
			}
		default:
			after = n
		}
	}
	return out
}
