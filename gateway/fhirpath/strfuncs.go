package fhirpath

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// strInput returns the single input string; ok false when the input is empty.
func (c *call) strInput() (string, bool, error) {
	if len(c.focus) == 0 {
		return "", false, nil
	}
	if len(c.focus) > 1 {
		return "", false, evalError("%s() on %d items", c.name, len(c.focus))
	}
	v, ok := systemValue(c.focus[0])
	if ok {
		if s, isS := v.node.(string); isS {
			return s, true, nil
		}
	}
	return "", false, evalError("%s() on a %s, not a string", c.name, c.focus[0].typ)
}

// strFunc builds a function of a string input and string arguments.
func strFunc(nargs int, fn func(s string, args []string) (Collection, error)) *funcDef {
	return def(nargs, nargs, func(c *call) (Collection, error) {
		s, ok, err := c.strInput()
		if err != nil || !ok {
			return nil, err
		}
		args := make([]string, nargs)
		for i := range args {
			a, ok, err := c.argString(i)
			if err != nil || !ok {
				return nil, err
			}
			args[i] = a
		}
		return fn(s, args)
	})
}

func compileRegex(p string, full bool) (*regexp.Regexp, error) {
	if full {
		p = "^(?:" + p + ")$"
	}
	re, err := regexp.Compile("(?s)" + p)
	if err != nil {
		return nil, evalError("invalid regular expression: %v", err)
	}
	return re, nil
}

func stringFunctions() map[string]*funcDef {
	return map[string]*funcDef{
		"indexOf": strFunc(1, func(s string, a []string) (Collection, error) {
			i := strings.Index(s, a[0])
			if i >= 0 {
				i = utf8.RuneCountInString(s[:i])
			}
			return one(intItem(int64(i))), nil
		}),
		"lastIndexOf": strFunc(1, func(s string, a []string) (Collection, error) {
			i := strings.LastIndex(s, a[0])
			if i >= 0 {
				i = utf8.RuneCountInString(s[:i])
			}
			return one(intItem(int64(i))), nil
		}),
		"substring": def(1, 2, func(c *call) (Collection, error) {
			s, ok, err := c.strInput()
			if err != nil || !ok {
				return nil, err
			}
			start, ok, err := c.argInt(0)
			if err != nil || !ok {
				return nil, err
			}
			r := []rune(s)
			if start < 0 || start >= int64(len(r)) {
				return nil, nil
			}
			end := int64(len(r))
			if c.hasArg(1) {
				n, ok, err := c.argInt(1)
				if err != nil {
					return nil, err
				}
				if ok {
					if n < 0 {
						n = 0
					}
					end = min(end, start+n)
				}
			}
			return one(stringItem(string(r[start:end]))), nil
		}),
		"startsWith": strFunc(1, func(s string, a []string) (Collection, error) {
			return boolResult(strings.HasPrefix(s, a[0])), nil
		}),
		"endsWith": strFunc(1, func(s string, a []string) (Collection, error) {
			return boolResult(strings.HasSuffix(s, a[0])), nil
		}),
		"contains": strFunc(1, func(s string, a []string) (Collection, error) {
			return boolResult(strings.Contains(s, a[0])), nil
		}),
		"upper": strFunc(0, func(s string, _ []string) (Collection, error) { return one(stringItem(strings.ToUpper(s))), nil }),
		"lower": strFunc(0, func(s string, _ []string) (Collection, error) { return one(stringItem(strings.ToLower(s))), nil }),
		"replace": strFunc(2, func(s string, a []string) (Collection, error) {
			return one(stringItem(strings.ReplaceAll(s, a[0], a[1]))), nil
		}),
		"matches": strFunc(1, func(s string, a []string) (Collection, error) {
			re, err := compileRegex(a[0], false)
			if err != nil {
				return nil, err
			}
			return boolResult(re.MatchString(s)), nil
		}),
		"matchesFull": strFunc(1, func(s string, a []string) (Collection, error) {
			re, err := compileRegex(a[0], true)
			if err != nil {
				return nil, err
			}
			return boolResult(re.MatchString(s)), nil
		}),
		"replaceMatches": strFunc(2, func(s string, a []string) (Collection, error) {
			if a[0] == "" {
				return one(stringItem(s)), nil // an empty pattern matches nothing to replace
			}
			re, err := compileRegex(a[0], false)
			if err != nil {
				return nil, err
			}
			return one(stringItem(re.ReplaceAllString(s, a[1]))), nil
		}),
		"length": strFunc(0, func(s string, _ []string) (Collection, error) {
			return one(intItem(int64(utf8.RuneCountInString(s)))), nil
		}),
		"toChars": strFunc(0, func(s string, _ []string) (Collection, error) {
			var out Collection
			for _, r := range s {
				out = append(out, stringItem(string(r)))
			}
			return out, nil
		}),
		"trim": strFunc(0, func(s string, _ []string) (Collection, error) {
			return one(stringItem(strings.TrimSpace(s))), nil
		}),
		"split": strFunc(1, func(s string, a []string) (Collection, error) {
			var out Collection
			for _, p := range strings.Split(s, a[0]) {
				out = append(out, stringItem(p))
			}
			return out, nil
		}),
		"join": def(0, 1, func(c *call) (Collection, error) {
			sep := ""
			if c.hasArg(0) {
				s, _, err := c.argString(0)
				if err != nil {
					return nil, err
				}
				sep = s
			}
			parts := make([]string, 0, len(c.focus))
			for _, it := range c.focus {
				s, ok := toStringValue(it)
				if !ok {
					return nil, evalError("join() on a %s", it.typ)
				}
				parts = append(parts, s)
			}
			return one(stringItem(strings.Join(parts, sep))), nil
		}),
		"encode": strFunc(1, func(s string, a []string) (Collection, error) {
			switch a[0] {
			case "hex":
				return one(stringItem(hex.EncodeToString([]byte(s)))), nil
			case "base64":
				return one(stringItem(base64.StdEncoding.EncodeToString([]byte(s)))), nil
			case "urlbase64":
				return one(stringItem(base64.URLEncoding.EncodeToString([]byte(s)))), nil
			}
			return nil, evalError("unknown encoding %q", a[0])
		}),
		"decode": strFunc(1, func(s string, a []string) (Collection, error) {
			var b []byte
			var err error
			switch a[0] {
			case "hex":
				b, err = hex.DecodeString(s)
			case "base64":
				b, err = base64.StdEncoding.DecodeString(s)
			case "urlbase64":
				b, err = base64.URLEncoding.DecodeString(s)
			default:
				return nil, evalError("unknown encoding %q", a[0])
			}
			if err != nil {
				return nil, nil
			}
			return one(stringItem(string(b))), nil
		}),
		"escape": strFunc(1, func(s string, a []string) (Collection, error) {
			switch a[0] {
			case "html":
				return one(stringItem(htmlEscaper.Replace(s))), nil
			case "json":
				return one(stringItem(escapeJSON(s))), nil
			}
			return nil, evalError("unknown escape %q", a[0])
		}),
		"unescape": strFunc(1, func(s string, a []string) (Collection, error) {
			switch a[0] {
			case "html":
				return one(stringItem(html.UnescapeString(s))), nil
			case "json":
				return one(stringItem(unescapeJSON(s))), nil
			}
			return nil, evalError("unknown escape %q", a[0])
		}),
	}
}

// htmlEscaper escapes like the FHIRPath reference implementations: named
// entities for the quote (html.EscapeString writes &#34;).
var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

// escapeJSON escapes s for use inside a JSON string. Unlike json.Marshal it
// leaves <, > and & alone.
func escapeJSON(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unescapeJSON undoes JSON string escapes; malformed ones are kept as written.
func unescapeJSON(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+4 < len(s) {
				if n, err := strconv.ParseUint(s[i+1:i+5], 16, 32); err == nil {
					b.WriteRune(rune(n))
					i += 4
					continue
				}
			}
			b.WriteString(`\u`)
		default: // ", \, / and anything unknown
			b.WriteByte(c)
		}
	}
	return b.String()
}
