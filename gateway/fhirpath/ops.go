package fhirpath

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

type binaryNode struct {
	op          string
	left, right node
	fn          func(e *env, l, r Collection) (Collection, error)
}

func (n *binaryNode) eval(e *env, in Collection) (Collection, error) {
	switch n.op {
	case "and", "or", "implies":
		return n.evalLogic(e, in)
	}
	l, err := n.left.eval(e, in)
	if err != nil {
		return nil, err
	}
	r, err := n.right.eval(e, in)
	if err != nil {
		return nil, err
	}
	return n.fn(e, l, r)
}

func newBinary(op string, l, r node) (node, error) {
	n := &binaryNode{op: op, left: l, right: r}
	switch op {
	case "and", "or", "implies":
	case "xor":
		n.fn = opXor
	case "=":
		n.fn = func(_ *env, l, r Collection) (Collection, error) { return opEqual(l, r, false), nil }
	case "!=":
		n.fn = func(_ *env, l, r Collection) (Collection, error) { return opEqual(l, r, true), nil }
	case "~":
		n.fn = func(_ *env, l, r Collection) (Collection, error) { return opEquivalent(l, r, false), nil }
	case "!~":
		n.fn = func(_ *env, l, r Collection) (Collection, error) { return opEquivalent(l, r, true), nil }
	case "<", "<=", ">", ">=":
		n.fn = func(_ *env, l, r Collection) (Collection, error) { return opCompare(op, l, r) }
	case "|":
		n.fn = func(_ *env, l, r Collection) (Collection, error) { return union(l, r), nil }
	case "in":
		n.fn = func(_ *env, l, r Collection) (Collection, error) { return membership(l, r) }
	case "contains":
		n.fn = func(_ *env, l, r Collection) (Collection, error) { return membership(r, l) }
	case "&":
		n.fn = opConcat
	case "+", "-", "*", "/", "div", "mod":
		n.fn = func(_ *env, l, r Collection) (Collection, error) { return arithmetic(op, l, r) }
	default:
		return nil, fmt.Errorf("unknown operator %s", op)
	}
	return n, nil
}

// toBool3 evaluates a collection as a boolean: empty is unknown; a single
// non-boolean item counts as true (singleton evaluation of collections).
func toBool3(c Collection) (val, known bool, err error) {
	switch len(c) {
	case 0:
		return false, false, nil
	case 1:
		v, ok := systemValue(c[0])
		if ok {
			if b, isB := v.node.(bool); isB {
				return b, true, nil
			}
		}
		return true, true, nil
	}
	return false, false, evalError("expected a single boolean, got %d items", len(c))
}

func bool3(v, known bool) Collection {
	if !known {
		return nil
	}
	return Collection{boolItem(v)}
}

func (n *binaryNode) evalLogic(e *env, in Collection) (Collection, error) {
	lc, err := n.left.eval(e, in)
	if err != nil {
		return nil, err
	}
	l, lk, err := toBool3(lc)
	if err != nil {
		return nil, err
	}
	// short-circuit where the result is already decided
	switch {
	case n.op == "and" && lk && !l:
		return bool3(false, true), nil
	case n.op == "or" && lk && l:
		return bool3(true, true), nil
	case n.op == "implies" && lk && !l:
		return bool3(true, true), nil
	}
	rc, err := n.right.eval(e, in)
	if err != nil {
		return nil, err
	}
	r, rk, err := toBool3(rc)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "and":
		if rk && !r {
			return bool3(false, true), nil
		}
		return bool3(true, lk && rk), nil
	case "or":
		if rk && r {
			return bool3(true, true), nil
		}
		return bool3(false, lk && rk), nil
	default: // implies
		if rk && r {
			return bool3(true, true), nil
		}
		if lk && l && rk {
			return bool3(false, true), nil
		}
		return nil, nil
	}
}

func opXor(_ *env, lc, rc Collection) (Collection, error) {
	l, lk, err := toBool3(lc)
	if err != nil {
		return nil, err
	}
	r, rk, err := toBool3(rc)
	if err != nil {
		return nil, err
	}
	return bool3(l != r, lk && rk), nil
}

func opEqual(l, r Collection, negate bool) Collection {
	if len(l) == 0 || len(r) == 0 {
		return nil
	}
	if len(l) != len(r) {
		return Collection{boolItem(negate)}
	}
	for i := range l {
		eq, ok := valueEqual(l[i], r[i])
		if !ok {
			return nil
		}
		if !eq {
			return Collection{boolItem(negate)}
		}
	}
	return Collection{boolItem(!negate)}
}

func opEquivalent(l, r Collection, negate bool) Collection {
	eq := len(l) == len(r)
	if eq {
		used := make([]bool, len(r))
		for _, a := range l {
			found := false
			for j, b := range r {
				if !used[j] && valueEquivalent(a, b) {
					used[j], found = true, true
					break
				}
			}
			if !found {
				eq = false
				break
			}
		}
	}
	return Collection{boolItem(eq != negate)}
}

func opCompare(op string, l, r Collection) (Collection, error) {
	if len(l) == 0 || len(r) == 0 {
		return nil, nil
	}
	if len(l) > 1 || len(r) > 1 {
		return nil, evalError("comparison %s needs single items", op)
	}
	c, ok, err := compareItems(l[0], r[0])
	if err != nil || !ok {
		return nil, err
	}
	var v bool
	switch op {
	case "<":
		v = c < 0
	case "<=":
		v = c <= 0
	case ">":
		v = c > 0
	default:
		v = c >= 0
	}
	return Collection{boolItem(v)}, nil
}

func contains(c Collection, it Item) bool {
	for _, x := range c {
		if eq, ok := valueEqual(x, it); ok && eq {
			return true
		}
	}
	return false
}

// union merges two collections removing duplicates.
func union(l, r Collection) Collection {
	if len(l) == 0 && len(r) == 0 {
		return nil
	}
	out := make(Collection, 0, len(l)+len(r))
	for _, c := range [2]Collection{l, r} {
		for _, it := range c {
			if !contains(out, it) {
				out = append(out, it)
			}
		}
	}
	return out
}

func membership(item, coll Collection) (Collection, error) {
	if len(item) == 0 {
		return nil, nil
	}
	if len(item) > 1 {
		return nil, evalError("membership test needs a single item, got %d", len(item))
	}
	return Collection{boolItem(contains(coll, item[0]))}, nil
}

func opConcat(_ *env, l, r Collection) (Collection, error) {
	ls, err := singletonString(l)
	if err != nil {
		return nil, err
	}
	rs, err := singletonString(r)
	if err != nil {
		return nil, err
	}
	return Collection{stringItem(ls + rs)}, nil
}

func singletonString(c Collection) (string, error) {
	switch len(c) {
	case 0:
		return "", nil
	case 1:
		if s, ok := toStringValue(c[0]); ok {
			return s, nil
		}
	}
	return "", evalError("expected a single string, got %d items", len(c))
}

func singleSystem(c Collection, what string) (Item, bool, error) {
	if len(c) == 0 {
		return Item{}, false, nil
	}
	if len(c) > 1 {
		return Item{}, false, evalError("%s needs a single item, got %d", what, len(c))
	}
	v, ok := systemValue(c[0])
	if !ok {
		return Item{}, false, evalError("%s cannot use a %s", what, c[0].typ)
	}
	return v, true, nil
}

func arithmetic(op string, lc, rc Collection) (Collection, error) {
	l, lok, err := singleSystem(lc, op)
	if err != nil {
		return nil, err
	}
	r, rok, err := singleSystem(rc, op)
	if err != nil || !lok || !rok {
		return nil, err
	}
	switch x := l.node.(type) {
	case string:
		if y, ok := r.node.(string); ok && op == "+" {
			return Collection{stringItem(x + y)}, nil
		}
	case int64:
		if y, ok := r.node.(int64); ok {
			return intArith(op, x, y)
		}
		if y, ok := r.node.(Decimal); ok {
			return decArith(op, decimalFromInt(x), y)
		}
		if y, ok := r.node.(Quantity); ok && (op == "*") {
			return quantityArith(op, Quantity{decimalFromInt(x), "1"}, y)
		}
	case Decimal:
		if y, ok := r.node.(int64); ok {
			return decArith(op, x, decimalFromInt(y))
		}
		if y, ok := r.node.(Decimal); ok {
			return decArith(op, x, y)
		}
		if y, ok := r.node.(Quantity); ok && (op == "*") {
			return quantityArith(op, Quantity{x, "1"}, y)
		}
	case Quantity:
		switch y := r.node.(type) {
		case Quantity:
			return quantityArith(op, x, y)
		case int64:
			return quantityArith(op, x, Quantity{decimalFromInt(y), "1"})
		case Decimal:
			return quantityArith(op, x, Quantity{y, "1"})
		}
	case DateTime:
		if y, ok := r.node.(Quantity); ok && (op == "+" || op == "-") {
			return dateArith(op, x, l.typ, y)
		}
	}
	return nil, evalError("cannot apply %s to %s and %s", op, l.typ, r.typ)
}

func intArith(op string, x, y int64) (Collection, error) {
	switch op {
	case "+":
		s := x + y
		if (s > x) != (y > 0) {
			return nil, nil
		}
		return Collection{intItem(s)}, nil
	case "-":
		s := x - y
		if (s < x) != (y > 0) {
			return nil, nil
		}
		return Collection{intItem(s)}, nil
	case "*":
		if x != 0 && (x*y/x != y || (x == -1 && y == math.MinInt64)) {
			return nil, nil
		}
		return Collection{intItem(x * y)}, nil
	case "/":
		d, ok := decimalFromInt(x).Div(decimalFromInt(y))
		if !ok {
			return nil, nil
		}
		return Collection{decimalItem(d)}, nil
	case "div":
		if y == 0 {
			return nil, nil
		}
		return Collection{intItem(x / y)}, nil
	default: // mod
		if y == 0 {
			return nil, nil
		}
		return Collection{intItem(x % y)}, nil
	}
}

func decArith(op string, x, y Decimal) (Collection, error) {
	switch op {
	case "+":
		return Collection{decimalItem(x.Add(y))}, nil
	case "-":
		return Collection{decimalItem(x.Sub(y))}, nil
	case "*":
		return Collection{decimalItem(x.Mul(y))}, nil
	case "/":
		d, ok := x.Div(y)
		if !ok {
			return nil, nil
		}
		return Collection{decimalItem(d)}, nil
	case "div":
		if y.Sign() == 0 {
			return nil, nil
		}
		q := new(big.Rat).Quo(x.Rat(), y.Rat())
		t := new(big.Int).Quo(q.Num(), q.Denom())
		if !t.IsInt64() {
			return nil, nil
		}
		return Collection{intItem(t.Int64())}, nil
	default: // mod
		if y.Sign() == 0 {
			return nil, nil
		}
		a, b := align(x, y)
		return Collection{decimalItem(Decimal{new(big.Int).Rem(a.int(), b.int()), a.scale})}, nil
	}
}

func quantityArith(op string, x, y Quantity) (Collection, error) {
	switch op {
	case "+", "-":
		yv, ok := convertQuantity(y, x.Unit)
		if !ok {
			return nil, evalError("cannot %s quantities in %q and %q", op, x.Unit, y.Unit)
		}
		d := x.Value.Add(yv)
		if op == "-" {
			d = x.Value.Sub(yv)
		}
		return Collection{quantityItem(Quantity{d, x.Unit})}, nil
	case "*":
		switch {
		case y.Unit == "1":
			return Collection{quantityItem(Quantity{x.Value.Mul(y.Value), x.Unit})}, nil
		case x.Unit == "1":
			return Collection{quantityItem(Quantity{x.Value.Mul(y.Value), y.Unit})}, nil
		}
		if u, ok := multiplyUnits(x.Unit, y.Unit); ok {
			yv, _ := convertQuantity(y, x.Unit)
			return Collection{quantityItem(Quantity{x.Value.Mul(yv), u})}, nil
		}
	case "/":
		if y.Value.Sign() == 0 {
			return nil, nil
		}
		if y.Unit == "1" {
			d, _ := x.Value.Div(y.Value)
			return Collection{quantityItem(Quantity{d, x.Unit})}, nil
		}
		if yv, ok := convertQuantity(y, x.Unit); ok {
			d, _ := x.Value.Div(yv)
			return Collection{quantityItem(Quantity{d, "1"})}, nil
		}
		d, _ := x.Value.Div(y.Value)
		return Collection{quantityItem(Quantity{d, x.Unit + "/" + y.Unit})}, nil
	}
	return nil, evalError("cannot apply %s to quantities in %q and %q", op, x.Unit, y.Unit)
}

// multiplyUnits multiplies two commensurable simple units into a squared unit.
func multiplyUnits(a, b string) (string, bool) {
	ia, ok1 := lookupUnit(a)
	ib, ok2 := lookupUnit(b)
	if !ok1 || !ok2 || ia.dim != ib.dim || strings.ContainsAny(a, "[/.") {
		return "", false
	}
	return a + "2", true
}

func dateArith(op string, d DateTime, typ string, q Quantity) (Collection, error) {
	unit := q.Unit
	if _, ok := calendarToUCUM[unit]; !ok {
		cal, ok := ucumToCalendar[unit]
		if !ok {
			return nil, evalError("cannot add %q to a date/time", unit)
		}
		unit = cal
	}
	n := q.Value.Truncate()
	if !n.IsInt64() {
		return nil, evalError("date/time offset out of range")
	}
	v := n.Int64()
	if op == "-" {
		v = -v
	}
	r, err := d.add(v, unit)
	if err != nil {
		return nil, evalError("%v", err)
	}
	return Collection{sysItem(typ, r)}, nil
}
