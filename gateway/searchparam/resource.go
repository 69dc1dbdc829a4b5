package searchparam

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Types of search parameters (SearchParameter.type).
var paramTypes = []string{"number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"}

// FromResource reads a SearchParameter resource (JSON) into a Definition. It checks what
// a registry needs (url, code, type, base); whether the expression evaluates is the
// indexer's concern.
func FromResource(body []byte) (Definition, string, error) {
	var sp struct {
		ResourceType string   `json:"resourceType"`
		URL          string   `json:"url"`
		Status       string   `json:"status"`
		Code         string   `json:"code"`
		Type         string   `json:"type"`
		Base         []string `json:"base"`
		Expression   string   `json:"expression"`
		Target       []string `json:"target"`
		Modifier     []string `json:"modifier"`
		Comparator   []string `json:"comparator"`
		Component    []struct {
			Definition string `json:"definition"`
			Expression string `json:"expression"`
		} `json:"component"`
	}
	if err := json.Unmarshal(body, &sp); err != nil {
		return Definition{}, "", fmt.Errorf("read SearchParameter: %w", err)
	}
	if sp.ResourceType != "SearchParameter" {
		return Definition{}, "", fmt.Errorf("read SearchParameter: resourceType is %q", sp.ResourceType)
	}
	switch {
	case sp.URL == "":
		return Definition{}, sp.Status, fmt.Errorf("SearchParameter.url is required")
	case sp.Code == "":
		return Definition{}, sp.Status, fmt.Errorf("SearchParameter.code is required")
	case !slices.Contains(paramTypes, sp.Type):
		return Definition{}, sp.Status, fmt.Errorf("SearchParameter.type %q is not a search parameter type", sp.Type)
	case len(sp.Base) == 0:
		return Definition{}, sp.Status, fmt.Errorf("SearchParameter.base is required")
	}
	d := Definition{URL: sp.URL, Code: sp.Code, Type: sp.Type, Base: sp.Base, Expression: sp.Expression,
		Target: sp.Target, Modifier: sp.Modifier, Comparator: sp.Comparator}
	for _, c := range sp.Component {
		d.Component = append(d.Component, Component{Definition: c.Definition, Expression: c.Expression})
	}
	return d, sp.Status, nil
}

// Same reports whether two definitions index and search alike.
func Same(a, b *Definition) bool {
	return a.URL == b.URL && a.Code == b.Code && a.Type == b.Type && a.Expression == b.Expression &&
		slices.Equal(a.Base, b.Base) && slices.Equal(a.Target, b.Target)
}
