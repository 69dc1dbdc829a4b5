package v2fhir

import (
	"encoding/json"
	"fmt"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// Merge is one PID/MRG pair of a merge message: the Patient of MRG (the prior,
// merged record) is to be folded into the Patient of PID (the survivor). The
// mapper cannot do the merge itself, since it needs the stored records: the
// merged Patient's identifiers and every resource that refers to it. So a
// merge's Patients are not in Result.Entries; the receiver (gateway/ingest)
// applies Merges in the transaction that stores the message, following FHIR
// Patient.link: the survivor gets link {other: merged, type: replaces}, the
// merged Patient active=false and link {other: survivor, type: replaced-by},
// and references to the merged Patient move to the survivor.
type Merge struct {
	// Survivor is the Patient mapped from PID, with the link that replaces
	// MergedID. Its id derives from its identifiers as for any other message.
	Survivor Entry
	// MergedID is the id v2fhir derives from the prior patient's identifiers,
	// the id the merged Patient has if v2fhir created it.
	MergedID string
	// Merged are the prior patient's identifiers: MRG-1, MRG-2 and MRG-4.
	Merged []fhir.Identifier
	// MRG is the 1-based occurrence of the MRG segment in the message, for error
	// locations.
	MRG int
}

// mergeTriggers are the ADT events that merge two patient records: A40 (merge
// patient, patient identifier list) and its forerunners A34 (patient id only),
// A36 (patient id and account number) and A39 (merge person, patient id). A35
// merges account numbers only and is not a Patient merge.
var mergeTriggers = map[string]bool{"A34": true, "A36": true, "A39": true, "A40": true}

// pendingMerge is a Merge before the Patients are marshalled.
type pendingMerge struct {
	survivor *fhir.Patient
	mergedID string
	merged   []fhir.Identifier
	mrg      int
}

// mapMerge maps the PID/MRG pairs of a merge message: each PID starts a pair
// whose MRG follows it (PD1 and PV1 may come between or after).
func (m *mapper) mapMerge() error {
	var pid *hl7v2.Segment
	nMRG := 0
	for _, s := range m.msg.Segments() {
		switch s.Name() {
		case "PID":
			if pid != nil {
				return missingSegment("MRG", nMRG+1, "PID without MRG")
			}
			s := s
			pid = &s
		case "MRG":
			nMRG++
			if pid == nil {
				return m.segmentError(s, 0, CodeSegmentSequence, "MRG %d has no PID before it", nMRG)
			}
			if err := m.mergePair(*pid, s, nMRG); err != nil {
				return err
			}
			pid = nil
		}
	}
	switch {
	case pid != nil:
		return missingSegment("MRG", nMRG+1, "PID without MRG")
	case nMRG == 0:
		return missingSegment("PID", 1, "no PID and MRG segments")
	}
	return nil
}

func (m *mapper) mergePair(pid, mrg hl7v2.Segment, n int) error {
	p, err := m.patientFrom(pid)
	if err != nil {
		return err
	}
	for _, r := range m.res[1:] {
		// The same survivor in two pairs: one Patient resource.
		if q, ok := r.Resource.(*fhir.Patient); ok && r.ID == *p.Id {
			m.res, p = m.res[1:], q
			break
		}
	}
	var ids []fhir.Identifier
	var primary, card *fhir.Identifier
	for _, f := range []int{1, 2, 4} {
		for _, r := range reps(mrg, f) {
			id, isCard := m.cx(r)
			if id == nil || hasIdentifier(ids, *id) {
				continue
			}
			ids = append(ids, *id)
			switch {
			case isCard && card == nil:
				card = id
			case !isCard && f == 1 && primary == nil:
				primary = id
			}
		}
	}
	// The prior patient's id is derived as mapPatient derives a Patient's id, so
	// that it names the Patient an earlier message with these identifiers made.
	key := primary
	if key == nil {
		key = card
	}
	if key == nil && len(ids) > 0 {
		key = &ids[0]
	}
	if key == nil {
		return m.segmentError(mrg, 1, CodeRequiredFieldMissing, "MRG %d has no prior patient identifier (MRG-1, MRG-2, MRG-4)", n)
	}
	mergedID := makeID("Patient", value(key.System), value(key.Value))
	if mergedID == *p.Id {
		// Table 0357 has no code for a value that contradicts another; 207
		// (application error) with MRG-1 located is the nearest.
		return m.segmentError(mrg, 1, CodeInternalError, "MRG %d names the patient of its PID", n)
	}
	link := fhir.PatientLink{Other: *ref("Patient", mergedID), Type: fhir.LinkTypeReplaces}
	if !hasLink(p.Link, link) {
		p.Link = append(p.Link, link)
	}
	m.merges = append(m.merges, pendingMerge{survivor: p, mergedID: mergedID, merged: ids, mrg: n})
	return nil
}

func hasIdentifier(ids []fhir.Identifier, id fhir.Identifier) bool {
	for _, have := range ids {
		if sameIdentifier(have, id) {
			return true
		}
	}
	return false
}

func hasLink(links []fhir.PatientLink, l fhir.PatientLink) bool {
	for _, have := range links {
		if have.Type == l.Type && value(have.Other.Reference) == value(l.Other.Reference) {
			return true
		}
	}
	return false
}

// mergeResults marshals the merges. It runs after every pair is mapped, since a
// survivor named twice carries the links of both pairs.
func (m *mapper) mergeResults() ([]Merge, error) {
	var out []Merge
	for _, pm := range m.merges {
		b, err := json.Marshal(pm.survivor)
		if err != nil {
			return nil, fmt.Errorf("marshal Patient: %w", err)
		}
		out = append(out, Merge{
			Survivor: Entry{Type: "Patient", ID: *pm.survivor.Id, Resource: pm.survivor, JSON: b},
			MergedID: pm.mergedID, Merged: pm.merged, MRG: pm.mrg,
		})
	}
	return out, nil
}
