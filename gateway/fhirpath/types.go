package fhirpath

import "strings"

// typeSpec is a type name in an is/as/ofType expression.
type typeSpec struct {
	namespace string // "", "FHIR" or "System"
	name      string
}

func (t typeSpec) String() string {
	if t.namespace == "" {
		return t.name
	}
	return t.namespace + "." + t.name
}

var systemTypeNames = map[string]bool{
	"Boolean": true, "String": true, "Integer": true, "Decimal": true, "Date": true, "DateTime": true,
	"Time": true, "Quantity": true, "Any": true,
}

// known reports whether the type specifier names a type the engine knows.
func (e *env) knownType(t typeSpec) bool {
	switch t.namespace {
	case "System":
		// any System name is acceptable: unknown ones just match nothing
		// (the suite's Patient.is(System.Patient) is false, not an error)
		return true
	case "FHIR":
		return e.model.IsType(t.name) || !e.strictTypes()
	}
	return systemTypeNames[t.name] || e.model.IsType(t.name) || !e.strictTypes()
}

// strictTypes is true when the model knows FHIR types, so unknown names are errors.
func (e *env) strictTypes() bool { return e.model.IsType("Resource") }

// isType reports whether it is of type t (or a subtype).
func (e *env) isType(it Item, t typeSpec) bool {
	if it.system {
		if t.namespace == "FHIR" {
			return false
		}
		if t.name == "Any" {
			return true
		}
		return it.typ == "System."+t.name
	}
	if t.namespace == "System" {
		return false
	}
	if it.typ == t.name || (it.typ != "" && e.model.IsSubtype(it.typ, t.name)) {
		return true
	}
	// untyped JSON (no model): guess from the JSON value
	if it.typ == "" && t.namespace == "" {
		if sv, ok := inferSystem(it.node); ok {
			return strings.EqualFold(sv.typ, "System."+t.name)
		}
	}
	return false
}

type typeNode struct {
	op   string // "is" or "as"
	left node
	spec typeSpec
}

func (n *typeNode) eval(e *env, in Collection) (Collection, error) {
	c, err := n.left.eval(e, in)
	if err != nil {
		return nil, err
	}
	if !e.knownType(n.spec) {
		return nil, evalError("unknown type %s", n.spec)
	}
	if n.op == "is" {
		if len(c) == 0 {
			return nil, nil
		}
		if len(c) > 1 {
			return nil, evalError("'is' needs a single item, got %d", len(c))
		}
		return Collection{boolItem(e.isType(c[0], n.spec))}, nil
	}
	// 'as' filters: search parameters apply it to repeating elements
	// ((ActivityDefinition.useContext.value as Quantity)).
	return e.ofType(c, n.spec), nil
}

// ofType implements ofType() and as: unlike is, a FHIR primitive must have
// exactly the type asked for (the suite's Patient.gender.as(string) is empty
// although code specialises string).
func (e *env) ofType(c Collection, t typeSpec) Collection {
	var out Collection
	for _, it := range c {
		if !it.system && it.typ != t.name && isPrimitiveFHIR(it.typ) {
			continue
		}
		if e.isType(it, t) {
			out = append(out, it)
		}
	}
	return out
}

// typeSpecNode is a type name passed as a function argument (is(T), as(T), ofType(T)).
type typeSpecNode struct{ spec typeSpec }

func (n *typeSpecNode) eval(*env, Collection) (Collection, error) {
	return nil, evalError("type name %s used as a value", n.spec)
}

// typeInfo returns the namespace and name of an item's type (type()).
func typeInfo(it Item) (ns, name string) {
	if it.system {
		return "System", strings.TrimPrefix(it.typ, "System.")
	}
	return "FHIR", it.typ
}

func isPrimitiveFHIR(t string) bool {
	_, ok := fhirPrimitiveKinds[t]
	return ok
}
