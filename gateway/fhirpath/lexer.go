package fhirpath

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokDelimIdent // `identifier`
	tokString
	tokNumber
	tokLong     // 10L
	tokDateTime // @2014-01-01T..., @2014, @T10:00
	tokSymbol   // operators and punctuation
	tokVar      // %name
	tokSpecial  // $this, $index, $total
)

type token struct {
	kind tokenKind
	text string // identifier name, unescaped string, number text, symbol, literal text without '@'
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return strconv.Quote(t.text)
	}
	return "'" + t.text + "'"
}

// SyntaxError reports an expression that does not parse.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("fhirpath: syntax error at %d: %s", e.Pos, e.Msg)
}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f':
			i++
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, &SyntaxError{i, "unterminated comment"}
			}
			i += end + 4
			continue
		}
		start := i
		switch {
		case isIdentStart(c):
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			toks = append(toks, token{tokIdent, src[start:i], start})
		case c == '`':
			s, n, err := unquote(src[i:], '`')
			if err != nil {
				return nil, &SyntaxError{i, err.Error()}
			}
			i += n
			toks = append(toks, token{tokDelimIdent, s, start})
		case c == '\'':
			s, n, err := unquote(src[i:], '\'')
			if err != nil {
				return nil, &SyntaxError{i, err.Error()}
			}
			i += n
			toks = append(toks, token{tokString, s, start})
		case c >= '0' && c <= '9':
			for i < len(src) && isDigit(src[i]) {
				i++
			}
			if i+1 < len(src) && src[i] == '.' && isDigit(src[i+1]) {
				i++
				for i < len(src) && isDigit(src[i]) {
					i++
				}
			} else if i < len(src) && src[i] == 'L' && (i+1 >= len(src) || !isIdentPart(src[i+1])) {
				toks = append(toks, token{tokLong, src[start:i], start})
				i++
				continue
			}
			toks = append(toks, token{tokNumber, src[start:i], start})
		case c == '@':
			i++
			n := scanDateTime(src[i:])
			if n == 0 {
				return nil, &SyntaxError{start, "invalid date/time literal"}
			}
			i += n
			toks = append(toks, token{tokDateTime, src[start+1 : i], start})
		case c == '%':
			i++
			if i < len(src) && (src[i] == '`' || src[i] == '\'') {
				s, n, err := unquote(src[i:], src[i])
				if err != nil {
					return nil, &SyntaxError{i, err.Error()}
				}
				i += n
				toks = append(toks, token{tokVar, s, start})
				continue
			}
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			if i == start+1 {
				return nil, &SyntaxError{start, "missing variable name after %"}
			}
			toks = append(toks, token{tokVar, src[start+1 : i], start})
		case c == '$':
			i++
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			name := src[start:i]
			if name != "$this" && name != "$index" && name != "$total" {
				return nil, &SyntaxError{start, "unknown special variable " + name}
			}
			toks = append(toks, token{tokSpecial, name, start})
		default:
			sym := ""
			if i+1 < len(src) {
				switch two := src[i : i+2]; two {
				case "<=", ">=", "!=", "!~":
					sym = two
				}
			}
			if sym == "" {
				switch c {
				case '.', '[', ']', '(', ')', '{', '}', ',', '+', '-', '*', '/', '|', '&', '=', '~', '<', '>':
					sym = string(c)
				default:
					r, _ := utf8.DecodeRuneInString(src[i:])
					return nil, &SyntaxError{i, fmt.Sprintf("unexpected character %q", r)}
				}
			}
			i += len(sym)
			toks = append(toks, token{tokSymbol, sym, start})
		}
	}
	toks = append(toks, token{tokEOF, "", len(src)})
	return toks, nil
}

func isIdentStart(c byte) bool { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }

// unquote reads a quoted string starting at s[0] == q and returns its unescaped
// value and the number of bytes consumed.
func unquote(s string, q byte) (string, int, error) {
	var b strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("unterminated string")
			}
			i++
			switch e := s[i]; e {
			case '\'', '"', '`', '\\', '/':
				b.WriteByte(e)
			case 'r':
				b.WriteByte('\r')
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'f':
				b.WriteByte('\f')
			case 'u':
				if i+4 >= len(s) {
					return "", 0, fmt.Errorf("invalid unicode escape")
				}
				v, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
				if err != nil {
					return "", 0, fmt.Errorf("invalid unicode escape")
				}
				b.WriteRune(rune(v))
				i += 4
			default:
				return "", 0, fmt.Errorf("invalid escape \\%c", e)
			}
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}

// scanDateTime returns the length of the date/time literal at the start of s
// (after the '@'), following the FHIRPath DATE, DATETIME and TIME lexer rules.
func scanDateTime(s string) int {
	i := 0
	digits := func(n int) bool {
		if i+n > len(s) {
			return false
		}
		for k := 0; k < n; k++ {
			if !isDigit(s[i+k]) {
				return false
			}
		}
		i += n
		return true
	}
	lit := func(c byte) bool {
		if i < len(s) && s[i] == c {
			i++
			return true
		}
		return false
	}
	// time part: hh(:mm(:ss(.fff)?)?)?
	timePart := func() bool {
		if !digits(2) {
			return false
		}
		save := i
		if lit(':') && digits(2) {
			save = i
			if lit(':') && digits(2) {
				save = i
				if lit('.') && digits(1) {
					for i < len(s) && isDigit(s[i]) {
						i++
					}
					save = i
				}
			}
		}
		i = save
		return true
	}
	if lit('T') {
		if !timePart() {
			return 0
		}
		return i
	}
	if !digits(4) {
		return 0
	}
	save := i
	if lit('-') && digits(2) {
		save = i
		if lit('-') && digits(2) {
			save = i
		}
	}
	i = save
	if lit('T') {
		save = i
		if timePart() {
			save = i
			// timezone
			if lit('Z') {
				save = i
			} else if i < len(s) && (s[i] == '+' || s[i] == '-') {
				i++
				if digits(2) && lit(':') && digits(2) {
					save = i
				}
			}
		}
		i = save
	}
	return i
}
