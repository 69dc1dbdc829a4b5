package interaction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shch/fhirgw/gateway/fhirjson"
	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/store"
)

// inBundle is the part of a request Bundle the server reads.
type inBundle struct {
	Type  string    `json:"type"`
	Entry []inEntry `json:"entry"`
}

type inEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  *inRequest      `json:"request"`
}

type inRequest struct {
	Method          string `json:"method"`
	URL             string `json:"url"`
	IfNoneMatch     string `json:"ifNoneMatch"`
	IfModifiedSince string `json:"ifModifiedSince"`
	IfMatch         string `json:"ifMatch"`
	IfNoneExist     string `json:"ifNoneExist"`
}

// txEntry is one entry of a batch or transaction on its way through.
type txEntry struct {
	index int
	req   *Request
	rt    route
	resp  *Response
	// body is the entry's request body as sent: a retried store transaction
	// rewrites references again from it, with the ids chosen on that attempt.
	body []byte
	// writes is the Type/id a POST or PUT entry will write (set by
	// resolveTargets), so that conditional references can find it.
	writes string
}

// processing order of a transaction (https://hl7.org/fhir/R4/http.html#trules).
var methodOrder = map[string]int{http.MethodDelete: 0, http.MethodPost: 1, http.MethodPut: 2, http.MethodPatch: 2, http.MethodGet: 3, http.MethodHead: 3}

func (s *Service) bundle(ctx context.Context, req *Request) *Response {
	resp, err := s.bundleErr(ctx, req)
	if err != nil {
		var oe *outcome.Error
		if errors.As(err, &oe) {
			resp = failure(oe, "", "Bundle")
		} else {
			resp = s.storeFailure(ctx, err)
		}
	}
	resp.Interaction = "batch-transaction"
	return resp
}

func (s *Service) bundleErr(ctx context.Context, req *Request) (*Response, error) {
	// Entry resources are checked one by one as their entries are processed, so that a
	// batch answers each entry on its own and a transaction names the failing entry.
	if _, err := parseResource(req.Body, "Bundle", isEntryResource); err != nil {
		return nil, err
	}
	var b inBundle
	if err := json.Unmarshal(req.Body, &b); err != nil {
		return nil, outcome.BadRequest("the Bundle cannot be read: %v", err)
	}
	if b.Type != "batch" && b.Type != "transaction" {
		return nil, outcome.At(http.StatusBadRequest, "invalid", "Bundle.type", "POST to the base takes a batch or transaction Bundle, not %q", b.Type)
	}
	entries := make([]*txEntry, len(b.Entry))
	for i, e := range b.Entry {
		te, err := s.entryRequest(i, e, req.Prefer)
		if err != nil {
			if b.Type == "transaction" {
				return nil, err
			}
			te = &txEntry{index: i, resp: failure(outcome.From(err), "", "")}
		}
		entries[i] = te
	}
	if b.Type == "batch" {
		return s.batch(ctx, entries, req.Prefer), nil
	}
	return s.transaction(ctx, entries, b.Entry, req.Prefer)
}

// entryRequest turns a Bundle entry into a Request.
func (s *Service) entryRequest(i int, e inEntry, prefer string) (*txEntry, error) {
	where := fmt.Sprintf("Bundle.entry[%d]", i)
	if e.Request == nil || e.Request.Method == "" || e.Request.URL == "" {
		return nil, outcome.At(http.StatusBadRequest, "required", where+".request", "entry %d has no request method and url", i)
	}
	method := strings.ToUpper(e.Request.Method)
	if _, ok := methodOrder[method]; !ok {
		return nil, outcome.At(http.StatusBadRequest, "value", where+".request.method", "entry %d: unsupported method %q", i, e.Request.Method)
	}
	raw := strings.TrimPrefix(e.Request.URL, s.cfg.BaseURL+"/")
	u, err := url.Parse(raw)
	if err != nil || u.IsAbs() {
		return nil, outcome.At(http.StatusBadRequest, "value", where+".request.url", "entry %d: request.url %q must be relative to this server's base", i, e.Request.URL)
	}
	r := &Request{Method: method, Path: u.Path, Query: u.Query(), IfMatch: e.Request.IfMatch,
		IfNoneMatch: e.Request.IfNoneMatch, IfNoneExist: e.Request.IfNoneExist, Prefer: prefer}
	if e.Request.IfModifiedSince != "" {
		if t, err := time.Parse(time.RFC3339, e.Request.IfModifiedSince); err == nil {
			r.IfModifiedSince = t
		}
	}
	switch method {
	case http.MethodPost, http.MethodPut:
		if len(e.Resource) == 0 {
			return nil, outcome.At(http.StatusBadRequest, "required", where+".resource", "entry %d: %s needs a resource", i, method)
		}
		r.Body, r.ContentType = e.Resource, "application/fhir+json"
	case http.MethodPatch:
		// FHIR carries a JSON Patch in a Binary resource whose data is the patch document.
		var bin struct {
			ResourceType string `json:"resourceType"`
			ContentType  string `json:"contentType"`
			Data         []byte `json:"data"`
		}
		if err := json.Unmarshal(e.Resource, &bin); err != nil || bin.ResourceType != "Binary" {
			return nil, outcome.At(http.StatusBadRequest, "invalid", where+".resource", "entry %d: a PATCH entry carries a Binary with the JSON Patch", i)
		}
		r.Body, r.ContentType = bin.Data, bin.ContentType
	}
	rt, ok := parsePath(r.Path)
	if !ok || rt.typ == "" && !rt.history && !rt.metadata {
		return nil, outcome.At(http.StatusBadRequest, "value", where+".request.url", "entry %d: request.url %q does not address a resource type", i, e.Request.URL)
	}
	return &txEntry{index: i, req: r, rt: rt, body: r.Body}, nil
}

func (s *Service) batch(ctx context.Context, entries []*txEntry, prefer string) *Response {
	for _, e := range entries {
		if e.resp == nil {
			e.resp = s.Handle(ctx, e.req)
		}
	}
	return s.bundleResponse("batch-response", entries, prefer)
}

func (s *Service) transaction(ctx context.Context, entries []*txEntry, raw []inEntry, prefer string) (*Response, error) {
	var failed *Response
	err := s.store.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		failed, err = s.runTransaction(ctx, tx, entries, raw)
		if err == nil && failed != nil {
			return errRollback
		}
		return err
	})
	if errors.Is(err, errRollback) {
		return failed, nil
	}
	if err != nil {
		return nil, err
	}
	if s.cfg.Changed != nil {
		var types []string
		for _, e := range entries {
			if e.req.Method != http.MethodGet && e.req.Method != http.MethodHead && !slices.Contains(types, e.rt.typ) {
				types = append(types, e.rt.typ)
			}
		}
		s.cfg.Changed(ctx, types)
	}
	return s.bundleResponse("transaction-response", entries, prefer), nil
}

// runTransaction processes a transaction's entries inside tx. It returns the failing
// entry's response (the caller must roll back) or nil when every entry succeeded.
// It may run again on a retried store transaction, so it resets what a previous run set.
func (s *Service) runTransaction(ctx context.Context, tx store.Tx, entries []*txEntry, raw []inEntry) (*Response, error) {
	for _, e := range entries {
		e.resp = nil
		e.req.assignedID = ""
		e.req.Body = e.body
		e.writes = ""
	}
	refs, err := s.resolveTargets(ctx, tx, entries, raw)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if len(e.req.Body) == 0 || e.req.Method == http.MethodPatch && e.req.ContentType != "application/json-patch+json" {
			continue // another patch format is refused (415) when the entry runs
		}
		// A JSON Patch's values are rewritten like a resource's references: the
		// "reference" members of the objects it adds.
		body, err := s.rewriteReferences(ctx, tx, e, refs, entries)
		if err != nil {
			return nil, err
		}
		if e.req.Method == http.MethodPatch {
			if body, err = patchStringReferences(body, refs); err != nil {
				return nil, outcome.BadRequest("entry %d: %v", e.index, err)
			}
		}
		e.req.Body = body
	}
	// Updates by id ask the store for the current version first (updateAt's no-op
	// check): one round trip for all of them instead of one each.
	var peek []store.Ref
	for _, e := range entries {
		if e.req.Method == http.MethodPut && e.rt.typ != "" && e.rt.id != "" && e.req.IfMatch == "" && len(e.req.Query) == 0 {
			peek = append(peek, store.Ref{Type: e.rt.typ, ID: e.rt.id})
		}
	}
	if err := tx.Prefetch(ctx, peek); err != nil {
		return nil, err
	}
	for order := 0; order <= 3; order++ {
		for _, e := range entries {
			if methodOrder[e.req.Method] != order {
				continue
			}
			if e.rt.typ != "" && !isKnownType(e.rt.typ) {
				return nil, outcome.At(http.StatusNotFound, "not-found", fmt.Sprintf("Bundle.entry[%d].request.url", e.index), "entry %d: unknown resource type %q", e.index, e.rt.typ)
			}
			e.resp = s.exec(ctx, tx, tx, e.req, e.rt)
			e.resp.ResourceType = e.rt.typ
			if e.resp.Status >= 400 {
				prefixDiagnostics(e.resp, e.index)
				return e.resp, nil
			}
		}
	}
	return nil, nil
}

// TxEntry is one entry of a transaction run by ApplyEntries: what a Bundle entry
// of a transaction carries, already decoded.
type TxEntry struct {
	FullURL  string // urn:uuid:... when other entries refer to it
	Resource json.RawMessage
	Method   string // POST, PUT, PATCH, DELETE or GET
	URL      string // relative: Type, Type/id or Type?criteria
}

// ApplyEntries runs entries as a transaction inside the caller's store transaction,
// so that the caller can commit other rows (a received message, say) atomically with
// the resources. It is the transaction interaction without the Bundle around it:
// the gateway's own callers build the entries, so there is no Bundle to parse, and
// each resource is validated as it is written, as in a transaction Bundle. On
// success it returns the Location of every entry that has one, in order
// ("Patient/abc/_history/2"). If an entry fails it returns that entry's
// OperationOutcome as an *outcome.Error and the caller must roll back tx; the
// entries already written are part of tx and go with it. It may be called again
// when the store retries the transaction.
func (s *Service) ApplyEntries(ctx context.Context, tx store.Tx, in []TxEntry) ([]string, error) {
	raw := make([]inEntry, len(in))
	entries := make([]*txEntry, len(in))
	for i, e := range in {
		raw[i] = inEntry{FullURL: e.FullURL, Resource: e.Resource, Request: &inRequest{Method: e.Method, URL: e.URL}}
		te, err := s.entryRequest(i, raw[i], "return=minimal")
		if err != nil {
			return nil, err
		}
		entries[i] = te
	}
	failed, err := s.runTransaction(ctx, tx, entries, raw)
	if err != nil {
		return nil, err
	}
	if failed != nil {
		var oo struct {
			Issue []outcome.Issue `json:"issue"`
		}
		_ = json.Unmarshal(failed.Body, &oo)
		return nil, &outcome.Error{Status: failed.Status, Issues: oo.Issue}
	}
	var locs []string
	for _, e := range entries {
		if e.resp.Location != "" {
			locs = append(locs, e.resp.Location)
		}
	}
	return locs, nil
}

// prefixDiagnostics says which entry failed in the OperationOutcome of a transaction.
func prefixDiagnostics(resp *Response, index int) {
	var oo struct {
		ResourceType string          `json:"resourceType"`
		Issue        []outcome.Issue `json:"issue"`
	}
	if json.Unmarshal(resp.Body, &oo) != nil || len(oo.Issue) == 0 {
		return
	}
	for i := range oo.Issue {
		oo.Issue[i].Diagnostics = fmt.Sprintf("transaction entry %d: %s", index, oo.Issue[i].Diagnostics)
		// Paths inside the entry's resource ("Patient.gender") become paths in the
		// Bundle the client sent ("Bundle.entry[1].resource.gender").
		for j, expr := range oo.Issue[i].Expression {
			if _, rest, ok := strings.Cut(expr, "."); ok && !strings.HasPrefix(expr, "Bundle.entry[") {
				oo.Issue[i].Expression[j] = fmt.Sprintf("Bundle.entry[%d].resource.%s", index, rest)
			}
		}
	}
	resp.Body = outcome.Resource(oo.Issue...)
	resp.Outcome = true
}

// resolveTargets decides, before anything is written, which resource each entry with a
// fullUrl will become, so that entries can refer to each other by fullUrl (urn:uuid:...).
func (s *Service) resolveTargets(ctx context.Context, tx store.Tx, entries []*txEntry, raw []inEntry) (map[string]string, error) {
	refs := map[string]string{}
	acting := map[string]int{} // Type/id -> the entry that writes or deletes it
	for _, e := range entries {
		target := ""
		switch {
		case e.req.Method == http.MethodPost && e.rt.id == "" && e.rt.typ != "":
			if e.req.IfNoneExist != "" {
				q, err := conditionQuery(e.req.IfNoneExist, e.rt.typ)
				if err != nil {
					return nil, err
				}
				m, err := s.matchLocked(ctx, tx, e.rt.typ, q)
				if err != nil {
					return nil, err
				}
				if len(m) == 1 {
					// Writes nothing: other entries may refer to it, and it does not
					// count as acting on the resource.
					if full := raw[e.index].FullURL; full != "" {
						refs[full] = e.rt.typ + "/" + m[0].ID
					}
					continue
				}
			}
			e.req.assignedID = s.cfg.NewID()
			target = e.rt.typ + "/" + e.req.assignedID
			e.writes = target
		case e.req.Method == http.MethodPut && e.rt.id != "":
			target = e.rt.typ + "/" + e.rt.id
			e.writes = target
		case e.req.Method == http.MethodPut && e.rt.typ != "" && len(e.req.Query) > 0:
			m, err := s.matchLocked(ctx, tx, e.rt.typ, e.req.Query)
			if err != nil {
				return nil, err
			}
			switch len(m) {
			case 1:
				target = e.rt.typ + "/" + m[0].ID
			case 0:
				// It will create: with the id the resource carries, else with one
				// chosen now, so that other entries can refer to it by fullUrl.
				if obj, err := fhirjson.ParseObject(e.req.Body); err == nil {
					if id, ok := obj.String("id"); ok && id != "" {
						target = e.rt.typ + "/" + id
						break
					}
				}
				e.req.assignedID = s.cfg.NewID()
				target = e.rt.typ + "/" + e.req.assignedID
			}
			e.writes = target
		case e.req.Method == http.MethodDelete && e.rt.id != "",
			e.req.Method == http.MethodPatch && e.rt.id != "":
			target = e.rt.typ + "/" + e.rt.id
		case e.req.Method == http.MethodDelete && e.rt.typ != "" && len(e.req.Query) > 0:
			// A conditional delete acts on every resource it resolves to.
			m, err := s.matchLocked(ctx, tx, e.rt.typ, e.req.Query)
			if err != nil {
				return nil, err
			}
			for _, r := range m {
				t := e.rt.typ + "/" + r.ID
				if prev, ok := acting[t]; ok {
					return nil, outcome.At(http.StatusBadRequest, "invalid", fmt.Sprintf("Bundle.entry[%d].request", e.index),
						"entries %d and %d both act on %s; a transaction must not touch one resource twice", prev, e.index, t)
				}
				acting[t] = e.index
			}
			continue
		}
		if target != "" && e.req.Method != http.MethodGet && e.req.Method != http.MethodHead {
			// https://hl7.org/fhir/R4/http.html#trules: if identities overlap in
			// steps 1-3 (delete, create, update/patch), the transaction SHALL fail.
			if prev, ok := acting[target]; ok {
				return nil, outcome.At(http.StatusBadRequest, "invalid", fmt.Sprintf("Bundle.entry[%d].request", e.index),
					"entries %d and %d both act on %s; a transaction must not touch one resource twice", prev, e.index, target)
			}
			acting[target] = e.index
		}
		if e.req.Method == http.MethodDelete || e.req.Method == http.MethodPatch {
			continue // not something other entries can refer to by fullUrl
		}
		if full := raw[e.index].FullURL; full != "" && target != "" {
			refs[full] = target
		}
	}
	return refs, nil
}

// rewriteReferences points references at the resources other entries become, and
// resolves conditional references (Patient?identifier=...) to the one resource they match.
func (s *Service) rewriteReferences(ctx context.Context, tx store.Tx, e *txEntry, refs map[string]string, entries []*txEntry) ([]byte, error) {
	var failure error
	out, err := fhirjson.RewriteReferences(e.req.Body, func(ref string) (string, bool) {
		if t, ok := refs[ref]; ok {
			return t, true
		}
		if strings.HasPrefix(ref, "urn:uuid:") || strings.HasPrefix(ref, "urn:oid:") {
			if failure == nil {
				failure = outcome.At(http.StatusBadRequest, "not-found", fmt.Sprintf("Bundle.entry[%d].resource", e.index), "entry %d refers to %s, which no entry of the transaction has as fullUrl", e.index, ref)
			}
			return "", false
		}
		typ, query, ok := strings.Cut(ref, "?")
		if !ok || !isKnownType(typ) {
			return "", false
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			failure = outcome.BadRequest("entry %d: conditional reference %q is not a search", e.index, ref)
			return "", false
		}
		m, err := s.matchLocked(ctx, tx, typ, q)
		var matches []string
		for _, r := range m {
			matches = append(matches, typ+"/"+r.ID)
		}
		// A resource this transaction creates counts too (the specification resolves
		// conditional references after the creates); it is recognised by identifier,
		// the criterion implementation guides use.
		for _, c := range createdByIdentifier(entries, typ, q) {
			if !slices.Contains(matches, c) {
				matches = append(matches, c)
			}
		}
		switch {
		case err != nil:
			failure = err
		case len(matches) == 1:
			return matches[0], true
		case len(matches) == 0:
			failure = outcome.At(http.StatusNotFound, "not-found", fmt.Sprintf("Bundle.entry[%d].resource", e.index), "entry %d: conditional reference %q matches no resource", e.index, ref)
		default:
			failure = outcome.At(http.StatusPreconditionFailed, "multiple-matches", fmt.Sprintf("Bundle.entry[%d].resource", e.index), "entry %d: conditional reference %q matches %d resources", e.index, ref, len(matches))
		}
		return "", false
	})
	if err != nil {
		return nil, outcome.BadRequest("entry %d: %v", e.index, err)
	}
	if failure != nil {
		return nil, failure
	}
	return out, nil
}

// patchStringReferences rewrites the JSON Patch operations that set a reference
// directly ({"op":"replace","path":".../reference","value":"urn:uuid:..."}).
func patchStringReferences(patch []byte, refs map[string]string) ([]byte, error) {
	var ops []map[string]json.RawMessage
	if err := json.Unmarshal(patch, &ops); err != nil {
		return patch, nil // not a patch document: the patch interaction says so
	}
	changed := false
	for _, op := range ops {
		var path, value string
		if json.Unmarshal(op["path"], &path) != nil || !strings.HasSuffix(path, "/reference") ||
			json.Unmarshal(op["value"], &value) != nil {
			continue
		}
		if t, ok := refs[value]; ok {
			op["value"] = fhirjson.Quote(t)
			changed = true
		}
	}
	if !changed {
		return patch, nil
	}
	return json.Marshal(ops)
}

// createdByIdentifier returns the resources of type typ that entries create and that
// the search q matches, when q is exactly one identifier criterion (system|value,
// system|, |value or value); other searches find only stored resources.
func createdByIdentifier(entries []*txEntry, typ string, q url.Values) []string {
	vs := q["identifier"]
	if len(q) != 1 || len(vs) != 1 || strings.Contains(vs[0], ",") {
		return nil
	}
	system, value, hasSystem := strings.Cut(vs[0], "|")
	if !hasSystem {
		system, value = "", vs[0]
	}
	var out []string
	for _, e := range entries {
		if e.writes == "" || e.rt.typ != typ {
			continue
		}
		var r struct {
			Identifier []struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"identifier"`
		}
		if json.Unmarshal(e.req.Body, &r) != nil {
			continue
		}
		for _, id := range r.Identifier {
			valueOK := id.Value == value || hasSystem && value == "" // "system|": any value
			if valueOK && (!hasSystem || id.System == system) {
				out = append(out, e.writes)
				break
			}
		}
	}
	return out
}

func (s *Service) bundleResponse(typ string, entries []*txEntry, prefer string) *Response {
	b := s.newBundle(typ)
	ret := preferReturn(prefer)
	for _, e := range entries {
		r := e.resp
		be := bundleEntry{Response: &entryResponse{
			Status:       strconv.Itoa(r.Status) + " " + http.StatusText(r.Status),
			ETag:         r.ETag,
			LastModified: instant(r.LastModified),
		}}
		if r.Location != "" {
			be.Response.Location = r.Location
			parts := strings.Split(r.Location, "/")
			if len(parts) >= 2 {
				be.FullURL = s.fullURL(parts[0], parts[1])
			}
		}
		switch {
		case r.Outcome:
			be.Response.Outcome = r.Body
		case len(r.Body) == 0:
		case e.req != nil && e.req.Method == http.MethodHead: // the headers only, as over HTTP
		case ret == "minimal":
		case ret == "OperationOutcome":
			be.Response.Outcome = outcome.Resource()
		default:
			be.Resource = r.Body
		}
		b.Entry = append(b.Entry, be)
	}
	return &Response{Status: http.StatusOK, Body: b.encode()}
}

var entryResource = regexp.MustCompile(`^Bundle\.entry\[\d+\]\.resource([.\[]|$)`)

func isEntryResource(expr string) bool { return entryResource.MatchString(expr) }
