package fhirpath

import (
	"context"
	"strings"
	"time"
)

// env is the state of one evaluation.
type env struct {
	ctx         context.Context
	model       Model
	resolver    Resolver
	vars        map[string]Collection
	resource    Collection // %resource
	contextColl Collection // %context
	hasContext  bool
	now         time.Time
	strict      bool
	// mixedContext allows type names at the head of a path that do not match
	// the context, as in search parameters shared by several resource types.
	mixedContext bool
	trace        func(string, Collection)

	// iteration state inside where/select/repeat/aggregate...
	index    int
	hasIndex bool
	total    Collection
}

// node is an expression evaluated against the implicit input ($this).
type node interface {
	eval(e *env, in Collection) (Collection, error)
}

// invoker is an invocation applied to an explicit focus (the right side of '.').
type invoker interface {
	invoke(e *env, in, focus Collection) (Collection, error)
}

type literalNode struct{ value Collection }

func (n *literalNode) eval(*env, Collection) (Collection, error) { return n.value, nil }

type pathNode struct {
	left  node
	right node // memberNode, funcNode or specialNode
}

func (n *pathNode) eval(e *env, in Collection) (Collection, error) {
	focus, err := n.left.eval(e, in)
	if err != nil {
		return nil, err
	}
	if e.strict {
		if err := n.checkAsMember(e); err != nil {
			return nil, err
		}
	}
	if inv, ok := n.right.(invoker); ok {
		return inv.invoke(e, in, focus)
	}
	return n.right.eval(e, focus)
}

// checkAsMember rejects (x as T).name when T has no element name: the
// expression is wrong whatever the data (a semantic error in strict mode).
func (n *pathNode) checkAsMember(e *env) error {
	t, ok := n.left.(*typeNode)
	m, isMember := n.right.(*memberNode)
	if !ok || !isMember || t.op != "as" || t.spec.namespace == "System" || !e.model.IsType(t.spec.name) {
		return nil
	}
	if _, found := e.model.Element(t.spec.name, m.name); !found {
		return evalError("%s has no element %q", t.spec.name, m.name)
	}
	return nil
}

type indexNode struct{ left, index node }

func (n *indexNode) eval(e *env, in Collection) (Collection, error) {
	c, err := n.left.eval(e, in)
	if err != nil {
		return nil, err
	}
	idx, err := n.index.eval(e, in)
	if err != nil {
		return nil, err
	}
	i, ok, err := singletonInt(idx)
	if err != nil || !ok {
		return nil, err
	}
	if i < 0 || int(i) >= len(c) {
		return nil, nil
	}
	return Collection{c[i]}, nil
}

type specialNode struct{ name string }

func (n *specialNode) eval(e *env, in Collection) (Collection, error) {
	switch n.name {
	case "$this":
		return in, nil
	case "$index":
		if !e.hasIndex {
			return nil, evalError("$index used outside an iteration")
		}
		return Collection{intItem(int64(e.index))}, nil
	default: // $total
		return e.total, nil
	}
}

type varNode struct{ name string }

func (n *varNode) eval(e *env, in Collection) (Collection, error) {
	if v, ok := e.vars[n.name]; ok {
		return v, nil
	}
	switch n.name {
	case "resource", "rootResource":
		return e.resource, nil
	case "context":
		return e.contextColl, nil
	case "ucum":
		return Collection{stringItem("http://unitsofmeasure.org")}, nil
	case "sct":
		return Collection{stringItem("http://snomed.info/sct")}, nil
	case "loinc":
		return Collection{stringItem("http://loinc.org")}, nil
	}
	if strings.HasPrefix(n.name, "vs-") {
		return Collection{stringItem("http://hl7.org/fhir/ValueSet/" + n.name[3:])}, nil
	}
	if strings.HasPrefix(n.name, "ext-") {
		return Collection{stringItem("http://hl7.org/fhir/StructureDefinition/" + n.name[4:])}, nil
	}
	return nil, evalError("undefined environment variable %%%s", n.name)
}

type negNode struct{ operand node }

func (n *negNode) eval(e *env, in Collection) (Collection, error) {
	c, err := n.operand.eval(e, in)
	if err != nil || len(c) == 0 {
		return nil, err
	}
	if len(c) > 1 {
		return nil, evalError("unary minus on a collection of %d items", len(c))
	}
	v, ok := systemValue(c[0])
	if !ok {
		return nil, evalError("unary minus on %s", c[0].typ)
	}
	switch x := v.node.(type) {
	case int64:
		return Collection{intItem(-x)}, nil
	case Decimal:
		return Collection{decimalItem(x.Neg())}, nil
	case Quantity:
		return Collection{quantityItem(Quantity{x.Value.Neg(), x.Unit})}, nil
	}
	return nil, evalError("unary minus on %s", v.typ)
}

// memberNode navigates to child elements; at the head of a path a type name
// matching the input's type selects the input itself (Patient.name).
type memberNode struct {
	name string
	head bool
}

func (n *memberNode) eval(e *env, in Collection) (Collection, error) {
	return n.invoke(e, in, in)
}

func (n *memberNode) invoke(e *env, _ Collection, focus Collection) (Collection, error) {
	var out Collection
	if n.head && n.name != "" && n.name[0] >= 'A' && n.name[0] <= 'Z' {
		matched := false
		for _, it := range focus {
			if !it.system && (it.typ == n.name || e.model.IsSubtype(it.typ, n.name)) {
				out = append(out, it)
				matched = true
			}
		}
		if matched {
			return out, nil
		}
		if e.model.IsType(n.name) || isResourceNode(focus) {
			if e.strict && !e.mixedContext {
				return nil, evalError("%s does not match the context type", n.name)
			}
			return nil, nil
		}
	}
	var err error
	for _, it := range focus {
		out, err = e.children(out, it, n.name)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isResourceNode(c Collection) bool {
	for _, it := range c {
		if m, ok := it.node.(map[string]any); ok {
			if _, ok := m["resourceType"]; ok {
				return true
			}
		}
	}
	return false
}

// children appends the child elements called name of it to out.
func (e *env) children(out Collection, it Item, name string) (Collection, error) {
	if it.system {
		if it.typ == typeSimpleTypeInfo {
			if v, ok := it.node.(map[string]any)[name].(string); ok {
				out = append(out, stringItem(v))
			}
		}
		return out, nil
	}
	m, ok := it.node.(map[string]any)
	if !ok {
		// a FHIR primitive: only id and extension, held in the "_name" sibling
		if it.ext != nil && (name == "extension" || name == "id") {
			return e.appendValue(out, it.ext[name], nil, typeOfPrimitiveChild(name)), nil
		}
		return out, nil
	}
	if it.typ != "" {
		if el, ok := e.model.Element(it.typ, name); ok {
			if el.Choice {
				return e.appendChoice(out, m, name, el.Types), nil
			}
			t := ""
			if len(el.Types) > 0 {
				t = el.Types[0]
			}
			ext, _ := m["_"+name]
			return e.appendValue(out, m[name], ext, t), nil
		}
		if e.model.IsType(it.typ) {
			if base, t, ok := e.choiceName(it.typ, name); ok {
				// FHIRPath R4 has no lenient polymorphic mode: valueQuantity is
				// not an element name.
				return nil, evalError("%s.%s is not an element: use %s.ofType(%s)", it.typ, name, base, t)
			}
			if e.strict {
				return nil, evalError("%s has no element %q", it.typ, name)
			}
		}
	}
	v, found := m[name]
	ext, foundExt := m["_"+name]
	if !found && !foundExt {
		return e.appendChoice(out, m, name, nil), nil
	}
	return e.appendValue(out, v, ext, inferChildType(name)), nil
}

func typeOfPrimitiveChild(name string) string {
	if name == "extension" {
		return "Extension"
	}
	return "string"
}

// inferChildType is the type of well-known elements when no model knows the parent type.
func inferChildType(name string) string {
	switch name {
	case "extension", "modifierExtension":
		return "Extension"
	case "id":
		return "string"
	}
	return ""
}

// appendChoice appends the value of the choice element name[x]; types, if
// known, restricts the accepted suffixes.
func (e *env) appendChoice(out Collection, m map[string]any, name string, types []string) Collection {
	for k, v := range m {
		key := k
		if strings.HasPrefix(key, "_") {
			key = key[1:]
			if _, dup := m[key]; dup {
				continue // handled with the value
			}
			v = nil
		}
		if len(key) <= len(name) || !strings.HasPrefix(key, name) || key[len(name)] < 'A' || key[len(name)] > 'Z' {
			continue
		}
		suffix := key[len(name):]
		t := ""
		if types != nil {
			for _, ct := range types {
				if upperFirst(ct) == suffix {
					t = ct
					break
				}
			}
			if t == "" {
				continue
			}
		} else {
			t = typeFromSuffix(suffix)
		}
		ext, _ := m["_"+key]
		out = e.appendValue(out, v, ext, t)
	}
	return out
}

// appendValue appends the JSON value v (maybe an array) of FHIR type t, with
// the primitive extension sibling ext (maybe an array parallel to v).
func (e *env) appendValue(out Collection, v, ext any, t string) Collection {
	switch x := v.(type) {
	case nil:
		if ext != nil {
			if xs, ok := ext.([]any); ok {
				for _, xe := range xs {
					if em, ok := xe.(map[string]any); ok {
						out = append(out, Item{typ: t, ext: em})
					}
				}
			} else if em, ok := ext.(map[string]any); ok {
				out = append(out, Item{typ: t, ext: em})
			}
		}
		return out
	case []any:
		exts, _ := ext.([]any)
		for i, el := range x {
			var em map[string]any
			if i < len(exts) {
				em, _ = exts[i].(map[string]any)
			}
			if el == nil && em == nil {
				continue
			}
			out = append(out, e.makeItem(el, em, t))
		}
		return out
	default:
		em, _ := ext.(map[string]any)
		return append(out, e.makeItem(v, em, t))
	}
}

func (e *env) makeItem(v any, ext map[string]any, t string) Item {
	if m, ok := v.(map[string]any); ok {
		if rt, ok := m["resourceType"].(string); ok && (t == "" || t == "Resource" || t == "DomainResource" || e.model.IsSubtype(rt, t)) {
			t = rt
		}
	}
	return Item{typ: t, node: v, ext: ext}
}

// choiceName splits a JSON choice property name (valueQuantity) of typ into
// its element (value) and type (Quantity).
func (e *env) choiceName(typ, name string) (base, t string, ok bool) {
	for i := 1; i < len(name); i++ {
		if name[i] < 'A' || name[i] > 'Z' {
			continue
		}
		el, found := e.model.Element(typ, name[:i])
		if !found || !el.Choice {
			continue
		}
		for _, ct := range el.Types {
			if upperFirst(ct) == name[i:] {
				return name[:i], ct, true
			}
		}
	}
	return "", "", false
}
