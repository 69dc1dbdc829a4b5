package hl7v2

import "fmt"

// Delimiters are a message's encoding characters, read from MSH-1 and MSH-2.
// A zero byte means the character is not defined for the message (for
// example Truncation before v2.7, or a message whose MSH-2 is shorter than
// four characters); an undefined character never splits or escapes anything.
type Delimiters struct {
	Field        byte // MSH-1, usually '|'
	Component    byte // usually '^'
	Repetition   byte // usually '~'
	Escape       byte // usually '\'
	Subcomponent byte // usually '&'
	Truncation   byte // v2.7+, usually '#'; 0 when MSH-2 has only four characters
}

// DefaultDelimiters returns the encoding characters recommended by the
// standard: |^~\&.
func DefaultDelimiters() Delimiters {
	return Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&'}
}

// EncodingCharacters returns the MSH-2 value for d.
func (d Delimiters) EncodingCharacters() string {
	b := make([]byte, 0, 5)
	for _, c := range [...]byte{d.Component, d.Repetition, d.Escape, d.Subcomponent, d.Truncation} {
		if c == 0 {
			break
		}
		b = append(b, c)
	}
	return string(b)
}

// Validate reports whether d can be used to encode a message: the field
// separator and every defined encoding character must be distinct printable
// ASCII punctuation, and the four mandatory characters must be defined.
func (d Delimiters) Validate() error {
	var seen [256]bool
	for i, c := range [...]byte{d.Field, d.Component, d.Repetition, d.Escape, d.Subcomponent, d.Truncation} {
		if c == 0 && i == 5 {
			continue
		}
		if c == 0 {
			return fmt.Errorf("hl7v2: delimiters: mandatory character %d of |^~\\& missing", i+1)
		}
		if !validDelimiter(c) || seen[c] {
			return fmt.Errorf("hl7v2: delimiter %q is repeated or not usable", c)
		}
		seen[c] = true
	}
	return nil
}

// readDelimiters reads MSH-1 and MSH-2 from seg, which starts with a
// three-letter header segment name (MSH, FHS or BHS) and ends before the
// segment terminator. MSH-2 may hold one to five characters; missing ones
// stay zero, which is tolerated because some senders omit the escape or
// subcomponent character.
func readDelimiters(seg []byte) (Delimiters, *ParseError) {
	var d Delimiters
	if len(seg) < 4 {
		return d, delimError(seg, 1, len(seg), "field separator (MSH-1) missing")
	}
	d.Field = seg[3]
	if !validDelimiter(d.Field) {
		return d, delimError(seg, 1, 3, "field separator (MSH-1) %q is not printable punctuation", d.Field)
	}
	var enc [5]byte
	n := 0
	i := 4
	for ; i < len(seg) && seg[i] != d.Field; i++ {
		if n == len(enc) {
			return d, delimError(seg, 2, i, "encoding characters (MSH-2) longer than %d characters", len(enc))
		}
		enc[n] = seg[i]
		n++
	}
	if n == 0 {
		return d, delimError(seg, 2, 4, "encoding characters (MSH-2) are empty")
	}
	var seen [256]bool
	seen[d.Field] = true
	for k, c := range enc[:n] {
		if !validDelimiter(c) || seen[c] {
			return d, delimError(seg, 2, 4+k, "encoding characters (MSH-2) %q: %q is repeated or not printable punctuation", string(enc[:n]), c)
		}
		seen[c] = true
	}
	d.Component, d.Repetition, d.Escape, d.Subcomponent, d.Truncation = enc[0], enc[1], enc[2], enc[3], enc[4]
	return d, nil
}

// validDelimiter reports whether c can serve as a delimiter: printable ASCII
// punctuation (letters, digits and spaces would make values ambiguous).
func validDelimiter(c byte) bool {
	switch {
	case c <= ' ' || c >= 0x7f:
		return false
	case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return false
	}
	return true
}

func delimError(seg []byte, field, pos int, format string, args ...any) *ParseError {
	return &ParseError{Segment: string(seg[:3]), Sequence: 1, Index: 1, Field: field, Position: pos,
		Code: CodeDataTypeError, Reason: fmt.Sprintf(format, args...)}
}
