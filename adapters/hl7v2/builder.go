package hl7v2

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Value is a field value for a Builder: Text, Encoded, Components, Repeats
// or Null. A nil Value is an empty field.
type Value interface {
	appendER7(dst []byte, d Delimiters, level int) []byte
}

// Element levels a Value is written at.
const (
	levelField = iota
	levelRep
	levelComponent
	levelSub
)

type textValue string

func (v textValue) appendER7(dst []byte, d Delimiters, _ int) []byte {
	return AppendEscaped(dst, d, string(v))
}

// Text is plain text; delimiters and line breaks in it are escaped.
func Text(s string) Value { return textValue(s) }

type encodedValue string

func (v encodedValue) appendER7(dst []byte, _ Delimiters, _ int) []byte { return append(dst, v...) }

// Encoded is ER7 text written as is, for values already escaped with the
// builder's delimiters (such as Raw of a field of a parsed message).
func Encoded(s string) Value { return encodedValue(s) }

// Null is the explicit HL7 null "", telling the receiver to delete a value.
func Null() Value { return encodedValue(`""`) }

type listValue struct {
	parts   []Value
	repeats bool
}

func (v listValue) appendER7(dst []byte, d Delimiters, level int) []byte {
	var sep byte
	switch {
	case v.repeats && level == levelField:
		sep = d.Repetition
	case level <= levelRep:
		sep, level = d.Component, levelRep
	default:
		// Subcomponents cannot nest further: deeper lists are flattened
		// into subcomponents rather than dropped.
		sep, level = d.Subcomponent, levelComponent
	}
	for i, p := range v.parts {
		if i > 0 {
			dst = append(dst, sep)
		}
		if p != nil {
			dst = p.appendER7(dst, d, level+1)
		}
	}
	return dst
}

// Components joins values with the component separator, or with the
// subcomponent separator when used inside a component.
func Components(parts ...Value) Value { return listValue{parts: parts} }

// Repeats joins values with the repetition separator. Only a field can
// repeat: below field level Repeats behaves like Components.
func Repeats(reps ...Value) Value { return listValue{parts: reps, repeats: true} }

// Builder writes ER7 messages segment by segment, escaping text as it goes;
// used for ACKs and test messages. Its output is UTF-8 with CR terminators.
type Builder struct {
	d   Delimiters
	buf []byte
	err error
}

// NewBuilder returns a Builder that writes with delimiters d.
func NewBuilder(d Delimiters) *Builder {
	b := &Builder{d: d}
	if err := d.Validate(); err != nil {
		b.err = err
	}
	return b
}

// Add appends a segment. For MSH, FHS and BHS the delimiters are written
// as fields 1 and 2, so fields starts at field 3; for other segments it
// starts at field 1. Trailing empty fields are written as given.
func (b *Builder) Add(name string, fields ...Value) *Builder {
	if b.err != nil {
		return b
	}
	if len(name) != 3 || !idChar(name[0]) || !idChar(name[1]) || !idChar(name[2]) {
		b.err = fmt.Errorf("hl7v2: builder: invalid segment ID %q", name)
		return b
	}
	b.buf = append(b.buf, name...)
	if (Segment{raw: []byte(name)}).isHeader() {
		b.buf = append(b.buf, b.d.Field)
		b.buf = append(b.buf, b.d.EncodingCharacters()...)
	}
	for _, f := range fields {
		b.buf = append(b.buf, b.d.Field)
		if f != nil {
			b.buf = f.appendER7(b.buf, b.d, levelField)
		}
	}
	b.buf = append(b.buf, '\r')
	return b
}

// AddText appends a segment whose fields are plain text (see Add).
func (b *Builder) AddText(name string, fields ...string) *Builder {
	vs := make([]Value, len(fields))
	for i, f := range fields {
		vs[i] = Text(f)
	}
	return b.Add(name, vs...)
}

// Bytes returns the message written so far, or the first error met.
func (b *Builder) Bytes() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	if len(b.buf) == 0 {
		return nil, errors.New("hl7v2: builder: no segments")
	}
	return b.buf, nil
}

// Message parses the message written so far. The builder's text is UTF-8,
// so it is parsed as such whatever MSH-18 says.
func (b *Builder) Message() (*Message, error) {
	data, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	return Parse(data, WithCharset("UTF-8"))
}

// Ack describes an acknowledgment (original mode, ACK^<trigger>^ACK).
type Ack struct {
	Code      string    // MSA-1: AA, AE or AR (CA, CE, CR in enhanced mode)
	ControlID string    // MSH-10 of the ACK itself
	Time      time.Time // MSH-7
	Text      string    // MSA-3, optional
	// Err, when it is (or wraps) a *ParseError, adds an ERR segment (v2.5
	// layout: ERR-2 location, ERR-3 condition code, ERR-4 severity E).
	Err error
}

// Build returns the ACK for orig, with sender and receiver swapped and
// MSA-2 set to orig's control ID. orig may be nil when the message could
// not be parsed at all; the ACK then uses the default delimiters and
// leaves the copied fields empty.
func (a Ack) Build(orig *Message) ([]byte, error) {
	d := DefaultDelimiters()
	var hdr Segment
	if orig != nil {
		d, hdr = orig.d, orig.Header()
	}
	field := func(n int) Value { return Encoded(string(hdr.Field(n).Raw())) }
	var trigger Value
	if orig != nil {
		trigger = Encoded(string(hdr.Field(9).Component(2).Raw()))
	}
	b := NewBuilder(d)
	b.Add("MSH", field(5), field(6), field(3), field(4),
		Text(a.Time.Format("20060102150405.000-0700")), nil,
		Components(Text("ACK"), trigger, Text("ACK")),
		Text(a.ControlID), field(11), field(12))
	b.Add("MSA", Text(a.Code), field(10), Text(a.Text))
	var pe *ParseError
	if errors.As(a.Err, &pe) {
		loc := Components(Text(pe.Segment), num(pe.Sequence), num(pe.Field))
		code := Components(Text(strconv.Itoa(pe.Code)), Text(pe.Reason), Text("HL70357"))
		b.Add("ERR", nil, loc, code, Text("E"))
	}
	return b.Bytes()
}

func num(n int) Value {
	if n <= 0 {
		return nil
	}
	return Text(strconv.Itoa(n))
}
