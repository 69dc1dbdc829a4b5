// Package fhirschema holds the structure of the FHIR R4 base specification, generated from the
// official StructureDefinitions (see internal/gen), and a structural validator for FHIR JSON.
//
// Status: the lookup API (ResourceTypes, IsResourceType, IsPrimitive, BaseType, IsSubtype,
// LookupElement, Elements) and the structural validator Validate are complete and tested.
//
// Type names are R4 type codes ("Patient", "HumanName", "code") and, for backbone elements,
// the element path that defines them ("Patient.contact", "Questionnaire.item").
package fhirschema

//go:generate go run ./internal/gen

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Element describes one element of a type as the JSON representation sees it.
type Element struct {
	Name    string   // "value" for value[x]
	Types   []string // FHIR type codes; backbone: "Patient.contact"; Resource-typed: "Resource"
	Choice  bool     // a choice element: JSON names are Name + capitalised type code
	Repeats bool     // max "*" or > 1: a JSON array
	Min     int      // minimum cardinality
	Summary bool     // part of the summary view (_summary=true)
}

type kind byte

const (
	kindResource  kind = 'r'
	kindComplex   kind = 'c'
	kindPrimitive kind = 'p'
	kindBackbone  kind = 'b'
)

// typeInfo is one type with its inherited elements resolved.
type typeInfo struct {
	name     string
	base     string
	kind     kind
	abstract bool
	regex    *regexp.Regexp // primitives: the anchored value regex (nil for xhtml)
	elems    []Element      // inherited first, in specification order
	byName   map[string]int // element name -> index in elems
	props    map[string]prop
}

// prop is one JSON property name a type accepts: "valueQuantity" -> element value, Quantity.
type prop struct {
	elem int
	typ  *typeInfo
}

type schema struct {
	types     map[string]*typeInfo
	resources []string
}

// load parses the generated table once; the result is shared and never modified.
var load = sync.OnceValue(func() *schema {
	s, err := parse(schemaTable)
	if err != nil {
		panic(fmt.Sprintf("fhirschema: generated table is corrupt (rerun go generate): %v", err))
	}
	return s
})

type rawType struct {
	info  *typeInfo
	own   []Element
	regex string
}

func parse(table string) (*schema, error) {
	var raws []*rawType
	var cur *rawType
	for line := range strings.Lines(table) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			continue
		}
		tag, rest, _ := strings.Cut(line, "|")
		switch tag {
		case "T":
			f := strings.Split(rest, "|")
			if len(f) != 4 || len(f[2]) != 1 {
				return nil, fmt.Errorf("bad type line %q", line)
			}
			cur = &rawType{info: &typeInfo{name: f[0], base: f[1], kind: kind(f[2][0]), abstract: f[3] == "1"}}
			raws = append(raws, cur)
		case "X":
			if cur == nil {
				return nil, fmt.Errorf("regex before a type: %q", line)
			}
			cur.regex = rest
		case "E":
			f := strings.Split(rest, "|")
			if cur == nil || len(f) != 4 {
				return nil, fmt.Errorf("bad element line %q", line)
			}
			min, err := strconv.Atoi(f[3])
			if err != nil {
				return nil, fmt.Errorf("bad element line %q: %w", line, err)
			}
			cur.own = append(cur.own, Element{
				Name:    f[0],
				Types:   strings.Split(f[1], ","),
				Choice:  strings.Contains(f[2], "c"),
				Repeats: strings.Contains(f[2], "r"),
				Summary: strings.Contains(f[2], "s"),
				Min:     min,
			})
		default:
			return nil, fmt.Errorf("bad line %q", line)
		}
	}
	s := &schema{types: make(map[string]*typeInfo, len(raws))}
	byName := make(map[string]*rawType, len(raws))
	for _, r := range raws {
		s.types[r.info.name] = r.info
		byName[r.info.name] = r
		if r.regex != "" {
			re, err := regexp.Compile(`^(?:` + r.regex + `)$`)
			if err != nil {
				return nil, fmt.Errorf("%s regex: %w", r.info.name, err)
			}
			r.info.regex = re
		}
		if r.info.kind == kindResource && !r.info.abstract {
			s.resources = append(s.resources, r.info.name)
		}
	}
	slices.Sort(s.resources)
	// Flatten inheritance: a type's elements are its base's followed by its own.
	var resolve func(r *rawType, depth int) error
	resolve = func(r *rawType, depth int) error {
		t := r.info
		if t.byName != nil {
			return nil
		}
		if depth > 20 {
			return fmt.Errorf("%s: base type cycle", t.name)
		}
		var elems []Element
		if t.base != "" {
			b := byName[t.base]
			if b == nil {
				return fmt.Errorf("%s: unknown base %s", t.name, t.base)
			}
			if err := resolve(b, depth+1); err != nil {
				return err
			}
			elems = append(elems, b.info.elems...)
		}
		t.elems = append(elems, r.own...)
		t.byName = make(map[string]int, len(t.elems))
		for i, e := range t.elems {
			if _, dup := t.byName[e.Name]; dup {
				return fmt.Errorf("%s: element %s defined twice", t.name, e.Name)
			}
			t.byName[e.Name] = i
		}
		return nil
	}
	for _, r := range raws {
		if err := resolve(r, 0); err != nil {
			return nil, err
		}
	}
	for _, t := range s.types {
		if len(t.elems) > maxElements {
			return nil, fmt.Errorf("%s: %d elements, more than %d", t.name, len(t.elems), maxElements)
		}
		t.props = make(map[string]prop, len(t.elems))
		for i, e := range t.elems {
			for _, code := range e.Types {
				ct := s.types[code]
				if ct == nil {
					return nil, fmt.Errorf("%s.%s: unknown type %s", t.name, e.Name, code)
				}
				name := e.Name
				if e.Choice {
					name += strings.ToUpper(code[:1]) + code[1:]
				}
				if _, dup := t.props[name]; dup {
					return nil, fmt.Errorf("%s: JSON property %s defined twice", t.name, name)
				}
				t.props[name] = prop{elem: i, typ: ct}
			}
		}
	}
	return s, nil
}

// maxElements bounds the elements of one type so the validator can track them in a bitset.
const maxElements = 256

func lookupType(name string) *typeInfo { return load().types[name] }

// ResourceTypes returns the 146 concrete R4 resource types, sorted. The caller may modify it.
func ResourceTypes() []string { return slices.Clone(load().resources) }

// IsResourceType reports whether name is a concrete R4 resource type (not Resource or
// DomainResource).
func IsResourceType(name string) bool {
	t := lookupType(name)
	return t != nil && t.kind == kindResource && !t.abstract
}

// IsPrimitive reports whether typeName is an R4 primitive type ("string", "dateTime", ...).
func IsPrimitive(typeName string) bool {
	t := lookupType(typeName)
	return t != nil && t.kind == kindPrimitive
}

// IsType reports whether typeName is known: a resource, data type, primitive, abstract root or
// backbone element path.
func IsType(typeName string) bool { return lookupType(typeName) != nil }

// BaseType returns the type typeName specialises per the specification's baseDefinition
// (Age -> Quantity, code -> string, Patient -> DomainResource, Patient.contact ->
// BackboneElement), or "" for the roots Element and Resource and for unknown types.
func BaseType(typeName string) string {
	if t := lookupType(typeName); t != nil {
		return t.base
	}
	return ""
}

// IsSubtype reports whether typeName is base or derives from it. It is reflexive for known
// types and false when typeName is unknown.
func IsSubtype(typeName, base string) bool {
	s := load()
	for t := s.types[typeName]; t != nil; t = s.types[t.base] {
		if t.name == base {
			return true
		}
	}
	return false
}

// LookupElement returns the element name of typeName, inherited ones included (id, meta,
// extension...). name is the element name, so "value" for value[x], not "valueQuantity".
// Primitive types have only id and extension: their value is not an element.
func LookupElement(typeName, name string) (Element, bool) {
	t := lookupType(typeName)
	if t == nil {
		return Element{}, false
	}
	i, ok := t.byName[name]
	if !ok {
		return Element{}, false
	}
	return cloneElement(t.elems[i]), true
}

// Elements returns every element of typeName, inherited first, in specification order, or nil
// for an unknown type. The caller may modify the result.
func Elements(typeName string) []Element {
	t := lookupType(typeName)
	if t == nil {
		return nil
	}
	out := make([]Element, len(t.elems))
	for i, e := range t.elems {
		out[i] = cloneElement(e)
	}
	return out
}

// cloneElement copies Types so callers cannot change the shared schema.
func cloneElement(e Element) Element {
	e.Types = slices.Clone(e.Types)
	return e
}
