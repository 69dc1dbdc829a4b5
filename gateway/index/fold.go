package index

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Fold normalises text for the default string search, which the specification makes
// case- and accent-insensitive: decompose, drop combining marks, lower-case, and fold
// full-width ASCII (common in Chinese input methods) to its ordinary form. Chinese
// characters pass through unchanged, so "张" matches as written.
func Fold(s string) string {
	if isASCIILower(s) {
		return s
	}
	t := transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	return strings.ToLower(out)
}

func isASCIILower(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return true
}
