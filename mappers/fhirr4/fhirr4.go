// Package fhirr4 holds the few FHIR R4 data types and resources the mappers
// build, as plain structs that marshal to FHIR JSON (empty members omitted).
// It is deliberately minimal: only the elements the mappers fill.
package fhirr4

import "encoding/json"

// Coding is a FHIR Coding.
type Coding struct {
	System  string `json:"system,omitempty"`
	Version string `json:"version,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is a FHIR CodeableConcept.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// IsZero reports whether c carries nothing.
func (c *CodeableConcept) IsZero() bool { return c == nil || len(c.Coding) == 0 && c.Text == "" }

// Period is a FHIR Period.
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// Reference is a FHIR Reference.
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// Identifier is a FHIR Identifier.
type Identifier struct {
	Use      string           `json:"use,omitempty"`
	Type     *CodeableConcept `json:"type,omitempty"`
	System   string           `json:"system,omitempty"`
	Value    string           `json:"value,omitempty"`
	Period   *Period          `json:"period,omitempty"`
	Assigner *Reference       `json:"assigner,omitempty"`
}

// HumanName is a FHIR HumanName.
type HumanName struct {
	Use    string   `json:"use,omitempty"`
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
	Suffix []string `json:"suffix,omitempty"`
	Period *Period  `json:"period,omitempty"`
}

// Address is a FHIR Address.
type Address struct {
	Use        string   `json:"use,omitempty"`
	Type       string   `json:"type,omitempty"`
	Text       string   `json:"text,omitempty"`
	Line       []string `json:"line,omitempty"`
	City       string   `json:"city,omitempty"`
	District   string   `json:"district,omitempty"`
	State      string   `json:"state,omitempty"`
	PostalCode string   `json:"postalCode,omitempty"`
	Country    string   `json:"country,omitempty"`
	Period     *Period  `json:"period,omitempty"`
}

// ContactPoint is a FHIR ContactPoint.
type ContactPoint struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
	Use    string `json:"use,omitempty"`
}

// Quantity is a FHIR Quantity. Value is a json.Number so the source's
// decimal digits survive (FHIR decimals keep their precision).
type Quantity struct {
	Value      json.Number `json:"value,omitempty"`
	Comparator string      `json:"comparator,omitempty"`
	Unit       string      `json:"unit,omitempty"`
	System     string      `json:"system,omitempty"`
	Code       string      `json:"code,omitempty"`
}

// Range is a FHIR Range.
type Range struct {
	Low  *Quantity `json:"low,omitempty"`
	High *Quantity `json:"high,omitempty"`
}

// Ratio is a FHIR Ratio.
type Ratio struct {
	Numerator   *Quantity `json:"numerator,omitempty"`
	Denominator *Quantity `json:"denominator,omitempty"`
}

// Annotation is a FHIR Annotation.
type Annotation struct {
	Text string `json:"text"`
}

// Extension is a FHIR Extension with the value types the mappers use.
type Extension struct {
	URL                  string           `json:"url"`
	ValueString          string           `json:"valueString,omitempty"`
	ValueCodeableConcept *CodeableConcept `json:"valueCodeableConcept,omitempty"`
}

// Meta is a FHIR Meta.
type Meta struct {
	Source string   `json:"source,omitempty"`
	Tag    []Coding `json:"tag,omitempty"`
}
