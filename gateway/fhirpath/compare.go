package fhirpath

import (
	"encoding/json"
	"strings"
)

// valueEqual implements '=' for two items; ok is false when the result is
// empty (unknown, e.g. dates of different precision).
func valueEqual(a, b Item) (eq bool, ok bool) {
	sa, oka := systemValue(a)
	sb, okb := systemValue(b)
	if !oka || !okb {
		if oka != okb {
			return false, true
		}
		// complex FHIR nodes: compare structurally
		if a.typ != b.typ && a.typ != "" && b.typ != "" {
			return false, true
		}
		return jsonEqual(a.node, b.node) && jsonEqual(extOrNil(a.ext), extOrNil(b.ext)), true
	}
	switch x := sa.node.(type) {
	case bool:
		y, isB := sb.node.(bool)
		return isB && x == y, true
	case string:
		y, isS := sb.node.(string)
		return isS && x == y, true
	case int64:
		switch y := sb.node.(type) {
		case int64:
			return x == y, true
		case Decimal:
			return decimalFromInt(x).Cmp(y) == 0, true
		case Quantity:
			return quantityEqual(Quantity{decimalFromInt(x), "1"}, y)
		}
		return false, true
	case Decimal:
		switch y := sb.node.(type) {
		case int64:
			return x.Cmp(decimalFromInt(y)) == 0, true
		case Decimal:
			return x.Cmp(y) == 0, true
		case Quantity:
			return quantityEqual(Quantity{x, "1"}, y)
		}
		return false, true
	case DateTime:
		y, isD := sb.node.(DateTime)
		if !isD || (x.Kind == KindTime) != (y.Kind == KindTime) {
			return false, true
		}
		if x.Kind == KindDateTime && y.Kind == KindDateTime && x.Prec >= PrecHour && y.Prec >= PrecHour && x.HasTZ != y.HasTZ {
			return false, false // the instant of the one without a zone is unknown
		}
		c, known := compareDateTimes(x, y)
		if !known {
			return false, false
		}
		return c == 0, true
	case Quantity:
		switch y := sb.node.(type) {
		case Quantity:
			return quantityEqual(x, y)
		case int64:
			return quantityEqual(x, Quantity{decimalFromInt(y), "1"})
		case Decimal:
			return quantityEqual(x, Quantity{y, "1"})
		}
		return false, true
	}
	return false, true
}

func extOrNil(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		dx, e1 := parseDecimal(string(x))
		dy, e2 := parseDecimal(string(y))
		if e1 != nil || e2 != nil {
			return x == y
		}
		return dx.Cmp(dy) == 0
	default:
		return a == b
	}
}

// valueEquivalent implements '~' for two items.
func valueEquivalent(a, b Item) bool {
	sa, oka := systemValue(a)
	sb, okb := systemValue(b)
	if !oka || !okb {
		if oka != okb {
			return false
		}
		return jsonEquivalent(a.node, b.node)
	}
	switch x := sa.node.(type) {
	case string:
		y, ok := sb.node.(string)
		return ok && normalizeString(x) == normalizeString(y)
	case int64, Decimal:
		dx, _ := toDecimalValue(sa)
		dy, ok := toDecimalValue(sb)
		if !ok {
			if q, isQ := sb.node.(Quantity); isQ {
				return quantityEquivalent(Quantity{dx, "1"}, q)
			}
			return false
		}
		scale := min(dx.scale, dy.scale)
		return dx.Round(scale).Cmp(dy.Round(scale)) == 0
	case DateTime:
		y, ok := sb.node.(DateTime)
		if !ok {
			return false
		}
		c, known := compareDateTimes(x, y)
		return known && c == 0
	case Quantity:
		switch y := sb.node.(type) {
		case Quantity:
			return quantityEquivalent(x, y)
		case int64:
			return quantityEquivalent(x, Quantity{decimalFromInt(y), "1"})
		case Decimal:
			return quantityEquivalent(x, Quantity{y, "1"})
		}
		return false
	}
	eq, ok := valueEqual(sa, sb)
	return ok && eq
}

func jsonEquivalent(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range x {
			if k == "id" || k == "extension" {
				continue
			}
			if !jsonEquivalent(v, y[k]) {
				return false
			}
		}
		for k := range y {
			if _, ok := x[k]; !ok && k != "id" && k != "extension" {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEquivalent(x[i], y[i]) {
				return false
			}
		}
		return true
	case string:
		y, ok := b.(string)
		return ok && normalizeString(x) == normalizeString(y)
	}
	return jsonEqual(a, b)
}

func normalizeString(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

func toDecimalValue(it Item) (Decimal, bool) {
	switch v := it.node.(type) {
	case int64:
		return decimalFromInt(v), true
	case Decimal:
		return v, true
	}
	return Decimal{}, false
}

// compareItems implements < <= > >=: cmp is -1, 0, 1; ok false when unknown.
func compareItems(a, b Item) (cmp int, ok bool, err error) {
	sa, oka := systemValue(a)
	sb, okb := systemValue(b)
	if !oka || !okb {
		return 0, false, evalError("cannot compare %s with %s", a.typ, b.typ)
	}
	switch x := sa.node.(type) {
	case string:
		if y, isS := sb.node.(string); isS {
			return strings.Compare(x, y), true, nil
		}
	case int64, Decimal:
		dx, _ := toDecimalValue(sa)
		if dy, isN := toDecimalValue(sb); isN {
			return dx.Cmp(dy), true, nil
		}
		if q, isQ := sb.node.(Quantity); isQ {
			return compareQuantities(Quantity{dx, "1"}, q)
		}
	case DateTime:
		if y, isD := sb.node.(DateTime); isD && (x.Kind == KindTime) == (y.Kind == KindTime) {
			c, known := compareDateTimes(x, y)
			return c, known, nil
		}
	case Quantity:
		switch y := sb.node.(type) {
		case Quantity:
			return compareQuantities(x, y)
		case int64, Decimal:
			dy, _ := toDecimalValue(sb)
			return compareQuantities(x, Quantity{dy, "1"})
		}
	}
	return 0, false, evalError("cannot compare %s with %s", sa.typ, sb.typ)
}
