package v2fhir

import (
	"errors"
	"strings"

	"github.com/shch/fhirgw/mappers/fhirr4"
)

// mapOrders maps ORM^O01 and OML^O21: one ServiceRequest per order group.
func (m *mapper) mapOrders() error {
	if err := m.mapPatient(); err != nil {
		return err
	}
	m.mapEncounter("O01")
	groups := m.orders()
	if len(groups) == 0 {
		return errors.New("no ORC or OBR segment")
	}
	for _, o := range groups {
		m.serviceRequest(o, "order")
	}
	return nil
}

var orderStatus = map[string]string{ // table 0038 (ORC-5) → ServiceRequest.status
	"A": "active", "CA": "revoked", "CM": "completed", "DC": "revoked", "ER": "entered-in-error",
	"HD": "on-hold", "IP": "active", "RP": "revoked", "SC": "active",
}

var orderControl = map[string]string{ // table 0119 (ORC-1) → ServiceRequest.status
	"NW": "active", "CA": "revoked", "OC": "revoked", "DC": "revoked", "OD": "revoked", "CR": "revoked",
	"HD": "on-hold", "OH": "on-hold", "RL": "active", "XO": "active", "XX": "active", "SC": "active",
	"SN": "active", "NA": "active", "RP": "revoked", "RO": "active", "PA": "active",
}

var priorities = map[string]string{"S": "stat", "A": "asap", "R": "routine", "P": "urgent", "T": "urgent", "C": "urgent"}

// serviceRequest maps one ORC/OBR group to a ServiceRequest and returns it.
// Status comes from ORC-5 when sent, else ORC-1; a cancel (CA) is revoked.
func (m *mapper) serviceRequest(o *order, intent string) *fhirr4.ServiceRequest {
	placer, filler := m.orderIDs(o)
	sr := &fhirr4.ServiceRequest{Base: fhirr4.Base{Type: "ServiceRequest"}, Intent: intent, Subject: *m.subject(), Encounter: m.encounter}
	sr.ID = makeID("ServiceRequest", m.orderKey(o, placer, filler)...)
	for _, id := range []*fhirr4.Identifier{placer, filler} {
		if id != nil {
			sr.Identifier = append(sr.Identifier, *id)
		}
	}
	if o.hasORC {
		sr.Status = orderStatus[strings.ToUpper(fieldText(o.orc, 5))]
		if sr.Status == "" {
			sr.Status = orderControl[strings.ToUpper(fieldText(o.orc, 1))]
		}
		sr.AuthoredOn = m.dateTime(fieldText(o.orc, 9))
		for _, r := range reps(o.orc, 12) {
			if rf := m.practitioner(r); rf != nil {
				sr.Requester = rf
				break
			}
		}
		sr.Priority = priorities[strings.ToUpper(comp(o.orc.Field(7).Rep(1), 6))]
	}
	if sr.Status == "" && o.hasOBR {
		if s := drStatus[strings.ToUpper(fieldText(o.obr, 25))]; s == "final" || s == "corrected" {
			sr.Status = "completed"
		}
	}
	if sr.Status == "" {
		sr.Status = "unknown"
	}
	if tq1, ok := m.msg.Segment("TQ1"); ok && sr.Priority == "" {
		sr.Priority = priorities[strings.ToUpper(fieldText(tq1, 9))]
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
		if sr.Priority == "" {
			sr.Priority = priorities[strings.ToUpper(fieldText(o.obr, 5))]
		}
		for _, r := range reps(o.obr, 31) {
			if cc := m.cwe(r); cc != nil {
				sr.ReasonCode = append(sr.ReasonCode, *cc)
			}
		}
	}
	m.add(sr)
	return sr
}
