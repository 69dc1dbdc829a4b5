package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shch/fhirgw/gateway/fhirjson"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/terminology"
	"github.com/shch/fhirgw/mappers/v2fhir"
)

// Local codes (a hospital's own lab test or department codes) are translated to
// standard codes through ConceptMap resources stored in the server, chosen per sender
// by Config.ConceptMaps, as HAPI FHIR and the v2-to-FHIR IG do it: every Coding of
// the mapped resources whose system is the source of a group of a chosen map gets
// the map's targets added next to it in the same CodeableConcept; the local coding
// stays. Only targets whose equivalence says they stand for the local concept
// (equivalent, equal, wider, narrower, relatedto) are added, and unmapped rules
// (provided, fixed, other-map) apply. A local code with no such target is left alone
// and reported as an ERR warning (CODE_UNMAPPED), so that integrators see the gaps
// in their maps.
//
// The maps are read in the message's own transaction, so a ConceptMap written
// through the REST API by any gateway process is used by the next message; the
// terminology.Loader only caches the parsed form of stored versions, which never
// change. A chosen map missing from the store is a configuration error: the message
// is answered AE and waits in the error queue for a replay once the map is there.

// codeUnmapped is the ERR-5 code of a local code without translation.
const codeUnmapped = "CODE_UNMAPPED"

// translatable lists the equivalences whose target is added to a CodeableConcept.
var translatable = map[string]bool{
	terminology.Equivalent: true, terminology.Equal: true, terminology.Wider: true,
	terminology.Narrower: true, terminology.RelatedTo: true,
}

// codeFields says where in the message a translated element came from, for the
// ERR location of warnings: only elements whose source field is unambiguous.
var codeFields = map[string]string{
	"Observation.code":                           "OBX-3",
	"Observation.valueCodeableConcept":           "OBX-5",
	"Observation.component.valueCodeableConcept": "OBX-5",
	"DiagnosticReport.code":                      "OBR-4",
	"Specimen.type":                              "SPM-4",
	"Condition.code":                             "DG1-3",
	"AllergyIntolerance.code":                    "AL1-3",
	"Immunization.vaccineCode":                   "RXA-5",
	"Procedure.code":                             "PR1-3",
}

// senderKey is the key of Config.ConceptMaps (and v2fhir's Senders): MSH-4.1, else
// MSH-3.1.
func senderKey(j *job) string {
	if j.msg == nil {
		return ""
	}
	if s := j.msg.Get("MSH-4.1"); s != "" {
		return s
	}
	return j.msg.Get("MSH-3.1")
}

// translateCodes adds the translations of local codes to the Bundle's resources. It
// runs inside the apply transaction and may run again when that is retried, so it
// sets the job's translation warnings afresh each time.
func (p *Pipeline) translateCodes(ctx context.Context, tx store.Tx, j *job, entries []interaction.TxEntry) error {
	if !j.warningsSaved {
		j.mapWarnings, j.warningsSaved = slices.Clip(j.result.Warnings), true
	}
	j.result.Warnings = j.mapWarnings
	refs := p.cfg.ConceptMaps[senderKey(j)]
	if len(refs) == 0 {
		return nil
	}
	tr := &terminology.Translator{Resolve: p.terms.Resolver(tx)}
	var canon []string
	sources := map[string]bool{}
	for _, ref := range refs {
		m, err := p.terms.ByCanonical(ctx, tx, ref)
		if errors.Is(err, terminology.ErrNotFound) {
			r := "ConceptMap " + ref + " configured for sender " + senderKey(j) + " is not in the store"
			return &failure{ack: "AE", reason: r, err: errDetail{Code: codeInternalError, Severity: "E", Text: r}}
		}
		if err != nil {
			return fmt.Errorf("load ConceptMap: %w", err)
		}
		tr.Maps = append(tr.Maps, m)
		canon = append(canon, m.Canonical())
		for _, g := range m.Groups {
			if g.Source != "" {
				sources[g.Source] = true
			}
		}
	}
	// Cheap test before walking a resource: its JSON names a source system.
	var needles [][]byte
	for s := range sources {
		q, _ := json.Marshal(s) // as the mapper wrote it, escapes included
		needles = append(needles, q)
	}
	// The segment each resource was mapped from locates its warnings (ERR-2.2).
	from := map[string]v2fhir.Entry{}
	for _, r := range j.result.Resources {
		if r.Segment != "" {
			from["urn:uuid:"+r.ID] = r
		}
	}
	w := &codeWalker{ctx: ctx, tr: tr, sources: sources, maps: strings.Join(canon, ", "), seen: map[string]bool{}}
	for i := range entries {
		e := &entries[i]
		if len(e.Resource) == 0 || !slices.ContainsFunc(needles, func(n []byte) bool { return bytes.Contains(e.Resource, n) }) {
			continue
		}
		src := from[e.FullURL]
		w.segment, w.sequence = src.Segment, src.Sequence
		typ, _ := entryTarget(*e)
		out, changed, err := w.value(e.Resource, typ)
		if err != nil {
			var f *failure
			if errors.As(err, &f) {
				return f
			}
			return fmt.Errorf("translate codes of %s: %w", typ, err)
		}
		if changed {
			e.Resource = out
		}
	}
	j.result.Warnings = append(slices.Clip(j.mapWarnings), w.warnings...)
	return nil
}

// codeWalker rewrites resource JSON, adding translations to every CodeableConcept.
type codeWalker struct {
	ctx      context.Context
	tr       *terminology.Translator
	sources  map[string]bool
	maps     string // the chosen maps, for warning texts
	seen     map[string]bool
	warnings []v2fhir.Warning
	// segment and sequence locate the segment the resource being walked was
	// mapped from; empty when not known.
	segment  string
	sequence int
}

// value walks one JSON value at path (Type.element.element, arrays transparent) and
// returns it rewritten when something was added. Member order and number literals
// are kept.
func (w *codeWalker) value(raw json.RawMessage, path string) (json.RawMessage, bool, error) {
	switch t := bytes.TrimSpace(raw); {
	case len(t) > 0 && t[0] == '{':
		obj, err := fhirjson.ParseObject(t)
		if err != nil {
			return nil, false, err
		}
		changed := false
		for i, m := range obj {
			var out json.RawMessage
			var ch bool
			if m.Key == "coding" {
				out, ch, err = w.codings(m.Value, path)
			} else {
				out, ch, err = w.value(m.Value, path+"."+m.Key)
			}
			if err != nil {
				return nil, false, err
			}
			if ch {
				obj[i].Value, changed = out, true
			}
		}
		if !changed {
			return raw, false, nil
		}
		return obj.Bytes(), true, nil
	case len(t) > 0 && t[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(t, &items); err != nil {
			return nil, false, err
		}
		changed := false
		for i, it := range items {
			out, ch, err := w.value(it, path)
			if err != nil {
				return nil, false, err
			}
			if ch {
				items[i], changed = out, true
			}
		}
		if !changed {
			return raw, false, nil
		}
		out, err := json.Marshal(items)
		return out, true, err
	}
	return raw, false, nil
}

// codings translates the codings of one CodeableConcept (at path) and inserts each
// new target right after the coding it translates.
func (w *codeWalker) codings(raw json.RawMessage, path string) (json.RawMessage, bool, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return raw, false, nil // not an array: not a CodeableConcept's coding
	}
	type coding struct {
		System string `json:"system"`
		Code   string `json:"code"`
	}
	have := map[string]bool{}
	parsed := make([]coding, len(items))
	for i, it := range items {
		_ = json.Unmarshal(it, &parsed[i]) // a non-object coding is left as it is
		have[parsed[i].System+"|"+parsed[i].Code] = true
	}
	var out []json.RawMessage
	changed := false
	for i, it := range items {
		out = append(out, it)
		c := parsed[i]
		if !w.sources[c.System] || c.Code == "" {
			continue
		}
		ms, err := w.tr.Translate(w.ctx, c.System, c.Code, "")
		if errors.Is(err, terminology.ErrNotFound) {
			r := "cannot translate codes: " + strings.TrimPrefix(err.Error(), "terminology: ")
			return nil, false, &failure{ack: "AE", reason: r, err: errDetail{Code: codeInternalError, Severity: "E", Text: r}}
		}
		if err != nil {
			return nil, false, err
		}
		added := 0
		for _, m := range ms {
			if !translatable[m.Equivalence] || m.Concept.System == "" || m.Concept.Code == "" {
				continue
			}
			added++ // translated, even when the target is already there
			k := m.Concept.System + "|" + m.Concept.Code
			if have[k] {
				continue
			}
			have[k] = true
			b, err := json.Marshal(m.Concept)
			if err != nil {
				return nil, false, err
			}
			out, changed = append(out, b), true
		}
		if added == 0 {
			w.warn(path, c.System, c.Code)
		}
	}
	if !changed {
		return raw, false, nil
	}
	b, err := json.Marshal(out)
	return b, true, err
}

// warn reports a local code without translation once per element, code and
// segment: located like a mapping warning, at the field and, when the resource
// came from a segment with that field's ID, at that segment's occurrence.
func (w *codeWalker) warn(path, system, code string) {
	wn := v2fhir.Warning{Code: codeUnmapped,
		Text: fmt.Sprintf("%s code %s|%s has no translation in ConceptMap %s", path, system, code, w.maps)}
	if f, ok := codeFields[path]; ok {
		wn.Segment, wn.Field = f[:3], f
		if w.segment == wn.Segment {
			wn.Sequence = w.sequence
		}
	}
	k := fmt.Sprint(path, "\x00", system, "\x00", code, "\x00", wn.Sequence)
	if w.seen[k] {
		return
	}
	w.seen[k] = true
	w.warnings = append(w.warnings, wn)
}
