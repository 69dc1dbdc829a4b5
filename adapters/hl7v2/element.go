package hl7v2

import "bytes"

// Segment is one segment of a message. It is a view into the message text:
// nothing is copied or split until a field is asked for. The zero Segment
// has no name and no fields.
type Segment struct {
	raw []byte
	d   Delimiters
}

// Name returns the segment ID, e.g. "PID".
func (s Segment) Name() string {
	if len(s.raw) < 3 {
		return string(s.raw)
	}
	return string(s.raw[:3])
}

// Raw returns the segment's ER7 text without terminator. It aliases the
// message and must not be modified.
func (s Segment) Raw() []byte { return s.raw }

// String returns the segment's ER7 text.
func (s Segment) String() string { return string(s.raw) }

// isHeader reports whether s is MSH, FHS or BHS, whose first two fields are
// the delimiters themselves.
func (s Segment) isHeader() bool {
	if len(s.raw) < 3 {
		return false
	}
	switch string(s.raw[:3]) {
	case "MSH", "FHS", "BHS":
		return true
	}
	return false
}

// fieldRaw returns the raw bytes of field n (HL7 numbering), whether the
// field is a literal header field (MSH-1, MSH-2) and whether it exists.
func (s Segment) fieldRaw(n int) (raw []byte, literal, ok bool) {
	if n <= 0 || len(s.raw) < 4 {
		return nil, false, false
	}
	body := s.raw[4:]
	if s.isHeader() {
		switch n {
		case 1:
			return s.raw[3:4], true, true
		case 2:
			raw, ok = nth(body, s.d.Field, 1)
			return raw, true, ok
		}
		n--
	}
	raw, ok = nth(body, s.d.Field, n)
	return raw, false, ok
}

// Field returns field n, numbered as in the standard: for MSH (and FHS, BHS)
// Field(1) is the field separator and Field(2) the encoding characters,
// both returned literally. A field that is not present is empty.
func (s Segment) Field(n int) Field {
	raw, lit, _ := s.fieldRaw(n)
	return Field{raw: raw, d: s.d, literal: lit}
}

// NumFields returns the number of the last field present in s.
func (s Segment) NumFields() int {
	if len(s.raw) < 4 {
		return 0
	}
	n := bytes.Count(s.raw[4:], []byte{s.d.Field}) + 1
	if s.isHeader() {
		n++
	}
	return n
}

// Fields returns fields 1 to NumFields; Fields()[0] is field 1.
func (s Segment) Fields() []Field {
	if len(s.raw) < 4 {
		return nil
	}
	fs := make([]Field, 0, s.NumFields())
	if s.isHeader() {
		fs = append(fs, s.Field(1))
	}
	eachPart(s.raw[4:], s.d.Field, func(p []byte) {
		fs = append(fs, Field{raw: p, d: s.d, literal: s.isHeader() && len(fs) == 1})
	})
	return fs
}

// Field is one field of a segment, with all its repetitions.
type Field struct {
	raw     []byte
	d       Delimiters
	literal bool // MSH-1 and MSH-2: never split or unescaped
}

// Raw returns the field's escaped ER7 text. It aliases the message.
func (f Field) Raw() []byte { return f.raw }

// String returns the field's unescaped text; any repetition, component or
// subcomponent separators it holds are kept as they are.
func (f Field) String() string { return text(f.raw, f.d, f.literal) }

// IsEmpty reports whether the field is empty or not present.
func (f Field) IsEmpty() bool { return len(f.raw) == 0 }

// IsNull reports whether the field holds the explicit HL7 null "", which
// asks the receiver to delete the value it has.
func (f Field) IsNull() bool { return string(f.raw) == `""` }

// NumReps returns the number of repetitions; 0 for an empty field.
func (f Field) NumReps() int { return count(f.raw, f.d.Repetition, f.literal) }

// Rep returns repetition i (1-based).
func (f Field) Rep(i int) Rep {
	raw, _ := split(f.raw, f.d.Repetition, i, f.literal)
	return Rep{raw: raw, d: f.d, literal: f.literal}
}

// Reps returns all repetitions.
func (f Field) Reps() []Rep {
	rs := make([]Rep, 0, f.NumReps())
	if len(f.raw) == 0 {
		return rs
	}
	if f.literal {
		return append(rs, Rep{raw: f.raw, d: f.d, literal: true})
	}
	eachPart(f.raw, f.d.Repetition, func(p []byte) { rs = append(rs, Rep{raw: p, d: f.d}) })
	return rs
}

// Component returns component i (1-based) of the first repetition.
func (f Field) Component(i int) Component { return f.Rep(1).Component(i) }

// Rep is one repetition of a field.
type Rep struct {
	raw     []byte
	d       Delimiters
	literal bool
}

// Raw returns the repetition's escaped ER7 text. It aliases the message.
func (r Rep) Raw() []byte { return r.raw }

// String returns the repetition's unescaped text, separators kept.
func (r Rep) String() string { return text(r.raw, r.d, r.literal) }

// IsEmpty reports whether the repetition is empty or not present.
func (r Rep) IsEmpty() bool { return len(r.raw) == 0 }

// NumComponents returns the number of components; 0 when empty.
func (r Rep) NumComponents() int { return count(r.raw, r.d.Component, r.literal) }

// Component returns component i (1-based).
func (r Rep) Component(i int) Component {
	raw, _ := split(r.raw, r.d.Component, i, r.literal)
	return Component{raw: raw, d: r.d, literal: r.literal}
}

// Components returns all components.
func (r Rep) Components() []Component {
	cs := make([]Component, 0, r.NumComponents())
	if len(r.raw) == 0 {
		return cs
	}
	if r.literal {
		return append(cs, Component{raw: r.raw, d: r.d, literal: true})
	}
	eachPart(r.raw, r.d.Component, func(p []byte) { cs = append(cs, Component{raw: p, d: r.d}) })
	return cs
}

// Component is one component of a repetition.
type Component struct {
	raw     []byte
	d       Delimiters
	literal bool
}

// Raw returns the component's escaped ER7 text. It aliases the message.
func (c Component) Raw() []byte { return c.raw }

// String returns the component's unescaped text, subcomponent separators
// kept.
func (c Component) String() string { return text(c.raw, c.d, c.literal) }

// IsEmpty reports whether the component is empty or not present.
func (c Component) IsEmpty() bool { return len(c.raw) == 0 }

// NumSubs returns the number of subcomponents; 0 when empty.
func (c Component) NumSubs() int { return count(c.raw, c.d.Subcomponent, c.literal) }

// Sub returns subcomponent i (1-based).
func (c Component) Sub(i int) Subcomponent {
	raw, _ := split(c.raw, c.d.Subcomponent, i, c.literal)
	return Subcomponent{raw: raw, d: c.d, literal: c.literal}
}

// Subcomponent is the smallest ER7 element.
type Subcomponent struct {
	raw     []byte
	d       Delimiters
	literal bool
}

// Raw returns the subcomponent's escaped ER7 text. It aliases the message.
func (s Subcomponent) Raw() []byte { return s.raw }

// String returns the subcomponent's unescaped text.
func (s Subcomponent) String() string { return text(s.raw, s.d, s.literal) }

// IsEmpty reports whether the subcomponent is empty or not present.
func (s Subcomponent) IsEmpty() bool { return len(s.raw) == 0 }

// nth returns the i-th (1-based) part of s split at sep, and whether it
// exists. A zero sep (an undefined delimiter) never splits.
func nth(s []byte, sep byte, i int) ([]byte, bool) {
	if i <= 0 {
		return nil, false
	}
	if sep == 0 {
		if i == 1 {
			return s, true
		}
		return nil, false
	}
	for ; i > 1; i-- {
		k := bytes.IndexByte(s, sep)
		if k < 0 {
			return nil, false
		}
		s = s[k+1:]
	}
	if k := bytes.IndexByte(s, sep); k >= 0 {
		return s[:k], true
	}
	return s, true
}

// eachPart calls fn for each part of s split at sep, in one pass. A zero
// sep never splits.
func eachPart(s []byte, sep byte, fn func([]byte)) {
	for sep != 0 {
		k := bytes.IndexByte(s, sep)
		if k < 0 {
			break
		}
		fn(s[:k])
		s = s[k+1:]
	}
	fn(s)
}

// split is nth for elements that may be literal header fields, which have
// exactly one part.
func split(s []byte, sep byte, i int, literal bool) ([]byte, bool) {
	if literal {
		if i == 1 {
			return s, true
		}
		return nil, false
	}
	return nth(s, sep, i)
}

// count returns the number of parts of s split at sep; 0 when s is empty.
func count(s []byte, sep byte, literal bool) int {
	switch {
	case len(s) == 0:
		return 0
	case literal || sep == 0:
		return 1
	}
	return bytes.Count(s, []byte{sep}) + 1
}

// text materialises raw as an unescaped string. The escape path is only
// taken when an escape character is present.
func text(raw []byte, d Delimiters, literal bool) string {
	if literal || d.Escape == 0 || bytes.IndexByte(raw, d.Escape) < 0 {
		return string(raw)
	}
	return string(AppendUnescaped(make([]byte, 0, len(raw)), d, raw))
}
