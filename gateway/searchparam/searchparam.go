// Package searchparam is the registry of FHIR search parameters: the official R4
// definitions, generated into the binary, plus the SearchParameter resources a server
// adds at run time.
package searchparam

//go:generate go run ./internal/gen -o zz_generated.go

import "sort"

// Definition is a search parameter as a SearchParameter resource defines it.
type Definition struct {
	URL        string
	Code       string
	Type       string // number | date | string | token | reference | composite | quantity | uri | special
	Base       []string
	Expression string // FHIRPath; empty for the few defined without one
	Target     []string
	Modifier   []string
	Comparator []string
	Component  []Component
}

// Component is one part of a composite search parameter.
type Component struct {
	Definition string // canonical URL of the component's SearchParameter
	Expression string // FHIRPath relative to the composite's own expression result
}

// Registry answers which search parameters apply to a resource type. A Registry is
// immutable; With returns a new one.
type Registry struct {
	byType map[string]map[string]*Definition
	byURL  map[string]*Definition
}

// Official returns the registry of the R4 search parameters.
func Official() *Registry {
	r := &Registry{byType: map[string]map[string]*Definition{}, byURL: map[string]*Definition{}}
	for i := range official {
		r.add(&official[i])
	}
	return r
}

func (r *Registry) add(d *Definition) {
	r.byURL[d.URL] = d
	for _, b := range d.Base {
		m := r.byType[b]
		if m == nil {
			m = map[string]*Definition{}
			r.byType[b] = m
		}
		m[d.Code] = d
	}
}

// With returns a registry that also holds defs (replacing any with the same URL).
func (r *Registry) With(defs ...Definition) *Registry {
	n := &Registry{byType: map[string]map[string]*Definition{}, byURL: map[string]*Definition{}}
	for _, d := range r.byURL {
		n.add(d)
	}
	for i := range defs {
		d := defs[i]
		if old, ok := n.byURL[d.URL]; ok {
			n.remove(old)
		}
		n.add(&d)
	}
	return n
}

func (r *Registry) remove(d *Definition) {
	delete(r.byURL, d.URL)
	for _, b := range d.Base {
		if m := r.byType[b]; m != nil && m[d.Code] == d {
			delete(m, d.Code)
		}
	}
}

// Lookup returns the parameter code of a resource type, including the parameters every
// resource has (base Resource and DomainResource).
func (r *Registry) Lookup(resourceType, code string) (*Definition, bool) {
	if d, ok := r.byType[resourceType][code]; ok {
		return d, true
	}
	for _, b := range []string{"DomainResource", "Resource"} {
		if d, ok := r.byType[b][code]; ok {
			return d, true
		}
	}
	return nil, false
}

// ByURL returns the parameter with a canonical URL.
func (r *Registry) ByURL(url string) (*Definition, bool) {
	d, ok := r.byURL[url]
	return d, ok
}

// ForType lists the parameters defined on a resource type itself (not those inherited
// from Resource/DomainResource), sorted by code.
func (r *Registry) ForType(resourceType string) []*Definition {
	m := r.byType[resourceType]
	out := make([]*Definition, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

type compartmentMember struct {
	Compartment string // Patient, Encounter, RelatedPerson, Practitioner, Device
	Type        string
	Params      []string
}

// Compartment returns, for the official compartment named code ("Patient"), the
// reference parameters that put a resource of each type in it. The map is the
// caller's own.
func Compartment(code string) map[string][]string {
	out := map[string][]string{}
	for _, m := range officialCompartments {
		if m.Compartment == code {
			out[m.Type] = append([]string(nil), m.Params...)
		}
	}
	return out
}
