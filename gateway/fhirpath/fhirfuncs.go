package fhirpath

import (
	"strings"
	"time"
)

func (e *env) nowTime() time.Time {
	if e.now.IsZero() {
		// fix now() for the whole evaluation, as the spec requires
		e.now = time.Now()
	}
	return e.now
}

func fhirFunctions() map[string]*funcDef {
	return map[string]*funcDef{
		"now": def(0, 0, func(c *call) (Collection, error) {
			t := c.e.nowTime()
			_, off := t.Zone()
			d := fromTime(t.UTC(), KindDateTime, PrecMillis, true, off/60)
			return one(sysItem(typeDateTime, d)), nil
		}),
		"today": def(0, 0, func(c *call) (Collection, error) {
			t := c.e.nowTime()
			return one(sysItem(typeDate, DateTime{Kind: KindDate, Year: t.Year(), Month: int(t.Month()), Day: t.Day(), Prec: PrecDay})), nil
		}),
		"timeOfDay": def(0, 0, func(c *call) (Collection, error) {
			t := c.e.nowTime()
			return one(sysItem(typeTime, DateTime{Kind: KindTime, Hour: t.Hour(), Minute: t.Minute(), Second: t.Second(), Millis: t.Nanosecond() / 1e6, Prec: PrecMillis})), nil
		}),
		"extension": def(1, 1, func(c *call) (Collection, error) {
			url, ok, err := c.argString(0)
			if err != nil || !ok {
				return nil, err
			}
			return c.e.extensions(c.focus, url), nil
		}),
		"hasExtension": def(1, 1, func(c *call) (Collection, error) {
			url, ok, err := c.argString(0)
			if err != nil || !ok {
				return nil, err
			}
			return boolResult(len(c.e.extensions(c.focus, url)) > 0), nil
		}),
		"hasValue": def(0, 0, func(c *call) (Collection, error) {
			if len(c.focus) != 1 {
				return boolResult(false), nil
			}
			it := c.focus[0]
			_, prim := fhirPrimitiveKinds[it.typ]
			return boolResult(!it.system && prim && it.node != nil), nil
		}),
		"getValue": def(0, 0, func(c *call) (Collection, error) {
			if len(c.focus) != 1 {
				return nil, nil
			}
			if _, prim := fhirPrimitiveKinds[c.focus[0].typ]; !prim || c.focus[0].node == nil {
				return nil, nil
			}
			v, ok := systemValue(c.focus[0])
			if !ok {
				return nil, nil
			}
			return one(v), nil
		}),
		"resolve": def(0, 0, func(c *call) (Collection, error) {
			var out Collection
			for _, it := range c.focus {
				r, err := c.e.resolve(it)
				if err != nil {
					return nil, err
				}
				out = append(out, r...)
			}
			return out, nil
		}),
		"conformsTo": def(1, 1, func(c *call) (Collection, error) {
			url, ok, err := c.argString(0)
			if err != nil || !ok {
				return nil, err
			}
			const base = "http://hl7.org/fhir/StructureDefinition/"
			if !strings.HasPrefix(url, base) {
				return nil, evalError("conformsTo(): unknown profile %s", url)
			}
			if len(c.focus) != 1 {
				return nil, nil
			}
			// only core resource profiles are known: a resource conforms to its own type's
			return boolResult(c.focus[0].typ == url[len(base):] || c.e.model.IsSubtype(c.focus[0].typ, url[len(base):])), nil
		}),
		"defineVariable": def(1, 2, func(c *call) (Collection, error) {
			name, ok, err := c.argString(0)
			if err != nil || !ok {
				return nil, err
			}
			val := c.focus
			if c.hasArg(1) {
				if val, err = c.args[1].eval(c.e, c.focus); err != nil {
					return nil, err
				}
			}
			if _, exists := c.e.vars[name]; exists {
				return nil, evalError("variable %%%s is already defined", name)
			}
			vars := make(map[string]Collection, len(c.e.vars)+1)
			for k, v := range c.e.vars {
				vars[k] = v
			}
			vars[name] = val
			// variables are scoped to the rest of the expression: see definedVarNode
			c.e.vars = vars
			return c.focus, nil
		}),
	}
}

// extensions returns the extensions with the given url of the items in c,
// including those of primitives held in "_name" siblings.
func (e *env) extensions(c Collection, url string) Collection {
	var out Collection
	for _, it := range c {
		exts, err := e.children(nil, it, "extension")
		if err != nil {
			continue
		}
		for _, x := range exts {
			if m, ok := x.node.(map[string]any); ok && m["url"] == url {
				out = append(out, x)
			}
		}
	}
	return out
}

// resolve turns a Reference (or a canonical/uri string) into resources.
func (e *env) resolve(it Item) (Collection, error) {
	var ref string
	switch v := it.node.(type) {
	case map[string]any:
		ref, _ = v["reference"].(string)
	case string:
		ref = v
	}
	if ref == "" {
		return nil, nil
	}
	if strings.HasPrefix(ref, "#") {
		for _, root := range e.resource {
			m, ok := root.node.(map[string]any)
			if !ok {
				continue
			}
			contained, _ := m["contained"].([]any)
			for _, cr := range contained {
				if cm, ok := cr.(map[string]any); ok && cm["id"] == ref[1:] {
					rt, _ := cm["resourceType"].(string)
					return Collection{{typ: rt, node: cm}}, nil
				}
			}
		}
		return nil, nil
	}
	if e.resolver != nil {
		r, err := e.resolver.Resolve(e.ctx, ref)
		if err != nil {
			return nil, evalError("resolve %s: %v", ref, err)
		}
		if m, ok := r.(map[string]any); ok {
			rt, _ := m["resourceType"].(string)
			return Collection{{typ: rt, node: m}}, nil
		}
		return nil, nil
	}
	// without a resolver the type in the reference is enough for
	// where(resolve() is Patient), as in HAPI's search indexing
	typ, id := referenceTypeID(ref)
	if typ == "" {
		return nil, nil
	}
	return Collection{{typ: typ, node: map[string]any{"resourceType": typ, "id": id}}}, nil
}

// referenceTypeID extracts Type and id from "Type/id", "Type/id/_history/v"
// or an absolute URL ending with them.
func referenceTypeID(ref string) (string, string) {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	parts := strings.Split(ref, "/")
	if len(parts) < 2 {
		return "", ""
	}
	typ, id := parts[len(parts)-2], parts[len(parts)-1]
	if typ == "" || typ[0] < 'A' || typ[0] > 'Z' || id == "" {
		return "", ""
	}
	for i := 0; i < len(typ); i++ {
		if !isIdentPart(typ[i]) {
			return "", ""
		}
	}
	return typ, id
}
