package interaction

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/shch/fhirgw/gateway/fhirdate"
	"github.com/shch/fhirgw/gateway/index"
	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
)

// Result parameters the transport handles; they are never "unknown".
var transportParams = map[string]bool{"_format": true, "_pretty": true}

// maxIncluded bounds the resources _include and _revinclude add to one page.
const maxIncluded = 1000

// searchInfo records how a query was understood: the self link, warnings, and what
// to do with the page once found.
type searchInfo struct {
	applied    url.Values
	ignored    []outcome.Issue
	include    []includeSpec
	revinclude []includeSpec
	summary    string   // _summary
	elements   []string // _elements
	cursor     *cursor  // _page: keyset position of a next or previous link
}

type includeSpec struct {
	srcType, param, targetType string
	iterate                    bool
}

// problem is a parameter the server does not support: ignored with a warning, or a
// 400 under Prefer: handling=strict.
type problem string

// parseSearch turns query parameters into a store query. typ is empty for a system
// search. Unknown or unsupported parameters are ignored and reported, or rejected with
// 400 when strict (Prefer: handling=strict, and always for conditional interactions,
// where ignoring a criterion would widen the match).
func (s *Service) parseSearch(typ string, q url.Values, strict bool) (store.Query, *searchInfo, error) {
	// No total by default: counting every match costs as much as the search itself on
	// large data. runSearch still reports it when the page shows every match; clients
	// that need it ask with _total=accurate (or estimate).
	sq := store.Query{Type: typ, Count: s.cfg.DefaultCount}
	info := &searchInfo{applied: url.Values{}}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ignore := func(p problem) error {
		if strict {
			return outcome.BadRequest("%s", string(p))
		}
		info.ignored = append(info.ignored, outcome.Issue{Severity: "warning", Code: "not-supported", Diagnostics: string(p) + "; it was ignored"})
		return nil
	}
	last := func(vs []string) string { return vs[len(vs)-1] }
	for _, key := range keys {
		values := q[key]
		name, modifier, _ := strings.Cut(key, ":")
		switch name {
		case "_count":
			n, err := strconv.Atoi(last(values))
			if err != nil || n < 0 {
				return sq, nil, outcome.BadRequest("_count must be a non-negative integer, got %q", last(values))
			}
			sq.Count = min(n, s.cfg.MaxCount)
			continue
		case "_offset":
			n, err := strconv.Atoi(last(values))
			if err != nil || n < 0 {
				return sq, nil, outcome.BadRequest("_offset must be a non-negative integer, got %q", last(values))
			}
			sq.Offset = n
			continue
		case "_page":
			c, err := parseCursor(last(values))
			if err != nil {
				return sq, nil, err
			}
			info.cursor = c
			continue
		case "_total":
			switch v := last(values); v {
			case "none":
				sq.Total = false
			case "accurate", "estimate":
				sq.Total = true
				sq.Estimate = v == "estimate"
			default:
				return sq, nil, outcome.BadRequest("_total must be none, estimate or accurate, got %q", v)
			}
			info.applied.Set("_total", last(values))
			continue
		case "_summary":
			switch v := last(values); v {
			case "true", "text", "data", "count", "false":
				info.summary = v
				if v == "count" {
					sq.Count, sq.Total = 0, true
				}
			default:
				return sq, nil, outcome.BadRequest("_summary must be true, text, data, count or false, got %q", v)
			}
			info.applied.Set("_summary", last(values))
			continue
		case "_elements":
			for _, v := range values {
				for _, e := range splitValues(v) {
					info.elements = append(info.elements, strings.TrimSpace(e))
				}
			}
			info.applied[key] = values
			continue
		case "_sort":
			for _, v := range values {
				for _, k := range splitValues(v) {
					key, p, err := s.parseSort(typ, k)
					if err != nil {
						return sq, nil, err
					}
					if p != "" {
						if err := ignore(p); err != nil {
							return sq, nil, err
						}
						continue
					}
					sq.Sort = append(sq.Sort, key)
					info.applied.Add("_sort", k)
				}
			}
			continue
		case "_include", "_revinclude":
			for _, v := range values {
				spec, p := s.parseInclude(name == "_revinclude", modifier, v)
				if p != "" {
					if err := ignore(p); err != nil {
						return sq, nil, err
					}
					continue
				}
				if name == "_include" {
					info.include = append(info.include, spec)
				} else {
					info.revinclude = append(info.revinclude, spec)
				}
				info.applied.Add(key, v)
			}
			continue
		case "_type":
			if typ != "" {
				break
			}
			for _, v := range values {
				for _, t := range splitValues(v) {
					if !isKnownType(t) {
						return sq, nil, outcome.BadRequest("_type names an unknown resource type %q", t)
					}
					sq.Types = append(sq.Types, t)
				}
				info.applied.Add("_type", v)
			}
			continue
		}
		if transportParams[name] {
			continue
		}
		for _, v := range values {
			c, p, err := s.parseCriterion(typ, key, v, 0)
			if err != nil {
				return sq, nil, err
			}
			if p != "" {
				if err := ignore(p); err != nil {
					return sq, nil, err
				}
				break
			}
			sq.Where = append(sq.Where, c)
			info.applied.Add(key, v)
		}
	}
	if info.cursor != nil {
		if err := info.cursor.bind(sq.Sort); err != nil {
			return sq, nil, err
		}
		at := info.cursor.at
		if info.cursor.backward {
			sq.Before = &at
		} else {
			sq.After = &at
		}
		sq.Offset = 0
	}
	return sq, info, nil
}

// lookup returns the definition of a parameter the server answers for typ (empty typ:
// the parameters common to every resource).
func (s *Service) lookup(typ, code string) (*searchparam.Definition, bool) {
	switch code {
	case "_id":
		return &searchparam.Definition{Code: "_id", Type: "token", URL: "http://hl7.org/fhir/SearchParameter/Resource-id"}, true
	case "_lastUpdated":
		return &searchparam.Definition{Code: "_lastUpdated", Type: "date", URL: "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"}, true
	}
	common := typ == ""
	if common {
		typ = "Patient" // every type carries the Resource and DomainResource parameters
	}
	for _, d := range s.indexer.Params(typ) {
		if d.Code == code && (!common || slices.Contains(d.Base, "Resource") || slices.Contains(d.Base, "DomainResource")) {
			return d, true
		}
	}
	return nil, false
}

func typeLabel(typ string) string {
	if typ == "" {
		return "a system search"
	}
	return typ
}

// parseCriterion reads one occurrence of a search parameter key (with modifiers,
// chains and _has) and its comma-separated values, which are ORed.
func (s *Service) parseCriterion(typ, key, raw string, depth int) (store.Clause, problem, error) {
	if depth > 4 {
		return store.Clause{}, "", outcome.BadRequest("search parameter %q chains too deep", key)
	}
	if rest, ok := strings.CutPrefix(key, "_has:"); ok {
		return s.parseHas(typ, rest, raw, depth)
	}
	head, tail, chained := strings.Cut(key, ".")
	name, modifier, _ := strings.Cut(head, ":")
	d, ok := s.lookup(typ, name)
	if !ok {
		return store.Clause{}, problem(fmt.Sprintf("search parameter %q is not supported for %s", name, typeLabel(typ))), nil
	}
	if d.Type == "composite" && !chained {
		return s.parseComposite(d, name, modifier, raw)
	}
	kind, ok := index.KindOf(d.Type)
	if !ok {
		return store.Clause{}, problem(fmt.Sprintf("search parameter %q of type %s is not supported", name, d.Type)), nil
	}
	if chained {
		if kind != store.KindReference {
			return store.Clause{}, "", outcome.BadRequest("%s is not a reference parameter and cannot be chained", name)
		}
		target := modifier
		if target == "" && len(d.Target) == 1 {
			target = d.Target[0]
		}
		if target != "" && !isKnownType(target) {
			return store.Clause{}, "", outcome.BadRequest("unknown resource type %q in chain %q", target, key)
		}
		lookupType := target
		if lookupType == "" {
			// Several possible targets: the chained parameter must exist on one of them.
			for _, t := range d.Target {
				if _, ok := s.lookup(t, strings.SplitN(strings.SplitN(tail, ".", 2)[0], ":", 2)[0]); ok {
					lookupType = t
					break
				}
			}
			if lookupType == "" {
				return store.Clause{}, problem(fmt.Sprintf("chain %q names no parameter of the types %s refers to", key, name)), nil
			}
		}
		inner, p, err := s.parseCriterion(lookupType, tail, raw, depth+1)
		if err != nil || p != "" {
			return store.Clause{}, p, err
		}
		return store.Clause{Param: name, Kind: store.KindReference, Chain: &store.Chain{Type: target, Where: inner}}, "", nil
	}
	c := store.Clause{Param: name, Kind: kind}
	if modifier == "missing" {
		switch raw {
		case "true", "false":
			b := raw == "true"
			c.Missing = &b
			return c, "", nil
		}
		return c, "", outcome.BadRequest("%s:missing takes true or false, got %q", name, raw)
	}
	values := splitValues(raw)
	if len(values) == 0 {
		return c, "", outcome.BadRequest("search parameter %s has an empty value", name)
	}
	unsupported := problem(fmt.Sprintf("modifier :%s is not supported on %s (%s)", modifier, name, d.Type))
	switch kind {
	case store.KindToken:
		switch modifier {
		case "", "not", "text", "of-type":
		default:
			return c, unsupported, nil
		}
		c.Not = modifier == "not"
		if modifier == "of-type" {
			c.Param = name + ":of-type"
		}
		for _, v := range values {
			switch modifier {
			case "text":
				c.Tokens = append(c.Tokens, store.TokenMatch{Text: index.Fold(v)})
			case "of-type":
				parts := strings.SplitN(v, "|", 3)
				if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
					return c, "", outcome.BadRequest("%s:of-type takes system|code|value, got %q", name, v)
				}
				c.Tokens = append(c.Tokens, store.TokenMatch{System: parts[0], Code: parts[1] + "|" + parts[2]})
			default:
				c.Tokens = append(c.Tokens, parseToken(v))
			}
		}
	case store.KindString:
		mode := store.StringPrefix
		switch modifier {
		case "":
		case "exact":
			mode = store.StringExact
		case "contains":
			mode = store.StringContains
		default:
			return c, unsupported, nil
		}
		for _, v := range values {
			if mode != store.StringExact {
				v = index.Fold(v)
			}
			c.Strings = append(c.Strings, store.StringMatch{Value: v, Mode: mode})
		}
	case store.KindDate:
		if modifier != "" {
			return c, unsupported, nil
		}
		for _, v := range values {
			prefix, rest := splitPrefix(v)
			r, err := fhirdate.Parse(rest)
			if err != nil {
				return c, "", outcome.BadRequest("%s: %q is not a date, dateTime or instant", name, v)
			}
			c.Dates = append(c.Dates, store.DateMatch{Prefix: prefix, Low: r.Low, High: r.High})
		}
	case store.KindReference:
		if modifier == "identifier" {
			c = store.Clause{Param: name + ":identifier", Kind: store.KindToken}
			for _, v := range values {
				c.Tokens = append(c.Tokens, parseToken(v))
			}
			return c, "", nil
		}
		if modifier != "" && !isKnownType(modifier) {
			return c, unsupported, nil
		}
		for _, v := range values {
			m, err := s.parseReference(d, modifier, v)
			if err != nil {
				return c, "", err
			}
			c.References = append(c.References, m)
		}
	case store.KindQuantity, store.KindNumber:
		if modifier != "" {
			return c, unsupported, nil
		}
		for _, v := range values {
			m, err := parseQuantity(name, v, kind == store.KindNumber)
			if err != nil {
				return c, "", err
			}
			c.Quantities = append(c.Quantities, m)
		}
	case store.KindURI:
		mode := store.URIExact
		switch modifier {
		case "":
		case "below":
			mode = store.URIBelow
		case "above":
			mode = store.URIAbove
		default:
			return c, unsupported, nil
		}
		for _, v := range values {
			c.URIs = append(c.URIs, store.URIMatch{Value: v, Mode: mode})
		}
	}
	return c, "", nil
}

// parseComposite reads a composite value: component values joined by "$" (a literal
// "$" escaped as "\$"), each read as its component's type; commas separate
// alternatives.
func (s *Service) parseComposite(d *searchparam.Definition, name, modifier, raw string) (store.Clause, problem, error) {
	reg := s.indexer.Registry()
	kinds, ok := index.Components(reg, d)
	if !ok {
		return store.Clause{}, problem(fmt.Sprintf("composite parameter %q is not supported", name)), nil
	}
	switch modifier {
	case "":
	case "missing":
		if raw != "true" && raw != "false" {
			return store.Clause{}, "", outcome.BadRequest("%s:missing takes true or false, got %q", name, raw)
		}
		b := raw == "true"
		return store.Clause{Param: name, Missing: &b, Composite: []store.Clause{{Kind: kinds[0]}}}, "", nil
	default:
		return store.Clause{}, problem(fmt.Sprintf("modifier :%s is not supported on composite %s", modifier, name)), nil
	}
	var alts []store.Clause
	for _, v := range splitValues(raw) {
		parts := splitEscaped(v, '$')
		if len(parts) != len(kinds) {
			return store.Clause{}, "", outcome.BadRequest("%s takes %d values joined by $, got %q", name, len(kinds), v)
		}
		c := store.Clause{Param: name}
		for i, p := range parts {
			comp, _ := reg.ByURL(d.Component[i].Definition)
			pc, pr, err := s.componentClause(comp, kinds[i], p)
			if err != nil || pr != "" {
				return store.Clause{}, pr, err
			}
			c.Composite = append(c.Composite, pc)
		}
		alts = append(alts, c)
	}
	if len(alts) == 1 {
		return alts[0], "", nil
	}
	return store.Clause{Any: alts}, "", nil
}

// componentClause reads one component value of a composite.
func (s *Service) componentClause(d *searchparam.Definition, kind store.ParamKind, v string) (store.Clause, problem, error) {
	c := store.Clause{Param: d.Code, Kind: kind}
	switch kind {
	case store.KindToken:
		c.Tokens = []store.TokenMatch{parseToken(v)}
	case store.KindString:
		c.Strings = []store.StringMatch{{Value: index.Fold(v)}}
	case store.KindDate:
		prefix, rest := splitPrefix(v)
		r, err := fhirdate.Parse(rest)
		if err != nil {
			return c, "", outcome.BadRequest("%s: %q is not a date", d.Code, v)
		}
		c.Dates = []store.DateMatch{{Prefix: prefix, Low: r.Low, High: r.High}}
	case store.KindQuantity, store.KindNumber:
		m, err := parseQuantity(d.Code, v, kind == store.KindNumber)
		if err != nil {
			return c, "", err
		}
		c.Quantities = []store.QuantityMatch{m}
	case store.KindReference:
		m, err := s.parseReference(d, "", v)
		if err != nil {
			return c, "", err
		}
		c.References = []store.ReferenceMatch{m}
	case store.KindURI:
		c.URIs = []store.URIMatch{{Value: v}}
	}
	return c, "", nil
}

// parseHas reads "Type:param:rest" after "_has:".
func (s *Service) parseHas(typ, rest, raw string, depth int) (store.Clause, problem, error) {
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) != 3 || parts[2] == "" {
		return store.Clause{}, "", outcome.BadRequest("_has takes _has:Type:reference:parameter, got %q", "_has:"+rest)
	}
	src, param, inner := parts[0], parts[1], parts[2]
	if !isKnownType(src) {
		return store.Clause{}, "", outcome.BadRequest("_has names an unknown resource type %q", src)
	}
	d, ok := s.lookup(src, param)
	if !ok || d.Type != "reference" {
		return store.Clause{}, problem(fmt.Sprintf("_has: %s has no reference parameter %q", src, param)), nil
	}
	if typ != "" && len(d.Target) > 0 && !slices.Contains(d.Target, typ) {
		return store.Clause{}, "", outcome.BadRequest("_has: %s.%s never refers to %s", src, param, typ)
	}
	c, p, err := s.parseCriterion(src, inner, raw, depth+1)
	if err != nil || p != "" {
		return store.Clause{}, p, err
	}
	return store.Clause{Has: &store.Has{Type: src, Param: param, Where: c}}, "", nil
}

// parseReference reads a reference search value: Type/id, id alone, or an absolute URL
// (this server's own base is taken as local).
func (s *Service) parseReference(d *searchparam.Definition, typeModifier, v string) (store.ReferenceMatch, error) {
	if local, ok := strings.CutPrefix(v, s.cfg.BaseURL+"/"); ok && s.cfg.BaseURL != "" {
		v = local
	}
	if strings.Contains(v, ":") {
		return store.ReferenceMatch{URL: v}, nil
	}
	parts := strings.Split(v, "/")
	switch {
	case len(parts) == 1:
		m := store.ReferenceMatch{Type: typeModifier, ID: v}
		if m.Type == "" && len(d.Target) == 1 {
			m.Type = d.Target[0]
		}
		return m, nil
	case (len(parts) == 2 || len(parts) == 4 && parts[2] == "_history") && isKnownType(parts[0]):
		if typeModifier != "" && typeModifier != parts[0] {
			return store.ReferenceMatch{}, outcome.BadRequest("%s:%s cannot match %q", d.Code, typeModifier, v)
		}
		return store.ReferenceMatch{Type: parts[0], ID: parts[1]}, nil
	}
	return store.ReferenceMatch{}, outcome.BadRequest("%s: %q is not a reference (Type/id, id or URL)", d.Code, v)
}

// parseQuantity reads [prefix]number[|system|code]. The range eq matches is the one the
// number's written precision implies: 5.4 means [5.35, 5.45).
func parseQuantity(name, v string, numberOnly bool) (store.QuantityMatch, error) {
	prefix, rest := splitPrefix(v)
	num, unit, hasUnit := strings.Cut(rest, "|")
	if numberOnly && hasUnit {
		return store.QuantityMatch{}, outcome.BadRequest("%s is a number; %q has a unit", name, v)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || strings.ContainsAny(num, "xXpP_") {
		return store.QuantityMatch{}, outcome.BadRequest("%s: %q is not a number", name, v)
	}
	half := 0.5 * math.Pow(10, -float64(precision(num)))
	m := store.QuantityMatch{Prefix: prefix, Value: f, Low: f - half, High: f + half, AnyUnit: true}
	if hasUnit {
		system, code, ok := strings.Cut(unit, "|")
		if !ok {
			code, system = system, ""
		}
		m.AnyUnit = system == "" && code == ""
		m.System, m.Code = system, code
	}
	return m, nil
}

// precision is the number of decimal places a number is written with (negative for an
// exponent that makes it coarser than units).
func precision(num string) int {
	mant, exp, _ := strings.Cut(strings.ToLower(num), "e")
	p := 0
	if _, frac, ok := strings.Cut(mant, "."); ok {
		p = len(frac)
	}
	if exp != "" {
		if e, err := strconv.Atoi(exp); err == nil {
			p -= e
		}
	}
	return p
}

func (s *Service) parseSort(typ, k string) (store.SortKey, problem, error) {
	desc := strings.HasPrefix(k, "-")
	k = strings.TrimPrefix(k, "-")
	d, ok := s.lookup(typ, k)
	if !ok {
		return store.SortKey{}, problem(fmt.Sprintf("cannot sort %s by unknown parameter %q", typeLabel(typ), k)), nil
	}
	kind, ok := index.KindOf(d.Type)
	if !ok {
		return store.SortKey{}, problem(fmt.Sprintf("cannot sort by %s parameter %q", d.Type, k)), nil
	}
	return store.SortKey{Param: k, Kind: kind, Desc: desc}, "", nil
}

// parseInclude reads "Type:param[:targetType]" (or "*").
func (s *Service) parseInclude(rev bool, modifier, v string) (includeSpec, problem) {
	spec := includeSpec{iterate: modifier == "iterate" || modifier == "recurse"}
	if modifier != "" && !spec.iterate {
		return spec, problem(fmt.Sprintf("modifier :%s is not supported on _include/_revinclude", modifier))
	}
	if v == "*" {
		return spec, problem("_include=* is not supported; name the parameter")
	}
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || !isKnownType(parts[0]) {
		return spec, problem(fmt.Sprintf("%q is not Type:parameter[:targetType]", v))
	}
	spec.srcType, spec.param = parts[0], parts[1]
	if len(parts) == 3 {
		if !isKnownType(parts[2]) {
			return spec, problem(fmt.Sprintf("%q names an unknown target type", v))
		}
		spec.targetType = parts[2]
	}
	d, ok := s.lookup(spec.srcType, spec.param)
	if !ok || d.Type != "reference" {
		return spec, problem(fmt.Sprintf("%s has no reference parameter %q to include by", spec.srcType, spec.param))
	}
	return spec, ""
}

// splitValues splits on commas not escaped with a backslash, and unescapes \,.
func splitValues(s string) []string {
	return slices.DeleteFunc(splitEscaped(s, ','), func(v string) bool { return v == "" })
}

// splitEscaped splits s at sep where it is not escaped with a backslash ("\,", "\$"),
// keeping empty parts, and unescapes the separator.
func splitEscaped(s string, sep byte) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == sep:
			cur.WriteByte(sep)
			i++
		case s[i] == sep:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(out, cur.String())
}

func parseToken(v string) store.TokenMatch {
	i := strings.IndexByte(v, '|')
	if i < 0 || (i > 0 && v[i-1] == '\\') {
		return store.TokenMatch{AnySystem: true, Code: strings.ReplaceAll(v, `\|`, "|")}
	}
	return store.TokenMatch{System: v[:i], Code: v[i+1:]}
}

var prefixes = []string{"eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap"}

func splitPrefix(v string) (string, string) {
	if len(v) > 2 {
		for _, p := range prefixes {
			if v[:2] == p {
				return p, v[2:]
			}
		}
	}
	return "eq", v
}

// search answers a type search (typ set), a system search (typ empty) and, with extra
// clauses, compartment searches.
func (s *Service) search(ctx context.Context, r store.Reader, req *Request, typ string) (*Response, error) {
	return s.searchWith(ctx, r, req, typ, nil, "")
}

func (s *Service) searchWith(ctx context.Context, r store.Reader, req *Request, typ string, extra []store.Clause, linkPath string) (*Response, error) {
	q := req.Query
	if req.Method == http.MethodPost && len(req.Body) > 0 { // POST Type/_search: form body and URL together
		form, err := url.ParseQuery(string(req.Body))
		if err != nil {
			return nil, outcome.BadRequest("the _search body is not application/x-www-form-urlencoded: %v", err)
		}
		q = mergeValues(q, form)
	}
	strict := preferValue(req.Prefer, "handling") == "strict"
	sq, info, err := s.parseSearch(typ, q, strict)
	if err != nil {
		return nil, err
	}
	sq.Where = append(sq.Where, extra...)
	if linkPath == "" {
		linkPath = typ
	}
	return s.runSearch(ctx, r, sq, info, linkPath)
}

func (s *Service) runSearch(ctx context.Context, r store.Reader, sq store.Query, info *searchInfo, linkPath string) (*Response, error) {
	page, err := r.Search(ctx, sq)
	if err != nil {
		return nil, err
	}
	b := s.newBundle("searchset")
	switch {
	case page.Total >= 0:
		t := page.Total
		b.Total = &t
	case !page.More && info.cursor == nil && sq.Count > 0:
		// The page holds the last matches of an offset listing: the total is known.
		t := sq.Offset + len(page.Resources)
		b.Total = &t
	}
	link := func(extra url.Values) string {
		v := url.Values{}
		for k, vs := range info.applied {
			v[k] = vs
		}
		v.Set("_count", strconv.Itoa(sq.Count))
		for k, vs := range extra {
			v[k] = vs
		}
		u := s.cfg.BaseURL
		if linkPath != "" {
			u += "/" + linkPath
		}
		return u + "?" + v.Encode()
	}
	res := page.Resources
	backward := info.cursor != nil && info.cursor.backward
	self := url.Values{}
	if info.cursor != nil {
		self.Set("_page", info.cursor.String())
	} else if sq.Offset > 0 {
		self.Set("_offset", strconv.Itoa(sq.Offset))
	}
	b.Link = append(b.Link, bundleLink{"self", link(self)})
	if sq.Count > 0 {
		// Links continue from the page's first or last position (cursor.go), also after
		// a page a client asked for by _offset. Positions come from the store; without
		// them only the default order can be derived from the resources themselves.
		pos := page.Positions
		if len(pos) != len(res) && len(sq.Sort) == 0 {
			pos = make([]store.Cursor, len(res))
			for i, r := range res {
				pos[i] = store.Cursor{LastUpdated: r.LastUpdated, ID: r.ID, Type: r.Type}
			}
		}
		keyset := len(pos) == len(res)
		hasNext := page.More && !backward || backward && len(res) > 0
		hasPrev := backward && page.More || !backward && (sq.Offset > 0 || info.cursor != nil) && len(res) > 0
		switch {
		case keyset:
			if hasNext && len(res) > 0 {
				b.Link = append(b.Link, bundleLink{"next", link(url.Values{"_page": {cursorAt(pos[len(pos)-1], sq.Sort, false).String()}})})
			}
			if hasPrev {
				b.Link = append(b.Link, bundleLink{"previous", link(url.Values{"_page": {cursorAt(pos[0], sq.Sort, true).String()}})})
			}
		default:
			if page.More {
				b.Link = append(b.Link, bundleLink{"next", link(url.Values{"_offset": {strconv.Itoa(sq.Offset + sq.Count)}})})
			}
			if sq.Offset > 0 {
				b.Link = append(b.Link, bundleLink{"previous", link(url.Values{"_offset": {strconv.Itoa(max(0, sq.Offset-sq.Count))}})})
			}
		}
	}
	seen := map[string]bool{}
	for _, res := range res {
		seen[res.Type+"/"+res.ID] = true
		b.Entry = append(b.Entry, bundleEntry{FullURL: s.fullURL(res.Type, res.ID), Resource: s.shape(res, info), Search: &entrySearch{Mode: "match"}})
	}
	included, err := s.includes(ctx, r, res, info, seen)
	if err != nil {
		return nil, err
	}
	for _, inc := range included {
		b.Entry = append(b.Entry, bundleEntry{FullURL: s.fullURL(inc.Type, inc.ID), Resource: s.shape(inc, info), Search: &entrySearch{Mode: "include"}})
	}
	if len(info.ignored) > 0 {
		b.Entry = append(b.Entry, bundleEntry{Resource: outcome.Resource(info.ignored...), Search: &entrySearch{Mode: "outcome"}})
	}
	return &Response{Status: http.StatusOK, Body: b.encode()}, nil
}

// includes follows _include and _revinclude from the page's resources (and, with
// :iterate, from what they added), without repeating any resource.
func (s *Service) includes(ctx context.Context, r store.Reader, page []store.Resource, info *searchInfo, seen map[string]bool) ([]store.Resource, error) {
	if len(info.include) == 0 && len(info.revinclude) == 0 {
		return nil, nil
	}
	var out []store.Resource
	frontier := page
	for round := 0; len(frontier) > 0 && round < 4 && len(out) < maxIncluded; round++ {
		var next []store.Resource
		add := func(rs []store.Resource) {
			for _, x := range rs {
				k := x.Type + "/" + x.ID
				if !seen[k] && len(out) < maxIncluded {
					seen[k] = true
					out = append(out, x)
					next = append(next, x)
				}
			}
		}
		for _, spec := range info.include {
			if round > 0 && !spec.iterate {
				continue
			}
			targets := map[string][]string{}
			for _, src := range frontier {
				if src.Type != spec.srcType {
					continue
				}
				idx, err := s.indexer.Index(ctx, src.Type, src.Body)
				if err != nil {
					return nil, err
				}
				for _, ref := range idx.References {
					if ref.Param == spec.param && ref.TargetType != "" && (spec.targetType == "" || spec.targetType == ref.TargetType) {
						targets[ref.TargetType] = append(targets[ref.TargetType], ref.TargetID)
					}
				}
			}
			for t, ids := range targets {
				rs, err := s.byIDs(ctx, r, t, ids)
				if err != nil {
					return nil, err
				}
				add(rs)
			}
		}
		for _, spec := range info.revinclude {
			if round > 0 && !spec.iterate {
				continue
			}
			var refs []store.ReferenceMatch
			for _, x := range frontier {
				if spec.targetType == "" || spec.targetType == x.Type {
					refs = append(refs, store.ReferenceMatch{Type: x.Type, ID: x.ID})
				}
			}
			if len(refs) == 0 {
				continue
			}
			p, err := r.Search(ctx, store.Query{Type: spec.srcType, Count: maxIncluded,
				Where: []store.Clause{{Param: spec.param, Kind: store.KindReference, References: refs}}})
			if err != nil {
				return nil, err
			}
			add(p.Resources)
		}
		frontier = next
	}
	return out, nil
}

func (s *Service) byIDs(ctx context.Context, r store.Reader, typ string, ids []string) ([]store.Resource, error) {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var ms []store.TokenMatch
	for _, id := range ids {
		ms = append(ms, store.TokenMatch{AnySystem: true, Code: id})
	}
	p, err := r.Search(ctx, store.Query{Type: typ, Count: len(ids), Where: []store.Clause{{Param: "_id", Kind: store.KindToken, Tokens: ms}}})
	if err != nil {
		return nil, err
	}
	return p.Resources, nil
}

func mergeValues(a, b url.Values) url.Values {
	out := url.Values{}
	for k, v := range a {
		out[k] = append(out[k], v...)
	}
	for k, v := range b {
		out[k] = append(out[k], v...)
	}
	return out
}
