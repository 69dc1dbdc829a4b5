package fhirpath

import "strings"

// Model supplies the FHIR type information the engine needs to navigate
// resources and check types. Type names are FHIR type names ("HumanName",
// "dateTime", "Patient") or backbone element paths ("Patient.contact").
type Model interface {
	// Element describes the child element name of type typeName. For a choice
	// element (value[x]) name is the base name ("value") and Types lists the
	// allowed types.
	Element(typeName, name string) (Element, bool)
	// IsSubtype reports whether t derives (directly or not) from base.
	IsSubtype(t, base string) bool
	// IsType reports whether name is a known FHIR type.
	IsType(name string) bool
}

// Element describes one element of a FHIR type.
type Element struct {
	Types   []string // type names; several for a choice element
	Choice  bool
	Repeats bool
}

// inferModel is used when no Model is configured: element types are guessed
// from the JSON (resourceType, choice suffixes) and only resources are typed.
type inferModel struct{}

func (inferModel) Element(string, string) (Element, bool) { return Element{}, false }
func (inferModel) IsType(string) bool                     { return false }
func (inferModel) IsSubtype(t, base string) bool {
	switch base {
	case "Resource":
		return t != "" && t[0] >= 'A' && t[0] <= 'Z'
	case "DomainResource":
		return t != "Bundle" && t != "Parameters" && t != "Binary" && t != "" && t[0] >= 'A' && t[0] <= 'Z'
	}
	return false
}

// typeFromSuffix guesses the FHIR type named by a choice element suffix
// ("Quantity" -> "Quantity", "DateTime" -> "dateTime").
func typeFromSuffix(suffix string) string {
	if suffix == "" {
		return ""
	}
	lower := strings.ToLower(suffix[:1]) + suffix[1:]
	if _, ok := fhirPrimitiveKinds[lower]; ok {
		return lower
	}
	return suffix
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
