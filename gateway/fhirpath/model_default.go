package fhirpath

import (
	"sync"

	"github.com/shch/fhirgw/gateway/fhirschema"
)

// DefaultModel is the FHIR R4 model from gateway/fhirschema.
func DefaultModel() Model { return schemaModel() }

// r4Model adapts fhirschema to Model. Element lookups are precomputed into
// one map so navigation does not allocate.
type r4Model struct {
	elements map[string]map[string]Element // type -> element name -> element
}

// schemaModel builds the table once; it is never modified afterwards.
var schemaModel = sync.OnceValue(func() *r4Model {
	m := &r4Model{elements: map[string]map[string]Element{}}
	var visit func(t string)
	visit = func(t string) {
		if _, done := m.elements[t]; done {
			return
		}
		els := fhirschema.Elements(t)
		byName := make(map[string]Element, len(els))
		m.elements[t] = byName
		isResource := fhirschema.IsSubtype(t, "Resource")
		for _, el := range els {
			if isResource && el.Name == "id" {
				// R4 gives Resource.id the FHIRPath type System.String; its JSON
				// and the suite's expected results use the FHIR type id.
				el.Types = []string{"id"}
			}
			byName[el.Name] = Element{Types: el.Types, Choice: el.Choice, Repeats: el.Repeats}
			for _, ct := range el.Types {
				visit(ct)
			}
		}
		if b := fhirschema.BaseType(t); b != "" {
			visit(b)
		}
	}
	for _, rt := range fhirschema.ResourceTypes() {
		visit(rt)
	}
	for _, t := range []string{"Resource", "DomainResource", "Element", "BackboneElement", "MoneyQuantity", "SimpleQuantity"} {
		visit(t)
	}
	return m
})

func (m *r4Model) Element(typeName, name string) (Element, bool) {
	els, ok := m.elements[typeName]
	if !ok {
		return Element{}, false
	}
	el, ok := els[name]
	return el, ok
}

func (m *r4Model) IsSubtype(t, base string) bool { return fhirschema.IsSubtype(t, base) }

func (m *r4Model) IsType(name string) bool { return fhirschema.IsType(name) }
