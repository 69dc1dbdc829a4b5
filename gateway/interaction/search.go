package interaction

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/shch/fhirgw/gateway/fhirdate"
	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
)

// Result parameters the transport or this package handle; they are never "unknown".
var resultParams = map[string]bool{"_count": true, "_offset": true, "_total": true, "_format": true, "_pretty": true}

// searchInfo records how a query was understood, for the self link and warnings.
type searchInfo struct {
	applied url.Values
	ignored []outcome.Issue
}

// parseSearch turns query parameters into a store query. Unknown or unsupported
// parameters are ignored and reported, or rejected with 400 when strict (Prefer:
// handling=strict, and always for conditional interactions, where ignoring a criterion
// would widen the match).
func (s *Service) parseSearch(typ string, q url.Values, strict bool) (store.Query, *searchInfo, error) {
	sq := store.Query{Type: typ, Count: s.cfg.DefaultCount, Total: true}
	info := &searchInfo{applied: url.Values{}}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		values := q[key]
		name, modifier, _ := strings.Cut(key, ":")
		switch name {
		case "_count":
			n, err := strconv.Atoi(values[len(values)-1])
			if err != nil || n < 0 {
				return sq, nil, outcome.BadRequest("_count must be a non-negative integer, got %q", values[len(values)-1])
			}
			sq.Count = min(n, s.cfg.MaxCount)
			info.applied.Set("_count", strconv.Itoa(sq.Count))
			continue
		case "_offset":
			n, err := strconv.Atoi(values[len(values)-1])
			if err != nil || n < 0 {
				return sq, nil, outcome.BadRequest("_offset must be a non-negative integer, got %q", values[len(values)-1])
			}
			sq.Offset = n
			continue
		case "_total":
			switch v := values[len(values)-1]; v {
			case "none":
				sq.Total = false
			case "accurate", "estimate":
				sq.Total = true
			default:
				return sq, nil, outcome.BadRequest("_total must be none, estimate or accurate, got %q", v)
			}
			info.applied.Set("_total", values[len(values)-1])
			continue
		}
		if resultParams[name] {
			continue
		}
		kind, ok := s.paramKind(typ, name)
		if !ok || (modifier != "" && modifier != "missing") {
			msg := fmt.Sprintf("search parameter %q is not supported for %s", key, typ)
			if ok {
				msg = fmt.Sprintf("modifier :%s is not supported on %s", modifier, name)
			}
			if strict {
				return sq, nil, outcome.BadRequest("%s", msg)
			}
			info.ignored = append(info.ignored, outcome.Issue{Severity: "warning", Code: "not-supported", Diagnostics: msg + "; it was ignored"})
			continue
		}
		for _, v := range values {
			c, err := parseClause(name, modifier, kind, v)
			if err != nil {
				return sq, nil, err
			}
			sq.Where = append(sq.Where, c)
			info.applied.Add(key, v)
		}
	}
	return sq, info, nil
}

// paramKind returns the type of a search parameter this server answers for typ.
func (s *Service) paramKind(typ, name string) (store.ParamKind, bool) {
	switch name {
	case "_id":
		return store.KindToken, true
	case "_lastUpdated":
		return store.KindDate, true
	}
	for _, d := range s.indexer.Params(typ) {
		if d.Code == name {
			k, ok := kindOf(d)
			return k, ok
		}
	}
	return 0, false
}

func kindOf(d *searchparam.Definition) (store.ParamKind, bool) {
	switch d.Type {
	case "token":
		return store.KindToken, true
	case "date":
		return store.KindDate, true
	case "string":
		return store.KindString, true
	case "reference":
		return store.KindReference, true
	case "quantity":
		return store.KindQuantity, true
	case "number":
		return store.KindNumber, true
	case "uri":
		return store.KindURI, true
	}
	return 0, false
}

// parseClause reads one occurrence of a parameter: comma-separated values are ORed.
func parseClause(name, modifier string, kind store.ParamKind, raw string) (store.Clause, error) {
	c := store.Clause{Param: name, Kind: kind}
	if modifier == "missing" {
		switch raw {
		case "true", "false":
			b := raw == "true"
			c.Missing = &b
			return c, nil
		}
		return c, outcome.BadRequest("%s:missing takes true or false, got %q", name, raw)
	}
	for _, v := range splitValues(raw) {
		switch kind {
		case store.KindToken:
			c.Tokens = append(c.Tokens, parseToken(v))
		case store.KindDate:
			prefix, rest := splitPrefix(v)
			r, err := fhirdate.Parse(rest)
			if err != nil {
				return c, outcome.BadRequest("%s: %q is not a date, dateTime or instant", name, v)
			}
			c.Dates = append(c.Dates, store.DateMatch{Prefix: prefix, Low: r.Low, High: r.High})
		default:
			return c, outcome.BadRequest("search parameter %s is not supported", name)
		}
	}
	if len(c.Tokens) == 0 && len(c.Dates) == 0 {
		return c, outcome.BadRequest("search parameter %s has an empty value", name)
	}
	return c, nil
}

// splitValues splits on commas not escaped with a backslash, and unescapes \, \| \$ \\.
func splitValues(s string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == ',':
			cur.WriteByte(',')
			i++
		case s[i] == ',':
			if cur.Len() > 0 {
				out = append(out, cur.String())
			}
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func parseToken(v string) store.TokenMatch {
	i := strings.IndexByte(v, '|')
	if i < 0 || (i > 0 && v[i-1] == '\\') {
		return store.TokenMatch{AnySystem: true, Code: strings.ReplaceAll(v, `\|`, "|")}
	}
	return store.TokenMatch{System: v[:i], Code: v[i+1:]}
}

var datePrefixes = []string{"eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap"}

func splitPrefix(v string) (string, string) {
	if len(v) > 2 {
		for _, p := range datePrefixes {
			if v[:2] == p {
				return p, v[2:]
			}
		}
	}
	return "eq", v
}

func (s *Service) search(ctx context.Context, r store.Reader, req *Request, typ string) (*Response, error) {
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
	page, err := r.Search(ctx, sq)
	if err != nil {
		return nil, err
	}
	b := s.newBundle("searchset")
	if page.Total >= 0 {
		t := page.Total
		b.Total = &t
	}
	link := func(offset int) string {
		v := url.Values{}
		for k, vs := range info.applied {
			v[k] = vs
		}
		v.Set("_count", strconv.Itoa(sq.Count))
		if offset > 0 {
			v.Set("_offset", strconv.Itoa(offset))
		}
		return s.cfg.BaseURL + "/" + typ + "?" + v.Encode()
	}
	b.Link = append(b.Link, bundleLink{"self", link(sq.Offset)})
	if page.More {
		b.Link = append(b.Link, bundleLink{"next", link(sq.Offset + sq.Count)})
	}
	if sq.Offset > 0 {
		b.Link = append(b.Link, bundleLink{"previous", link(max(0, sq.Offset-sq.Count))})
	}
	for _, res := range page.Resources {
		b.Entry = append(b.Entry, bundleEntry{FullURL: s.fullURL(res.Type, res.ID), Resource: res.Body, Search: &entrySearch{Mode: "match"}})
	}
	if len(info.ignored) > 0 {
		b.Entry = append(b.Entry, bundleEntry{Resource: outcome.Resource(info.ignored...), Search: &entrySearch{Mode: "outcome"}})
	}
	return &Response{Status: http.StatusOK, Body: b.encode()}, nil
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
