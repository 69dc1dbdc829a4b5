package fhirpath

import (
	"encoding/json"
	"strconv"
	"strings"
)

// System type names.
const (
	typeBoolean  = "System.Boolean"
	typeString   = "System.String"
	typeInteger  = "System.Integer"
	typeDecimal  = "System.Decimal"
	typeDate     = "System.Date"
	typeDateTime = "System.DateTime"
	typeTime     = "System.Time"
	typeQuantity = "System.Quantity"

	typeSimpleTypeInfo = "System.SimpleTypeInfo" // result of type()
)

// Quantity is a FHIRPath System.Quantity: a decimal value with a UCUM unit or
// a calendar duration unit (year, month, week, day, hour, minute, second, millisecond).
type Quantity struct {
	Value Decimal
	Unit  string
}

// String renders the quantity in FHIRPath literal form: calendar durations
// as keywords (4 days), UCUM units quoted (4 'mg').
func (q Quantity) String() string {
	if _, ok := calendarToUCUM[q.Unit]; ok {
		return q.Value.String() + " " + q.Unit
	}
	return q.Value.String() + " '" + q.Unit + "'"
}

// Item is one element of a Collection: either a node of the FHIR resource
// (a JSON value with its FHIR type, e.g. "HumanName", "dateTime", "Patient",
// "Patient.contact") or a FHIRPath System value ("System.String",
// "System.Integer", ...).
type Item struct {
	typ    string
	node   any            // FHIR: JSON value; System: bool, string, int64, Decimal, DateTime, Quantity
	ext    map[string]any // FHIR primitives: the "_name" sibling holding id and extensions
	system bool
}

// Collection is an ordered FHIRPath collection.
type Collection []Item

// Type is the item's type name: a FHIR type ("Quantity", "dateTime",
// "Reference", "Patient", "Patient.contact") or a System type ("System.String").
func (it Item) Type() string { return it.typ }

// IsSystem reports whether the item is a System value rather than a FHIR node.
func (it Item) IsSystem() bool { return it.system }

// Value is the JSON node for FHIR items (map[string]any for complex types,
// string/json.Number/bool for primitives, nil for a primitive that has only
// extensions) and the Go value for System items (bool, string, int64,
// Decimal, DateTime, Quantity).
func (it Item) Value() any { return it.node }

// PrimitiveExtension is the "_name" JSON sibling of a FHIR primitive (id and extension), or nil.
func (it Item) PrimitiveExtension() map[string]any { return it.ext }

// String renders the item as text: primitives as their value, System values
// in FHIRPath literal form without '@', complex nodes as JSON.
func (it Item) String() string {
	if s, ok := toStringValue(it); ok {
		return s
	}
	b, _ := json.Marshal(it.node)
	return string(b)
}

func sysItem(t string, v any) Item { return Item{typ: t, node: v, system: true} }
func boolItem(b bool) Item         { return Item{typ: typeBoolean, node: b, system: true} }
func stringItem(s string) Item     { return Item{typ: typeString, node: s, system: true} }
func intItem(v int64) Item         { return Item{typ: typeInteger, node: v, system: true} }
func decimalItem(d Decimal) Item   { return Item{typ: typeDecimal, node: d, system: true} }
func quantityItem(q Quantity) Item {
	return Item{typ: typeQuantity, node: q, system: true}
}

func parseInteger(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

// fhirPrimitiveKinds maps FHIR primitive types to the System type they convert to.
var fhirPrimitiveKinds = map[string]string{
	"boolean": typeBoolean,
	"string":  typeString, "code": typeString, "id": typeString, "markdown": typeString, "uri": typeString,
	"url": typeString, "canonical": typeString, "oid": typeString, "uuid": typeString, "base64Binary": typeString,
	"xhtml":   typeString,
	"integer": typeInteger, "positiveInt": typeInteger, "unsignedInt": typeInteger, "integer64": typeInteger,
	"decimal": typeDecimal,
	"date":    typeDate, "dateTime": typeDateTime, "instant": typeDateTime,
	"time": typeTime,
}

// systemValue converts the item to its System value. For FHIR primitives the
// JSON value is converted following the FHIR type; FHIR Quantity converts to
// System.Quantity. ok is false for items without a System equivalent.
func systemValue(it Item) (Item, bool) {
	if it.system {
		return it, true
	}
	kind, prim := fhirPrimitiveKinds[it.typ]
	if !prim {
		if it.typ == "Quantity" || it.typ == "Age" || it.typ == "Duration" || it.typ == "Distance" || it.typ == "Count" || it.typ == "SimpleQuantity" || it.typ == "MoneyQuantity" {
			return quantityFromFHIR(it.node)
		}
		if it.typ == "" {
			return inferSystem(it.node)
		}
		return Item{}, false
	}
	switch v := it.node.(type) {
	case bool:
		if kind == typeBoolean {
			return boolItem(v), true
		}
	case json.Number:
		switch kind {
		case typeInteger:
			n, err := v.Int64()
			if err == nil {
				return intItem(n), true
			}
		case typeDecimal:
			d, err := parseDecimal(string(v))
			if err == nil {
				return decimalItem(d), true
			}
		}
	case float64:
		switch kind {
		case typeInteger:
			return intItem(int64(v)), true
		case typeDecimal:
			if d, ok := decimalFromFloat(v); ok {
				return decimalItem(d), true
			}
		}
	case string:
		switch kind {
		case typeString:
			return stringItem(v), true
		case typeDate:
			if d, err := parseDate(v); err == nil {
				return sysItem(typeDate, d), true
			}
		case typeDateTime:
			if d, err := parseDateTime(v, false); err == nil {
				return sysItem(typeDateTime, d), true
			}
		case typeTime:
			if d, err := parseTime(v); err == nil {
				return sysItem(typeTime, d), true
			}
		case typeDecimal:
			if d, err := parseDecimal(v); err == nil {
				return decimalItem(d), true
			}
		case typeInteger:
			if n, err := parseInteger(v); err == nil {
				return intItem(n), true
			}
		}
	}
	return Item{}, false
}

// inferSystem converts a JSON value of unknown FHIR type.
func inferSystem(v any) (Item, bool) {
	switch v := v.(type) {
	case bool:
		return boolItem(v), true
	case string:
		return stringItem(v), true
	case json.Number:
		if n, err := v.Int64(); err == nil && !strings.ContainsAny(string(v), ".eE") {
			return intItem(n), true
		}
		if d, err := parseDecimal(string(v)); err == nil {
			return decimalItem(d), true
		}
	case float64:
		if d, ok := decimalFromFloat(v); ok {
			return decimalItem(d), true
		}
	}
	return Item{}, false
}

func quantityFromFHIR(node any) (Item, bool) {
	m, ok := node.(map[string]any)
	if !ok {
		return Item{}, false
	}
	var d Decimal
	switch v := m["value"].(type) {
	case json.Number:
		var err error
		if d, err = parseDecimal(string(v)); err != nil {
			return Item{}, false
		}
	case float64:
		if d, ok = decimalFromFloat(v); !ok {
			return Item{}, false
		}
	default:
		return Item{}, false
	}
	unit := ""
	if c, ok := m["code"].(string); ok {
		if s, _ := m["system"].(string); s == "http://unitsofmeasure.org" || s == "" {
			unit = c
		}
	}
	if unit == "" {
		if u, ok := m["unit"].(string); ok {
			unit = u
		}
	}
	return quantityItem(Quantity{Value: d, Unit: unit}), true
}

// toStringValue renders primitives and System values as strings (the
// toString() conversion).
func toStringValue(it Item) (string, bool) {
	sv, ok := systemValue(it)
	if !ok {
		return "", false
	}
	switch v := sv.node.(type) {
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case Decimal:
		return v.String(), true
	case DateTime:
		return v.String(), true
	case Quantity:
		return v.String(), true
	}
	return "", false
}
