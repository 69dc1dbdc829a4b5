package fhirpath

import (
	"math/big"
	"strings"
)

// unitInfo is a unit's factor to the base unit of its dimension.
type unitInfo struct {
	factor *big.Rat
	dim    string
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("bad rational " + s)
	}
	return r
}

// ucumBase lists the UCUM units (without prefix) the engine can convert.
// It covers the units found in FHIR examples and the FHIRPath test suite,
// not the whole UCUM grammar.
var ucumBase = map[string]unitInfo{
	"1":       {rat("1"), "1"},
	"%":       {rat("1/100"), "1"},
	"g":       {rat("1"), "g"},
	"[lb_av]": {rat("453.59237"), "g"},
	"[oz_av]": {rat("28.349523125"), "g"},
	"m":       {rat("1"), "m"},
	"[in_i]":  {rat("0.0254"), "m"},
	"[ft_i]":  {rat("0.3048"), "m"},
	"[yd_i]":  {rat("0.9144"), "m"},
	"[mi_i]":  {rat("1609.344"), "m"},
	"s":       {rat("1"), "s"},
	"min":     {rat("60"), "s"},
	"h":       {rat("3600"), "s"},
	"d":       {rat("86400"), "s"},
	"wk":      {rat("604800"), "s"},
	"mo":      {rat("2629800"), "s"},
	"a":       {rat("31557600"), "s"},
	"L":       {rat("1"), "L"},
	"l":       {rat("1"), "L"},
	"mol":     {rat("1"), "mol"},
	"eq":      {rat("1"), "eq"},
	"[iU]":    {rat("1"), "[iU]"},
	"U":       {rat("1"), "U"},
	"Pa":      {rat("1"), "Pa"},
	"mm[Hg]":  {rat("133.322"), "Pa"},
	"Cel":     {rat("1"), "Cel"},
	"K":       {rat("1"), "K"},
}

var ucumPrefixes = map[string]string{
	"k": "1000", "h": "100", "da": "10", "d": "1/10", "c": "1/100", "m": "1/1000",
	"u": "1/1000000", "n": "1/1000000000", "p": "1/1000000000000", "M": "1000000", "G": "1000000000",
}

// calendarToUCUM maps calendar duration keywords to their UCUM unit.
var calendarToUCUM = map[string]string{
	"year": "a", "month": "mo", "week": "wk", "day": "d", "hour": "h", "minute": "min", "second": "s", "millisecond": "ms",
}

// ucumToCalendar maps the UCUM definite durations usable in date arithmetic.
var ucumToCalendar = map[string]string{
	"wk": "week", "d": "day", "h": "hour", "min": "minute", "s": "second", "ms": "millisecond",
}

func lookupUnit(u string) (unitInfo, bool) {
	if c, ok := calendarToUCUM[u]; ok {
		u = c
	}
	if u == "" {
		u = "1"
	}
	if info, ok := ucumBase[u]; ok {
		return info, true
	}
	for p, f := range ucumPrefixes {
		if strings.HasPrefix(u, p) {
			if info, ok := ucumBase[u[len(p):]]; ok && !strings.HasPrefix(u[len(p):], "[") {
				return unitInfo{new(big.Rat).Mul(rat(f), info.factor), info.dim}, true
			}
		}
	}
	return unitInfo{}, false
}

// convertQuantity expresses q in unit; ok is false if the units are not commensurable.
func convertQuantity(q Quantity, unit string) (Decimal, bool) {
	if q.Unit == unit {
		return q.Value, true
	}
	from, ok1 := lookupUnit(q.Unit)
	to, ok2 := lookupUnit(unit)
	if !ok1 || !ok2 || from.dim != to.dim {
		return Decimal{}, false
	}
	r := new(big.Rat).Mul(q.Value.Rat(), from.factor)
	r.Quo(r, to.factor)
	// keep enough places to be exact for the factors in the table
	d := ratToDecimal(r, q.Value.scale+12)
	return d.trimTo(q.Value.scale), true
}

func sameCalendarKind(a, b string) bool {
	// calendar years and months are not definite durations: they only compare to themselves
	isCal := func(u string) bool { return u == "year" || u == "month" }
	if isCal(a) || isCal(b) {
		return a == b || (a == "year" && b == "month") || (a == "month" && b == "year")
	}
	return true
}

func quantityEqual(a, b Quantity) (bool, bool) {
	c, ok, err := compareQuantities(a, b)
	if err != nil || !ok {
		if err != nil {
			return false, false
		}
		return false, false
	}
	return c == 0, true
}

func quantityEquivalent(a, b Quantity) bool {
	if !sameCalendarKind(a.Unit, b.Unit) {
		return false
	}
	bv, ok := convertQuantity(b, a.Unit)
	if !ok {
		return false
	}
	scale := min(a.Value.scale, b.Value.scale)
	return a.Value.Round(scale).Cmp(bv.Round(scale)) == 0
}

func compareQuantities(a, b Quantity) (int, bool, error) {
	if !sameCalendarKind(a.Unit, b.Unit) {
		return 0, false, nil
	}
	bv, ok := convertQuantity(b, a.Unit)
	if !ok {
		return 0, false, nil
	}
	return a.Value.Cmp(bv), true, nil
}
