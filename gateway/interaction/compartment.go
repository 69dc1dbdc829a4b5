package interaction

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"

	"github.com/shch/fhirgw/gateway/fhirdate"
	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/store"
)

// compartmentSearch answers GET /Patient/[id]/[type]: a search of [type] limited to
// the resources the official Patient CompartmentDefinition puts in that patient's
// compartment. Other compartments are not offered.
func (s *Service) compartmentSearch(ctx context.Context, r store.Reader, req *Request, rt route) (*Response, error) {
	if rt.typ != "Patient" {
		return nil, outcome.New(http.StatusNotImplemented, "not-supported", "only the Patient compartment is supported, not %s", rt.typ)
	}
	if !validID(rt.id) {
		return nil, outcome.BadRequest("invalid resource id %q", rt.id)
	}
	target := rt.compType
	if target == "*" {
		target = ""
	} else if !isKnownType(target) {
		return nil, outcome.NotFound("unknown resource type %q", target)
	}
	params := map[string][]string{}
	for t, ps := range s.patientCompartment {
		if target == "" || t == target {
			params[t] = ps
		}
	}
	if target != "" && len(params) == 0 {
		return nil, outcome.BadRequest("%s is not in the Patient compartment", target)
	}
	c := store.Clause{Compartment: &store.Compartment{Type: "Patient", ID: rt.id, Params: params}}
	return s.searchWith(ctx, r, req, target, []store.Clause{c}, "Patient/"+rt.id+"/"+rt.compType)
}

// everything answers Patient/[id]/$everything: the patient and every resource in its
// compartment, paged like a search (no resource twice across pages), with the
// operation's start, end, _since, _type and _count.
func (s *Service) everything(ctx context.Context, r store.Reader, req *Request, id string) (*Response, error) {
	if !validID(id) {
		return nil, outcome.BadRequest("invalid resource id %q", id)
	}
	p, err := r.Read(ctx, "Patient", id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, outcome.NotFound("Patient/%s is not known", id)
	case err != nil:
		return nil, err
	case p.Deleted:
		return nil, outcome.Gone("Patient/%s was deleted", id)
	}
	q := req.Query
	// The operation's own parameters become search clauses; _count and _page keep
	// their search meaning.
	search := url.Values{}
	for _, k := range []string{"_count", "_page", "_offset", "_total", "_summary", "_elements"} {
		if v, ok := q[k]; ok {
			search[k] = v
		}
	}
	var types []string
	for _, v := range q["_type"] {
		for _, t := range splitValues(v) {
			if !isKnownType(t) {
				return nil, outcome.BadRequest("_type names an unknown resource type %q", t)
			}
			types = append(types, t)
		}
		search.Add("_type", v)
	}
	sq, info, err := s.parseSearch("", search, true)
	if err != nil {
		return nil, err
	}
	params := map[string][]string{}
	for t, ps := range s.patientCompartment {
		if len(types) == 0 || slices.Contains(types, t) {
			params[t] = ps
		}
	}
	comp := &store.Compartment{Type: "Patient", ID: id, Params: params, IncludeSelf: len(types) == 0 || slices.Contains(types, "Patient")}
	sq.Where = append(sq.Where, store.Clause{Compartment: comp})
	if len(sq.Types) == 0 {
		for t := range params {
			sq.Types = append(sq.Types, t)
		}
		if comp.IncludeSelf && !slices.Contains(sq.Types, "Patient") {
			sq.Types = append(sq.Types, "Patient")
		}
		sort.Strings(sq.Types)
	}
	if v := q.Get("_since"); v != "" {
		d, err := fhirdate.Parse(v)
		if err != nil {
			return nil, outcome.BadRequest("_since %q is not an instant", v)
		}
		sq.Where = append(sq.Where, store.Clause{Param: "_lastUpdated", Kind: store.KindDate, Dates: []store.DateMatch{{Prefix: "ge", Low: d.Low, High: d.High}}})
		info.applied.Set("_since", v)
	}
	// start and end bound the clinical date ("date" where the type has one); resources
	// without such a date are always part of the record.
	if start, end := q.Get("start"), q.Get("end"); start != "" || end != "" {
		var m []store.DateMatch
		if start != "" {
			d, err := fhirdate.Parse(start)
			if err != nil {
				return nil, outcome.BadRequest("start %q is not a date", start)
			}
			m = append(m, store.DateMatch{Prefix: "ge", Low: d.Low, High: d.High})
			info.applied.Set("start", start)
		}
		if end != "" {
			d, err := fhirdate.Parse(end)
			if err != nil {
				return nil, outcome.BadRequest("end %q is not a date", end)
			}
			m = append(m, store.DateMatch{Prefix: "le", Low: d.Low, High: d.High})
			info.applied.Set("end", end)
		}
		yes := true
		var within []store.Clause
		for _, dm := range m {
			within = append(within, store.Clause{Param: "date", Kind: store.KindDate, Dates: []store.DateMatch{dm}})
		}
		sq.Where = append(sq.Where, store.Clause{Any: []store.Clause{
			{Param: "date", Kind: store.KindDate, Missing: &yes},
			{All: within},
		}})
	}
	return s.runSearch(ctx, r, sq, info, "Patient/"+id+"/$everything")
}
