package terminology

import (
	"context"
	"fmt"
)

// maxOtherMapDepth bounds chains of unmapped other-map references (and so cycles).
const maxOtherMapDepth = 4

// Request is one code to translate.
type Request struct {
	System string
	Code   string
	// TargetSystem restricts the groups used to those mapping into this system
	// (with Reverse: out of it). Empty: any.
	TargetSystem string
	// Reverse translates from a target code back to the source codes.
	Reverse bool
	// Dependencies are the values the caller knows for dependsOn elements; a target
	// with dependsOn holds only when every one of them is here.
	Dependencies []Dependency
}

// Match is one translation.
type Match struct {
	Equivalence string
	Concept     Coding
	Product     []Dependency
	// Source is the canonical URL (url|version) of the ConceptMap the match comes from.
	Source string
}

// Resolver finds a ConceptMap by canonical URL ("url" or "url|version") for the
// "other-map" unmapped mode; it returns an error wrapping ErrNotFound when there is
// none.
type Resolver func(ctx context.Context, canonical string) (*ConceptMap, error)

// Translator translates through a set of ConceptMaps, in order.
type Translator struct {
	Maps []*ConceptMap
	// Resolve loads the maps unmapped other-map names; nil ignores other-map.
	Resolve Resolver
}

// Translate returns the translations of system|code into targetSystem (any system
// when empty), from every map of t.
func (t *Translator) Translate(ctx context.Context, system, code, targetSystem string) ([]Match, error) {
	return t.TranslateRequest(ctx, Request{System: system, Code: code, TargetSystem: targetSystem})
}

// TranslateRequest is Translate with every option.
func (t *Translator) TranslateRequest(ctx context.Context, req Request) ([]Match, error) {
	var out []Match
	for _, m := range t.Maps {
		ms, err := t.translate(ctx, m, req, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

func (t *Translator) translate(ctx context.Context, m *ConceptMap, req Request, depth int) ([]Match, error) {
	var out []Match
	for gi := range m.Groups {
		g := &m.Groups[gi]
		from, to := g.Source, g.Target
		if req.Reverse {
			from, to = to, from
		}
		if from != req.System || req.TargetSystem != "" && to != req.TargetSystem {
			continue
		}
		if req.Reverse {
			out = append(out, g.reverse(m, req)...)
			continue
		}
		idx, found := g.bySource[req.Code]
		for _, i := range idx {
			e := &g.Elements[i]
			for _, tg := range e.Targets {
				if !dependsOK(tg.DependsOn, req.Dependencies) {
					continue
				}
				mt := Match{Equivalence: tg.Equivalence, Product: tg.Product, Source: m.Canonical()}
				if mt.Equivalence == "" {
					mt.Equivalence = Equivalent // the R4 default (1..1 with default in R3)
				}
				if tg.Code != "" {
					mt.Concept = Coding{System: g.Target, Version: g.TargetVersion, Code: tg.Code, Display: tg.Display}
				}
				out = append(out, mt)
			}
		}
		if found || g.Unmapped == nil {
			continue
		}
		// No element for the code: the group's unmapped rule applies.
		switch u := g.Unmapped; u.Mode {
		case "provided":
			// The code means the same in the target system; HAPI and the R5 default
			// relationship treat that as equivalent.
			out = append(out, Match{Equivalence: Equivalent, Source: m.Canonical(),
				Concept: Coding{System: g.Target, Version: g.TargetVersion, Code: req.Code}})
		case "fixed":
			// A catch-all code stands for the concept without being equivalent to it.
			if u.Code != "" {
				out = append(out, Match{Equivalence: RelatedTo, Source: m.Canonical(),
					Concept: Coding{System: g.Target, Version: g.TargetVersion, Code: u.Code, Display: u.Display}})
			}
		case "other-map":
			if t.Resolve == nil || u.URL == "" {
				continue
			}
			if depth >= maxOtherMapDepth {
				return nil, fmt.Errorf("terminology: ConceptMap %s: unmapped other-map chain deeper than %d", m.Canonical(), maxOtherMapDepth)
			}
			other, err := t.Resolve(ctx, u.URL)
			if err != nil {
				return nil, fmt.Errorf("terminology: ConceptMap %s: unmapped other-map %s: %w", m.Canonical(), u.URL, err)
			}
			ms, err := t.translate(ctx, other, req, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
		}
	}
	return out, nil
}

// reverse finds the source concepts whose targets include req.Code.
func (g *Group) reverse(m *ConceptMap, req Request) []Match {
	var out []Match
	for _, i := range g.byTarget[req.Code] {
		e := &g.Elements[i]
		for _, tg := range e.Targets {
			if tg.Code != req.Code || !dependsOK(tg.DependsOn, req.Dependencies) {
				continue
			}
			eq := tg.Equivalence
			if eq == "" {
				eq = Equivalent
			}
			out = append(out, Match{Equivalence: reversed(eq), Source: m.Canonical(),
				Concept: Coding{System: g.Source, Version: g.SourceVersion, Code: e.Code, Display: e.Display}})
		}
	}
	return out
}

// dependsOK reports whether every dependsOn entry is among the known values.
func dependsOK(deps, known []Dependency) bool {
	for _, d := range deps {
		ok := false
		for _, k := range known {
			if k.Property == d.Property && k.Value == d.Value && (d.System == "" || k.System == "" || k.System == d.System) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
