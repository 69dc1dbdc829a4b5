package fhirpath

import (
	"errors"
	"math"
	"math/big"
	"strings"
)

// Decimal is an exact decimal number that remembers its scale (digits after
// the point), so 1.50 stays 1.50 as FHIR requires.
type Decimal struct {
	unscaled *big.Int
	scale    int32
}

var errDecimal = errors.New("invalid decimal")

func parseDecimal(s string) (Decimal, error) {
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	} else if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := parseInteger(s[i+1:])
		if err != nil || e > 1000 || e < -1000 {
			return Decimal{}, errDecimal
		}
		exp = int(e)
		s = s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return Decimal{}, errDecimal
	}
	digits := intPart + frac
	for i := 0; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return Decimal{}, errDecimal
		}
	}
	u, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return Decimal{}, errDecimal
	}
	if neg {
		u.Neg(u)
	}
	scale := len(frac) - exp
	if scale < 0 {
		u.Mul(u, pow10(-scale))
		scale = 0
	}
	return Decimal{u, int32(scale)}, nil
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

func decimalFromInt(v int64) Decimal { return Decimal{big.NewInt(v), 0} }

func (d Decimal) int() *big.Int {
	if d.unscaled == nil {
		return new(big.Int)
	}
	return d.unscaled
}

// String renders the decimal with its scale.
func (d Decimal) String() string {
	s := d.int().String()
	if d.scale <= 0 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	for len(s) <= int(d.scale) {
		s = "0" + s
	}
	s = s[:len(s)-int(d.scale)] + "." + s[len(s)-int(d.scale):]
	if neg {
		s = "-" + s
	}
	return s
}

func (d Decimal) Rat() *big.Rat {
	return new(big.Rat).SetFrac(d.int(), pow10(int(d.scale)))
}

func (d Decimal) Float64() float64 {
	f, _ := d.Rat().Float64()
	return f
}

func (d Decimal) Sign() int { return d.int().Sign() }

// rescale returns d with the given scale (>= d.scale), exactly.
func (d Decimal) rescale(scale int32) Decimal {
	if scale <= d.scale {
		return d
	}
	return Decimal{new(big.Int).Mul(d.int(), pow10(int(scale-d.scale))), scale}
}

func align(a, b Decimal) (Decimal, Decimal) {
	if a.scale < b.scale {
		return a.rescale(b.scale), b
	}
	return a, b.rescale(a.scale)
}

func (d Decimal) Cmp(o Decimal) int {
	a, b := align(d, o)
	return a.int().Cmp(b.int())
}

func (d Decimal) Add(o Decimal) Decimal {
	a, b := align(d, o)
	return Decimal{new(big.Int).Add(a.int(), b.int()), a.scale}
}

func (d Decimal) Sub(o Decimal) Decimal {
	a, b := align(d, o)
	return Decimal{new(big.Int).Sub(a.int(), b.int()), a.scale}
}

func (d Decimal) Mul(o Decimal) Decimal {
	return Decimal{new(big.Int).Mul(d.int(), o.int()), d.scale + o.scale}.trimTo(max(d.scale, o.scale))
}

func (d Decimal) Neg() Decimal { return Decimal{new(big.Int).Neg(d.int()), d.scale} }

// divScale is the number of decimal places kept by division.
const divScale = 8

// Div divides; ok is false for division by zero.
func (d Decimal) Div(o Decimal) (Decimal, bool) {
	if o.Sign() == 0 {
		return Decimal{}, false
	}
	r := new(big.Rat).Quo(d.Rat(), o.Rat())
	return ratToDecimal(r, divScale).trimTo(max(d.scale, o.scale, 0)), true
}

// ratToDecimal rounds r half away from zero to scale places.
func ratToDecimal(r *big.Rat, scale int32) Decimal {
	num := new(big.Int).Mul(r.Num(), pow10(int(scale)))
	q, m := new(big.Int).QuoRem(num, r.Denom(), new(big.Int))
	// round half away from zero
	m2 := new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2))
	if m2.Cmp(r.Denom()) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return Decimal{q, scale}
}

// trimTo removes trailing zeros beyond minScale.
func (d Decimal) trimTo(minScale int32) Decimal {
	u := d.int()
	if d.scale <= minScale || u.Sign() == 0 {
		if u.Sign() == 0 && d.scale > minScale {
			return Decimal{new(big.Int), max(minScale, 0)}
		}
		return d
	}
	u = new(big.Int).Set(u)
	scale := d.scale
	ten := big.NewInt(10)
	m := new(big.Int)
	for scale > minScale {
		q, r := new(big.Int).QuoRem(u, ten, m)
		if r.Sign() != 0 {
			break
		}
		u = q
		scale--
	}
	return Decimal{u, scale}
}

// Round rounds half away from zero to the given number of places.
func (d Decimal) Round(places int32) Decimal {
	if places >= d.scale {
		return d.rescale(places)
	}
	return ratToDecimal(d.Rat(), places)
}

// Truncate drops the fraction.
func (d Decimal) Truncate() *big.Int {
	return new(big.Int).Quo(d.int(), pow10(int(d.scale)))
}

func (d Decimal) Floor() *big.Int {
	q, m := new(big.Int).DivMod(d.int(), pow10(int(d.scale)), new(big.Int))
	_ = m
	return q // Euclidean division floors for positive divisors
}

func (d Decimal) Ceil() *big.Int {
	f := d.Floor()
	if new(big.Int).Mul(f, pow10(int(d.scale))).Cmp(d.int()) != 0 {
		f.Add(f, big.NewInt(1))
	}
	return f
}

func (d Decimal) IsInteger() bool {
	return new(big.Int).Mod(d.int(), pow10(int(d.scale))).Sign() == 0
}

// decimalFromFloat converts a float result of a math function, keeping 8 places.
func decimalFromFloat(f float64) (Decimal, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Decimal{}, false
	}
	r := new(big.Rat)
	if r.SetFloat64(f) == nil {
		return Decimal{}, false
	}
	return ratToDecimal(r, divScale).trimTo(0), true
}

// Precision is the number of significant fraction digits the decimal was written with.
func (d Decimal) Scale() int { return int(d.scale) }
