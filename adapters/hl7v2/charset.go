package hl7v2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// Charset is a character set a message can be encoded in (HL7 table 0211),
// resolved from MSH-18 or from a channel's configuration.
type Charset struct {
	name string            // canonical table 0211 value
	enc  encoding.Encoding // nil for UTF-8, which needs no transcoding
}

// Name returns the canonical HL7 table 0211 name, e.g. "UNICODE UTF-8" or
// "GB 18030-2000".
func (c Charset) Name() string { return c.name }

var (
	utf8Charset    = Charset{name: "UNICODE UTF-8"}
	gb18030Charset = Charset{name: "GB 18030-2000", enc: simplifiedchinese.GB18030}
)

// LookupCharset resolves an MSH-18 value (or a channel override) to a
// Charset. Matching ignores case, spaces, hyphens and underscores, so "GBK",
// "gbk", "GB 18030-2000" and "gb18030" all resolve. GBK, GB2312 and CP936 are
// decoded as GB18030, a superset of all three; ASCII is decoded as ISO 8859-1
// so that stray 8-bit bytes survive.
func LookupCharset(name string) (Charset, error) {
	key := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '_':
			return -1
		}
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, name)
	switch key {
	case "UNICODEUTF8", "UTF8", "UNICODE":
		// Plain "UNICODE" is the pre-2.5 table value; with ASCII delimiters
		// it can only have meant UTF-8.
		return utf8Charset, nil
	case "ASCII", "USASCII":
		return Charset{name: "ASCII", enc: charmap.ISO8859_1}, nil
	case "GB180302000", "GB18030", "GB180302005", "GB180302022", "GBK", "GB2312", "CP936", "WINDOWS936":
		return gb18030Charset, nil
	case "BIG5":
		return Charset{name: "BIG-5", enc: traditionalchinese.Big5}, nil
	case "KSX1001", "EUCKR":
		return Charset{name: "KS X 1001", enc: korean.EUCKR}, nil
	case "8859/1", "ISO88591", "LATIN1":
		return Charset{name: "8859/1", enc: charmap.ISO8859_1}, nil
	case "8859/2", "ISO88592":
		return Charset{name: "8859/2", enc: charmap.ISO8859_2}, nil
	case "8859/3", "ISO88593":
		return Charset{name: "8859/3", enc: charmap.ISO8859_3}, nil
	case "8859/4", "ISO88594":
		return Charset{name: "8859/4", enc: charmap.ISO8859_4}, nil
	case "8859/5", "ISO88595":
		return Charset{name: "8859/5", enc: charmap.ISO8859_5}, nil
	case "8859/6", "ISO88596":
		return Charset{name: "8859/6", enc: charmap.ISO8859_6}, nil
	case "8859/7", "ISO88597":
		return Charset{name: "8859/7", enc: charmap.ISO8859_7}, nil
	case "8859/8", "ISO88598":
		return Charset{name: "8859/8", enc: charmap.ISO8859_8}, nil
	case "8859/9", "ISO88599":
		return Charset{name: "8859/9", enc: charmap.ISO8859_9}, nil
	case "8859/15", "ISO885915":
		return Charset{name: "8859/15", enc: charmap.ISO8859_15}, nil
	}
	return Charset{}, fmt.Errorf("hl7v2: unsupported character set %q", name)
}

// decode converts data in charset c to UTF-8. Invalid input becomes U+FFFD
// and is reported as lossy; the result aliases data when no conversion is
// needed.
func (c Charset) decode(data []byte) (out []byte, lossy bool, err error) {
	if c.enc == nil {
		if utf8.Valid(data) {
			return data, false, nil
		}
		return bytes.ToValidUTF8(data, []byte("\uFFFD")), true, nil
	}
	out, err = c.enc.NewDecoder().Bytes(data)
	if err != nil {
		return nil, false, fmt.Errorf("decode %s: %w", c.name, err)
	}
	// x/text decoders substitute U+FFFD for malformed input; ISO 8859 cannot
	// produce it, and a genuine U+FFFD in GB18030 or Big5 text is rare enough
	// that flagging it as lossy is the safer error.
	if !utf8.Valid(out) {
		out = bytes.ToValidUTF8(out, []byte("\uFFFD"))
		lossy = true
	}
	return out, lossy || bytes.Contains(out, []byte("\uFFFD")), nil
}

// encode converts UTF-8 text to charset c. Characters c cannot represent are
// an error.
func (c Charset) encode(text []byte) ([]byte, error) {
	if c.enc == nil {
		return text, nil
	}
	out, err := c.enc.NewEncoder().Bytes(text)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", c.name, err)
	}
	return out, nil
}

// isASCII reports whether data has no byte >= 0x80, eight bytes at a time.
func isASCII(data []byte) bool {
	for len(data) >= 8 {
		if binary.LittleEndian.Uint64(data)&0x8080808080808080 != 0 {
			return false
		}
		data = data[8:]
	}
	for _, c := range data {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// declaredCharset returns the first repetition, first component of MSH-18
// of the undecoded header segment seg. Before decoding, a GB18030, Big5 or
// EUC-KR trail byte can equal a delimiter ('\' 0x5C, '|' 0x7C, '^' 0x5E,
// '~' 0x7E), so when seg is not valid UTF-8 (and hence possibly double-byte)
// the field is located both ways: stepping over double-byte sequences, and
// byte by byte as a single-byte set such as ISO 8859-1 requires. The
// double-byte reading wins when it names a known charset: misreading a
// single-byte header that way shifts the fields, which practically never
// lands on a valid charset name.
func declaredCharset(seg []byte, d Delimiters) string {
	if utf8.Valid(seg) {
		return string(firstRepComp(headerField(seg, d, 18, false), d))
	}
	if v := firstRepComp(headerField(seg, d, 18, true), d); len(v) > 0 {
		if _, err := LookupCharset(string(v)); err == nil {
			return string(v)
		}
	}
	return string(firstRepComp(headerField(seg, d, 18, false), d))
}

// headerField returns raw header field n (MSH numbering, n >= 3) of the
// undecoded header segment seg. With multibyte set, bytes 0x81..0xFE start a
// double-byte sequence (four bytes when followed by a digit, as GB18030 does)
// whose bytes are never delimiters.
func headerField(seg []byte, d Delimiters, n int, multibyte bool) []byte {
	field := 2 // seg[4:] starts in MSH-2
	start := 4
	for i := 4; i < len(seg); {
		c := seg[i]
		if multibyte && c >= 0x81 && c <= 0xfe && i+1 < len(seg) {
			if t := seg[i+1]; t >= '0' && t <= '9' {
				i += 4 // GB18030 four-byte sequence
			} else {
				i += 2
			}
			continue
		}
		if c == d.Field {
			if field == n {
				return seg[start:i]
			}
			field++
			start = i + 1
		}
		i++
	}
	if field == n && start <= len(seg) {
		return seg[start:]
	}
	return nil
}

// firstRepComp returns the first component of the first repetition of a
// raw field, with surrounding spaces trimmed; used for coded header fields
// such as MSH-18.
func firstRepComp(raw []byte, d Delimiters) []byte {
	if d.Repetition != 0 {
		if i := bytes.IndexByte(raw, d.Repetition); i >= 0 {
			raw = raw[:i]
		}
	}
	if d.Component != 0 {
		if i := bytes.IndexByte(raw, d.Component); i >= 0 {
			raw = raw[:i]
		}
	}
	return bytes.TrimSpace(raw)
}
