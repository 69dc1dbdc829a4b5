package fhirpath

import (
	"fmt"
	"strings"
)

// parser is a precedence-climbing parser for the FHIRPath N1 grammar.
type parser struct {
	toks []token
	pos  int
}

// precedence levels, from loosest to tightest binding.
const (
	precImplies = iota + 1
	precOr
	precAnd
	precMembership
	precEquality
	precInequality
	precUnion
	precType
	precAdditive
	precMultiplicative
)

func binaryPrec(t token) int {
	switch t.kind {
	case tokSymbol:
		switch t.text {
		case "*", "/":
			return precMultiplicative
		case "+", "-", "&":
			return precAdditive
		case "|":
			return precUnion
		case "<", "<=", ">", ">=":
			return precInequality
		case "=", "~", "!=", "!~":
			return precEquality
		}
	case tokIdent:
		switch t.text {
		case "div", "mod":
			return precMultiplicative
		case "is", "as":
			return precType
		case "in", "contains":
			return precMembership
		case "and":
			return precAnd
		case "or", "xor":
			return precOr
		case "implies":
			return precImplies
		}
	}
	return 0
}

func parse(src string) (node, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.expr(precImplies)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errorf(t, "unexpected %s", t)
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return &SyntaxError{t.pos, fmt.Sprintf(format, args...)}
}

func (p *parser) isSym(s string) bool {
	t := p.peek()
	return t.kind == tokSymbol && t.text == s
}

func (p *parser) expect(s string) error {
	t := p.next()
	if t.kind != tokSymbol || t.text != s {
		return p.errorf(t, "expected '%s', found %s", s, t)
	}
	return nil
}

func (p *parser) expr(minPrec int) (node, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec := binaryPrec(t)
		if prec == 0 || prec < minPrec {
			return left, nil
		}
		p.next()
		if prec == precType {
			ts, err := p.typeSpecifier()
			if err != nil {
				return nil, err
			}
			left = &typeNode{op: t.text, left: left, spec: ts}
			continue
		}
		next := prec + 1
		if prec == precImplies {
			next = prec // right associative
		}
		right, err := p.expr(next)
		if err != nil {
			return nil, err
		}
		left, err = newBinary(t.text, left, right)
		if err != nil {
			return nil, p.errorf(t, "%v", err)
		}
	}
}

func (p *parser) unary() (node, error) {
	if p.isSym("-") || p.isSym("+") {
		t := p.next()
		operand, err := p.unary()
		if err != nil {
			return nil, err
		}
		if t.text == "+" {
			return operand, nil
		}
		return &negNode{operand}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (node, error) {
	n, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isSym("."):
			p.next()
			inv, err := p.invocation(false)
			if err != nil {
				return nil, err
			}
			n = &pathNode{left: n, right: inv}
		case p.isSym("["):
			p.next()
			idx, err := p.expr(precImplies)
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			n = &indexNode{left: n, index: idx}
		default:
			return n, nil
		}
	}
}

func (p *parser) term() (node, error) {
	t := p.peek()
	switch t.kind {
	case tokNumber, tokLong:
		p.next()
		return p.numberLiteral(t)
	case tokString:
		p.next()
		return &literalNode{Collection{stringItem(t.text)}}, nil
	case tokDateTime:
		p.next()
		v, err := parseDateTimeLiteral(t.text)
		if err != nil {
			return nil, p.errorf(t, "%v", err)
		}
		return &literalNode{Collection{v}}, nil
	case tokVar:
		p.next()
		return &varNode{name: t.text}, nil
	case tokSymbol:
		switch t.text {
		case "(":
			p.next()
			n, err := p.expr(precImplies)
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return n, nil
		case "{":
			p.next()
			if err := p.expect("}"); err != nil {
				return nil, err
			}
			return &literalNode{nil}, nil
		}
		return nil, p.errorf(t, "unexpected %s", t)
	case tokIdent:
		switch t.text {
		case "true", "false":
			p.next()
			return &literalNode{Collection{boolItem(t.text == "true")}}, nil
		}
	}
	return p.invocation(true)
}

var calendarUnits = map[string]string{
	"year": "year", "years": "year", "month": "month", "months": "month", "week": "week", "weeks": "week",
	"day": "day", "days": "day", "hour": "hour", "hours": "hour", "minute": "minute", "minutes": "minute",
	"second": "second", "seconds": "second", "millisecond": "millisecond", "milliseconds": "millisecond",
}

func (p *parser) numberLiteral(t token) (node, error) {
	if t.kind == tokLong {
		v, err := parseInteger(t.text)
		if err != nil {
			return nil, p.errorf(t, "%v", err)
		}
		return &literalNode{Collection{intItem(v)}}, nil
	}
	// quantity: number followed by a unit string or calendar keyword
	nt := p.peek()
	if nt.kind == tokString || (nt.kind == tokIdent && calendarUnits[nt.text] != "") {
		p.next()
		d, err := parseDecimal(t.text)
		if err != nil {
			return nil, p.errorf(t, "%v", err)
		}
		unit := nt.text
		if nt.kind == tokIdent {
			unit = calendarUnits[nt.text]
		}
		return &literalNode{Collection{quantityItem(Quantity{Value: d, Unit: unit})}}, nil
	}
	if strings.Contains(t.text, ".") {
		d, err := parseDecimal(t.text)
		if err != nil {
			return nil, p.errorf(t, "%v", err)
		}
		return &literalNode{Collection{decimalItem(d)}}, nil
	}
	v, err := parseInteger(t.text)
	if err != nil {
		// too large for an integer: keep it as a decimal
		d, derr := parseDecimal(t.text)
		if derr != nil {
			return nil, p.errorf(t, "%v", err)
		}
		return &literalNode{Collection{decimalItem(d)}}, nil
	}
	return &literalNode{Collection{intItem(v)}}, nil
}

func (p *parser) identifier() (string, bool) {
	t := p.peek()
	if t.kind == tokIdent || t.kind == tokDelimIdent {
		p.next()
		return t.text, true
	}
	return "", false
}

// invocation parses a member name, function call or $this/$index/$total.
func (p *parser) invocation(head bool) (node, error) {
	t := p.peek()
	if t.kind == tokSpecial {
		p.next()
		return &specialNode{name: t.text}, nil
	}
	if t.kind == tokIdent && head {
		switch t.text {
		case "and", "or", "xor", "implies", "div", "mod":
			return nil, p.errorf(t, "unexpected %s", t)
		}
	}
	name, ok := p.identifier()
	if !ok {
		return nil, p.errorf(t, "expected identifier, found %s", t)
	}
	if t.kind == tokIdent && p.isSym("(") {
		p.next()
		var args []node
		if !p.isSym(")") {
			for {
				var a node
				var err error
				if name == "is" || name == "as" || name == "ofType" {
					// the argument is a type specifier
					a, err = p.typeArg()
				} else {
					a, err = p.expr(precImplies)
				}
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				if p.isSym(",") {
					p.next()
					continue
				}
				break
			}
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return newFunc(name, args, t.pos)
	}
	return &memberNode{name: name, head: head}, nil
}

func (p *parser) typeArg() (node, error) {
	start := p.pos
	ts, err := p.typeSpecifier()
	if err == nil && p.isSym(")") {
		return &typeSpecNode{spec: ts}, nil
	}
	p.pos = start
	return p.expr(precImplies)
}

func (p *parser) typeSpecifier() (typeSpec, error) {
	t := p.peek()
	name, ok := p.identifier()
	if !ok {
		return typeSpec{}, p.errorf(t, "expected type name, found %s", t)
	}
	if p.isSym(".") && (p.toks[p.pos+1].kind == tokIdent || p.toks[p.pos+1].kind == tokDelimIdent) {
		p.next()
		n2, _ := p.identifier()
		return typeSpec{namespace: name, name: n2}, nil
	}
	return typeSpec{name: name}, nil
}
