package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
	"github.com/shch/fhirgw/gateway/fhirjson"
	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/mappers/v2fhir"
)

// maxReplacedBy bounds how many replaced-by links are followed, in case stored
// Patients link in a circle.
const maxReplacedBy = 16

// merged is what the merges of one message did.
type merged struct {
	resources []string // versions written, as a transaction-response reports them
	notes     []string // for the stored reason
	warnings  []v2fhir.Warning
}

// applyMerges carries out the patient merges of a merge message (ADT^A40 and the
// like) in tx, before the rest of its Bundle. Each PID/MRG pair is a transaction of
// its own inside tx, so that a later pair sees what an earlier one did.
func (p *Pipeline) applyMerges(ctx context.Context, tx store.Tx, j *job) (merged, error) {
	var out merged
	if j.result == nil || len(j.result.Merges) == 0 {
		return out, nil
	}
	params := patientReferenceParams()
	base := p.svc.BaseURL()
	for _, mg := range j.result.Merges {
		locs, note, err := p.mergeOne(ctx, tx, j, mg, base, params)
		if err != nil {
			return merged{}, err
		}
		if strings.HasPrefix(note, priorUnknownNote) {
			out.warnings = append(out.warnings, v2fhir.Warning{Segment: "MRG", Sequence: mg.MRG, Field: "MRG-1",
				Code: "PRIOR_UNKNOWN", Text: "prior patient was not known: created from MRG, inactive and replaced by the surviving patient"})
		}
		out.resources = append(out.resources, locs...)
		out.notes = append(out.notes, note)
	}
	return out, nil
}

// mergeOne folds the prior patient of one pair into its survivor: the survivor
// takes the PID's demographics (as any ADT would), the prior patient's identifiers
// and a replaces link; the prior patient becomes inactive with a replaced-by link;
// every resource referring to the prior patient is rewritten to refer to the
// survivor.
func (p *Pipeline) mergeOne(ctx context.Context, tx store.Tx, j *job, mg v2fhir.Merge, base string, params map[string][]string) ([]string, string, error) {
	survivorIDs, err := identifierKeys(mg.Survivor.JSON)
	if err != nil {
		return nil, "", fmt.Errorf("read mapped Patient: %w", err)
	}
	// The survivor's identifiers that find it as matchPatient finds a Patient:
	// trusted systems and the sender's own.
	own := p.cfg.Mapping.SenderSystems(j.msg)
	var trusted []string
	for _, k := range survivorIDs {
		if sys, _, _ := strings.Cut(k, "|"); p.trusted[sys] || slices.Contains(own, sys) {
			trusted = append(trusted, k)
		}
	}
	var priorKeys []string
	for _, id := range mg.Merged {
		priorKeys = append(priorKeys, deref(id.System)+"|"+deref(id.Value))
	}
	direct, err := p.livePatient(ctx, tx, mg.Survivor.ID)
	if err != nil {
		return nil, "", err
	}
	// The prior patient: the Patient with the id v2fhir derives from the MRG
	// identifiers, else the one Patient (besides the survivor) holding one of them.
	prior, err := p.livePatient(ctx, tx, mg.MergedID)
	if err != nil {
		return nil, "", err
	}
	// The identifier locks matchPatient takes (after reading the Patient by id, as
	// here), in one order, so that a message registering one of these identifiers
	// waits for the merge.
	locks := slices.Concat(trusted, priorKeys)
	sort.Strings(locks)
	for _, k := range slices.Compact(locks) {
		if err := tx.Lock(ctx, "ingest:identifier:"+k); err != nil {
			return nil, "", fmt.Errorf("lock identifier: %w", err)
		}
	}
	priorID := mg.MergedID
	unknown := false
	if prior == nil {
		var cands []string
		for _, k := range priorKeys {
			ids, err := p.patientsWith(ctx, tx, k)
			if err != nil {
				return nil, "", err
			}
			for _, id := range ids {
				if (direct == nil || id != direct.ID) && !slices.Contains(cands, id) {
					cands = append(cands, id)
				}
			}
		}
		switch len(cands) {
		case 0:
			// A merge of a record this gateway never saw (the sender's duplicate
			// registration did not reach us): apply it anyway, as PIX managers do,
			// with the prior Patient created from the MRG identifiers, inactive and
			// replaced-by the survivor, so that a late message for it (same derived
			// id) lands on the survivor. AA with a warning.
			unknown = true
			stub, err := priorStub(mg)
			if err != nil {
				return nil, "", err
			}
			prior = &store.Resource{Type: "Patient", ID: priorID, Body: stub}
		case 1:
			priorID = cands[0]
			if prior, err = p.livePatient(ctx, tx, priorID); err != nil {
				return nil, "", err
			}
		default:
			return nil, "", mergeFailure(mg.MRG, 1, codeDuplicateKey, "prior patient of MRG %d matches %d patients", mg.MRG, len(cands))
		}
	}

	// The survivor: the Patient the PID names, as matchPatient finds it, except the
	// prior patient, which may share an identifier (a duplicate registration
	// with the same ID card is what merges are for).
	var cands []string
	if direct != nil {
		cands = append(cands, direct.ID)
	}
	for _, k := range trusted {
		ids, err := p.patientsWith(ctx, tx, k)
		if err != nil {
			return nil, "", err
		}
		cands = append(cands, ids...)
	}
	var found []string
	for _, id := range cands {
		if id == priorID {
			continue
		}
		to, err := p.survivorOf(ctx, tx, id)
		if err != nil {
			return nil, "", err
		}
		if to == priorID {
			return nil, "", mergeFailure(mg.MRG, 1, codeInternalError, "surviving patient of MRG %d was merged into its prior patient before", mg.MRG)
		}
		if !slices.Contains(found, to) {
			found = append(found, to)
		}
	}
	if len(found) > 1 {
		r := fmt.Sprintf("surviving patient of MRG %d matches %d patients", mg.MRG, len(found))
		return nil, "", &failure{ack: "AE", reason: r, err: errDetail{Segment: "PID", Sequence: mg.MRG, Field: 3,
			Code: codeDuplicateKey, Severity: "E", Text: r}}
	}
	target := mg.Survivor.ID
	if len(found) == 1 {
		target = found[0]
	}
	if to := replacedBy(prior.Body); to != "" && to != target {
		return nil, "", mergeFailure(mg.MRG, 1, codeInternalError, "prior patient of MRG %d was already merged into another patient", mg.MRG)
	}

	at := j.rec.EventTime
	var notes []string
	survivor, stale, err := p.survivorBody(ctx, tx, mg, target, at)
	if err != nil {
		return nil, "", err
	}
	if stale {
		notes = append(notes, "stale: older than Patient/"+target+", demographics kept")
	}
	if survivor, err = addIdentifiers(survivor, prior.Body); err != nil {
		return nil, "", err
	}
	if survivor, err = addLink(survivor, "Patient/"+priorID, "replaces"); err != nil {
		return nil, "", err
	}
	old, err := fhirjson.ParseObject(prior.Body)
	if err != nil {
		return nil, "", fmt.Errorf("read prior Patient: %w", err)
	}
	retired, err := addLink(old.Set("active", json.RawMessage("false")), "Patient/"+target, "replaced-by")
	if err != nil {
		return nil, "", err
	}
	entries := []interaction.TxEntry{
		{Resource: survivor.Set("id", fhirjson.Quote(target)).Bytes(), Method: "PUT", URL: "Patient/" + target},
		{Resource: retired.Bytes(), Method: "PUT", URL: "Patient/" + priorID},
	}
	moved, err := p.moveReferences(ctx, tx, priorID, target, base, params)
	if err != nil {
		return nil, "", err
	}
	locs, err := p.applyEntries(ctx, tx, nil, append(entries, moved...))
	if err != nil {
		return nil, "", err
	}
	keys := []string{"Patient/" + priorID}
	if !stale {
		keys = append(keys, "Patient/"+target)
	}
	if err := tx.SetEventTimes(ctx, keys, at); err != nil {
		return nil, "", fmt.Errorf("set event times: %w", err)
	}
	notes = append([]string{fmt.Sprintf("merged Patient/%s into Patient/%s, %d resources moved", priorID, target, len(moved))}, notes...)
	if unknown {
		notes = append([]string{priorUnknownNote}, notes...)
	}
	return locs, strings.Join(notes, "; "), nil
}

// priorUnknownNote starts the stored note of a merge whose prior patient was not
// stored before.
const priorUnknownNote = "prior patient not known, created from MRG"

// priorStub is the prior Patient of a merge that was not stored: its MRG identifiers.
func priorStub(mg v2fhir.Merge) ([]byte, error) {
	var ids []fhir.Identifier
	for _, id := range mg.Merged {
		if deref(id.Value) != "" {
			ids = append(ids, id)
		}
	}
	b, err := json.Marshal(struct {
		ResourceType string            `json:"resourceType"`
		ID           string            `json:"id"`
		Identifier   []fhir.Identifier `json:"identifier,omitempty"`
	}{"Patient", mg.MergedID, ids})
	if err != nil {
		return nil, fmt.Errorf("encode prior Patient: %w", err)
	}
	return b, nil
}

func mergeFailure(mrg, field, code int, format string, args ...any) *failure {
	r := fmt.Sprintf(format, args...)
	return &failure{ack: "AE", reason: r, err: errDetail{Segment: "MRG", Sequence: mrg, Field: field,
		Code: code, Severity: "E", Text: r}}
}

// survivorBody is the survivor as the PID describes it, merged into the stored one
// as matchPatient merges a message's Patient; when the stored one already reflects a
// newer event it is kept as it is (stale). The mapper's link is left out: the pipeline
// links the prior patient it actually found.
func (p *Pipeline) survivorBody(ctx context.Context, tx store.Tx, mg v2fhir.Merge, target string, at time.Time) (fhirjson.Object, bool, error) {
	in, err := fhirjson.ParseObject(mg.Survivor.JSON)
	if err != nil {
		return nil, false, fmt.Errorf("read mapped Patient: %w", err)
	}
	in = in.Delete("link")
	incoming := in.Bytes()
	cur, err := p.livePatient(ctx, tx, target)
	if err != nil {
		return nil, false, err
	}
	if cur == nil {
		return in, false, nil
	}
	wm, err := tx.EventTime(ctx, "Patient/"+target)
	if err != nil {
		return nil, false, fmt.Errorf("event time: %w", err)
	}
	body := cur.Body
	stale := !at.IsZero() && wm.After(at)
	if !stale {
		if body, err = mergePatient(cur.Body, incoming); err != nil {
			return nil, false, err
		}
	}
	obj, err := fhirjson.ParseObject(body)
	if err != nil {
		return nil, false, fmt.Errorf("read stored Patient: %w", err)
	}
	return obj, stale, nil
}

// moveReferences returns an update for every resource that refers to Patient/from,
// rewritten to refer to Patient/to. Resources are found through the reference index
// (every reference parameter that can point at a Patient, and the Patient
// compartment's), then read again under lock and rewritten as stored, so that
// nothing else in them changes. base is this server's FHIR base, "" when none is
// known.
//
// Every reference to the prior patient in a resource found is moved, in whatever
// element (movedReference says which forms). References that no search parameter
// covers (Condition.recorder, Goal.expressedBy, MedicationRequest.reportedReference,
// Account.guarantor.party, Task.restriction.recipient, Annotation.authorReference,
// extensions' valueReference) do not make a resource found, though: one whose only
// reference to the prior patient is there keeps it, and a reader follows the prior
// Patient's replaced-by link. Finding those would take an index of every reference,
// not a scan of the store per merge.
func (p *Pipeline) moveReferences(ctx context.Context, tx store.Tx, from, to, base string, params map[string][]string) ([]interaction.TxEntry, error) {
	var keys []string
	collect := func(q store.Query) error {
		for {
			page, err := tx.Search(ctx, q)
			if err != nil {
				return err
			}
			for _, r := range page.Resources {
				if r.Type == "Patient" && (r.ID == from || r.ID == to) || auditRecord(r.Type) {
					continue
				}
				keys = append(keys, r.Type+"/"+r.ID)
			}
			if !page.More || len(page.Resources) == 0 {
				return nil
			}
			last := page.Resources[len(page.Resources)-1]
			q.After = &store.Cursor{LastUpdated: last.LastUpdated, ID: last.ID, Type: last.Type}
		}
	}
	// References are indexed by target type and id whether written relative,
	// versioned or absolute on this server's base (index.Extractor.LocalBase).
	err := collect(store.Query{Count: 200, Where: []store.Clause{{Compartment: &store.Compartment{Type: "Patient", ID: from, Params: params}}}})
	if err != nil {
		return nil, fmt.Errorf("search resources referring to the prior Patient: %w", err)
	}
	sort.Strings(keys) // one lock order
	keys = slices.Compact(keys)
	var out []interaction.TxEntry
	for _, k := range keys {
		typ, id, _ := strings.Cut(k, "/")
		cur, err := tx.Read(ctx, typ, id)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", typ, err)
		}
		if cur.Deleted {
			continue
		}
		changed := false
		body, err := fhirjson.RewriteReferences(cur.Body, func(ref string) (string, bool) {
			r, ok := movedReference(ref, base, from, to)
			changed = changed || ok
			return r, ok
		})
		if err != nil {
			return nil, fmt.Errorf("rewrite references of %s: %w", typ, err)
		}
		if changed {
			out = append(out, interaction.TxEntry{Resource: body, Method: "PUT", URL: k})
		}
	}
	return out, nil
}

// auditRecord reports whether resources of type typ record what happened to a
// resource: they keep naming the prior patient, as the record of what was acted on
// (the FHIR Patient $merge operation moves clinical references, not the audit trail).
func auditRecord(typ string) bool { return typ == "Provenance" || typ == "AuditEvent" }

// movedReference returns ref made to point at Patient/to when it points at
// Patient/from: relative, or absolute on base, with or without a version. The form
// (relative or absolute) is kept; the version is dropped: it numbers a state of the
// prior patient's record, and the survivor's version of that number is another
// patient's state, while the survivor's current version would pin a state the
// writer never saw. Version-less is what the merge means: "this patient, as now".
func movedReference(ref, base, from, to string) (string, bool) {
	prefix := ""
	if base != "" {
		if rest, ok := strings.CutPrefix(ref, base+"/"); ok {
			prefix, ref = base+"/", rest
		}
	}
	rest, ok := strings.CutPrefix(ref, "Patient/"+from)
	if !ok {
		return "", false
	}
	if rest != "" {
		v, ok := strings.CutPrefix(rest, "/_history/")
		if !ok || v == "" || strings.Contains(v, "/") {
			return "", false // another Patient (a longer id) or not a reference
		}
	}
	return prefix + "Patient/" + to, true
}

// patientReferenceParams lists, per resource type, the reference parameters that
// can point at a Patient: those of the Patient compartment and every other one whose
// targets include Patient (Task.for, Provenance.target, ...).
func patientReferenceParams() map[string][]string {
	reg := searchparam.Official()
	params := searchparam.Compartment("Patient")
	for _, t := range fhirschema.ResourceTypes() {
		for _, d := range reg.ForType(t) {
			if d.Type == "reference" && (len(d.Target) == 0 || slices.Contains(d.Target, "Patient")) &&
				!slices.Contains(params[t], d.Code) {
				params[t] = append(params[t], d.Code)
			}
		}
	}
	return params
}

// livePatient reads Patient/id, locking it; nil when it does not exist or is deleted.
func (p *Pipeline) livePatient(ctx context.Context, tx store.Tx, id string) (*store.Resource, error) {
	r, err := tx.Read(ctx, "Patient", id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read Patient: %w", err)
	case r.Deleted:
		return nil, nil
	}
	return &r, nil
}

// patientsWith returns the ids of the Patients holding identifier "system|value".
func (p *Pipeline) patientsWith(ctx context.Context, tx store.Tx, key string) ([]string, error) {
	sys, val, _ := strings.Cut(key, "|")
	page, err := tx.Search(ctx, store.Query{Type: "Patient", Count: 10, Where: []store.Clause{{
		Param: "identifier", Kind: store.KindToken, Tokens: []store.TokenMatch{{System: sys, Code: val}},
	}}})
	if err != nil {
		return nil, fmt.Errorf("search Patient by identifier: %w", err)
	}
	ids := make([]string, 0, len(page.Resources))
	for _, r := range page.Resources {
		ids = append(ids, r.ID)
	}
	return ids, nil
}

// survivorOf follows replaced-by links from Patient/id to the Patient now in use.
func (p *Pipeline) survivorOf(ctx context.Context, tx store.Tx, id string) (string, error) {
	for range maxReplacedBy {
		r, err := p.livePatient(ctx, tx, id)
		if err != nil || r == nil {
			return id, err
		}
		to := replacedBy(r.Body)
		if to == "" {
			return id, nil
		}
		id = to
	}
	return id, nil
}

// survivors maps matched Patient ids to the Patients now in use (following
// replaced-by links left by merges), without repeats, in order. matchPatient uses it
// so that a message naming a merged Patient lands on its survivor.
func (p *Pipeline) survivors(ctx context.Context, tx store.Tx, ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		to, err := p.survivorOf(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, to) {
			out = append(out, to)
		}
	}
	return out, nil
}

type patientLink struct {
	Other struct {
		Reference string `json:"reference"`
	} `json:"other"`
	Type string `json:"type"`
}

// replacedBy returns the id of the Patient a stored Patient's replaced-by link
// names, or "".
func replacedBy(body []byte) string {
	var p struct {
		Link []patientLink `json:"link"`
	}
	if json.Unmarshal(body, &p) != nil {
		return ""
	}
	for _, l := range p.Link {
		if id, ok := strings.CutPrefix(l.Other.Reference, "Patient/"); ok && l.Type == "replaced-by" && id != "" {
			return id
		}
	}
	return ""
}

// addLink appends link {other: ref, type: typ} unless the Patient has it; the
// links it has are kept as written.
func addLink(obj fhirjson.Object, ref, typ string) (fhirjson.Object, error) {
	var links []json.RawMessage
	if raw, ok := obj.Get("link"); ok {
		if err := json.Unmarshal(raw, &links); err != nil {
			return nil, fmt.Errorf("read Patient.link: %w", err)
		}
	}
	for _, raw := range links {
		var l patientLink
		if json.Unmarshal(raw, &l) == nil && l.Type == typ && l.Other.Reference == ref {
			return obj, nil
		}
	}
	l := patientLink{Type: typ}
	l.Other.Reference = ref
	b, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("encode Patient.link: %w", err)
	}
	out, err := json.Marshal(append(links, b))
	if err != nil {
		return nil, fmt.Errorf("encode Patient.link: %w", err)
	}
	return obj.Set("link", out), nil
}

// addIdentifiers gives obj the identifiers of the Patient body it does not have yet.
func addIdentifiers(obj fhirjson.Object, from []byte) (fhirjson.Object, error) {
	src, err := fhirjson.ParseObject(from)
	if err != nil {
		return nil, fmt.Errorf("read prior Patient: %w", err)
	}
	raw, ok := src.Get("identifier")
	if !ok {
		return obj, nil
	}
	ids, err := unionIdentifiers(obj, raw)
	if err != nil {
		return nil, err
	}
	return obj.Set("identifier", ids), nil
}

// identifierKeys lists a Patient's identifiers as "system|value".
func identifierKeys(body []byte) ([]string, error) {
	var p struct {
		Identifier []struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"identifier"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, err
	}
	var out []string
	for _, id := range p.Identifier {
		if id.Value != "" {
			out = append(out, id.System+"|"+id.Value)
		}
	}
	return out, nil
}

// deref is *s, "" for nil (the samply models' optional strings).
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
