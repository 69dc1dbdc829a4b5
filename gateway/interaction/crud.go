package interaction

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/shch/fhirgw/gateway/fhirjson"
	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/index"
	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
)

// resourceResponse answers with a stored version.
func resourceResponse(status int, res store.Resource) *Response {
	return &Response{
		Status:       status,
		Body:         res.Body,
		Location:     res.Type + "/" + res.ID + "/_history/" + strconv.FormatInt(res.Version, 10),
		ETag:         ETag(res.Version),
		LastModified: res.LastUpdated,
	}
}

// parseResource checks a request body: JSON (400), a known resourceType (422), the type the
// URL names (400), and R4 structure (422, with the element path of each problem).
// skip, when given, drops issues the caller handles itself (by their expression).
func parseResource(body []byte, typ string, skip ...func(expression string) bool) (fhirjson.Object, error) {
	if len(body) == 0 {
		return nil, outcome.BadRequest("the request has no body; a %s resource is expected", typ)
	}
	obj, err := fhirjson.ParseObject(body)
	if err != nil {
		return nil, outcome.New(http.StatusBadRequest, "structure", "the body is not a valid JSON object: %v", err)
	}
	rtRaw, ok := obj.Get("resourceType")
	if !ok {
		return nil, outcome.At(http.StatusUnprocessableEntity, "structure", typ, "the resource has no resourceType")
	}
	rt, ok := obj.String("resourceType")
	if !ok {
		return nil, outcome.At(http.StatusUnprocessableEntity, "structure", "resourceType", "resourceType must be a string, got %s", rtRaw)
	}
	if !fhirschema.IsResourceType(rt) {
		return nil, outcome.At(http.StatusUnprocessableEntity, "structure", "resourceType", "unknown resourceType %q", rt)
	}
	if rt != typ {
		return nil, outcome.BadRequest("the body is a %s but the URL addresses %s", rt, typ)
	}
	_, issues, err := fhirschema.Validate(body)
	if err != nil {
		return nil, outcome.New(http.StatusBadRequest, "structure", "the body is not valid JSON: %v", err)
	}
	var bad []outcome.Issue
	for _, is := range issues {
		if is.Severity != "error" && is.Severity != "fatal" || slices.ContainsFunc(skip, func(f func(string) bool) bool { return f(is.Expression) }) {
			continue
		}
		oi := outcome.Issue{Severity: is.Severity, Code: is.Code, Diagnostics: is.Message}
		if is.Expression != "" {
			oi.Expression = []string{is.Expression}
		}
		bad = append(bad, oi)
	}
	if len(bad) > 0 {
		return nil, &outcome.Error{Status: http.StatusUnprocessableEntity, Issues: bad}
	}
	return obj, nil
}

// write stamps obj as version of typ/id and stores it with its index rows.
func (s *Service) write(ctx context.Context, tx store.Tx, obj fhirjson.Object, typ, id string, version int64, prev time.Time, method string) (store.Resource, error) {
	res, idx, err := s.prepare(ctx, obj, typ, id, version, prev, method)
	if err != nil {
		return store.Resource{}, err
	}
	if err := tx.Put(ctx, res, idx); err != nil {
		return store.Resource{}, err
	}
	return res, nil
}

// prepare stamps obj as version of typ/id and computes its index rows: everything of a
// write that needs no transaction.
func (s *Service) prepare(ctx context.Context, obj fhirjson.Object, typ, id string, version int64, prev time.Time, method string) (store.Resource, *store.Index, error) {
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	if !now.After(prev) { // keep lastUpdated increasing per resource even if clocks step back
		now = prev.Add(time.Microsecond)
	}
	stamped, err := fhirjson.Stamp(obj, id, version, now)
	if err != nil {
		return store.Resource{}, nil, outcome.At(http.StatusUnprocessableEntity, "structure", typ+".meta", "invalid meta: %v", err)
	}
	body := stamped.Bytes()
	if typ == "SearchParameter" {
		if err := checkSearchParameter(body); err != nil {
			return store.Resource{}, nil, err
		}
	}
	idx, err := s.indexer.Index(ctx, typ, body)
	if err != nil {
		return store.Resource{}, nil, err
	}
	return store.Resource{Type: typ, ID: id, Version: version, LastUpdated: now, Method: method, Body: body}, idx, nil
}

func (s *Service) read(ctx context.Context, r store.Reader, req *Request, rt route) (*Response, error) {
	res, err := r.Read(ctx, rt.typ, rt.id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, outcome.NotFound("%s/%s is not known", rt.typ, rt.id)
	}
	if err != nil {
		return nil, err
	}
	if res.Deleted {
		e := outcome.Gone("%s/%s was deleted", rt.typ, rt.id)
		resp := failure(e, "", rt.typ)
		resp.ETag = ETag(res.Version)
		resp.LastModified = res.LastUpdated
		return resp, nil
	}
	// RFC 9110 13.2.2: If-None-Match (a list of tags, or *) decides when present, and
	// If-Modified-Since is then ignored.
	if req.IfNoneMatch != "" {
		if noneMatch(req.IfNoneMatch, res.Version) {
			return resourceResponse(http.StatusOK, res), nil
		}
		return &Response{Status: http.StatusNotModified, ETag: ETag(res.Version), LastModified: res.LastUpdated}, nil
	}
	if !req.IfModifiedSince.IsZero() && !res.LastUpdated.Truncate(time.Second).After(req.IfModifiedSince) {
		return &Response{Status: http.StatusNotModified, ETag: ETag(res.Version), LastModified: res.LastUpdated}, nil
	}
	return resourceResponse(http.StatusOK, res), nil
}

func (s *Service) vread(ctx context.Context, r store.Reader, req *Request, rt route) (*Response, error) {
	v, err := strconv.ParseInt(rt.version, 10, 64)
	if err != nil || v < 1 {
		return nil, outcome.NotFound("%s/%s has no version %q", rt.typ, rt.id, rt.version)
	}
	res, err := r.VRead(ctx, rt.typ, rt.id, v)
	if errors.Is(err, store.ErrNotFound) {
		return nil, outcome.NotFound("%s/%s has no version %d", rt.typ, rt.id, v)
	}
	if err != nil {
		return nil, err
	}
	if res.Deleted {
		resp := failure(outcome.Gone("version %d of %s/%s records its deletion", v, rt.typ, rt.id), "", rt.typ)
		resp.ETag = ETag(res.Version)
		return resp, nil
	}
	return resourceResponse(http.StatusOK, res), nil
}

func (s *Service) create(ctx context.Context, tx store.Tx, req *Request, typ string) (*Response, error) {
	// A create ignores the id the client sent (the server assigns one), so an id that
	// is not a valid FHIR id does not make the resource invalid.
	obj, err := parseResource(req.Body, typ, func(expr string) bool { return expr == typ+".id" })
	if err != nil {
		return nil, err
	}
	if req.IfNoneExist != "" {
		q, err := conditionQuery(req.IfNoneExist, typ)
		if err != nil {
			return nil, err
		}
		matches, err := s.matchLocked(ctx, tx, typ, q)
		if err != nil {
			return nil, err
		}
		switch len(matches) {
		case 0:
		case 1:
			return resourceResponse(http.StatusOK, matches[0]), nil
		default:
			return nil, outcome.PreconditionFailed("If-None-Exist matches %d %s resources; the condition must select at most one", len(matches), typ)
		}
	}
	id := req.assignedID
	if id == "" {
		id = s.cfg.NewID()
	}
	res, err := s.write(ctx, tx, obj, typ, id, 1, time.Time{}, http.MethodPost)
	if err != nil {
		return nil, err
	}
	return resourceResponse(http.StatusCreated, res), nil
}

// createGrouped is a create without If-None-Exist. It needs no transaction until its
// write, so concurrent creates commit together in one (package groupcommit): they share
// the round trips, statement start-up and WAL flush that dominate a lone create.
func (s *Service) createGrouped(ctx context.Context, req *Request, typ string) *Response {
	obj, err := parseResource(req.Body, typ, func(expr string) bool { return expr == typ+".id" })
	if err != nil {
		return s.failed(ctx, err, typ)
	}
	res, idx, err := s.prepare(ctx, obj, typ, s.cfg.NewID(), 1, time.Time{}, http.MethodPost)
	if err != nil {
		return s.failed(ctx, err, typ)
	}
	err = s.creates.Do(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Put(ctx, res, idx) })
	if err != nil {
		return s.failed(ctx, err, typ)
	}
	if s.cfg.Changed != nil {
		s.cfg.Changed(ctx, []string{typ})
	}
	return resourceResponse(http.StatusCreated, res)
}

func (s *Service) update(ctx context.Context, tx store.Tx, req *Request, typ, id string) (*Response, error) {
	obj, err := parseResource(req.Body, typ)
	if err != nil {
		return nil, err
	}
	bodyID, ok := obj.String("id")
	if !ok {
		return nil, outcome.BadRequest("the resource has no id; an update must carry the id of the URL (%s)", id)
	}
	if bodyID != id {
		return nil, outcome.BadRequest("the resource id %q does not match the URL id %q", bodyID, id)
	}
	return s.updateAt(ctx, tx, req, obj, typ, id)
}

// updateAt writes obj as the next version of typ/id, honouring If-Match. Update as create
// lets a client choose the id of a new resource.
func (s *Service) updateAt(ctx context.Context, tx store.Tx, req *Request, obj fhirjson.Object, typ, id string) (*Response, error) {
	// An update that changes nothing keeps the current version (as HAPI FHIR does), and
	// is decided without taking the row lock: feeds resend the same practitioner or
	// organization with every message, and locking those shared rows would make all
	// such messages wait for each other. (Peek uses the transaction's own connection: a
	// second pool connection per transaction could exhaust the pool.)
	if req.IfMatch == "" {
		cur, err := tx.Peek(ctx, typ, id)
		switch {
		case err == nil && !cur.Deleted && sameContent(cur.Body, obj):
			return resourceResponse(http.StatusOK, cur), nil
		case errors.Is(err, store.ErrNotFound):
			// A new resource: nothing to lock, and a concurrent create of the same id
			// makes this Put fail with ErrConflict (the store's unique key).
			return s.updateAsCreate(ctx, tx, obj, typ, id)
		}
	}
	cur, err := tx.Read(ctx, typ, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if req.IfMatch != "" {
			return nil, outcome.PreconditionFailed("If-Match %s given but %s/%s does not exist", req.IfMatch, typ, id)
		}
		return s.updateAsCreate(ctx, tx, obj, typ, id)
	case err != nil:
		return nil, err
	}
	if err := checkIfMatch(req.IfMatch, cur); err != nil {
		return nil, err
	}
	status := http.StatusOK
	if cur.Deleted {
		status = http.StatusCreated
	}
	res, err := s.write(ctx, tx, obj, typ, id, cur.Version+1, cur.LastUpdated, http.MethodPut)
	if err != nil {
		return nil, err
	}
	return resourceResponse(status, res), nil
}

// updateAsCreate writes obj as version 1 of typ/id, the client's chosen id.
func (s *Service) updateAsCreate(ctx context.Context, tx store.Tx, obj fhirjson.Object, typ, id string) (*Response, error) {
	res, err := s.write(ctx, tx, obj, typ, id, 1, time.Time{}, http.MethodPut)
	if err != nil {
		return nil, err
	}
	return resourceResponse(http.StatusCreated, res), nil
}

// noneMatch reports whether none of the entity tags in an If-None-Match header
// (comma-separated, or *) names version.
func noneMatch(header string, version int64) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			return false
		}
		if v, ok := parseETag(tag); ok && v == version {
			return false
		}
	}
	return true
}

func checkIfMatch(ifMatch string, cur store.Resource) error {
	if ifMatch == "" {
		return nil
	}
	v, ok := parseETag(ifMatch)
	if !ok {
		return outcome.BadRequest("If-Match %q is not a version ETag such as W/\"3\"", ifMatch)
	}
	if v != cur.Version {
		return outcome.PreconditionFailed("If-Match names version %d but %s/%s is at version %d", v, cur.Type, cur.ID, cur.Version)
	}
	return nil
}

func (s *Service) conditionalUpdate(ctx context.Context, tx store.Tx, req *Request, typ string) (*Response, error) {
	if len(req.Query) == 0 {
		return nil, notAllowed(req.Method, typ+" without search parameters (conditional update needs them)")
	}
	obj, err := parseResource(req.Body, typ)
	if err != nil {
		return nil, err
	}
	matches, err := s.matchLocked(ctx, tx, typ, req.Query)
	if err != nil {
		return nil, err
	}
	bodyID, hasID := obj.String("id")
	switch len(matches) {
	case 0:
		if hasID { // update as create with the client's id
			return s.updateAt(ctx, tx, req, obj, typ, bodyID)
		}
		id := req.assignedID // chosen by a transaction, whose entries may refer to it
		if id == "" {
			id = s.cfg.NewID()
		}
		res, err := s.write(ctx, tx, obj, typ, id, 1, time.Time{}, http.MethodPut)
		if err != nil {
			return nil, err
		}
		return resourceResponse(http.StatusCreated, res), nil
	case 1:
		m := matches[0]
		if req.assignedID != "" {
			// The transaction found no match before it ran and promised other entries
			// a new resource; an earlier entry has since written this one.
			return nil, outcome.BadRequest("the conditional update matches %s/%s, which another entry of this transaction writes; a transaction must not act on one resource twice", typ, m.ID)
		}
		if hasID && bodyID != m.ID {
			return nil, outcome.BadRequest("the resource id %q differs from the id %q of the resource the search matched", bodyID, m.ID)
		}
		return s.updateAt(ctx, tx, req, obj, typ, m.ID)
	default:
		return nil, outcome.PreconditionFailed("the conditional update matches %d %s resources; the criteria must select at most one", len(matches), typ)
	}
}

func (s *Service) patch(ctx context.Context, tx store.Tx, req *Request, typ, id string) (*Response, error) {
	if req.ContentType != "application/json-patch+json" {
		return nil, outcome.New(http.StatusUnsupportedMediaType, "not-supported", "PATCH takes application/json-patch+json (RFC 6902), not %q", req.ContentType)
	}
	p, err := jsonpatch.DecodePatch(req.Body)
	if err != nil {
		return nil, outcome.BadRequest("invalid JSON Patch document: %v", err)
	}
	cur, err := tx.Read(ctx, typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, outcome.NotFound("%s/%s is not known", typ, id)
	}
	if err != nil {
		return nil, err
	}
	if cur.Deleted {
		return nil, outcome.Gone("%s/%s was deleted", typ, id)
	}
	if err := checkIfMatch(req.IfMatch, cur); err != nil {
		return nil, err
	}
	patched, err := p.Apply(cur.Body)
	if err != nil {
		return nil, outcome.New(http.StatusUnprocessableEntity, "processing", "the patch cannot be applied: %v", err)
	}
	obj, err := parseResource(patched, typ)
	if err != nil {
		var oe *outcome.Error
		if errors.As(err, &oe) && oe.Status == http.StatusBadRequest {
			oe.Status = http.StatusUnprocessableEntity // the patch, not the request, made it wrong
		}
		return nil, err
	}
	if pid, _ := obj.String("id"); pid != id {
		return nil, outcome.New(http.StatusUnprocessableEntity, "processing", "a patch must not change the resource id")
	}
	res, err := s.write(ctx, tx, obj, typ, id, cur.Version+1, cur.LastUpdated, http.MethodPatch)
	if err != nil {
		return nil, err
	}
	return resourceResponse(http.StatusOK, res), nil
}

func (s *Service) conditionalPatch(ctx context.Context, tx store.Tx, req *Request, typ string) (*Response, error) {
	if len(req.Query) == 0 {
		return nil, notAllowed(req.Method, typ+" without search parameters (conditional patch needs them)")
	}
	matches, err := s.matchLocked(ctx, tx, typ, req.Query)
	if err != nil {
		return nil, err
	}
	switch len(matches) {
	case 0:
		return nil, outcome.NotFound("no %s matches the conditional patch", typ)
	case 1:
		return s.patch(ctx, tx, req, typ, matches[0].ID)
	default:
		return nil, outcome.PreconditionFailed("the conditional patch matches %d %s resources; the criteria must select one", len(matches), typ)
	}
}

func (s *Service) delete(ctx context.Context, tx store.Tx, req *Request, typ, id string) (*Response, error) {
	cur, err := tx.Read(ctx, typ, id)
	if errors.Is(err, store.ErrNotFound) {
		if req.IfMatch != "" {
			return nil, outcome.PreconditionFailed("If-Match %s given but %s/%s does not exist", req.IfMatch, typ, id)
		}
		return &Response{Status: http.StatusNoContent}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(req.IfMatch, cur); err != nil {
		return nil, err
	}
	if cur.Deleted {
		return &Response{Status: http.StatusNoContent, ETag: ETag(cur.Version)}, nil
	}
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	if !now.After(cur.LastUpdated) {
		now = cur.LastUpdated.Add(time.Microsecond)
	}
	del := store.Resource{Type: typ, ID: id, Version: cur.Version + 1, LastUpdated: now, Deleted: true, Method: http.MethodDelete}
	if err := tx.Put(ctx, del, nil); err != nil {
		return nil, err
	}
	return &Response{Status: http.StatusNoContent, ETag: ETag(del.Version), LastModified: now}, nil
}

func (s *Service) conditionalDelete(ctx context.Context, tx store.Tx, req *Request, typ string) (*Response, error) {
	if len(req.Query) == 0 {
		return nil, notAllowed(req.Method, typ+" without search parameters (conditional delete needs them)")
	}
	matches, err := s.matchLocked(ctx, tx, typ, req.Query)
	if err != nil {
		return nil, err
	}
	switch len(matches) {
	case 0: // "No matches or one match: the server performs an ordinary delete"
		return &Response{Status: http.StatusNoContent}, nil
	case 1:
		return s.delete(ctx, tx, req, typ, matches[0].ID)
	default:
		return nil, outcome.PreconditionFailed("the conditional delete matches %d %s resources; this server deletes one at a time", len(matches), typ)
	}
}

// conditionQuery parses the search part of If-None-Exist or of a conditional reference;
// it may be prefixed with "Type?".
func conditionQuery(cond, typ string) (url.Values, error) {
	if t, rest, ok := strings.Cut(cond, "?"); ok {
		if t != "" && t != typ {
			return nil, outcome.BadRequest("condition %q names %s, expected %s", cond, t, typ)
		}
		cond = rest
	}
	q, err := url.ParseQuery(cond)
	if err != nil || len(q) == 0 {
		return nil, outcome.BadRequest("condition %q is not a search query", cond)
	}
	return q, nil
}

// matchLocked finds the current resources a condition selects (at most two: enough to
// tell 0, 1 and many apart), after taking a transaction lock on the condition so that
// concurrent conditional writes with the same criteria serialise.
func (s *Service) matchLocked(ctx context.Context, tx store.Tx, typ string, q url.Values) ([]store.Resource, error) {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(typ)
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		b.WriteString("|" + k + "=" + strings.Join(vs, "&"))
	}
	if err := tx.Lock(ctx, "cond:"+b.String()); err != nil {
		return nil, err
	}
	sq, _, err := s.parseSearch(typ, q, true)
	if err != nil {
		return nil, err
	}
	sq.Count, sq.Offset, sq.Total = 2, 0, false
	page, err := tx.Search(ctx, sq)
	if err != nil {
		return nil, err
	}
	return page.Resources, nil
}

// checkSearchParameter refuses an active SearchParameter the server could not index,
// since it takes effect as soon as it is stored.
func checkSearchParameter(body []byte) error {
	d, status, err := searchparam.FromResource(body)
	if status != "active" {
		return nil
	}
	if err == nil {
		err = index.Check(d)
	}
	if err != nil {
		return outcome.At(http.StatusUnprocessableEntity, "invalid", "SearchParameter", "this active SearchParameter cannot be used: %v", err)
	}
	return nil
}

// sameContent reports whether a stored body and a new resource are equal apart from
// the server's meta (versionId, lastUpdated).
func sameContent(stored []byte, obj fhirjson.Object) bool {
	old, err := fhirjson.ParseObject(stored)
	if err != nil {
		return false
	}
	a, b := withoutServerMeta(old), withoutServerMeta(obj)
	if bytes.Equal(a, b) {
		// The common case (a feed resending what it sent, stored as it came) without
		// decoding both documents.
		return true
	}
	eq, err := fhirjson.Equal(a, b)
	return err == nil && eq
}

func withoutServerMeta(obj fhirjson.Object) []byte {
	obj = slices.Clone(obj) // Set and Delete work in place; the caller still needs obj
	raw, ok := obj.Get("meta")
	if !ok {
		return obj.Bytes()
	}
	meta, err := fhirjson.ParseObject(raw)
	if err != nil {
		return obj.Bytes()
	}
	meta = meta.Delete("versionId").Delete("lastUpdated")
	if len(meta) == 0 {
		return obj.Delete("meta").Bytes()
	}
	return obj.Set("meta", meta.Bytes()).Bytes()
}
