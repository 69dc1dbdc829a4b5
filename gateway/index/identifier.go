// Package index extracts search index rows from resources.
package index

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
)

// Identifiers indexes the `identifier` search parameter of every resource type whose
// official definition is a plain path to an Identifier element (Patient.identifier,
// Bundle.identifier, ...). It is the indexer of the gateway core; the FHIRPath-driven
// indexer covers every parameter.
type Identifiers struct {
	params map[string]*searchparam.Definition // resource type -> its identifier parameter
	paths  map[string]string                  // resource type -> top-level element name
}

// NewIdentifiers builds the indexer from a registry.
func NewIdentifiers(reg *searchparam.Registry, resourceTypes []string) *Identifiers {
	ix := &Identifiers{params: map[string]*searchparam.Definition{}, paths: map[string]string{}}
	for _, typ := range resourceTypes {
		d, ok := reg.Lookup(typ, "identifier")
		if !ok || d.Type != "token" {
			continue
		}
		for _, part := range strings.Split(d.Expression, "|") {
			part = strings.TrimSpace(part)
			if elem, ok := strings.CutPrefix(part, typ+"."); ok && !strings.ContainsAny(elem, ".()") {
				ix.params[typ], ix.paths[typ] = d, elem
			}
		}
	}
	return ix
}

// Params lists the parameters indexed for typ.
func (ix *Identifiers) Params(typ string) []*searchparam.Definition {
	if d, ok := ix.params[typ]; ok {
		return []*searchparam.Definition{d}
	}
	return nil
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
	Type   *struct {
		Text string `json:"text"`
	} `json:"type"`
}

// Index extracts system|value tokens from the identifier element.
func (ix *Identifiers) Index(_ context.Context, typ string, body []byte) (*store.Index, error) {
	elem, ok := ix.paths[typ]
	if !ok {
		return &store.Index{}, nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("index %s: %w", typ, err)
	}
	raw, ok := doc[elem]
	if !ok {
		return &store.Index{}, nil
	}
	var ids []identifier
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &ids); err != nil {
			return nil, fmt.Errorf("index %s.%s: %w", typ, elem, err)
		}
	} else {
		var one identifier
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("index %s.%s: %w", typ, elem, err)
		}
		ids = []identifier{one}
	}
	x := &store.Index{}
	for _, id := range ids {
		if id.Value == "" && id.System == "" {
			continue
		}
		e := store.TokenEntry{Param: "identifier", System: id.System, Code: id.Value}
		if id.Type != nil {
			e.Text = strings.ToLower(id.Type.Text)
		}
		x.Tokens = append(x.Tokens, e)
	}
	return x, nil
}
