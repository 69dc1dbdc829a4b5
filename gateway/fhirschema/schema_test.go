package fhirschema

import (
	"slices"
	"testing"
)

// Expected values below come from the R4 specification pages (resourcelist.html,
// datatypes.html, patient.html, observation.html, questionnaire.html, bundle.html).

func TestResourceTypes(t *testing.T) {
	rt := ResourceTypes()
	if len(rt) != 146 {
		t.Fatalf("ResourceTypes: %d types, want 146", len(rt))
	}
	if !slices.IsSorted(rt) {
		t.Error("ResourceTypes not sorted")
	}
	if rt[0] != "Account" || rt[len(rt)-1] != "VisionPrescription" {
		t.Errorf("ResourceTypes runs %s..%s, want Account..VisionPrescription", rt[0], rt[len(rt)-1])
	}
	rt[0] = "changed"
	if ResourceTypes()[0] != "Account" {
		t.Error("ResourceTypes shares its slice with callers")
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"Patient", true}, {"Bundle", true}, {"Parameters", true}, {"Binary", true},
		{"MedicinalProductPharmaceutical", true}, {"Resource", false}, {"DomainResource", false},
		{"HumanName", false}, {"string", false}, {"patient", false}, {"", false}, {"Patient.contact", false},
	} {
		if got := IsResourceType(tc.name); got != tc.want {
			t.Errorf("IsResourceType(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIsPrimitive(t *testing.T) {
	prims := []string{"base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
		"instant", "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "url",
		"uuid", "xhtml"}
	for _, p := range prims {
		if !IsPrimitive(p) {
			t.Errorf("IsPrimitive(%q) = false", p)
		}
	}
	for _, n := range []string{"Quantity", "Element", "Patient", "String", "Extension", ""} {
		if IsPrimitive(n) {
			t.Errorf("IsPrimitive(%q) = true", n)
		}
	}
}

func TestBaseType(t *testing.T) {
	for _, tc := range []struct{ typ, want string }{
		{"Age", "Quantity"}, {"Duration", "Quantity"}, {"Quantity", "Element"}, {"code", "string"},
		{"id", "string"}, {"markdown", "string"}, {"positiveInt", "integer"}, {"unsignedInt", "integer"},
		{"uuid", "uri"}, {"oid", "uri"}, {"url", "uri"}, {"canonical", "uri"}, {"string", "Element"},
		{"Patient", "DomainResource"}, {"DomainResource", "Resource"}, {"Bundle", "Resource"},
		{"Binary", "Resource"}, {"Parameters", "Resource"}, {"Resource", ""}, {"Element", ""},
		{"BackboneElement", "Element"}, {"Patient.contact", "BackboneElement"}, {"Timing.repeat", "Element"},
		{"Timing", "BackboneElement"}, {"Dosage", "BackboneElement"}, {"Extension", "Element"}, {"nope", ""},
	} {
		if got := BaseType(tc.typ); got != tc.want {
			t.Errorf("BaseType(%q) = %q, want %q", tc.typ, got, tc.want)
		}
	}
}

func TestIsSubtype(t *testing.T) {
	for _, tc := range []struct {
		typ, base string
		want      bool
	}{
		{"Age", "Quantity", true}, {"Age", "Element", true}, {"Quantity", "Age", false},
		{"Patient", "Resource", true}, {"Patient", "DomainResource", true}, {"Patient", "Patient", true},
		{"Bundle", "DomainResource", false}, {"uuid", "uri", true}, {"uuid", "string", false},
		{"code", "string", true}, {"Patient.contact", "BackboneElement", true},
		{"Patient", "Element", false}, {"nope", "nope", false}, {"Element", "Element", true},
	} {
		if got := IsSubtype(tc.typ, tc.base); got != tc.want {
			t.Errorf("IsSubtype(%q, %q) = %v, want %v", tc.typ, tc.base, got, tc.want)
		}
	}
}

func TestLookupElement(t *testing.T) {
	for _, tc := range []struct {
		typ, name string
		want      Element
	}{
		{"Patient", "id", Element{Name: "id", Types: []string{"id"}}},
		{"Patient", "meta", Element{Name: "meta", Types: []string{"Meta"}}},
		{"Patient", "contained", Element{Name: "contained", Types: []string{"Resource"}, Repeats: true}},
		{"Patient", "extension", Element{Name: "extension", Types: []string{"Extension"}, Repeats: true}},
		{"Patient", "name", Element{Name: "name", Types: []string{"HumanName"}, Repeats: true}},
		{"Patient", "deceased", Element{Name: "deceased", Types: []string{"boolean", "dateTime"}, Choice: true}},
		{"Patient", "contact", Element{Name: "contact", Types: []string{"Patient.contact"}, Repeats: true}},
		{"Patient.contact", "id", Element{Name: "id", Types: []string{"string"}}},
		{"Patient.contact", "modifierExtension", Element{Name: "modifierExtension", Types: []string{"Extension"}, Repeats: true}},
		{"Patient.link", "other", Element{Name: "other", Types: []string{"Reference"}, Min: 1}},
		{"Observation", "status", Element{Name: "status", Types: []string{"code"}, Min: 1}},
		{"Observation", "value", Element{Name: "value", Choice: true, Types: []string{"Quantity", "CodeableConcept",
			"string", "boolean", "integer", "Range", "Ratio", "SampledData", "time", "dateTime", "Period"}}},
		{"Questionnaire.item", "item", Element{Name: "item", Types: []string{"Questionnaire.item"}, Repeats: true}},
		{"QuestionnaireResponse.item.answer", "item", Element{Name: "item", Types: []string{"QuestionnaireResponse.item"}, Repeats: true}},
		{"Bundle.entry", "resource", Element{Name: "resource", Types: []string{"Resource"}}},
		{"Parameters.parameter", "resource", Element{Name: "resource", Types: []string{"Resource"}}},
		{"Extension", "url", Element{Name: "url", Types: []string{"uri"}, Min: 1}},
		{"Element", "id", Element{Name: "id", Types: []string{"string"}}},
		{"Age", "value", Element{Name: "value", Types: []string{"decimal"}}},
		{"string", "extension", Element{Name: "extension", Types: []string{"Extension"}, Repeats: true}},
		{"Narrative", "div", Element{Name: "div", Types: []string{"xhtml"}, Min: 1}},
		{"Timing.repeat", "dayOfWeek", Element{Name: "dayOfWeek", Types: []string{"code"}, Repeats: true}},
	} {
		got, ok := LookupElement(tc.typ, tc.name)
		if !ok {
			t.Errorf("LookupElement(%q, %q) not found", tc.typ, tc.name)
			continue
		}
		if got.Name != tc.want.Name || !slices.Equal(got.Types, tc.want.Types) || got.Choice != tc.want.Choice ||
			got.Repeats != tc.want.Repeats || got.Min != tc.want.Min {
			t.Errorf("LookupElement(%q, %q) = %+v, want %+v", tc.typ, tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct{ typ, name string }{
		{"Patient", "valueQuantity"}, {"Patient", "deceasedBoolean"}, {"Patient", "foo"}, {"string", "value"},
		{"Bundle", "text"}, {"Binary", "extension"}, {"nope", "id"}, {"Patient", "resourceType"},
	} {
		if e, ok := LookupElement(tc.typ, tc.name); ok {
			t.Errorf("LookupElement(%q, %q) = %+v, want not found", tc.typ, tc.name, e)
		}
	}
}

func TestElements(t *testing.T) {
	got := Elements("Patient")
	var names []string
	for _, e := range got {
		names = append(names, e.Name)
	}
	want := []string{"id", "meta", "implicitRules", "language", "text", "contained", "extension",
		"modifierExtension", "identifier", "active", "name", "telecom", "gender", "birthDate", "deceased",
		"address", "maritalStatus", "multipleBirth", "photo", "contact", "communication",
		"generalPractitioner", "managingOrganization", "link"}
	if !slices.Equal(names, want) {
		t.Errorf("Elements(Patient) = %v\nwant %v", names, want)
	}
	got[0].Types[0] = "changed"
	if e, _ := LookupElement("Patient", "id"); e.Types[0] != "id" {
		t.Error("Elements shares Types with the schema")
	}
	if Elements("nope") != nil {
		t.Error("Elements(nope) != nil")
	}
	// Every element type named anywhere must itself be a known type.
	for _, rt := range ResourceTypes() {
		for _, e := range Elements(rt) {
			for _, c := range e.Types {
				if !IsType(c) {
					t.Errorf("%s.%s: unknown type %s", rt, e.Name, c)
				}
			}
		}
	}
}

func TestParseRejectsCorruptTable(t *testing.T) {
	for _, table := range []string{
		"Q|x\n",
		"E|id|string||0\n",
		"T|A|Missing|c|0\n",
		"T|A||c|0\nE|x|Nope||0\n",
		"T|A||c|0\nE|x|A||z\n",
		"T|p||p|0\nX|(\n",
	} {
		if _, err := parse(table); err == nil {
			t.Errorf("parse(%q) succeeded", table)
		}
	}
}
