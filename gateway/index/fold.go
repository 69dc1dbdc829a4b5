package index

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Fold normalises text for the default string search, which the specification makes
// case- and accent-insensitive: decompose (compatibility form, which also turns
// full-width ASCII from Chinese input methods into ASCII), drop combining marks,
// recompose and lower-case. Chinese characters pass through unchanged, so "张" matches
// as written. It runs on every indexed string, so it avoids x/text's transform chains,
// which allocate large buffers per call.
func Fold(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	d := norm.NFKD.String(s)
	d = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, d)
	return strings.ToLower(norm.NFC.String(d))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
