package hl7v2

import (
	"bytes"
	"strings"
)

// Escape returns s with every character that has a meaning in ER7 replaced
// by its escape sequence: the delimiters become \F\ \S\ \T\ \R\ \E\ (and \P\
// for the v2.7 truncation character), a line feed becomes \.br\ and a
// carriage return \X0D\, so text never breaks a segment.
func Escape(d Delimiters, s string) string {
	if !d.needsEscape(s) {
		return s
	}
	return string(AppendEscaped(make([]byte, 0, len(s)+16), d, s))
}

// AppendEscaped appends the escaped form of s (see Escape) to dst.
func AppendEscaped(dst []byte, d Delimiters, s string) []byte {
	if d.Escape == 0 {
		// Without an escape character nothing can be escaped; line breaks
		// would still end the segment, so they become spaces.
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c == '\r' || c == '\n' {
				c = ' '
			}
			dst = append(dst, c)
		}
		return dst
	}
	start := 0
	for i := 0; i < len(s); i++ {
		var code string
		switch c := s[i]; {
		case c == '\r':
			code = "X0D"
		case c == '\n':
			code = ".br"
		case c == 0:
			continue
		case c == d.Field:
			code = "F"
		case c == d.Component:
			code = "S"
		case c == d.Subcomponent:
			code = "T"
		case c == d.Repetition:
			code = "R"
		case c == d.Escape:
			code = "E"
		case c == d.Truncation:
			code = "P"
		default:
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, d.Escape)
		dst = append(dst, code...)
		dst = append(dst, d.Escape)
		start = i + 1
	}
	return append(dst, s[start:]...)
}

func (d Delimiters) needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n':
			return true
		case c == 0:
		case c == d.Field, c == d.Component, c == d.Subcomponent, c == d.Repetition, c == d.Escape, c == d.Truncation:
			return true
		}
	}
	return false
}

// Unescape returns the text of an escaped ER7 value. \F\ \S\ \T\ \R\ \E\
// and \P\ become the delimiter they stand for, \Xhh..\ the bytes written in
// hexadecimal, \.br\ a line feed; the highlighting sequences \H\ and \N\ are
// dropped. Any other or malformed sequence (\Cxxyy\, \Zxx\, \.sp\, a lone
// escape character) is kept literally, so no text is lost.
func Unescape(d Delimiters, s string) string {
	if d.Escape == 0 || len(s) < 2 || strings.IndexByte(s, d.Escape) < 0 {
		return s
	}
	return string(AppendUnescaped(make([]byte, 0, len(s)), d, []byte(s)))
}

// AppendUnescaped appends the unescaped text of src (see Unescape) to dst.
func AppendUnescaped(dst []byte, d Delimiters, src []byte) []byte {
	esc := d.Escape
	if esc == 0 {
		return append(dst, src...)
	}
	for {
		i := bytes.IndexByte(src, esc)
		if i < 0 {
			return append(dst, src...)
		}
		dst = append(dst, src[:i]...)
		rest := src[i+1:]
		j := bytes.IndexByte(rest, esc)
		if j < 0 {
			return append(dst, src[i:]...) // unterminated: literal
		}
		seq := rest[:j]
		src = rest[j+1:]
		if out, ok := d.unescapeSeq(dst, seq); ok {
			dst = out
			continue
		}
		dst = append(dst, esc)
		dst = append(dst, seq...)
		dst = append(dst, esc)
	}
}

// unescapeSeq appends the meaning of one escape sequence (without its
// escape characters) to dst, or reports false if it is not one it knows.
func (d Delimiters) unescapeSeq(dst, seq []byte) ([]byte, bool) {
	switch len(seq) {
	case 0:
		return dst, false
	case 1:
		var c byte
		switch seq[0] {
		case 'F':
			c = d.Field
		case 'S':
			c = d.Component
		case 'T':
			c = d.Subcomponent
		case 'R':
			c = d.Repetition
		case 'E':
			c = d.Escape
		case 'P':
			c = d.Truncation
		case 'H', 'N':
			return dst, true
		}
		if c == 0 {
			return dst, false
		}
		return append(dst, c), true
	}
	if string(seq) == ".br" {
		return append(dst, '\n'), true
	}
	if seq[0] == 'X' && len(seq) >= 3 && len(seq)%2 == 1 {
		hex := seq[1:]
		for _, c := range hex {
			if unhex(c) > 15 {
				return dst, false
			}
		}
		for k := 0; k < len(hex); k += 2 {
			dst = append(dst, unhex(hex[k])<<4|unhex(hex[k+1]))
		}
		return dst, true
	}
	return dst, false
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 255
}
