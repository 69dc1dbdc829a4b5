package fhirpath

import (
	"math"
	"math/big"
)

// numInput returns the single numeric input (Integer, Decimal or Quantity).
func (c *call) numInput() (Item, bool, error) {
	v, ok, err := c.single()
	if err != nil || !ok {
		return Item{}, ok, err
	}
	switch v.node.(type) {
	case int64, Decimal, Quantity:
		return v, true, nil
	}
	return Item{}, false, evalError("%s() on a %s", c.name, v.typ)
}

func bigToItem(b *big.Int) Collection {
	if !b.IsInt64() {
		return nil
	}
	return one(intItem(b.Int64()))
}

// floatFunc applies a float function to a numeric input, returning a Decimal.
func floatFunc(fn func(float64) float64) *funcDef {
	return def(0, 0, func(c *call) (Collection, error) {
		v, ok, err := c.numInput()
		if err != nil || !ok {
			return nil, err
		}
		var f float64
		switch x := v.node.(type) {
		case int64:
			f = float64(x)
		case Decimal:
			f = x.Float64()
		default:
			return nil, evalError("%s() on a %s", c.name, v.typ)
		}
		d, ok := decimalFromFloat(fn(f))
		if !ok {
			return nil, nil
		}
		return one(decimalItem(d)), nil
	})
}

func mathFunctions() map[string]*funcDef {
	return map[string]*funcDef{
		"abs": def(0, 0, func(c *call) (Collection, error) {
			v, ok, err := c.numInput()
			if err != nil || !ok {
				return nil, err
			}
			switch x := v.node.(type) {
			case int64:
				if x < 0 {
					x = -x
				}
				return one(intItem(x)), nil
			case Decimal:
				if x.Sign() < 0 {
					x = x.Neg()
				}
				return one(decimalItem(x)), nil
			case Quantity:
				if x.Value.Sign() < 0 {
					x.Value = x.Value.Neg()
				}
				return one(quantityItem(x)), nil
			}
			return nil, nil
		}),
		"ceiling": def(0, 0, func(c *call) (Collection, error) {
			v, ok, err := c.numInput()
			if err != nil || !ok {
				return nil, err
			}
			switch x := v.node.(type) {
			case int64:
				return one(v), nil
			case Decimal:
				return bigToItem(x.Ceil()), nil
			}
			return nil, evalError("ceiling() on a %s", v.typ)
		}),
		"floor": def(0, 0, func(c *call) (Collection, error) {
			v, ok, err := c.numInput()
			if err != nil || !ok {
				return nil, err
			}
			switch x := v.node.(type) {
			case int64:
				return one(v), nil
			case Decimal:
				return bigToItem(x.Floor()), nil
			}
			return nil, evalError("floor() on a %s", v.typ)
		}),
		"truncate": def(0, 0, func(c *call) (Collection, error) {
			v, ok, err := c.numInput()
			if err != nil || !ok {
				return nil, err
			}
			switch x := v.node.(type) {
			case int64:
				return one(v), nil
			case Decimal:
				return bigToItem(x.Truncate()), nil
			}
			return nil, evalError("truncate() on a %s", v.typ)
		}),
		"round": def(0, 1, func(c *call) (Collection, error) {
			v, ok, err := c.numInput()
			if err != nil || !ok {
				return nil, err
			}
			places, _, err := c.argInt(0)
			if err != nil {
				return nil, err
			}
			if places < 0 {
				return nil, evalError("round() with negative precision")
			}
			d, isNum := toDecimalValue(v)
			if !isNum {
				return nil, evalError("round() on a %s", v.typ)
			}
			return one(decimalItem(d.Round(int32(places)))), nil
		}),
		"exp":  floatFunc(math.Exp),
		"ln":   floatFunc(math.Log),
		"sqrt": floatFunc(math.Sqrt),
		"log": def(1, 1, func(c *call) (Collection, error) {
			v, ok, err := c.numInput()
			if err != nil || !ok {
				return nil, err
			}
			base, err := c.arg(0)
			if err != nil {
				return nil, err
			}
			x, _ := toDecimalValue(v)
			b, ok, err := singleSystem(base, "log()")
			if err != nil || !ok {
				return nil, err
			}
			bd, isNum := toDecimalValue(b)
			if !isNum {
				return nil, evalError("log() base is a %s", b.typ)
			}
			d, ok := decimalFromFloat(math.Log(x.Float64()) / math.Log(bd.Float64()))
			if !ok {
				return nil, nil
			}
			return one(decimalItem(d)), nil
		}),
		"power": def(1, 1, func(c *call) (Collection, error) {
			v, ok, err := c.numInput()
			if err != nil || !ok {
				return nil, err
			}
			ec, err := c.arg(0)
			if err != nil {
				return nil, err
			}
			ev, ok, err := singleSystem(ec, "power()")
			if err != nil || !ok {
				return nil, err
			}
			if x, isInt := v.node.(int64); isInt {
				if y, isInt := ev.node.(int64); isInt && y >= 0 {
					r := new(big.Int).Exp(big.NewInt(x), big.NewInt(y), nil)
					return bigToItem(r), nil
				}
			}
			x, ok1 := toDecimalValue(v)
			y, ok2 := toDecimalValue(ev)
			if !ok1 || !ok2 {
				return nil, evalError("power() on a %s", v.typ)
			}
			d, ok := decimalFromFloat(math.Pow(x.Float64(), y.Float64()))
			if !ok {
				return nil, nil
			}
			return one(decimalItem(d)), nil
		}),
		"precision": def(0, 0, func(c *call) (Collection, error) {
			v, ok, err := c.single()
			if err != nil || !ok {
				return nil, err
			}
			switch x := v.node.(type) {
			case Decimal:
				return one(intItem(int64(x.scale))), nil
			case int64:
				return one(intItem(0)), nil
			case DateTime:
				return one(intItem(int64(dateDigits(x)))), nil
			}
			return nil, evalError("precision() on a %s", v.typ)
		}),
		"lowBoundary":  def(0, 1, func(c *call) (Collection, error) { return boundary(c, false) }),
		"highBoundary": def(0, 1, func(c *call) (Collection, error) { return boundary(c, true) }),
		"comparable": def(1, 1, func(c *call) (Collection, error) {
			v, ok, err := c.single()
			if err != nil || !ok {
				return nil, err
			}
			oc, err := c.arg(0)
			if err != nil {
				return nil, err
			}
			o, ok, err := singleSystem(oc, "comparable()")
			if err != nil || !ok {
				return nil, err
			}
			q1, ok1 := v.node.(Quantity)
			q2, ok2 := o.node.(Quantity)
			if !ok1 || !ok2 {
				return nil, evalError("comparable() needs quantities")
			}
			_, conv := convertQuantity(q2, q1.Unit)
			return boolResult(conv), nil
		}),
	}
}

// dateDigits is the number of digits of a date/time's precision (precision()).
func dateDigits(d DateTime) int {
	digits := [...]int{PrecYear: 4, PrecMonth: 6, PrecDay: 8, PrecHour: 10, PrecMinute: 12, PrecSecond: 14, PrecMillis: 17}
	n := digits[d.Prec]
	if d.Kind == KindTime {
		n -= 8
	}
	return n
}

// boundary implements lowBoundary/highBoundary: the least/greatest value the
// input could stand for given its precision.
func boundary(c *call, high bool) (Collection, error) {
	v, ok, err := c.single()
	if err != nil || !ok {
		return nil, err
	}
	p, hasP, err := c.argInt(0)
	if err != nil {
		return nil, err
	}
	switch x := v.node.(type) {
	case int64:
		return decimalBoundary(decimalFromInt(x), p, hasP, high, "")
	case Decimal:
		return decimalBoundary(x, p, hasP, high, "")
	case Quantity:
		return decimalBoundary(x.Value, p, hasP, high, x.Unit)
	case DateTime:
		return dateBoundary(x, v.typ, p, hasP, high)
	}
	return nil, evalError("%s() on a %s", c.name, v.typ)
}

func decimalBoundary(d Decimal, p int64, hasP, high bool, unit string) (Collection, error) {
	if !hasP {
		p = 8
	}
	if p < 0 || p > 28 {
		return nil, nil
	}
	// The value stands for anything within half a unit of its last written
	// digit; the boundary is then cut to p places away from the value, except
	// that a boundary smaller than one unit at p places is zero (the suite's
	// 0.0034.highBoundary(1) = 0.0).
	half := Decimal{big.NewInt(5), d.scale + 1}
	b := d.Sub(half)
	if high {
		b = d.Add(half)
	}
	unitAtP := new(big.Rat).SetFrac(big.NewInt(1), pow10(int(p)))
	scaled := new(big.Rat).Mul(b.Rat(), new(big.Rat).SetInt(pow10(int(p))))
	q := new(big.Int).Quo(scaled.Num(), scaled.Denom())
	switch {
	case new(big.Rat).Abs(b.Rat()).Cmp(unitAtP) < 0:
		q.SetInt64(0)
	case new(big.Rat).SetInt(q).Cmp(scaled) == 0:
	case high && scaled.Sign() > 0:
		q.Add(q, big.NewInt(1))
	case !high && scaled.Sign() < 0:
		q.Sub(q, big.NewInt(1))
	}
	res := Decimal{q, int32(p)}
	if unit != "" {
		return one(quantityItem(Quantity{res, unit})), nil
	}
	return one(decimalItem(res)), nil
}

func dateBoundary(d DateTime, typ string, p int64, hasP, high bool) (Collection, error) {
	if d.Kind == KindDateTime && d.Prec == PrecHour {
		// FHIR has no hour-precision dateTime: the suite reads T08 as 08:00
		d.Prec = PrecMinute
	}
	var prec int
	if !hasP {
		prec = PrecMillis
		if d.Kind == KindDate {
			prec = PrecDay
		}
	} else {
		want := map[int64]int{4: PrecYear, 6: PrecMonth, 8: PrecDay, 10: PrecHour, 12: PrecMinute, 14: PrecSecond, 17: PrecMillis}
		if d.Kind == KindTime {
			want = map[int64]int{2: PrecHour, 4: PrecMinute, 6: PrecSecond, 9: PrecMillis}
		}
		var ok bool
		if prec, ok = want[p]; !ok {
			return nil, nil
		}
		if d.Kind == KindDate && prec > PrecDay {
			return nil, nil
		}
	}
	r := d
	if d.Kind == KindDateTime && prec >= PrecHour && !d.HasTZ {
		// unknown zone: the earliest instant is at +14:00, the latest at -12:00
		r.HasTZ = true
		r.TZMinutes = -12 * 60
		if !high {
			r.TZMinutes = 14 * 60
		}
	}
	if d.Prec < PrecMonth && d.Kind != KindTime {
		r.Month = 1
		if high {
			r.Month = 12
		}
	}
	if d.Prec < PrecDay && d.Kind != KindTime {
		r.Day = 1
		if high {
			r.Day = daysIn(r.Year, r.Month)
		}
	}
	set := func(fieldPrec int, field *int, hi int) {
		if d.Prec < fieldPrec {
			*field = 0
			if high {
				*field = hi
			}
		}
	}
	set(PrecHour, &r.Hour, 23)
	set(PrecMinute, &r.Minute, 59)
	set(PrecSecond, &r.Second, 59)
	set(PrecMillis, &r.Millis, 999)
	r.Prec = prec
	return one(sysItem(typ, r)), nil
}
