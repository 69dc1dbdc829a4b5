package hl7v2

import (
	"errors"
	"strconv"
	"strings"
)

// Path addresses a value in a message, terser style: "PID-5.1",
// "PID-3[2].1", "OBX[2]-5", "MSH-9.2", "PID-3[2].4.2". Indices are 1-based;
// a zero SegmentRep, Rep, Component or Subcomponent means 1. HAPI's
// dash-separated form "PID-5-1" is accepted too.
type Path struct {
	Segment      string // segment ID
	SegmentRep   int    // which occurrence of the segment
	Field        int    // HL7 field number (required)
	Rep          int
	Component    int
	Subcomponent int
}

var errBadPath = errors.New("hl7v2: malformed path")

// ParsePath parses a path such as "PID-3[2].1".
func ParsePath(s string) (Path, error) {
	p, ok := parsePath(s)
	if !ok {
		return Path{}, errors.Join(errBadPath, errors.New(strconv.Quote(s)))
	}
	return p, nil
}

// String formats p in the canonical dotted form.
func (p Path) String() string {
	var b strings.Builder
	b.WriteString(p.Segment)
	if p.SegmentRep > 1 {
		b.WriteString("[" + strconv.Itoa(p.SegmentRep) + "]")
	}
	b.WriteString("-" + strconv.Itoa(p.Field))
	if p.Rep > 1 {
		b.WriteString("[" + strconv.Itoa(p.Rep) + "]")
	}
	if p.Component > 0 || p.Subcomponent > 0 {
		b.WriteString("." + strconv.Itoa(max(p.Component, 1)))
	}
	if p.Subcomponent > 0 {
		b.WriteString("." + strconv.Itoa(p.Subcomponent))
	}
	return b.String()
}

// parsePath parses without allocating, for Get's hot path.
func parsePath(s string) (p Path, ok bool) {
	if len(s) < 5 || !idChar(s[0]) || !idChar(s[1]) || !idChar(s[2]) {
		return p, false
	}
	p.Segment, s = s[:3], s[3:]
	if p.SegmentRep, s, ok = index(s); !ok {
		return p, false
	}
	if len(s) == 0 || s[0] != '-' {
		return p, false
	}
	if p.Field, s, ok = number(s[1:]); !ok {
		return p, false
	}
	if p.Rep, s, ok = index(s); !ok {
		return p, false
	}
	for _, dst := range [...]*int{&p.Component, &p.Subcomponent} {
		if len(s) == 0 {
			return p, true
		}
		if s[0] != '.' && s[0] != '-' {
			return p, false
		}
		if *dst, s, ok = number(s[1:]); !ok {
			return p, false
		}
	}
	return p, len(s) == 0
}

// index parses an optional "[n]".
func index(s string) (n int, rest string, ok bool) {
	if len(s) == 0 || s[0] != '[' {
		return 0, s, true
	}
	n, rest, ok = number(s[1:])
	if !ok || len(rest) == 0 || rest[0] != ']' {
		return 0, s, false
	}
	return n, rest[1:], true
}

// number parses a positive decimal of at most six digits.
func number(s string) (n int, rest string, ok bool) {
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if i == 6 {
			return 0, s, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, s[i:], i > 0 && n > 0
}

// Get returns the unescaped value at path, or "" when the path is malformed
// or the value is absent. Without a component (or subcomponent) the first
// one is meant, as in HAPI's terser: Get("PID-5") is the family name.
func (m *Message) Get(path string) string {
	v, _ := m.Lookup(path)
	return v
}

// Lookup is Get that also reports whether the addressed element is present
// (possibly empty) in the message; a malformed path is never present.
func (m *Message) Lookup(path string) (string, bool) {
	p, ok := parsePath(path)
	if !ok {
		return "", false
	}
	return m.Value(p)
}

// Value returns the unescaped value at p and whether it is present.
func (m *Message) Value(p Path) (string, bool) {
	seg, ok := m.nthSegment(p.Segment, max(p.SegmentRep, 1))
	if !ok {
		return "", false
	}
	raw, literal, ok := seg.fieldRaw(p.Field)
	if !ok {
		return "", false
	}
	for _, step := range [...]struct {
		sep byte
		i   int
	}{{m.d.Repetition, p.Rep}, {m.d.Component, p.Component}, {m.d.Subcomponent, p.Subcomponent}} {
		if raw, ok = split(raw, step.sep, max(step.i, 1), literal); !ok {
			return "", false
		}
	}
	return text(raw, m.d, literal), true
}
