// Package interaction implements the FHIR R4 RESTful interactions (read, vread, create,
// update, patch, delete, history, search, batch and transaction, capabilities) over a
// store, independent of the HTTP framework: the HTTP transport and Bundle entries both
// turn into a Request and go through Service.Handle, so a transaction entry behaves
// exactly like the same request sent on its own.
package interaction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/groupcommit"
	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
)

// Indexer extracts the search index rows of a resource.
type Indexer interface {
	// Index returns the rows for one resource version.
	Index(ctx context.Context, resourceType string, body []byte) (*store.Index, error)
	// Params lists the search parameters the indexer fills for a resource type, beyond
	// _id and _lastUpdated which every store answers itself.
	Params(resourceType string) []*searchparam.Definition
	// Registry holds every definition in force (composite parameters name their
	// components by URL).
	Registry() *searchparam.Registry
}

// Config holds what a Service needs besides the store.
type Config struct {
	// BaseURL is the public FHIR base, e.g. https://fhir.example.org/fhir, used in
	// Bundle fullUrl and links.
	BaseURL string
	// DefaultCount and MaxCount bound page sizes of searches and histories.
	DefaultCount int
	MaxCount     int
	// Version is the software version reported in the CapabilityStatement.
	Version string
	// Now and NewID default to the wall clock and random UUIDs; tests replace them.
	Now   func() time.Time
	NewID func() string
	Log   *slog.Logger
	// Changed, when set, is called after a write commits, with the resource types the
	// write touched (SearchParameter changes take effect through it).
	Changed func(ctx context.Context, types []string)
	// GroupCommit is the most plain creates that concurrent clients may share one
	// transaction with (see package groupcommit); 0 means its default and 1 commits
	// each alone.
	GroupCommit int
}

// Service runs interactions against a store.
type Service struct {
	store   store.Store
	indexer Indexer
	cfg     Config
	creates *groupcommit.Committer
	// patientCompartment maps each type to the parameters that put it in a Patient's
	// compartment (the official CompartmentDefinition).
	patientCompartment map[string][]string
}

// New returns a Service.
func New(st store.Store, ix Indexer, cfg Config) *Service {
	if cfg.DefaultCount <= 0 {
		cfg.DefaultCount = 20
	}
	if cfg.MaxCount <= 0 {
		cfg.MaxCount = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = uuid.NewString
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{
		store: st, indexer: ix, cfg: cfg,
		creates:            groupcommit.New(st, groupcommit.Options{Max: cfg.GroupCommit, Log: cfg.Log}),
		patientCompartment: searchparam.Compartment("Patient"),
	}
}

// BaseURL is the public FHIR base the service answers under ("" when none is set).
func (s *Service) BaseURL() string { return s.cfg.BaseURL }

// revIncludes lists, per target type, the Type:param pairs that can refer to it, from
// the definitions in force (they change when SearchParameters are stored).
func (s *Service) revIncludes() map[string][]string {
	out := map[string][]string{}
	for _, src := range fhirschema.ResourceTypes() {
		for _, d := range s.indexer.Params(src) {
			if d.Type != "reference" {
				continue
			}
			for _, t := range d.Target {
				out[t] = append(out[t], src+":"+d.Code)
			}
		}
	}
	return out
}

// errRollback aborts a write transaction whose interaction failed; the failure itself is
// already in the Response.
var errRollback = errors.New("interaction failed: rolled back")

// Handle runs one request and always returns a response: failures are OperationOutcomes.
func (s *Service) Handle(ctx context.Context, req *Request) *Response {
	rt, ok := parsePath(req.Path)
	if !ok {
		return failure(outcome.NotFound("no such path: %s", req.Path), "unknown", "")
	}
	if rt.typ != "" && !fhirschema.IsResourceType(rt.typ) {
		return failure(outcome.NotFound("unknown resource type %q", rt.typ), "unknown", rt.typ)
	}
	name := interactionName(req.Method, rt)
	if rt.typ == "" && !rt.metadata && !rt.history && req.Method == http.MethodPost && rt.operation == "" {
		resp := s.bundle(ctx, req)
		return resp
	}
	var resp *Response
	if plainCreate(req, rt) {
		resp = s.createGrouped(ctx, req, rt.typ)
	} else if isWrite(req.Method) && !readOnlyOperation(rt) {
		err := s.store.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			resp = s.exec(ctx, tx, tx, req, rt)
			if resp.Outcome {
				return errRollback
			}
			return nil
		})
		if err != nil && !errors.Is(err, errRollback) {
			resp = s.storeFailure(ctx, err)
		}
		if err == nil && s.cfg.Changed != nil {
			s.cfg.Changed(ctx, []string{rt.typ})
		}
	} else {
		resp = s.exec(ctx, s.store, nil, req, rt)
	}
	resp.Interaction = name
	resp.ResourceType = rt.typ
	return resp
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// storeFailure turns an error from the store into a response without leaking internals.
func (s *Service) storeFailure(ctx context.Context, err error) *Response {
	var oe *outcome.Error
	switch {
	case errors.As(err, &oe):
		return failure(oe, "", "")
	case errors.Is(err, store.ErrConflict):
		return failure(outcome.Conflict("the resource was changed by another request; retry"), "", "")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return failure(outcome.New(http.StatusServiceUnavailable, "timeout", "request cancelled or timed out"), "", "")
	}
	s.cfg.Log.ErrorContext(ctx, "store failure", "err", err)
	return failure(outcome.New(http.StatusInternalServerError, "exception", "internal error while accessing the store"), "", "")
}

// exec dispatches one request. r reads; tx is nil for a read-only request.
func (s *Service) exec(ctx context.Context, r store.Reader, tx store.Tx, req *Request, rt route) *Response {
	resp, err := s.dispatch(ctx, r, tx, req, rt)
	if err != nil {
		return s.failed(ctx, err, rt.typ)
	}
	return resp
}

// failed answers an interaction's error: its own OperationOutcome, or the store's failure.
func (s *Service) failed(ctx context.Context, err error, typ string) *Response {
	var oe *outcome.Error
	if errors.As(err, &oe) {
		return failure(oe, "", typ)
	}
	return s.storeFailure(ctx, err)
}

// plainCreate reports whether req is a create that needs nothing from a transaction
// before its write (no If-None-Exist), so that it can share one with other creates.
func plainCreate(req *Request, rt route) bool {
	return req.Method == http.MethodPost && req.IfNoneExist == "" && req.assignedID == "" &&
		rt.typ != "" && rt.id == "" && !rt.history && !rt.search && rt.operation == "" && rt.compType == "" && !rt.metadata
}

func (s *Service) dispatch(ctx context.Context, r store.Reader, tx store.Tx, req *Request, rt route) (*Response, error) {
	m := req.Method
	switch {
	case rt.metadata:
		if m != http.MethodGet {
			return nil, notAllowed(m, req.Path)
		}
		return s.capabilities(), nil
	case rt.operation == "everything" && rt.typ == "Patient" && rt.id != "":
		if m != http.MethodGet && m != http.MethodHead {
			return nil, notAllowed(m, req.Path)
		}
		return s.everything(ctx, r, req, rt.id)
	case readOnlyOperation(rt):
		if m != http.MethodGet && m != http.MethodPost {
			return nil, notAllowed(m, req.Path)
		}
		return s.translate(ctx, r, req, rt.id)
	case rt.operation != "":
		return nil, outcome.New(http.StatusNotImplemented, "not-supported", "operation $%s is not supported", rt.operation)
	case rt.compType != "":
		if m != http.MethodGet && m != http.MethodHead {
			return nil, notAllowed(m, req.Path)
		}
		return s.compartmentSearch(ctx, r, req, rt)
	case rt.typ == "" && rt.history:
		if m != http.MethodGet {
			return nil, notAllowed(m, req.Path)
		}
		return s.history(ctx, r, req, rt)
	case rt.typ == "":
		if m != http.MethodGet && m != http.MethodHead {
			return nil, notAllowed(m, req.Path)
		}
		return s.search(ctx, r, req, "")
	case rt.history:
		if m != http.MethodGet {
			return nil, notAllowed(m, req.Path)
		}
		if rt.version != "" {
			return s.vread(ctx, r, req, rt)
		}
		return s.history(ctx, r, req, rt)
	case rt.search:
		if m != http.MethodPost {
			return nil, notAllowed(m, req.Path)
		}
		return s.search(ctx, r, req, rt.typ)
	case rt.id != "":
		if !validID(rt.id) {
			return nil, outcome.BadRequest("invalid resource id %q", rt.id)
		}
		switch m {
		case http.MethodGet, http.MethodHead:
			return s.read(ctx, r, req, rt)
		case http.MethodPut:
			return s.update(ctx, tx, req, rt.typ, rt.id)
		case http.MethodPatch:
			return s.patch(ctx, tx, req, rt.typ, rt.id)
		case http.MethodDelete:
			return s.delete(ctx, tx, req, rt.typ, rt.id)
		}
	default:
		switch m {
		case http.MethodGet, http.MethodHead:
			return s.search(ctx, r, req, rt.typ)
		case http.MethodPost:
			return s.create(ctx, tx, req, rt.typ)
		case http.MethodPut:
			return s.conditionalUpdate(ctx, tx, req, rt.typ)
		case http.MethodPatch:
			return s.conditionalPatch(ctx, tx, req, rt.typ)
		case http.MethodDelete:
			return s.conditionalDelete(ctx, tx, req, rt.typ)
		}
	}
	return nil, notAllowed(m, req.Path)
}

func notAllowed(method, path string) error {
	return outcome.New(http.StatusMethodNotAllowed, "not-supported", "%s is not allowed on %s", method, path)
}

func failure(e *outcome.Error, name, typ string) *Response {
	return &Response{Status: e.Status, Body: e.JSON(), Outcome: true, Interaction: name, ResourceType: typ}
}

// interactionName names a request the way the CapabilityStatement does.
func interactionName(method string, rt route) string {
	switch {
	case rt.metadata:
		return "capabilities"
	case rt.operation != "":
		return "operation"
	case rt.typ == "" && rt.history:
		return "history-system"
	case rt.typ == "":
		if method == http.MethodPost {
			return "batch-transaction"
		}
		return "search-system"
	case rt.history && rt.version != "":
		return "vread"
	case rt.history && rt.id != "":
		return "history-instance"
	case rt.history:
		return "history-type"
	case rt.search, rt.compType != "":
		return "search-type"
	case rt.id != "":
		switch method {
		case http.MethodPut:
			return "update"
		case http.MethodPatch:
			return "patch"
		case http.MethodDelete:
			return "delete"
		}
		return "read"
	}
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "conditional-update"
	case http.MethodPatch:
		return "conditional-patch"
	case http.MethodDelete:
		return "conditional-delete"
	}
	return "search-type"
}

func (s *Service) fullURL(typ, id string) string {
	return fmt.Sprintf("%s/%s/%s", s.cfg.BaseURL, typ, id)
}

func isKnownType(t string) bool { return fhirschema.IsResourceType(t) }
