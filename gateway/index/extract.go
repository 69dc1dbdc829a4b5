package index

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/shch/fhirgw/gateway/fhirdate"
	"github.com/shch/fhirgw/gateway/fhirjson"
	"github.com/shch/fhirgw/gateway/fhirpath"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
)

// Kinds maps a SearchParameter type to the index table that holds its values.
var kindOf = map[string]store.ParamKind{
	"token":     store.KindToken,
	"string":    store.KindString,
	"reference": store.KindReference,
	"date":      store.KindDate,
	"quantity":  store.KindQuantity,
	"number":    store.KindNumber,
	"uri":       store.KindURI,
}

// KindOf returns the index kind of a SearchParameter type ("token", "date", ...).
func KindOf(paramType string) (store.ParamKind, bool) {
	k, ok := kindOf[paramType]
	return k, ok
}

// Limits on indexed strings: the norm column carries a b-tree index, whose entries
// PostgreSQL caps at about 2.7 kB; 200 characters is what HAPI FHIR indexes too.
const (
	maxNorm  = 200
	maxExact = 1000
)

// Extractor fills the index of every search parameter with a FHIRPath expression by
// evaluating that expression on each written resource. It is safe for concurrent use.
type Extractor struct {
	reg    *searchparam.Registry
	byType map[string][]compiled
	// LocalBase is this server's FHIR base URL. An absolute reference under it names a
	// resource stored here, so it is indexed by target type and id as well as by URL:
	// `subject=Patient/1` then finds "http://base/fhir/Patient/1" (HAPI FHIR's local
	// base URLs). Empty: absolute references are indexed by URL only.
	LocalBase string
}

type compiled struct {
	def  *searchparam.Definition
	kind store.ParamKind
	expr *fhirpath.Expression
	// parts of a composite parameter, evaluated on each item expr selects.
	parts []part
}

type part struct {
	kind store.ParamKind
	expr *fhirpath.Expression
}

// NewExtractor compiles the expressions of every parameter of the given kinds (nil: all
// kinds) that applies to each resource type. A parameter whose expression does not
// compile is left out and reported in the returned error list, which callers log.
func NewExtractor(reg *searchparam.Registry, resourceTypes []string, kinds []store.ParamKind) (*Extractor, []error) {
	want := map[store.ParamKind]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	x := &Extractor{reg: reg, byType: map[string][]compiled{}}
	var errs []error
	for _, typ := range resourceTypes {
		for _, d := range Applicable(reg, typ) {
			if d.Type == "composite" {
				if c, ok, err := compileComposite(reg, d, typ); err != nil {
					errs = append(errs, err)
				} else if ok {
					x.byType[typ] = append(x.byType[typ], c)
				}
				continue
			}
			k, ok := kindOf[d.Type]
			if !ok || d.Expression == "" || (len(want) > 0 && !want[k]) {
				continue
			}
			src := ForType(d.Expression, typ)
			if src == "" {
				continue
			}
			e, err := fhirpath.Compile(src)
			if err != nil {
				errs = append(errs, fmt.Errorf("search parameter %s on %s: %w", d.URL, typ, err))
				continue
			}
			x.byType[typ] = append(x.byType[typ], compiled{def: d, kind: k, expr: e})
		}
	}
	return x, errs
}

// compileComposite prepares a composite parameter whose components are all of
// indexable kinds.
func compileComposite(reg *searchparam.Registry, d *searchparam.Definition, typ string) (compiled, bool, error) {
	src := ForType(d.Expression, typ)
	if src == "" || len(d.Component) < 2 || len(d.Component) > 9 {
		return compiled{}, false, nil
	}
	root, err := fhirpath.Compile(src)
	if err != nil {
		return compiled{}, false, fmt.Errorf("search parameter %s on %s: %w", d.URL, typ, err)
	}
	c := compiled{def: d, expr: root}
	for _, comp := range d.Component {
		cd, ok := reg.ByURL(comp.Definition)
		if !ok {
			return compiled{}, false, nil
		}
		k, ok := kindOf[cd.Type]
		if !ok {
			return compiled{}, false, nil
		}
		e, err := fhirpath.Compile(componentErratum(comp.Expression))
		if err != nil {
			return compiled{}, false, fmt.Errorf("search parameter %s component %s: %w", d.URL, comp.Definition, err)
		}
		c.parts = append(c.parts, part{kind: k, expr: e})
	}
	return c, true, nil
}

// componentErratum corrects a component expression of the R4 definitions that can
// never select anything: Observation-code-value-date's "value.as(DateTime)" names
// System.DateTime, which a FHIR dateTime is not, so only Period values were indexed.
// R5 fixed it the same way (ofType(dateTime)).
func componentErratum(expr string) string {
	return strings.ReplaceAll(expr, "as(DateTime)", "as(dateTime)")
}

// Components returns the kinds of a composite parameter's components, in order, or
// false when the parameter is not an indexed composite.
func Components(reg *searchparam.Registry, d *searchparam.Definition) ([]store.ParamKind, bool) {
	if d.Type != "composite" || len(d.Component) < 2 {
		return nil, false
	}
	var out []store.ParamKind
	for _, comp := range d.Component {
		cd, ok := reg.ByURL(comp.Definition)
		if !ok {
			return nil, false
		}
		k, ok := kindOf[cd.Type]
		if !ok {
			return nil, false
		}
		out = append(out, k)
	}
	return out, true
}

// Applicable lists the parameters that apply to a resource type: its own and those
// defined on Resource and DomainResource. _id and _lastUpdated are left out because
// every store answers them from the resource row.
func Applicable(reg *searchparam.Registry, typ string) []*searchparam.Definition {
	var out []*searchparam.Definition
	seen := map[string]bool{}
	for _, t := range []string{typ, "DomainResource", "Resource"} {
		for _, d := range reg.ForType(t) {
			if seen[d.Code] || d.Code == "_id" || d.Code == "_lastUpdated" {
				continue
			}
			seen[d.Code] = true
			out = append(out, d)
		}
	}
	return out
}

// ForType keeps the parts of a union expression that can select anything in a resource
// of type typ. The official expressions are shared between types
// ("AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | ..."),
// and evaluating the parts rooted at other types is wasted work on every write.
func ForType(expr, typ string) string {
	parts := splitUnion(expr)
	var keep []string
	for _, p := range parts {
		root := rootName(p)
		if root == "" || root == typ || root == "Resource" || root == "DomainResource" || !isUpper(root) {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, " | ")
}

// splitUnion splits at top-level "|" (outside parentheses and string literals).
func splitUnion(expr string) []string {
	var parts []string
	depth, start := 0, 0
	inStr := false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case inStr:
			if c == '\\' {
				i++
			} else if c == '\'' {
				inStr = false
			}
		case c == '\'':
			inStr = true
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case c == '|' && depth == 0:
			parts = append(parts, strings.TrimSpace(expr[start:i]))
			start = i + 1
		}
	}
	return append(parts, strings.TrimSpace(expr[start:]))
}

// rootName is the first identifier of a path expression, skipping opening parentheses.
func rootName(p string) string {
	p = strings.TrimLeft(p, "( ")
	end := 0
	for end < len(p) {
		c := p[end]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			break
		}
		end++
	}
	return p[:end]
}

func isUpper(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }

// Registry returns the definitions the extractor was built from.
func (x *Extractor) Registry() *searchparam.Registry { return x.reg }

// Params lists the parameters the extractor fills for typ.
func (x *Extractor) Params(typ string) []*searchparam.Definition {
	cs := x.byType[typ]
	out := make([]*searchparam.Definition, len(cs))
	for i, c := range cs {
		out[i] = c.def
	}
	return out
}

// Index evaluates every parameter of the resource's type on body.
func (x *Extractor) Index(ctx context.Context, typ string, body []byte) (*store.Index, error) {
	cs := x.byType[typ]
	idx := &store.Index{}
	if len(cs) == 0 {
		return idx, nil
	}
	v, err := fhirjson.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("index %s: decode: %w", typ, err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("index %s: the body is not a JSON object", typ)
	}
	for _, c := range cs {
		items, err := c.expr.Evaluate(ctx, doc)
		if err != nil {
			// One parameter's expression failing on odd content must not refuse the
			// write: the resource is simply not findable by that parameter.
			continue
		}
		if len(c.parts) > 0 {
			addComposite(ctx, idx, c, doc, items)
			continue
		}
		for _, it := range items {
			add(idx, c.def.Code, c.kind, it.Type(), it.Value())
		}
	}
	x.localReferences(idx)
	dedupe(idx)
	return idx, nil
}

// localReferences gives absolute references under LocalBase their target.
func (x *Extractor) localReferences(idx *store.Index) {
	if x.LocalBase == "" {
		return
	}
	prefix := strings.TrimSuffix(x.LocalBase, "/") + "/"
	for i, r := range idx.References {
		rest, ok := strings.CutPrefix(r.URL, prefix)
		if !ok || r.TargetID != "" {
			continue
		}
		rest, _, _ = strings.Cut(rest, "|") // a canonical's version
		if local := ParseReference(r.Param, rest); local.TargetID != "" {
			idx.References[i].TargetType, idx.References[i].TargetID = local.TargetType, local.TargetID
		}
	}
}

// addComposite indexes each item a composite's expression selects as one group:
// component i of group g under "code#g$i", so that a search can require every
// component to match within the same group. An item lacking a value for any component
// is not indexed at all (as in HAPI FHIR): it can never match, and an Observation's
// code alone would otherwise fill code-value-date, -string and -concept rows that no
// search reads, a third of its token rows.
func addComposite(ctx context.Context, idx *store.Index, c compiled, doc map[string]any, items fhirpath.Collection) {
	g := 0
	for _, it := range items {
		var group store.Index
		complete := true
		for i, p := range c.parts {
			vals, err := p.expr.Evaluate(ctx, doc, fhirpath.WithContext(fhirpath.Collection{it}))
			if err != nil {
				complete = false
				break
			}
			n := group.Len()
			param := fmt.Sprintf("%s#%d$%d", c.def.Code, g, i)
			for _, v := range vals {
				add(&group, param, p.kind, v.Type(), v.Value())
			}
			if group.Len() == n {
				complete = false
				break
			}
		}
		if complete {
			idx.Append(&group)
			g++
		}
	}
}

// add converts one FHIRPath result into index rows of the parameter's kind, following
// the type-to-parameter mapping of https://hl7.org/fhir/R4/search.html.
func add(idx *store.Index, param string, kind store.ParamKind, typ string, v any) {
	switch kind {
	case store.KindToken:
		addToken(idx, param, typ, v)
	case store.KindString:
		addString(idx, param, typ, v)
	case store.KindReference:
		addReference(idx, param, typ, v)
	case store.KindDate:
		addDate(idx, param, typ, v)
	case store.KindQuantity:
		addQuantity(idx, param, typ, v)
	case store.KindNumber:
		if f, ok := number(v); ok {
			idx.Numbers = append(idx.Numbers, store.NumberEntry{Param: param, Value: f})
		}
	case store.KindURI:
		if s, ok := v.(string); ok && s != "" {
			idx.URIs = append(idx.URIs, store.URIEntry{Param: param, URI: s})
		}
	}
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func strs(m map[string]any, key string) []string {
	switch v := m[key].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func objs(m map[string]any, key string) []map[string]any {
	switch v := m[key].(type) {
	case map[string]any:
		return []map[string]any{v}
	case []any:
		out := make([]map[string]any, 0, len(v))
		for _, e := range v {
			if o, ok := e.(map[string]any); ok {
				out = append(out, o)
			}
		}
		return out
	}
	return nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case fhirpath.Decimal:
		f, err := json.Number(n.String()).Float64()
		return f, err == nil
	}
	return 0, false
}

func addToken(idx *store.Index, param, typ string, v any) {
	switch o := v.(type) {
	case map[string]any:
		switch typ {
		case "Coding":
			tokenCoding(idx, param, o, "")
		case "CodeableConcept":
			text := Fold(str(o, "text"))
			codings := objs(o, "coding")
			for _, c := range codings {
				tokenCoding(idx, param, c, text)
			}
			if len(codings) == 0 && text != "" {
				idx.Tokens = append(idx.Tokens, store.TokenEntry{Param: param, Text: text})
			}
		case "Identifier":
			value := str(o, "value")
			if value == "" && str(o, "system") == "" {
				return
			}
			var text string
			if t, ok := o["type"].(map[string]any); ok {
				text = Fold(str(t, "text"))
				// :of-type matches type system|code|value; kept as rows of their own.
				for _, c := range objs(t, "coding") {
					idx.Tokens = append(idx.Tokens, store.TokenEntry{Param: param + ":of-type",
						System: str(c, "system"), Code: str(c, "code") + "|" + value})
				}
			}
			idx.Tokens = append(idx.Tokens, store.TokenEntry{Param: param, System: str(o, "system"), Code: value, Text: text})
		case "ContactPoint":
			if value := str(o, "value"); value != "" {
				idx.Tokens = append(idx.Tokens, store.TokenEntry{Param: param, System: str(o, "system"), Code: value})
			}
		}
	case string:
		if o != "" {
			idx.Tokens = append(idx.Tokens, store.TokenEntry{Param: param, Code: o})
		}
	case bool:
		idx.Tokens = append(idx.Tokens, store.TokenEntry{Param: param, Code: fmt.Sprint(o)})
	case json.Number:
		idx.Tokens = append(idx.Tokens, store.TokenEntry{Param: param, Code: o.String()})
	}
}

func tokenCoding(idx *store.Index, param string, c map[string]any, text string) {
	code, system := str(c, "code"), str(c, "system")
	if code == "" && system == "" {
		return
	}
	if d := str(c, "display"); d != "" {
		if text != "" {
			text += " "
		}
		text += Fold(d)
	}
	idx.Tokens = append(idx.Tokens, store.TokenEntry{Param: param, System: system, Code: code, Text: text})
}

func addString(idx *store.Index, param, typ string, v any) {
	put := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			idx.Strings = append(idx.Strings, store.StringEntry{Param: param, Norm: truncate(Fold(s), maxNorm), Exact: truncate(s, maxExact)})
		}
	}
	switch o := v.(type) {
	case string:
		put(o)
	case map[string]any:
		var keys []string
		switch typ {
		case "HumanName":
			keys = []string{"text", "family", "given", "prefix", "suffix"}
		case "Address":
			keys = []string{"text", "line", "city", "district", "state", "country", "postalCode"}
		default:
			return
		}
		for _, k := range keys {
			for _, s := range strs(o, k) {
				put(s)
			}
		}
	}
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

func addReference(idx *store.Index, param, typ string, v any) {
	switch o := v.(type) {
	case map[string]any:
		if typ != "Reference" {
			return
		}
		if ref := str(o, "reference"); ref != "" {
			idx.References = append(idx.References, ParseReference(param, ref))
		}
		if id, ok := o["identifier"].(map[string]any); ok {
			if value := str(id, "value"); value != "" {
				idx.Tokens = append(idx.Tokens, store.TokenEntry{Param: param + ":identifier", System: str(id, "system"), Code: value})
			}
		}
	case string: // canonical or uri
		if o != "" {
			idx.References = append(idx.References, store.ReferenceEntry{Param: param, URL: o})
		}
	}
}

// ParseReference splits a literal reference: "Type/id" (optionally with
// "/_history/n") is local; anything else (absolute URL, urn, "#contained") is kept as
// URL.
func ParseReference(param, ref string) store.ReferenceEntry {
	if strings.Contains(ref, ":") || strings.HasPrefix(ref, "#") {
		return store.ReferenceEntry{Param: param, URL: ref}
	}
	parts := strings.Split(ref, "/")
	if (len(parts) == 2 || len(parts) == 4 && parts[2] == "_history") && isUpper(parts[0]) && parts[1] != "" {
		return store.ReferenceEntry{Param: param, TargetType: parts[0], TargetID: parts[1]}
	}
	return store.ReferenceEntry{Param: param, URL: ref}
}

func addDate(idx *store.Index, param, typ string, v any) {
	switch o := v.(type) {
	case string:
		if r, err := fhirdate.Parse(o); err == nil {
			idx.Dates = append(idx.Dates, store.DateEntry{Param: param, Low: r.Low, High: r.High})
		}
	case map[string]any:
		switch typ {
		case "Period":
			var e store.DateEntry
			e.Param = param
			if s := str(o, "start"); s != "" {
				r, err := fhirdate.Parse(s)
				if err != nil {
					return
				}
				e.Low = r.Low
			}
			if s := str(o, "end"); s != "" {
				r, err := fhirdate.Parse(s)
				if err != nil {
					return
				}
				e.High = r.High
			}
			if !e.Low.IsZero() || !e.High.IsZero() {
				idx.Dates = append(idx.Dates, e)
			}
		case "Timing":
			for _, s := range strs(o, "event") {
				addDate(idx, param, "dateTime", s)
			}
			if rep, ok := o["repeat"].(map[string]any); ok {
				if p, ok := rep["boundsPeriod"].(map[string]any); ok {
					addDate(idx, param, "Period", p)
				}
			}
		}
	}
}

func addQuantity(idx *store.Index, param, typ string, v any) {
	o, ok := v.(map[string]any)
	if !ok {
		return
	}
	f, ok := number(o["value"])
	if !ok {
		return
	}
	e := store.QuantityEntry{Param: param, Value: f, System: str(o, "system"), Code: str(o, "code"), Unit: str(o, "unit")}
	if typ == "Money" {
		e.System, e.Code = "urn:iso:std:iso:4217", str(o, "currency")
	}
	idx.Quantities = append(idx.Quantities, e)
}

// dedupe drops repeated rows: unions in the official expressions often select one
// element twice.
func dedupe(idx *store.Index) {
	idx.Strings = uniq(idx.Strings)
	idx.Tokens = uniq(idx.Tokens)
	idx.References = uniq(idx.References)
	idx.Dates = uniq(idx.Dates)
	idx.Quantities = uniq(idx.Quantities)
	idx.Numbers = uniq(idx.Numbers)
	idx.URIs = uniq(idx.URIs)
}

func uniq[T comparable](xs []T) []T {
	if len(xs) < 2 {
		return xs
	}
	seen := make(map[T]bool, len(xs))
	out := xs[:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
