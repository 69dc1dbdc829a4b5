// Command gen reads the R4 StructureDefinitions of the official examples package and writes
// schema_gen.go: a compact text table of every base type (resources, complex and primitive
// types, the abstract roots and every backbone element) that package fhirschema parses once.
//
// Table format, one record a line, fields separated by '|':
//
//	T|name|base|kind|abstract      kind: r resource, c complex type, p primitive, b backbone
//	E|name|types|flags|min         an element of the preceding T; types comma separated;
//	                               flags: c choice ([x]), r repeats (max "*" or > 1)
//	X|regex                        the value regex of the preceding primitive T
//
// Only elements a type defines itself are listed; inherited ones (base.path naming another
// type) are resolved through the base type at load time. The generator checks that claim.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/shch/fhirgw/conformance/fhirpkg"
)

const (
	extFHIRType = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
	extRegex    = "http://hl7.org/fhir/StructureDefinition/regex"
	sdPrefix    = "http://hl7.org/fhir/StructureDefinition/"
)

type extension struct {
	URL         string `json:"url"`
	ValueURL    string `json:"valueUrl"`
	ValueString string `json:"valueString"`
}

type typeRef struct {
	Code      string      `json:"code"`
	Extension []extension `json:"extension"`
}

type elementDef struct {
	Path             string    `json:"path"`
	Min              int       `json:"min"`
	Max              string    `json:"max"`
	IsSummary        bool      `json:"isSummary"`
	ContentReference string    `json:"contentReference"`
	Type             []typeRef `json:"type"`
	Base             struct {
		Path string `json:"path"`
	} `json:"base"`
}

type structureDef struct {
	ResourceType   string `json:"resourceType"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	Kind           string `json:"kind"`
	Abstract       bool   `json:"abstract"`
	Derivation     string `json:"derivation"`
	BaseDefinition string `json:"baseDefinition"`
	Snapshot       struct {
		Element []elementDef `json:"element"`
	} `json:"snapshot"`
}

type elem struct {
	name    string
	types   []string
	choice  bool
	repeats bool
	min     int
	summary bool
}

type typeDef struct {
	name, base, kind string
	abstract         bool
	elems            []elem
	regex            string
}

func main() {
	out := flag.String("o", "schema_gen.go", "output file")
	flag.Parse()
	dir, err := fhirpkg.Dir()
	if err != nil {
		log.Fatal(err)
	}
	types, err := load(dir)
	if err != nil {
		log.Fatal(err)
	}
	src, err := render(types)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

func load(dir string) (map[string]*typeDef, error) {
	files, err := filepath.Glob(filepath.Join(dir, "StructureDefinition-*.json"))
	if err != nil {
		return nil, err
	}
	types := map[string]*typeDef{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var sd structureDef
		if err := json.Unmarshal(b, &sd); err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		if sd.Derivation != "" && sd.Derivation != "specialization" {
			continue
		}
		var kind string
		switch sd.Kind {
		case "resource":
			kind = "r"
		case "complex-type":
			kind = "c"
		case "primitive-type":
			kind = "p"
		default:
			continue // logical models are not instance types
		}
		if sd.Type != sd.Name {
			return nil, fmt.Errorf("%s: type %q differs from name %q", f, sd.Type, sd.Name)
		}
		if err := addType(types, &sd, kind); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return types, check(types)
}

func addType(types map[string]*typeDef, sd *structureDef, kind string) error {
	root := &typeDef{name: sd.Type, kind: kind, abstract: sd.Abstract}
	if sd.BaseDefinition != "" {
		root.base = strings.TrimPrefix(sd.BaseDefinition, sdPrefix)
	}
	types[root.name] = root
	els := sd.Snapshot.Element
	// Paths with children become backbone types named by their path.
	hasChildren := map[string]bool{}
	for _, e := range els {
		if i := strings.LastIndexByte(e.Path, '.'); i > 0 {
			hasChildren[e.Path[:i]] = true
		}
	}
	for _, e := range els[1:] {
		i := strings.LastIndexByte(e.Path, '.')
		if i < 0 {
			return fmt.Errorf("element %q outside the type", e.Path)
		}
		parentPath, name := e.Path[:i], e.Path[i+1:]
		parent := types[parentPath]
		if parent == nil {
			return fmt.Errorf("element %q before its parent", e.Path)
		}
		if kind == "p" && parentPath == root.name && name == "value" {
			// The primitive's own value: JSON holds it directly, so it is no element.
			for _, t := range e.Type {
				for _, x := range t.Extension {
					if x.URL == extRegex {
						root.regex = x.ValueString
					}
				}
			}
			continue
		}
		if e.Base.Path != e.Path {
			continue // inherited; check verifies the base type defines it
		}
		el := elem{min: e.Min, summary: e.IsSummary}
		if strings.HasSuffix(name, "[x]") {
			el.choice = true
			name = strings.TrimSuffix(name, "[x]")
		}
		el.name = name
		switch {
		case e.Max == "*":
			el.repeats = true
		case e.Max != "":
			n, err := strconv.Atoi(e.Max)
			if err != nil {
				return fmt.Errorf("%s: max %q: %w", e.Path, e.Max, err)
			}
			el.repeats = n > 1
		}
		switch {
		case e.ContentReference != "":
			el.types = []string{strings.TrimPrefix(e.ContentReference, "#")}
		case hasChildren[e.Path]:
			if len(e.Type) != 1 || (e.Type[0].Code != "BackboneElement" && e.Type[0].Code != "Element") {
				return fmt.Errorf("%s: children under type %v", e.Path, e.Type)
			}
			types[e.Path] = &typeDef{name: e.Path, base: e.Type[0].Code, kind: "b"}
			el.types = []string{e.Path}
		default:
			for _, t := range e.Type {
				code := t.Code
				if strings.HasPrefix(code, "http://hl7.org/fhirpath/System.") {
					code = ""
					for _, x := range t.Extension {
						if x.URL == extFHIRType {
							code = x.ValueURL
						}
					}
					if code == "" {
						return fmt.Errorf("%s: %s without %s", e.Path, t.Code, extFHIRType)
					}
				}
				if e.Path == "Resource.id" && code == "string" {
					// The R4 snapshot types Resource.id as System.String -> string, but
					// resource.html and the JSON rules define it as id; use the documented type.
					code = "id"
				}
				el.types = append(el.types, code)
			}
		}
		if len(el.types) == 0 {
			return fmt.Errorf("%s: no type", e.Path)
		}
		parent.elems = append(parent.elems, el)
	}
	return nil
}

// check verifies that every base type and element type exists, that inherited elements are
// defined by an ancestor, and that no type repeats an element name.
func check(types map[string]*typeDef) error {
	var errs []error
	for _, t := range types {
		if t.base != "" && types[t.base] == nil {
			errs = append(errs, fmt.Errorf("%s: unknown base %s", t.name, t.base))
		}
		seen := map[string]bool{}
		for a := types[t.base]; a != nil; a = types[a.base] {
			for _, e := range a.elems {
				seen[e.name] = true
			}
		}
		for _, e := range t.elems {
			if seen[e.name] {
				errs = append(errs, fmt.Errorf("%s.%s: redefines an inherited element", t.name, e.name))
			}
			seen[e.name] = true
			for _, c := range e.types {
				if types[c] == nil {
					errs = append(errs, fmt.Errorf("%s.%s: unknown type %s", t.name, e.name, c))
				}
			}
		}
		if t.kind == "p" && t.regex == "" && t.name != "xhtml" {
			errs = append(errs, fmt.Errorf("%s: primitive without regex", t.name))
		}
	}
	return errors.Join(errs...)
}

func render(types map[string]*typeDef) ([]byte, error) {
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	var tab strings.Builder
	for _, n := range names {
		t := types[n]
		abs := "0"
		if t.abstract {
			abs = "1"
		}
		fmt.Fprintf(&tab, "T|%s|%s|%s|%s\n", t.name, t.base, t.kind, abs)
		if t.regex != "" {
			fmt.Fprintf(&tab, "X|%s\n", t.regex)
		}
		for _, e := range t.elems {
			flags := ""
			if e.choice {
				flags += "c"
			}
			if e.repeats {
				flags += "r"
			}
			if e.summary {
				flags += "s"
			}
			fmt.Fprintf(&tab, "E|%s|%s|%s|%d\n", e.name, strings.Join(e.types, ","), flags, e.min)
		}
	}
	table := tab.String()
	if strings.Contains(table, "`") {
		return nil, errors.New("table holds a backquote")
	}
	var b bytes.Buffer
	b.WriteString("// Code generated by go run ./internal/gen; DO NOT EDIT.\n\n")
	b.WriteString("package fhirschema\n\n")
	fmt.Fprintf(&b, "// schemaTable lists the %d R4 base types of %s@%s; see internal/gen for the format.\n", len(types), fhirpkg.Name, fhirpkg.Version)
	b.WriteString("const schemaTable = `" + table + "`\n")
	return format.Source(b.Bytes())
}
