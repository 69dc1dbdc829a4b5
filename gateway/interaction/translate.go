package interaction

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/terminology"
)

// readOnlyOperation reports whether an operation only reads, so that a POST of it
// needs no write transaction.
func readOnlyOperation(rt route) bool {
	return rt.operation == "translate" && rt.typ == "ConceptMap"
}

// translateParams are the inputs of ConceptMap/$translate
// (https://hl7.org/fhir/R4/conceptmap-operation-translate.html).
type translateParams struct {
	url, conceptMapVersion    string
	conceptMap                json.RawMessage
	code, system, version     string
	source, target, targetSys string
	coding                    *terminology.Coding
	codeableConcept           []terminology.Coding
	reverse                   bool
	dependencies              []terminology.Dependency
	// which of the three ways to give the code were used
	hasCode, hasCoding, hasCodeableConc bool
}

// translate answers ConceptMap/$translate and ConceptMap/[id]/$translate with a
// Parameters resource (result, message, match). The maps come from id, url (with
// conceptMapVersion) or an inline conceptMap; without any of them every stored map
// with a group from the code's system is used, narrowed by source and target value
// sets when given.
func (s *Service) translate(ctx context.Context, r store.Reader, req *Request, id string) (*Response, error) {
	var p translateParams
	if err := p.fromQuery(req); err != nil {
		return nil, err
	}
	if req.Method == http.MethodPost && len(bytes.TrimSpace(req.Body)) > 0 {
		if err := p.fromBody(req.Body); err != nil {
			return nil, err
		}
	}
	codings, err := p.codings()
	if err != nil {
		return nil, err
	}
	loader := terminology.NewLoader()
	var maps []*terminology.ConceptMap
	switch {
	case id != "":
		if !validID(id) {
			return nil, outcome.BadRequest("invalid resource id %q", id)
		}
		m, err := loader.ByID(ctx, r, id)
		if err != nil {
			return nil, mapLookup(err)
		}
		maps = append(maps, m)
	case len(p.conceptMap) > 0:
		m, err := terminology.Parse(p.conceptMap)
		if err != nil {
			return nil, outcome.BadRequest("parameter conceptMap: %v", err)
		}
		maps = append(maps, m)
	case p.url != "":
		c := p.url
		if p.conceptMapVersion != "" {
			c, _ = terminology.SplitCanonical(c)
			c += "|" + p.conceptMapVersion
		}
		m, err := loader.ByCanonical(ctx, r, c)
		if err != nil {
			return nil, mapLookup(err)
		}
		maps = append(maps, m)
	}
	explicit := len(maps) > 0
	tr := &terminology.Translator{Maps: maps, Resolve: loader.Resolver(r)}
	var matches []terminology.Match
	for _, c := range codings {
		if !explicit {
			found, err := loader.BySystem(ctx, r, c.System, p.reverse)
			if err != nil {
				return nil, err
			}
			tr.Maps = tr.Maps[:0]
			for _, m := range found {
				if p.scoped(m) {
					tr.Maps = append(tr.Maps, m)
				}
			}
		}
		ms, err := tr.TranslateRequest(ctx, terminology.Request{System: c.System, Code: c.Code,
			TargetSystem: p.targetSys, Reverse: p.reverse, Dependencies: p.dependencies})
		if err != nil {
			if errors.Is(err, terminology.ErrNotFound) {
				return nil, outcome.New(http.StatusUnprocessableEntity, "not-found", "%v", err)
			}
			return nil, err
		}
		matches = append(matches, ms...)
	}
	return &Response{Status: http.StatusOK, Body: translateResult(codings, matches)}, nil
}

// mapLookup turns a failed ConceptMap look-up into 404 or a store error.
func mapLookup(err error) error {
	if errors.Is(err, terminology.ErrNotFound) {
		return outcome.NotFound("%s", strings.TrimPrefix(err.Error(), "terminology: "))
	}
	return err
}

// scoped reports whether a map found by system fits the source and target value sets
// the request names. In reverse the code comes from the map's target side.
func (p *translateParams) scoped(m *terminology.ConceptMap) bool {
	from, to := m.Source, m.Target
	if p.reverse {
		from, to = to, from
	}
	return (p.source == "" || p.source == from) && (p.target == "" || p.target == to)
}

// codings lists the codes to translate: code with system, or coding, or every coding
// of codeableConcept.
func (p *translateParams) codings() ([]terminology.Coding, error) {
	n := 0
	for _, b := range []bool{p.hasCode, p.hasCoding, p.hasCodeableConc} {
		if b {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, outcome.BadRequest("$translate needs a code (with system), a coding or a codeableConcept")
	case n > 1:
		return nil, outcome.BadRequest("$translate takes only one of code, coding and codeableConcept")
	case p.hasCode:
		if p.system == "" {
			return nil, outcome.BadRequest("$translate: parameter code needs a system")
		}
		return []terminology.Coding{{System: p.system, Version: p.version, Code: p.code}}, nil
	case p.hasCoding:
		if p.coding.System == "" || p.coding.Code == "" {
			return nil, outcome.BadRequest("$translate: parameter coding needs a system and a code")
		}
		return []terminology.Coding{*p.coding}, nil
	}
	var out []terminology.Coding
	for _, c := range p.codeableConcept {
		if c.System != "" && c.Code != "" {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, outcome.BadRequest("$translate: parameter codeableConcept has no coding with a system and a code")
	}
	return out, nil
}

// fromQuery reads the parameters given in the URL (GET, or POST with a query).
func (p *translateParams) fromQuery(req *Request) error {
	q := req.Query
	str := func(name string) string { return q.Get(name) }
	p.url, p.conceptMapVersion = str("url"), str("conceptMapVersion")
	p.code, p.system, p.version = str("code"), str("system"), str("version")
	p.source, p.target, p.targetSys = str("source"), str("target"), str("targetsystem")
	p.hasCode = p.code != ""
	if v := str("coding"); v != "" {
		// Coding in a URL: system|code, as in token search parameters.
		sys, code, ok := strings.Cut(v, "|")
		if !ok {
			return outcome.BadRequest("$translate: parameter coding in the URL must be system|code")
		}
		p.coding, p.hasCoding = &terminology.Coding{System: sys, Code: code}, true
	}
	if q.Has("codeableConcept") {
		return outcome.BadRequest("$translate: send codeableConcept in a POST Parameters body")
	}
	if v := str("reverse"); v != "" {
		switch v {
		case "true":
			p.reverse = true
		case "false":
		default:
			return outcome.BadRequest("$translate: parameter reverse must be true or false")
		}
	}
	return nil
}

type paramJSON struct {
	Name                 string              `json:"name"`
	ValueURI             *string             `json:"valueUri"`
	ValueCanonical       *string             `json:"valueCanonical"`
	ValueCode            *string             `json:"valueCode"`
	ValueString          *string             `json:"valueString"`
	ValueBoolean         *bool               `json:"valueBoolean"`
	ValueCoding          *terminology.Coding `json:"valueCoding"`
	ValueCodeableConcept *struct {
		Coding []terminology.Coding `json:"coding"`
	} `json:"valueCodeableConcept"`
	Resource json.RawMessage `json:"resource"`
	Part     []paramJSON     `json:"part"`
}

func (v paramJSON) str() (string, bool) {
	for _, s := range []*string{v.ValueURI, v.ValueCanonical, v.ValueCode, v.ValueString} {
		if s != nil {
			return *s, true
		}
	}
	return "", false
}

// fromBody reads a Parameters resource; its values win over the URL's.
func (p *translateParams) fromBody(body []byte) error {
	var ps struct {
		ResourceType string      `json:"resourceType"`
		Parameter    []paramJSON `json:"parameter"`
	}
	if err := json.Unmarshal(body, &ps); err != nil {
		return outcome.BadRequest("$translate: the body is not a Parameters resource: %v", err)
	}
	if ps.ResourceType != "Parameters" {
		return outcome.BadRequest("$translate: the body must be a Parameters resource, not %q", ps.ResourceType)
	}
	for _, prm := range ps.Parameter {
		s, isStr := prm.str()
		set := func(dst *string) error {
			if !isStr {
				return outcome.BadRequest("$translate: parameter %s needs a value", prm.Name)
			}
			*dst = s
			return nil
		}
		var err error
		switch prm.Name {
		case "url":
			err = set(&p.url)
		case "conceptMapVersion":
			err = set(&p.conceptMapVersion)
		case "code":
			err = set(&p.code)
			p.hasCode = p.code != ""
		case "system":
			err = set(&p.system)
		case "version":
			err = set(&p.version)
		case "source":
			err = set(&p.source)
		case "target":
			err = set(&p.target)
		case "targetsystem":
			err = set(&p.targetSys)
		case "reverse":
			if prm.ValueBoolean == nil {
				return outcome.BadRequest("$translate: parameter reverse needs valueBoolean")
			}
			p.reverse = *prm.ValueBoolean
		case "coding":
			if prm.ValueCoding == nil {
				return outcome.BadRequest("$translate: parameter coding needs valueCoding")
			}
			p.coding, p.hasCoding = prm.ValueCoding, true
		case "codeableConcept":
			if prm.ValueCodeableConcept == nil {
				return outcome.BadRequest("$translate: parameter codeableConcept needs valueCodeableConcept")
			}
			p.codeableConcept, p.hasCodeableConc = prm.ValueCodeableConcept.Coding, true
		case "conceptMap":
			if len(prm.Resource) == 0 {
				return outcome.BadRequest("$translate: parameter conceptMap needs a resource")
			}
			p.conceptMap = prm.Resource
		case "dependency":
			var d terminology.Dependency
			for _, part := range prm.Part {
				switch part.Name {
				case "element":
					d.Property, _ = part.str()
				case "concept":
					if part.ValueCodeableConcept != nil && len(part.ValueCodeableConcept.Coding) > 0 {
						c := part.ValueCodeableConcept.Coding[0]
						d.System, d.Value, d.Display = c.System, c.Code, c.Display
					} else if part.ValueCoding != nil {
						d.System, d.Value, d.Display = part.ValueCoding.System, part.ValueCoding.Code, part.ValueCoding.Display
					}
				}
			}
			p.dependencies = append(p.dependencies, d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type outParam struct {
	Name         string              `json:"name"`
	ValueBoolean *bool               `json:"valueBoolean,omitempty"`
	ValueString  string              `json:"valueString,omitempty"`
	ValueCode    string              `json:"valueCode,omitempty"`
	ValueURI     string              `json:"valueUri,omitempty"`
	ValueCoding  *terminology.Coding `json:"valueCoding,omitempty"`
	Part         []outParam          `json:"part,omitempty"`
}

// translateResult builds the output Parameters.
func translateResult(codings []terminology.Coding, matches []terminology.Match) []byte {
	result := false
	for _, m := range matches {
		if terminology.Positive(m.Equivalence) {
			result = true
		}
	}
	ps := []outParam{{Name: "result", ValueBoolean: &result}}
	if !result {
		var cs []string
		for _, c := range codings {
			cs = append(cs, c.System+"|"+c.Code)
		}
		msg := "no translation found for " + strings.Join(cs, ", ")
		if len(matches) > 0 {
			msg = "only unmatched or disjoint mappings for " + strings.Join(cs, ", ")
		}
		ps = append(ps, outParam{Name: "message", ValueString: msg})
	}
	for _, m := range matches {
		mp := outParam{Name: "match", Part: []outParam{{Name: "equivalence", ValueCode: m.Equivalence}}}
		if m.Concept.Code != "" {
			c := m.Concept
			mp.Part = append(mp.Part, outParam{Name: "concept", ValueCoding: &c})
		}
		for _, pr := range m.Product {
			mp.Part = append(mp.Part, outParam{Name: "product", Part: []outParam{
				{Name: "element", ValueURI: pr.Property},
				{Name: "concept", ValueCoding: &terminology.Coding{System: pr.System, Code: pr.Value, Display: pr.Display}},
			}})
		}
		if m.Source != "" {
			mp.Part = append(mp.Part, outParam{Name: "source", ValueURI: m.Source})
		}
		ps = append(ps, mp)
	}
	body, err := json.Marshal(struct {
		ResourceType string     `json:"resourceType"`
		Parameter    []outParam `json:"parameter"`
	}{"Parameters", ps})
	if err != nil { // plain structs always marshal
		panic(fmt.Sprintf("marshal $translate result: %v", err))
	}
	return body
}
