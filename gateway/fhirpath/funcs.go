package fhirpath

import (
	"fmt"
	"sort"
)

// funcNode is a function invocation.
type funcNode struct {
	name string
	args []node
	def  *funcDef
}

type funcDef struct {
	min, max int
	fn       func(c *call) (Collection, error)
}

// call holds one function invocation's state.
type call struct {
	e     *env
	in    Collection // the $this context, for non-lambda arguments
	focus Collection // the input of the function
	args  []node
	name  string
}

var functions map[string]*funcDef

func init() {
	functions = builtinFunctions()
}

// SemanticError reports a call to an unknown function or with the wrong number of arguments.
type SemanticError struct{ Msg string }

func (e *SemanticError) Error() string { return "fhirpath: " + e.Msg }

func newFunc(name string, args []node, pos int) (node, error) {
	def, ok := functions[name]
	if !ok {
		return nil, &SemanticError{fmt.Sprintf("unknown function %s() at %d", name, pos)}
	}
	if len(args) < def.min || len(args) > def.max {
		return nil, &SemanticError{fmt.Sprintf("%s() takes %d to %d arguments, got %d", name, def.min, def.max, len(args))}
	}
	return &funcNode{name: name, args: args, def: def}, nil
}

func (n *funcNode) eval(e *env, in Collection) (Collection, error) {
	return n.invoke(e, in, in)
}

func (n *funcNode) invoke(e *env, in, focus Collection) (Collection, error) {
	if err := e.ctx.Err(); err != nil {
		return nil, err
	}
	return n.def.fn(&call{e: e, in: in, focus: focus, args: n.args, name: n.name})
}

// arg evaluates argument i against the $this context.
func (c *call) arg(i int) (Collection, error) {
	if i >= len(c.args) {
		return nil, nil
	}
	return c.args[i].eval(c.e, c.in)
}

func (c *call) hasArg(i int) bool { return i < len(c.args) }

// lambda evaluates argument i with $this = it and $index = idx.
func (c *call) lambda(i int, it Item, idx int) (Collection, error) {
	sub := *c.e
	sub.index, sub.hasIndex = idx, true
	return c.args[i].eval(&sub, Collection{it})
}

func (c *call) typeArg(i int) (typeSpec, error) {
	switch a := c.args[i].(type) {
	case *typeSpecNode:
		return a.spec, nil
	case *memberNode:
		return typeSpec{name: a.name}, nil
	case *pathNode:
		if l, ok := a.left.(*memberNode); ok {
			if r, ok := a.right.(*memberNode); ok {
				return typeSpec{namespace: l.name, name: r.name}, nil
			}
		}
	}
	return typeSpec{}, evalError("%s() needs a type name", c.name)
}

// argInt evaluates an optional integer argument.
func (c *call) argInt(i int) (int64, bool, error) {
	v, err := c.arg(i)
	if err != nil {
		return 0, false, err
	}
	return singletonInt(v)
}

func singletonInt(v Collection) (int64, bool, error) {
	if len(v) == 0 {
		return 0, false, nil
	}
	if len(v) > 1 {
		return 0, false, evalError("expected a single integer, got %d items", len(v))
	}
	s, ok := systemValue(v[0])
	if ok {
		if n, isInt := s.node.(int64); isInt {
			return n, true, nil
		}
	}
	return 0, false, evalError("expected an integer, got %s", v[0].typ)
}

// argString evaluates a string argument; ok is false when it is empty.
func (c *call) argString(i int) (string, bool, error) {
	v, err := c.arg(i)
	if err != nil || len(v) == 0 {
		return "", false, err
	}
	if len(v) > 1 {
		return "", false, evalError("%s(): expected a single string argument", c.name)
	}
	s, ok := systemValue(v[0])
	if ok {
		if str, isS := s.node.(string); isS {
			return str, true, nil
		}
	}
	return "", false, evalError("%s(): expected a string argument, got %s", c.name, v[0].typ)
}

// single returns the single input item's System value; ok false when input is empty.
func (c *call) single() (Item, bool, error) {
	return singleSystem(c.focus, c.name+"()")
}

func one(it Item) Collection       { return Collection{it} }
func boolResult(b bool) Collection { return Collection{boolItem(b)} }
func fixed(n int) (int, int)       { return n, n }
func def(min, max int, fn func(c *call) (Collection, error)) *funcDef {
	return &funcDef{min: min, max: max, fn: fn}
}

func builtinFunctions() map[string]*funcDef {
	m := map[string]*funcDef{
		// existence
		"empty": def(0, 0, func(c *call) (Collection, error) { return boolResult(len(c.focus) == 0), nil }),
		"exists": def(0, 1, func(c *call) (Collection, error) {
			if !c.hasArg(0) {
				return boolResult(len(c.focus) > 0), nil
			}
			out, err := filter(c)
			return boolResult(len(out) > 0), err
		}),
		"all": def(1, 1, func(c *call) (Collection, error) {
			for i, it := range c.focus {
				r, err := c.lambda(0, it, i)
				if err != nil {
					return nil, err
				}
				b, known, err := toBool3(r)
				if err != nil {
					return nil, err
				}
				if !known || !b {
					return boolResult(false), nil
				}
			}
			return boolResult(true), nil
		}),
		"allTrue":  def(0, 0, func(c *call) (Collection, error) { return boolAgg(c, true, true) }),
		"anyTrue":  def(0, 0, func(c *call) (Collection, error) { return boolAgg(c, false, true) }),
		"allFalse": def(0, 0, func(c *call) (Collection, error) { return boolAgg(c, true, false) }),
		"anyFalse": def(0, 0, func(c *call) (Collection, error) { return boolAgg(c, false, false) }),
		"subsetOf": def(1, 1, func(c *call) (Collection, error) {
			other, err := c.arg(0)
			if err != nil {
				return nil, err
			}
			for _, it := range c.focus {
				if !contains(other, it) {
					return boolResult(false), nil
				}
			}
			return boolResult(true), nil
		}),
		"supersetOf": def(1, 1, func(c *call) (Collection, error) {
			other, err := c.arg(0)
			if err != nil {
				return nil, err
			}
			for _, it := range other {
				if !contains(c.focus, it) {
					return boolResult(false), nil
				}
			}
			return boolResult(true), nil
		}),
		"count": def(0, 0, func(c *call) (Collection, error) { return one(intItem(int64(len(c.focus)))), nil }),
		"distinct": def(0, 0, func(c *call) (Collection, error) {
			return union(c.focus, nil), nil
		}),
		"isDistinct": def(0, 0, func(c *call) (Collection, error) {
			return boolResult(len(union(c.focus, nil)) == len(c.focus)), nil
		}),
		// filtering and projection
		"where": def(1, 1, filter),
		"select": def(1, 1, func(c *call) (Collection, error) {
			var out Collection
			for i, it := range c.focus {
				r, err := c.lambda(0, it, i)
				if err != nil {
					return nil, err
				}
				out = append(out, r...)
			}
			return out, nil
		}),
		"repeat": def(1, 1, func(c *call) (Collection, error) {
			var out Collection
			queue := c.focus
			for len(queue) > 0 {
				// the lambda may produce new items forever (1.repeat($this + 1))
				if err := c.e.ctx.Err(); err != nil {
					return nil, err
				}
				var next Collection
				for i, it := range queue {
					r, err := c.lambda(0, it, i)
					if err != nil {
						return nil, err
					}
					for _, x := range r {
						if !contains(out, x) {
							out = append(out, x)
							next = append(next, x)
						}
					}
				}
				queue = next
			}
			return out, nil
		}),
		"ofType": def(1, 1, func(c *call) (Collection, error) {
			t, err := c.typeArg(0)
			if err != nil {
				return nil, err
			}
			if !c.e.knownType(t) {
				return nil, evalError("unknown type %s", t)
			}
			return c.e.ofType(c.focus, t), nil
		}),
		"is": def(1, 1, func(c *call) (Collection, error) {
			t, err := c.typeArg(0)
			if err != nil {
				return nil, err
			}
			if !c.e.knownType(t) {
				return nil, evalError("unknown type %s", t)
			}
			switch len(c.focus) {
			case 0:
				return nil, nil
			case 1:
				return boolResult(c.e.isType(c.focus[0], t)), nil
			}
			return nil, evalError("is() needs a single item, got %d", len(c.focus))
		}),
		"as": def(1, 1, func(c *call) (Collection, error) {
			t, err := c.typeArg(0)
			if err != nil {
				return nil, err
			}
			if !c.e.knownType(t) {
				return nil, evalError("unknown type %s", t)
			}
			if len(c.focus) > 1 {
				return nil, evalError("as() needs a single item, got %d", len(c.focus))
			}
			return c.e.ofType(c.focus, t), nil
		}),
		"type": def(0, 0, func(c *call) (Collection, error) {
			var out Collection
			for _, it := range c.focus {
				ns, name := typeInfo(it)
				out = append(out, Item{typ: typeSimpleTypeInfo, system: true, node: map[string]any{"namespace": ns, "name": name}})
			}
			return out, nil
		}),
		// subsetting
		"single": def(0, 0, func(c *call) (Collection, error) {
			if len(c.focus) > 1 {
				return nil, evalError("single() on %d items", len(c.focus))
			}
			return c.focus, nil
		}),
		"first": def(0, 0, func(c *call) (Collection, error) {
			if len(c.focus) == 0 {
				return nil, nil
			}
			return c.focus[:1:1], nil
		}),
		"last": def(0, 0, func(c *call) (Collection, error) {
			if len(c.focus) == 0 {
				return nil, nil
			}
			return c.focus[len(c.focus)-1:], nil
		}),
		"tail": def(0, 0, func(c *call) (Collection, error) {
			if len(c.focus) <= 1 {
				return nil, nil
			}
			return c.focus[1:], nil
		}),
		"skip": def(1, 1, func(c *call) (Collection, error) {
			n, ok, err := c.argInt(0)
			if err != nil || !ok {
				return nil, err
			}
			if n <= 0 {
				return c.focus, nil
			}
			if n >= int64(len(c.focus)) {
				return nil, nil
			}
			return c.focus[n:], nil
		}),
		"take": def(1, 1, func(c *call) (Collection, error) {
			n, ok, err := c.argInt(0)
			if err != nil || !ok || n <= 0 {
				return nil, err
			}
			if n >= int64(len(c.focus)) {
				return c.focus, nil
			}
			return c.focus[:n:n], nil
		}),
		"intersect": def(1, 1, func(c *call) (Collection, error) {
			other, err := c.arg(0)
			if err != nil {
				return nil, err
			}
			var out Collection
			for _, it := range c.focus {
				if contains(other, it) && !contains(out, it) {
					out = append(out, it)
				}
			}
			return out, nil
		}),
		"exclude": def(1, 1, func(c *call) (Collection, error) {
			other, err := c.arg(0)
			if err != nil {
				return nil, err
			}
			var out Collection
			for _, it := range c.focus {
				if !contains(other, it) {
					out = append(out, it)
				}
			}
			return out, nil
		}),
		"union": def(1, 1, func(c *call) (Collection, error) {
			other, err := c.arg(0)
			if err != nil {
				return nil, err
			}
			return union(c.focus, other), nil
		}),
		"combine": def(1, 1, func(c *call) (Collection, error) {
			other, err := c.arg(0)
			if err != nil {
				return nil, err
			}
			out := make(Collection, 0, len(c.focus)+len(other))
			return append(append(out, c.focus...), other...), nil
		}),
		"not": def(0, 0, func(c *call) (Collection, error) {
			if len(c.focus) == 0 {
				return nil, nil
			}
			if len(c.focus) > 1 {
				return nil, evalError("not() on %d items", len(c.focus))
			}
			b, known, err := toBool3(c.focus)
			if err != nil || !known {
				return nil, err
			}
			return boolResult(!b), nil
		}),
		"iif": def(2, 3, func(c *call) (Collection, error) {
			if len(c.focus) > 1 {
				return nil, evalError("iif() on %d items", len(c.focus))
			}
			in := c.in
			if len(c.focus) == 1 {
				in = c.focus
			}
			cond, err := c.args[0].eval(c.e, in)
			if err != nil {
				return nil, err
			}
			if len(cond) > 1 {
				return nil, evalError("iif() criterion returned %d items", len(cond))
			}
			b, known := false, false
			if len(cond) == 1 {
				v, ok := systemValue(cond[0])
				if !ok {
					return nil, evalError("iif() criterion is not a boolean")
				}
				bb, isB := v.node.(bool)
				if !isB {
					return nil, evalError("iif() criterion is not a boolean")
				}
				b, known = bb, true
			}
			if known && b {
				return c.args[1].eval(c.e, in)
			}
			if len(c.args) > 2 {
				return c.args[2].eval(c.e, in)
			}
			return nil, nil
		}),
		"aggregate": def(1, 2, func(c *call) (Collection, error) {
			total, err := c.arg(1)
			if err != nil {
				return nil, err
			}
			for i, it := range c.focus {
				sub := *c.e
				sub.index, sub.hasIndex, sub.total = i, true, total
				total, err = c.args[0].eval(&sub, Collection{it})
				if err != nil {
					return nil, err
				}
			}
			return total, nil
		}),
		"trace": def(1, 2, func(c *call) (Collection, error) {
			name, _, err := c.argString(0)
			if err != nil {
				return nil, err
			}
			if c.e.trace != nil {
				shown := c.focus
				if c.hasArg(1) {
					shown = nil
					for i, it := range c.focus {
						r, err := c.lambda(1, it, i)
						if err != nil {
							return nil, err
						}
						shown = append(shown, r...)
					}
				}
				c.e.trace(name, shown)
			}
			return c.focus, nil
		}),
		"sort": def(0, 9, sortFn),
		"children": def(0, 0, func(c *call) (Collection, error) {
			var out Collection
			for _, it := range c.focus {
				out = c.e.allChildren(out, it)
			}
			return out, nil
		}),
		"descendants": def(0, 0, func(c *call) (Collection, error) {
			var out Collection
			queue := c.focus
			for len(queue) > 0 {
				// deep trees: let a deadline stop the walk
				if err := c.e.ctx.Err(); err != nil {
					return nil, err
				}
				var next Collection
				for _, it := range queue {
					next = c.e.allChildren(next, it)
				}
				out = append(out, next...)
				queue = next
			}
			return out, nil
		}),
	}
	for k, v := range conversionFunctions() {
		m[k] = v
	}
	for k, v := range stringFunctions() {
		m[k] = v
	}
	for k, v := range mathFunctions() {
		m[k] = v
	}
	for k, v := range fhirFunctions() {
		m[k] = v
	}
	return m
}

func filter(c *call) (Collection, error) {
	var out Collection
	for i, it := range c.focus {
		r, err := c.lambda(0, it, i)
		if err != nil {
			return nil, err
		}
		b, known, err := toBool3(r)
		if err != nil {
			return nil, err
		}
		if known && b {
			out = append(out, it)
		}
	}
	return out, nil
}

// boolAgg implements allTrue (all, want true), anyTrue, allFalse, anyFalse.
func boolAgg(c *call, all, want bool) (Collection, error) {
	for _, it := range c.focus {
		v, ok := systemValue(it)
		b, isB := v.node.(bool)
		if !ok || !isB {
			return nil, evalError("%s() on a non-boolean item", c.name)
		}
		if all && b != want {
			return boolResult(false), nil
		}
		if !all && b == want {
			return boolResult(true), nil
		}
	}
	return boolResult(all), nil
}

// allChildren appends every child element of it, in JSON order of the model
// is unknown, sorted by name for determinism.
func (e *env) allChildren(out Collection, it Item) Collection {
	if it.system {
		return out
	}
	m, ok := it.node.(map[string]any)
	if !ok {
		if it.ext != nil {
			out = e.appendValue(out, it.ext["extension"], nil, "Extension")
		}
		return out
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k == "resourceType" {
			continue
		}
		if k[0] == '_' {
			if _, dup := m[k[1:]]; dup {
				continue
			}
			k = k[1:]
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = e.childrenByKey(out, it, m, k)
	}
	return out
}

// childrenByKey appends the children stored under JSON key k, typing them
// through the model (k may be a choice name such as valueQuantity).
func (e *env) childrenByKey(out Collection, it Item, m map[string]any, k string) Collection {
	t := ""
	if el, ok := e.model.Element(it.typ, k); ok && !el.Choice && len(el.Types) > 0 {
		t = el.Types[0]
	} else {
		// a choice element: find the base name
		for i := len(k) - 1; i > 0; i-- {
			if k[i] >= 'A' && k[i] <= 'Z' {
				if el, ok := e.model.Element(it.typ, k[:i]); ok && el.Choice {
					t = typeFromSuffix(k[i:])
					for _, ct := range el.Types {
						if upperFirst(ct) == k[i:] {
							t = ct
						}
					}
					break
				}
			}
		}
		if t == "" {
			t = inferChildType(k)
		}
	}
	ext, _ := m["_"+k]
	return e.appendValue(out, m[k], ext, t)
}

func sortFn(c *call) (Collection, error) {
	out := append(Collection(nil), c.focus...)
	if len(c.args) == 0 {
		var err error
		sort.SliceStable(out, func(i, j int) bool {
			cmp, _, e := compareItems(out[i], out[j])
			if e != nil && err == nil {
				err = e
			}
			return cmp < 0
		})
		return out, err
	}
	// a key written -expr sorts descending on expr (works for strings too)
	desc := make([]bool, len(c.args))
	keyNodes := make([]node, len(c.args))
	for a, n := range c.args {
		keyNodes[a] = n
		if neg, ok := n.(*negNode); ok {
			desc[a], keyNodes[a] = true, neg.operand
		}
	}
	keys := make([][]Collection, len(out))
	for i, it := range out {
		keys[i] = make([]Collection, len(c.args))
		for a := range c.args {
			sub := *c.e
			sub.index, sub.hasIndex = i, true
			k, err := keyNodes[a].eval(&sub, Collection{it})
			if err != nil {
				return nil, err
			}
			keys[i][a] = k
		}
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	var err error
	sort.SliceStable(idx, func(x, y int) bool {
		for a := range c.args {
			kx, ky := keys[idx[x]][a], keys[idx[y]][a]
			if len(kx) == 0 || len(ky) == 0 {
				if len(kx) != len(ky) {
					return len(kx) == 0
				}
				continue
			}
			cmp, _, e := compareItems(kx[0], ky[0])
			if e != nil && err == nil {
				err = e
			}
			if desc[a] {
				cmp = -cmp
			}
			if cmp != 0 {
				return cmp < 0
			}
		}
		return false
	})
	sorted := make(Collection, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	return sorted, err
}
