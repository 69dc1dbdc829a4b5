package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/shch/fhirgw/gateway/fhirjson"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/store"
)

// entryTarget returns the resource type and id an entry writes; id is empty for
// a conditional entry.
func entryTarget(e interaction.TxEntry) (typ, id string) {
	if t, _, ok := strings.Cut(e.URL, "?"); ok {
		return t, ""
	}
	typ, id, _ = strings.Cut(e.URL, "/")
	return typ, id
}

// plan is the transaction to apply, after patient matching and stale entries dropped.
type plan struct {
	entries []interaction.TxEntry
	keys    []string // resource keys whose watermark the message advances
	notes   []string // for the stored reason
}

// prepare matches the message's Patient and drops stale entries and those that would
// undo a referral's answer. A *failure means the message cannot be applied as it is.
func (p *Pipeline) prepare(ctx context.Context, tx store.Tx, j *job) (plan, error) {
	pl := plan{entries: make([]interaction.TxEntry, len(j.result.Entries))}
	for i, e := range j.result.Entries {
		// Later steps replace entries' resources, never edit them in place, so
		// the mapper's bytes can be shared.
		pl.entries[i] = interaction.TxEntry(e)
	}
	if err := p.matchPatient(ctx, tx, pl.entries, p.cfg.Mapping.SenderSystems(j.msg)); err != nil {
		return plan{}, err
	}
	if err := p.dropStale(ctx, tx, j, &pl); err != nil {
		return plan{}, err
	}
	if err := p.keepReferralState(ctx, tx, j, &pl); err != nil {
		return plan{}, err
	}
	return pl, nil
}

// matchPatient finds the stored Patient the message's Patient is, rewrites the Bundle
// to write to it, and merges the message's Patient into it. own are the identifier
// systems of the message's sender (v2fhir.Config.SenderSystems).
func (p *Pipeline) matchPatient(ctx context.Context, tx store.Tx, entries []interaction.TxEntry, own []string) error {
	pi := slices.IndexFunc(entries, func(e interaction.TxEntry) bool { t, _ := entryTarget(e); return t == "Patient" })
	if pi < 0 {
		return nil
	}
	e := &entries[pi]
	mappedID := strings.TrimPrefix(e.FullURL, "urn:uuid:")
	if _, id := entryTarget(*e); id != "" {
		mappedID = id
	}
	var mapped struct {
		Identifier []struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"identifier"`
	}
	if err := json.Unmarshal(e.Resource, &mapped); err != nil {
		return fmt.Errorf("read mapped Patient: %w", err)
	}
	keys := map[string]bool{}
	for _, id := range mapped.Identifier {
		// A trusted identifier names one person whoever sends it. One of the sender's
		// own systems was assigned by this sender, so the Patient carrying it is the
		// one the sender means, even when another sender's message created it and the
		// identifier was added when this sender's earlier message landed on it.
		if id.Value != "" && (p.trusted[id.System] || slices.Contains(own, id.System)) {
			keys[id.System+"|"+id.Value] = true
		}
	}
	if t, q, ok := strings.Cut(e.URL, "?"); ok && t == "Patient" {
		// v2fhir's conditional mode names the identifier the Patient is known by.
		v, err := url.ParseQuery(q)
		if err != nil {
			return fmt.Errorf("read conditional Patient url: %w", err)
		}
		for _, s := range v["identifier"] {
			keys[s] = true
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted) // one lock order for every message
	matches := map[string]bool{}
	var order []string
	found := func(id string) {
		if !matches[id] {
			matches[id] = true
			order = append(order, id)
		}
	}
	cur, err := tx.Read(ctx, "Patient", mappedID)
	switch {
	case err == nil && !cur.Deleted:
		found(mappedID)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("read Patient: %w", err)
	}
	curFound := err == nil
	for _, k := range sorted {
		// Two senders registering one ID card (or one sender one MRN) at once must not
		// both create a Patient.
		if err := tx.Lock(ctx, "ingest:identifier:"+k); err != nil {
			return fmt.Errorf("lock identifier: %w", err)
		}
		sys, val, _ := strings.Cut(k, "|")
		page, err := tx.Search(ctx, store.Query{Type: "Patient", Count: 3, Where: []store.Clause{{
			Param: "identifier", Kind: store.KindToken, Tokens: []store.TokenMatch{{System: sys, Code: val}},
		}}})
		if err != nil {
			return fmt.Errorf("search Patient by identifier: %w", err)
		}
		for _, r := range page.Resources {
			found(r.ID)
		}
	}
	// A merged Patient stands for its survivor (merge.go).
	if order, err = p.survivors(ctx, tx, order); err != nil {
		return err
	}
	if len(order) > 1 {
		r := fmt.Sprintf("message matches %d patients", len(order))
		return &failure{ack: "AE", reason: r, err: errDetail{Segment: "PID", Sequence: 1, Field: 3,
			Code: codeDuplicateKey, Severity: "E", Text: r}}
	}
	target := mappedID
	if len(order) == 1 {
		target = order[0]
	}
	body := e.Resource
	if len(order) == 1 {
		existing := cur
		if target != mappedID || !curFound {
			if existing, err = tx.Read(ctx, "Patient", target); err != nil {
				return fmt.Errorf("read matched Patient: %w", err)
			}
		}
		if body, err = mergePatient(existing.Body, e.Resource); err != nil {
			return err
		}
	}
	obj, err := fhirjson.ParseObject(body)
	if err != nil {
		return fmt.Errorf("read mapped Patient: %w", err)
	}
	e.Resource = obj.Set("id", fhirjson.Quote(target)).Bytes()
	e.Method, e.URL = "PUT", "Patient/"+target
	if target == mappedID {
		return nil
	}
	// Other entries refer to the Patient by its fullUrl (resolved by the Service to
	// the entry's new target) or literally by the mapped id.
	for i := range entries {
		if i == pi {
			continue
		}
		out, err := fhirjson.RewriteReferences(entries[i].Resource, func(ref string) (string, bool) {
			if ref == "Patient/"+mappedID {
				return "Patient/" + target, true
			}
			return "", false
		})
		if err != nil {
			return fmt.Errorf("rewrite Patient references: %w", err)
		}
		entries[i].Resource = out
	}
	return nil
}

// mergePatient merges a mapped Patient into the stored one, as HL7 v2 treats absent
// fields: members the message carries replace the stored ones, others are kept, and
// identifiers are the union, stored ones first.
func mergePatient(existing, incoming []byte) ([]byte, error) {
	old, err := fhirjson.ParseObject(existing)
	if err != nil {
		return nil, fmt.Errorf("read stored Patient: %w", err)
	}
	inc, err := fhirjson.ParseObject(incoming)
	if err != nil {
		return nil, fmt.Errorf("read mapped Patient: %w", err)
	}
	out := old.Delete("meta") // a copy: old is read below
	for _, m := range inc {
		switch m.Key {
		case "resourceType", "id", "meta":
		case "identifier":
			ids, err := unionIdentifiers(old, m.Value)
			if err != nil {
				return nil, err
			}
			out = out.Set("identifier", ids)
		case "extension":
			// By URL: a sender's extensions (its Z-segment fields, say) replace
			// its own earlier values without dropping other senders'.
			exts, err := mergeExtensions(old, m.Value)
			if err != nil {
				return nil, err
			}
			out = out.Set("extension", exts)
		default:
			out = out.Set(m.Key, m.Value)
		}
	}
	if meta, ok := old.Get("meta"); ok {
		// Keep tags, profiles and security labels; the Service restamps the rest.
		out = out.Set("meta", meta)
	}
	return out.Bytes(), nil
}

// mergeExtensions keeps the stored extensions whose URL the incoming ones do not
// use, then the incoming ones.
func mergeExtensions(old fhirjson.Object, incoming json.RawMessage) (json.RawMessage, error) {
	type ext struct {
		URL string `json:"url"`
	}
	var have, add []json.RawMessage
	if raw, ok := old.Get("extension"); ok {
		if err := json.Unmarshal(raw, &have); err != nil {
			return nil, fmt.Errorf("read stored extensions: %w", err)
		}
	}
	if err := json.Unmarshal(incoming, &add); err != nil {
		return nil, fmt.Errorf("read mapped extensions: %w", err)
	}
	urls := map[string]bool{}
	for _, raw := range add {
		var e ext
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("read mapped extension: %w", err)
		}
		urls[e.URL] = true
	}
	var out []json.RawMessage
	for _, raw := range have {
		var e ext
		if json.Unmarshal(raw, &e) == nil && urls[e.URL] {
			continue
		}
		out = append(out, raw)
	}
	out = append(out, add...)
	return json.Marshal(out)
}

func unionIdentifiers(old fhirjson.Object, incoming json.RawMessage) (json.RawMessage, error) {
	var have, add []json.RawMessage
	if raw, ok := old.Get("identifier"); ok {
		if err := json.Unmarshal(raw, &have); err != nil {
			return nil, fmt.Errorf("read stored identifiers: %w", err)
		}
	}
	if err := json.Unmarshal(incoming, &add); err != nil {
		return nil, fmt.Errorf("read mapped identifiers: %w", err)
	}
	key := func(raw json.RawMessage) string {
		var id struct {
			System string `json:"system"`
			Value  string `json:"value"`
		}
		if json.Unmarshal(raw, &id) != nil || id.Value == "" {
			return string(raw)
		}
		return id.System + "|" + id.Value
	}
	seen := map[string]bool{}
	for _, h := range have {
		seen[key(h)] = true
	}
	for _, a := range add {
		if k := key(a); !seen[k] {
			seen[k] = true
			have = append(have, a)
		}
	}
	out, err := json.Marshal(have)
	if err != nil {
		return nil, fmt.Errorf("encode identifiers: %w", err)
	}
	return out, nil
}

// dropStale takes the watermark lock of every resource the Bundle writes and drops the
// entries whose resource already reflects a newer event than this message.
// directory lists the shared resources many messages mention (the ordering
// practitioner, the lab): they carry no event of their own, and a watermark on them
// would make every message that names them wait for the others.
var directory = map[string]bool{"Practitioner": true, "PractitionerRole": true, "Organization": true,
	"Location": true, "HealthcareService": true, "Endpoint": true, "Device": true}

func (p *Pipeline) dropStale(ctx context.Context, tx store.Tx, j *job, pl *plan) error {
	at := j.rec.EventTime
	type keyed struct {
		key string
		i   int
	}
	var ks []keyed
	for i, e := range pl.entries {
		if t, id := entryTarget(e); id != "" && !directory[t] {
			ks = append(ks, keyed{t + "/" + id, i})
		}
	}
	sort.Slice(ks, func(a, b int) bool { return ks[a].key < ks[b].key }) // one lock order
	drop := map[int]bool{}
	literal := map[string]string{} // fullUrl of a dropped entry -> Type/id
	keys := make([]string, len(ks))
	for i, k := range ks {
		keys[i] = k.key
	}
	wms, err := tx.EventTimes(ctx, keys)
	if err != nil {
		return fmt.Errorf("event time: %w", err)
	}
	for i, k := range ks {
		wm := wms[i]
		if !at.IsZero() && wm.After(at) {
			drop[k.i] = true
			if f := pl.entries[k.i].FullURL; f != "" {
				literal[f] = k.key
			}
			pl.notes = append(pl.notes, fmt.Sprintf("stale: older than %s (event %s, resource at %s)",
				k.key, at.Format(timeLayout), wm.UTC().Format(timeLayout)))
			continue
		}
		pl.keys = append(pl.keys, k.key)
	}
	return pl.drop(drop, literal)
}

// drop removes the entries at the indexes in drop, whose resources exist already:
// entries left that refer to one by its fullUrl (a key of literal) refer to it by
// Type/id instead.
func (pl *plan) drop(drop map[int]bool, literal map[string]string) error {
	if len(drop) == 0 {
		return nil
	}
	kept := pl.entries[:0]
	for i, e := range pl.entries {
		if !drop[i] {
			kept = append(kept, e)
		}
	}
	pl.entries = kept
	// Entries left may refer to a dropped one by its fullUrl; it exists (it has a
	// watermark), so a literal reference does.
	for i := range pl.entries {
		out, err := fhirjson.RewriteReferences(pl.entries[i].Resource, func(ref string) (string, bool) {
			l, ok := literal[ref]
			return l, ok
		})
		if err != nil {
			return fmt.Errorf("rewrite references to dropped entries: %w", err)
		}
		pl.entries[i].Resource = out
	}
	return nil
}

const timeLayout = "2006-01-02T15:04:05.999999Z"
