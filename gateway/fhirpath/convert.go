package fhirpath

import (
	"regexp"
	"strings"
)

// converter converts a System value, returning ok false if it cannot.
type converter func(v Item) (Item, bool)

func conversionFunctions() map[string]*funcDef {
	m := map[string]*funcDef{}
	add := func(name string, conv converter) {
		m["to"+name] = def(0, 0, func(c *call) (Collection, error) {
			v, ok, err := c.single()
			if err != nil {
				if len(c.focus) == 1 {
					return nil, nil // a complex type converts to nothing
				}
				return nil, err
			}
			if !ok {
				return nil, nil
			}
			if r, ok := conv(v); ok {
				return one(r), nil
			}
			return nil, nil
		})
		m["convertsTo"+name] = def(0, 0, func(c *call) (Collection, error) {
			v, ok, err := c.single()
			if err != nil {
				if len(c.focus) == 1 {
					return boolResult(false), nil
				}
				return nil, err
			}
			if !ok {
				return nil, nil
			}
			_, ok = conv(v)
			return boolResult(ok), nil
		})
	}
	add("Boolean", convBoolean)
	add("Integer", convInteger)
	add("Decimal", convDecimal)
	add("String", func(v Item) (Item, bool) {
		s, ok := toStringValue(v)
		return stringItem(s), ok
	})
	add("Date", convDate)
	add("DateTime", convDateTime)
	add("Time", convTime)
	add("Quantity", convQuantity)
	// toQuantity(unit) converts to the given unit
	m["toQuantity"] = def(0, 1, func(c *call) (Collection, error) {
		v, ok, err := c.single()
		if err != nil || !ok {
			return nil, err
		}
		q, ok := convQuantity(v)
		if !ok {
			return nil, nil
		}
		if c.hasArg(0) {
			unit, ok, err := c.argString(0)
			if err != nil || !ok {
				return nil, err
			}
			d, ok := convertQuantity(q.node.(Quantity), unit)
			if !ok {
				return nil, nil
			}
			return one(quantityItem(Quantity{d, unit})), nil
		}
		return one(q), nil
	})
	m["convertsToQuantity"].max = 1
	return m
}

func convBoolean(v Item) (Item, bool) {
	switch x := v.node.(type) {
	case bool:
		return v, true
	case int64:
		if x == 0 || x == 1 {
			return boolItem(x == 1), true
		}
	case Decimal:
		if x.Cmp(decimalFromInt(0)) == 0 {
			return boolItem(false), true
		}
		if x.Cmp(decimalFromInt(1)) == 0 {
			return boolItem(true), true
		}
	case string:
		switch strings.ToLower(x) {
		case "true", "t", "yes", "y", "1", "1.0":
			return boolItem(true), true
		case "false", "f", "no", "n", "0", "0.0":
			return boolItem(false), true
		}
	}
	return Item{}, false
}

var integerRE = regexp.MustCompile(`^[+-]?[0-9]+$`)
var decimalRE = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)

func convInteger(v Item) (Item, bool) {
	switch x := v.node.(type) {
	case int64:
		return v, true
	case bool:
		if x {
			return intItem(1), true
		}
		return intItem(0), true
	case string:
		if integerRE.MatchString(x) {
			n, err := parseInteger(strings.TrimPrefix(x, "+"))
			return intItem(n), err == nil
		}
	}
	return Item{}, false
}

func convDecimal(v Item) (Item, bool) {
	switch x := v.node.(type) {
	case int64:
		return decimalItem(decimalFromInt(x)), true
	case Decimal:
		return v, true
	case bool:
		if x {
			return decimalItem(Decimal{decimalFromInt(10).unscaled, 1}), true
		}
		return decimalItem(Decimal{decimalFromInt(0).unscaled, 1}), true
	case string:
		if decimalRE.MatchString(x) {
			d, err := parseDecimal(x)
			return decimalItem(d), err == nil
		}
	}
	return Item{}, false
}

func convDate(v Item) (Item, bool) {
	switch x := v.node.(type) {
	case DateTime:
		switch x.Kind {
		case KindDate:
			return v, true
		case KindDateTime:
			d := DateTime{Kind: KindDate, Year: x.Year, Month: x.Month, Day: x.Day, Prec: min(x.Prec, PrecDay)}
			return sysItem(typeDate, d), true
		}
	case string:
		if d, err := parseDate(x); err == nil {
			return sysItem(typeDate, d), true
		}
		if d, err := parseDateTime(x, true); err == nil {
			d.Kind, d.Prec, d.HasTZ = KindDate, min(d.Prec, PrecDay), false
			d.Hour, d.Minute, d.Second, d.Millis = 0, 0, 0, 0
			return sysItem(typeDate, d), true
		}
	}
	return Item{}, false
}

func convDateTime(v Item) (Item, bool) {
	switch x := v.node.(type) {
	case DateTime:
		switch x.Kind {
		case KindDate:
			x.Kind = KindDateTime
			return sysItem(typeDateTime, x), true
		case KindDateTime:
			return v, true
		}
	case string:
		if d, err := parseDateTime(x, true); err == nil {
			return sysItem(typeDateTime, d), true
		}
	}
	return Item{}, false
}

func convTime(v Item) (Item, bool) {
	switch x := v.node.(type) {
	case DateTime:
		if x.Kind == KindTime {
			return v, true
		}
	case string:
		if t, err := parseTime(strings.TrimPrefix(x, "T")); err == nil {
			return sysItem(typeTime, t), true
		}
	}
	return Item{}, false
}

var quantityRE = regexp.MustCompile(`^([+-]?[0-9]+(?:\.[0-9]+)?)\s*(?:'([^']+)'|([a-zA-Z]+))?$`)

func convQuantity(v Item) (Item, bool) {
	switch x := v.node.(type) {
	case Quantity:
		return v, true
	case int64:
		return quantityItem(Quantity{decimalFromInt(x), "1"}), true
	case Decimal:
		return quantityItem(Quantity{x, "1"}), true
	case bool:
		d, _ := convDecimal(v)
		return quantityItem(Quantity{d.node.(Decimal), "1"}), true
	case string:
		m := quantityRE.FindStringSubmatch(x)
		if m == nil {
			return Item{}, false
		}
		d, err := parseDecimal(m[1])
		if err != nil {
			return Item{}, false
		}
		unit := "1"
		switch {
		case m[2] != "":
			unit = m[2]
		case m[3] != "":
			cal, ok := calendarUnits[m[3]]
			if !ok {
				return Item{}, false
			}
			unit = cal
		}
		return quantityItem(Quantity{d, unit}), true
	}
	return Item{}, false
}
