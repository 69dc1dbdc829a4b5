package fhirpath

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The official suite's inputs are FHIR XML, and some differ from the JSON
// examples published with R4 (valueset-example-expansion.xml has version
// 20150622, observation-example.xml a patient-age extension). xmlToJSON turns
// such a resource into the JSON form the engine evaluates, using the R4 model
// for cardinality and primitive types, so the suite runs on its real inputs.
func xmlToJSON(data []byte) (map[string]any, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("find the resource element: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			c := xmlConverter{dec: dec, src: data, model: DefaultModel()}
			return c.resource(se)
		}
	}
}

type xmlConverter struct {
	dec   *xml.Decoder
	src   []byte
	model Model
}

// resource converts the element start (named by its resource type) and its content.
func (c *xmlConverter) resource(start xml.StartElement) (map[string]any, error) {
	m := map[string]any{"resourceType": start.Name.Local}
	if err := c.complex(m, start.Name.Local); err != nil {
		return nil, fmt.Errorf("convert %s: %w", start.Name.Local, err)
	}
	return m, nil
}

// complex reads the child elements of a complex value of type typ into m until
// the closing tag.
func (c *xmlConverter) complex(m map[string]any, typ string) error {
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if err := c.child(m, typ, t); err != nil {
				return err
			}
		}
	}
}

func (c *xmlConverter) child(m map[string]any, parent string, se xml.StartElement) error {
	name := se.Name.Local
	el, typ, ok := c.element(parent, name)
	if !ok {
		return fmt.Errorf("%s has no element %s", parent, name)
	}
	var value any
	var ext map[string]any
	switch {
	case typ == "xhtml":
		start := c.dec.InputOffset()
		if err := c.dec.Skip(); err != nil {
			return err
		}
		// The raw markup, start tag included: find the '<' that opened it.
		raw := c.src[:c.dec.InputOffset()]
		open := bytes.LastIndex(c.src[:start], []byte("<"+name))
		value = string(raw[open:])
	case typ == "Resource" || typ == "DomainResource":
		var inner map[string]any
		for inner == nil {
			tok, err := c.dec.Token()
			if err != nil {
				return err
			}
			if s, ok := tok.(xml.StartElement); ok {
				if inner, err = c.resource(s); err != nil {
					return err
				}
			}
		}
		if err := c.dec.Skip(); err != nil {
			return err
		}
		value = inner
	case isPrimitiveType(typ):
		var err error
		if value, err = primitiveJSON(typ, se); err != nil {
			return err
		}
		ext = map[string]any{}
		for _, a := range se.Attr {
			if a.Name.Local == "id" {
				ext["id"] = a.Value
			}
		}
		if err := c.complex(ext, "Element"); err != nil {
			return err
		}
		if len(ext) == 0 {
			ext = nil
		}
	default:
		obj := map[string]any{}
		for _, a := range se.Attr {
			if a.Name.Local == "url" || a.Name.Local == "id" {
				obj[a.Name.Local] = a.Value
			}
		}
		if err := c.complex(obj, typ); err != nil {
			return err
		}
		value = obj
	}
	add := func(key string, v any) {
		if !el.Repeats {
			m[key] = v
			return
		}
		arr, _ := m[key].([]any)
		m[key] = append(arr, v)
	}
	if el.Repeats {
		// value and "_name" arrays stay parallel: pad the shorter one with null
		n := len(asSlice(m[name]))
		if n2 := len(asSlice(m["_"+name])); n2 > n {
			n = n2
		}
		for _, k := range []string{name, "_" + name} {
			for len(asSlice(m[k])) < n {
				m[k] = append(asSlice(m[k]), nil)
			}
		}
		add(name, value)
		add("_"+name, nilIfEmpty(ext))
		if allNil(m["_"+name]) {
			delete(m, "_"+name)
		}
		if allNil(m[name]) {
			delete(m, name)
		}
		return nil
	}
	if value != nil {
		m[name] = value
	}
	if ext != nil {
		m["_"+name] = ext
	}
	return nil
}

// element finds the element definition for an XML element name, resolving
// choice names (valueQuantity) to their type.
func (c *xmlConverter) element(parent, name string) (Element, string, bool) {
	if el, ok := c.model.Element(parent, name); ok && !el.Choice {
		t := ""
		if len(el.Types) > 0 {
			t = el.Types[0]
		}
		return el, t, true
	}
	for i := 1; i < len(name); i++ {
		if name[i] < 'A' || name[i] > 'Z' {
			continue
		}
		el, ok := c.model.Element(parent, name[:i])
		if !ok || !el.Choice {
			continue
		}
		for _, t := range el.Types {
			if upperFirst(t) == name[i:] {
				return el, t, true
			}
		}
	}
	return Element{}, "", false
}

func isPrimitiveType(t string) bool {
	_, ok := fhirPrimitiveKinds[t]
	return ok || t == "xhtml"
}

// primitiveJSON is the JSON value of a primitive element's value attribute.
func primitiveJSON(typ string, se xml.StartElement) (any, error) {
	for _, a := range se.Attr {
		if a.Name.Local != "value" {
			continue
		}
		switch fhirPrimitiveKinds[typ] {
		case typeBoolean:
			return a.Value == "true", nil
		case typeInteger, typeDecimal:
			return json.Number(a.Value), nil
		}
		return a.Value, nil
	}
	return nil, nil
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func allNil(v any) bool {
	for _, x := range asSlice(v) {
		if x != nil {
			return false
		}
	}
	return true
}

func nilIfEmpty(m map[string]any) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// TestXMLToJSON checks the converter against the JSON form the corpus
// publishes for the same resource. Whitespace runs are compared collapsed:
// the XML wraps long attribute values (codesystem-example's description).
func TestXMLToJSON(t *testing.T) {
	for _, name := range []string{"patient-example", "questionnaire-example", "codesystem-example"} {
		t.Run(name, func(t *testing.T) {
			xmlData, err := os.ReadFile(filepath.Join("testdata", "r4", name+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			jsonData, err := os.ReadFile(filepath.Join("testdata", "r4", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := xmlToJSON(xmlData)
			if err != nil {
				t.Fatal(err)
			}
			want := decodeJSON(t, jsonData).(map[string]any)
			delete(got, "text")
			delete(want, "text")
			if !jsonEqual(collapseSpace(got), collapseSpace(want)) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(want, "", " ")
				t.Errorf("converted XML differs from the JSON:\n got %s\nwant %s", g, w)
			}
		})
	}
}

func collapseSpace(v any) any {
	switch x := v.(type) {
	case string:
		return strings.Join(strings.Fields(x), " ")
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = collapseSpace(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = collapseSpace(e)
		}
		return out
	}
	return v
}
