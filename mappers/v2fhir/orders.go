package v2fhir

import (
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// mapOrders maps ORM^O01 and OML^O21: one ServiceRequest per order group,
// and the group's OBX (observations supporting the order: fasting,
// pregnancy, date of last vaccination) as Observations the ServiceRequest
// lists in supportingInfo.
func (m *mapper) mapOrders() error {
	if err := m.mapPatient(); err != nil {
		return err
	}
	m.mapEncounter("O01")
	groups := m.orders()
	if len(groups) == 0 {
		return missingSegment("ORC", 1, "no ORC or OBR segment")
	}
	for _, o := range groups {
		sr := m.serviceRequest(o, fhir.RequestIntentOrder)
		m.supportingObservations(sr, o.obx)
	}
	return nil
}

// supportingObservations maps OBX groups that support a request (ORM/OML
// order detail, a referral's clinical information) to Observations with
// the NTE after each as notes, listed in the ServiceRequest's
// supportingInfo; an OBX that is the result of an order is basedOn it.
func (m *mapper) supportingObservations(sr *fhir.ServiceRequest, groups []obxGroup) {
	for i, g := range groups {
		obs := m.contextObservation(g.obx, "ServiceRequest/"+*sr.Id, i)
		if obs != nil {
			obs.Note = m.notes(g.nte)
			if g.basedOn != nil {
				obs.BasedOn = []fhir.Reference{*g.basedOn}
			}
		}
		switch {
		case obs == nil:
		case m.addFrom(g.obx, "Observation", *obs.Id, obs):
			sr.SupportingInfo = append(sr.SupportingInfo, *ref("Observation", *obs.Id))
		default:
			m.warn(g.obx, "OBX-3", "OBX_DUPLICATE", "OBX %d repeats an earlier observation; skipped", m.occurrence(g.obx))
		}
	}
}

// Short names for the ServiceRequest statuses the tables use most.
const (
	requestActive    = fhir.RequestStatusActive
	requestRevoked   = fhir.RequestStatusRevoked
	requestOnHold    = fhir.RequestStatusOnHold
	requestCompleted = fhir.RequestStatusCompleted
)

var orderStatus = map[string]fhir.RequestStatus{ // table 0038 (ORC-5) → ServiceRequest.status
	"A": requestActive, "CA": requestRevoked, "CM": requestCompleted, "DC": requestRevoked, "ER": fhir.RequestStatusEnteredInError,
	"HD": requestOnHold, "IP": requestActive, "RP": requestRevoked, "SC": requestActive,
}

var orderControl = map[string]fhir.RequestStatus{ // table 0119 (ORC-1) → ServiceRequest.status
	"NW": requestActive, "CA": requestRevoked, "OC": requestRevoked, "DC": requestRevoked, "OD": requestRevoked, "CR": requestRevoked,
	"HD": requestOnHold, "OH": requestOnHold, "RL": requestActive, "XO": requestActive, "XX": requestActive, "SC": requestActive,
	"SN": requestActive, "NA": requestActive, "RP": requestRevoked, "RO": requestActive, "PA": requestActive,
}

var priorities = map[string]fhir.RequestPriority{
	"S": fhir.RequestPriorityStat, "A": fhir.RequestPriorityAsap, "R": fhir.RequestPriorityRoutine,
	"P": fhir.RequestPriorityUrgent, "T": fhir.RequestPriorityUrgent, "C": fhir.RequestPriorityUrgent,
}

// priority looks up a priority code (table 0027), or nil.
func priority(code string) *fhir.RequestPriority {
	p, ok := priorities[strings.ToUpper(code)]
	if !ok {
		return nil
	}
	return &p
}

// serviceRequest maps one ORC/OBR group to a ServiceRequest and returns it.
// Status comes from ORC-5 when sent, else ORC-1; a cancel (CA) is revoked.
func (m *mapper) serviceRequest(o *order, intent fhir.RequestIntent) *fhir.ServiceRequest {
	placer, filler := m.orderIDs(o)
	id := makeID("ServiceRequest", m.orderKey(o, placer, filler)...)
	sr := &fhir.ServiceRequest{Id: &id, Intent: intent, Subject: *m.subject(), Encounter: m.encounter}
	for _, id := range []*fhir.Identifier{placer, filler} {
		if id != nil {
			sr.Identifier = append(sr.Identifier, *id)
		}
	}
	status, known := fhir.RequestStatus(0), false
	if o.hasORC {
		status, known = orderStatus[strings.ToUpper(fieldText(o.orc, 5))]
		if !known {
			status, known = orderControl[strings.ToUpper(fieldText(o.orc, 1))]
		}
		sr.AuthoredOn = opt(m.fieldDateTime(o.orc, 9))
		for _, r := range reps(o.orc, 12) {
			if rf := m.practitioner(r); rf != nil {
				sr.Requester = rf
				break
			}
		}
		sr.Priority = priority(comp(o.orc.Field(7).Rep(1), 6))
	}
	if !known && o.hasOBR {
		if s, ok := drStatus[strings.ToUpper(fieldText(o.obr, 25))]; ok && (s == fhir.DiagnosticReportStatusFinal || s == fhir.DiagnosticReportStatusCorrected) {
			status, known = requestCompleted, true
		}
	}
	if !known {
		status = fhir.RequestStatusUnknown
	}
	sr.Status = status
	if len(o.tq1) > 0 && sr.Priority == nil {
		sr.Priority = priority(fieldText(o.tq1[0], 9))
	}
	if o.hasORC {
		sr.BasedOn = m.parentOrder(o.orc.Field(8).Rep(1))
	}
	if sr.BasedOn == nil && o.hasOBR {
		// OBR-29 (parent, EIP) says the same where ORC-8 is not sent.
		sr.BasedOn = m.parentOrder(o.obr.Field(29).Rep(1))
	}
	if o.hasOBR {
		sr.Code = m.cwe(o.obr.Field(4).Rep(1))
		if sr.Requester == nil {
			for _, r := range reps(o.obr, 16) {
				if rf := m.practitioner(r); rf != nil {
					sr.Requester = rf
					break
				}
			}
		}
		if sr.Priority == nil {
			sr.Priority = priority(fieldText(o.obr, 5))
		}
		for _, r := range reps(o.obr, 31) {
			if cc := m.cwe(r); cc != nil {
				sr.ReasonCode = append(sr.ReasonCode, *cc)
			}
		}
	}
	// DG1 in the order group: the IG's OML and ORM maps give the order a
	// Condition as reasonReference.
	for _, dg := range o.dg1 {
		if cid := m.mapCondition(dg); cid != "" {
			sr.ReasonReference = appendRef(sr.ReasonReference, *ref("Condition", cid))
		}
	}
	// NTE after ORC/OBR: the IG's NTE[ServiceRequest] map in OML and ORM.
	// In ORU the IG gives the order's NTE no target (an R4 DiagnosticReport
	// has no note); this filler-order ServiceRequest takes them, as
	// FHIR-Converter's ORU templates do.
	sr.Note = m.notes(o.nte)
	if !m.add("ServiceRequest", id, sr) {
		// A second group with the same order number: keep adding to the
		// ServiceRequest the first one made.
		if prev, ok := m.added("ServiceRequest", id).(*fhir.ServiceRequest); ok {
			prev.Note = append(prev.Note, sr.Note...)
			for _, r := range sr.ReasonReference {
				prev.ReasonReference = appendRef(prev.ReasonReference, r)
			}
			return prev
		}
	}
	return sr
}

// appendRef appends r to refs unless a reference to the same resource is
// there already.
func appendRef(refs []fhir.Reference, r fhir.Reference) []fhir.Reference {
	for _, have := range refs {
		if value(have.Reference) == value(r.Reference) {
			return refs
		}
	}
	return append(refs, r)
}

// parentOrder maps ORC-8 or OBR-29 (parent order, EIP: placer^filler number, each an
// EI in subcomponents) to ServiceRequest.basedOn. As in the IG, the parent
// is referred to by its order number, since its resource id is not known
// here: the placer's number, else the filler's.
func (m *mapper) parentOrder(r hl7v2.Rep) []fhir.Reference {
	for i, typ := range []string{"PLAC", "FILL"} {
		v := sub(r, i+1, 1)
		if v == "" {
			continue
		}
		id := &fhir.Identifier{Value: &v, Type: codeOnly(v20203, typ, "")}
		id.System = opt(m.identifierSystem(sub(r, i+1, 2), sub(r, i+1, 3), sub(r, i+1, 4)))
		return []fhir.Reference{{Type: ptr("ServiceRequest"), Identifier: id}}
	}
	return nil
}
