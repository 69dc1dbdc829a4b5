// Package terminology translates codes through FHIR R4 ConceptMap resources: the
// $translate operation and the translation of senders' local codes during HL7 v2
// ingestion both use it.
//
// A ConceptMap is parsed once per stored version (Parse, Loader) into an index by
// source code and, for reverse translation, by target code. Translation follows the
// R4 rules (https://hl7.org/fhir/R4/conceptmap-operation-translate.html):
//
//   - a group applies when its source system is the coding's system (its target system,
//     in reverse) and, when a target system is asked for, its target system is that one;
//   - a target with dependsOn holds only when the request supplies each dependency
//     (same property, system and value);
//   - when no element of an applicable group has the code, group.unmapped decides:
//     "provided" maps the code to itself in the target system, "fixed" to unmapped.code,
//     and "other-map" translates through the ConceptMap unmapped.url names (resolved by
//     the caller's Resolver, at most maxOtherMapDepth deep);
//   - in reverse, wider and narrower (and subsumes and specializes) swap.
package terminology

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound means no ConceptMap answers to a canonical URL or id.
var ErrNotFound = errors.New("terminology: ConceptMap not found")

// Coding is a code in a code system.
type Coding struct {
	System  string `json:"system,omitempty"`
	Version string `json:"version,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// Dependency is a dependsOn or product entry: another element's value the mapping
// depends on or produces.
type Dependency struct {
	Property string `json:"property"` // the element, a uri
	System   string `json:"system,omitempty"`
	Value    string `json:"value"`
	Display  string `json:"display,omitempty"`
}

// The R4 ConceptMapEquivalence codes (http://hl7.org/fhir/concept-map-equivalence).
const (
	RelatedTo   = "relatedto"
	Equivalent  = "equivalent"
	Equal       = "equal"
	Wider       = "wider"
	Subsumes    = "subsumes"
	Narrower    = "narrower"
	Specializes = "specializes"
	Inexact     = "inexact"
	Unmatched   = "unmatched"
	Disjoint    = "disjoint"
)

// Positive reports whether an equivalence says the target can stand for the source:
// the $translate result is true only when some match is neither unmatched nor disjoint.
func Positive(equivalence string) bool {
	return equivalence != "" && equivalence != Unmatched && equivalence != Disjoint
}

// reversed is the equivalence seen from the target's side.
func reversed(eq string) string {
	switch eq {
	case Wider:
		return Narrower
	case Narrower:
		return Wider
	case Subsumes:
		return Specializes
	case Specializes:
		return Subsumes
	}
	return eq
}

// ConceptMap is a parsed ConceptMap resource.
type ConceptMap struct {
	ID        string // resource id in the store, when loaded from one
	VersionID int64  // meta.versionId in the store
	URL       string
	Version   string
	Status    string
	// Source and Target are the value sets the map is scoped to (sourceUri or
	// sourceCanonical, targetUri or targetCanonical).
	Source string
	Target string
	Groups []Group
}

// Group is one source system to target system section of a map.
type Group struct {
	Source        string
	SourceVersion string
	Target        string
	TargetVersion string
	Elements      []Element
	Unmapped      *Unmapped
	bySource      map[string][]int // code -> indexes into Elements
	byTarget      map[string][]int // target code -> indexes into Elements
}

// Element is one source concept and its targets.
type Element struct {
	Code    string
	Display string
	Targets []Target
}

// Target is one mapping of an element.
type Target struct {
	Code        string
	Display     string
	Equivalence string
	DependsOn   []Dependency
	Product     []Dependency
}

// Unmapped says what to do with codes a group has no element for.
type Unmapped struct {
	Mode    string // provided, fixed, other-map
	Code    string
	Display string
	URL     string
}

// Canonical is the map's url with its version ("url|version").
func (m *ConceptMap) Canonical() string {
	if m.Version == "" {
		return m.URL
	}
	return m.URL + "|" + m.Version
}

// HasSource reports whether a group of m maps from system (or, with reverse, to it).
func (m *ConceptMap) HasSource(system string, reverse bool) bool {
	for i := range m.Groups {
		if g := &m.Groups[i]; !reverse && g.Source == system || reverse && g.Target == system {
			return true
		}
	}
	return false
}

type jsonMap struct {
	ResourceType    string `json:"resourceType"`
	URL             string `json:"url"`
	Version         string `json:"version"`
	Status          string `json:"status"`
	SourceURI       string `json:"sourceUri"`
	SourceCanonical string `json:"sourceCanonical"`
	TargetURI       string `json:"targetUri"`
	TargetCanonical string `json:"targetCanonical"`
	Group           []struct {
		Source        string `json:"source"`
		SourceVersion string `json:"sourceVersion"`
		Target        string `json:"target"`
		TargetVersion string `json:"targetVersion"`
		Element       []struct {
			Code    string `json:"code"`
			Display string `json:"display"`
			Target  []struct {
				Code        string       `json:"code"`
				Display     string       `json:"display"`
				Equivalence string       `json:"equivalence"`
				DependsOn   []Dependency `json:"dependsOn"`
				Product     []Dependency `json:"product"`
			} `json:"target"`
		} `json:"element"`
		Unmapped *Unmapped `json:"unmapped"`
	} `json:"group"`
}

// Parse reads a ConceptMap resource.
func Parse(data []byte) (*ConceptMap, error) {
	var j jsonMap
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("terminology: parse ConceptMap: %w", err)
	}
	if j.ResourceType != "ConceptMap" {
		return nil, fmt.Errorf("terminology: parse ConceptMap: resourceType is %q", j.ResourceType)
	}
	m := &ConceptMap{URL: j.URL, Version: j.Version, Status: j.Status,
		Source: first(j.SourceURI, j.SourceCanonical), Target: first(j.TargetURI, j.TargetCanonical)}
	for _, jg := range j.Group {
		g := Group{Source: jg.Source, SourceVersion: jg.SourceVersion, Target: jg.Target, TargetVersion: jg.TargetVersion,
			Unmapped: jg.Unmapped, bySource: map[string][]int{}, byTarget: map[string][]int{}}
		for _, je := range jg.Element {
			e := Element{Code: je.Code, Display: je.Display}
			for _, jt := range je.Target {
				e.Targets = append(e.Targets, Target{Code: jt.Code, Display: jt.Display, Equivalence: jt.Equivalence,
					DependsOn: jt.DependsOn, Product: jt.Product})
			}
			i := len(g.Elements)
			g.Elements = append(g.Elements, e)
			// An element without a code (ConceptMap-103 has one) can match nothing.
			if e.Code != "" {
				g.bySource[e.Code] = append(g.bySource[e.Code], i)
			}
			for _, t := range e.Targets {
				if t.Code != "" && (len(g.byTarget[t.Code]) == 0 || g.byTarget[t.Code][len(g.byTarget[t.Code])-1] != i) {
					g.byTarget[t.Code] = append(g.byTarget[t.Code], i)
				}
			}
		}
		m.Groups = append(m.Groups, g)
	}
	return m, nil
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// SplitCanonical splits "url|version".
func SplitCanonical(c string) (url, version string) {
	url, version, _ = strings.Cut(c, "|")
	return url, version
}
