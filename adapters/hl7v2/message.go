package hl7v2

import (
	"bytes"
	"fmt"
	"math"
	"unicode/utf8"
)

// Message is a parsed ER7 message. Parsing records where each segment
// starts and ends; fields are located only when asked for, and strings are
// only materialised by String, Get and the header accessors. A Message is
// safe for concurrent reads.
type Message struct {
	raw   []byte // as received, BOM included
	text  []byte // UTF-8 ER7 text; aliases raw unless transcoded
	d     Delimiters
	cs    Charset
	csSet bool // cs decided at parse time (non-ASCII text or override)
	lossy bool
	segs  []span
	buf   [32]span // backs segs for typical messages: one allocation per Parse
}

// span locates a segment in Message.text, terminator excluded.
type span struct{ start, end uint32 }

// Option configures Parse.
type Option func(*options)

type options struct {
	charset string
}

// WithCharset makes Parse decode the message with the named character set
// (any name LookupCharset accepts) whatever MSH-18 says: a per-channel
// override for senders that mislabel their messages.
func WithCharset(name string) Option {
	return func(o *options) { o.charset = name }
}

var bom = []byte("\xEF\xBB\xBF")

// Parse parses one ER7 message. data may use CR, LF or CRLF as segment
// terminators and may start with a UTF-8 byte order mark; blank lines are
// ignored. The text is decoded to UTF-8 once, before splitting: by the
// WithCharset option if given, else by MSH-18, else as UTF-8 if it is valid
// UTF-8 and as GB18030 otherwise. Pure ASCII and valid UTF-8 text is not
// copied, so data must not be modified while the Message is in use.
//
// Errors are *ParseError. Parse does not validate segment order or
// required fields.
func Parse(data []byte, opts ...Option) (*Message, error) {
	var o options
	if len(opts) > 0 {
		// Options escape through the function calls; only pay for that
		// allocation when there are any.
		po := new(options)
		for _, opt := range opts {
			opt(po)
		}
		o = *po
	}
	var override *Charset
	if o.charset != "" {
		cs, err := LookupCharset(o.charset)
		if err != nil {
			return nil, &ParseError{Code: CodeInternalError, Reason: "charset option", Err: err}
		}
		override = &cs
	}
	if len(data) > math.MaxUint32 {
		return nil, &ParseError{Code: CodeInternalError, Reason: "message larger than 4 GiB"}
	}
	text := bytes.TrimPrefix(data, bom)
	for len(text) > 0 && (text[0] == '\r' || text[0] == '\n') {
		text = text[1:]
	}
	if len(text) < 3 || string(text[:3]) != "MSH" {
		reason := "message does not start with an MSH segment"
		if len(text) >= 3 && (string(text[:3]) == "FHS" || string(text[:3]) == "BHS") {
			reason = "batch header " + string(text[:3]) + " where MSH was expected: a batch must be split into its messages"
		}
		// The missing first MSH is what ERR-2 points at.
		return nil, &ParseError{Segment: "MSH", Sequence: 1, Index: 1, Code: CodeSegmentSequence, Reason: reason}
	}
	d, perr := readDelimiters(text[:segmentEnd(text)])
	if perr != nil {
		return nil, perr
	}
	m := &Message{raw: data, d: d}
	if !isASCII(text) {
		cs, ok := utf8Charset, false
		if override != nil {
			cs, ok = *override, true
		} else if name := declaredCharset(text[:segmentEnd(text)], d); name != "" {
			cs2, err := LookupCharset(name)
			cs, ok = cs2, err == nil
		}
		if !ok && !utf8.Valid(text) {
			cs = gb18030Charset
		}
		decoded, lossy, err := cs.decode(text)
		if err != nil {
			return nil, &ParseError{Segment: "MSH", Sequence: 1, Index: 1, Field: 18, Code: CodeDataTypeError,
				Reason: "cannot decode message text", Err: err}
		}
		text, m.cs, m.csSet, m.lossy = decoded, cs, true, lossy
	} else if override != nil {
		m.cs, m.csSet = *override, true
	}
	m.text = text
	if err := m.split(); err != nil {
		return nil, err
	}
	return m, nil
}

// segmentEnd returns the index of the first CR or LF in b, or len(b).
func segmentEnd(b []byte) int {
	for i, c := range b {
		if c == '\r' || c == '\n' {
			return i
		}
	}
	return len(b)
}

// split records the segments of m.text: one pass, two IndexByte scans kept
// in step so that CR, LF and CRLF all terminate segments.
func (m *Message) split() *ParseError {
	text := m.text
	m.segs = m.buf[:0]
	cr, lf := -1, -1
	for pos := 0; pos < len(text); {
		if cr < pos {
			cr = indexFrom(text, '\r', pos)
		}
		if lf < pos {
			lf = indexFrom(text, '\n', pos)
		}
		end := min(cr, lf)
		if end > pos {
			seg := text[pos:end]
			if !blank(seg) {
				if err := m.checkSegment(seg, pos); err != nil {
					return err
				}
				m.segs = append(m.segs, span{uint32(pos), uint32(end)})
			}
		}
		pos = end + 1
	}
	return nil
}

func indexFrom(b []byte, c byte, from int) int {
	if k := bytes.IndexByte(b[from:], c); k >= 0 {
		return from + k
	}
	return len(b)
}

// blank reports whether seg holds only spaces and tabs.
func blank(seg []byte) bool {
	if seg[0] != ' ' && seg[0] != '\t' {
		return false
	}
	return len(bytes.TrimLeft(seg, " \t")) == 0
}

// checkSegment validates the segment ID of the segment at pos.
func (m *Message) checkSegment(seg []byte, pos int) *ParseError {
	seq := len(m.segs) + 1
	if len(seg) < 3 || !idChar(seg[0]) || !idChar(seg[1]) || !idChar(seg[2]) ||
		(len(seg) > 3 && seg[3] != m.d.Field) {
		id := seg[:min(len(seg), 3)]
		return &ParseError{Index: seq, Position: pos, Code: CodeDataTypeError,
			Reason: fmt.Sprintf("invalid segment ID %q", id)}
	}
	if seq > 1 {
		switch string(seg[:3]) {
		case "MSH", "FHS", "BHS", "BTS", "FTS":
			id := string(seg[:3])
			return &ParseError{Segment: id, Sequence: m.occurrence(id), Index: seq, Position: pos, Code: CodeSegmentSequence,
				Reason: "batch or second message inside a message: one message is expected"}
		}
	}
	return nil
}

// occurrence returns the occurrence (ERL-2) a segment with the given ID
// would have after the segments split so far.
func (m *Message) occurrence(id string) int {
	n := 1
	for _, sp := range m.segs {
		if string(m.text[sp.start:sp.start+3]) == id {
			n++
		}
	}
	return n
}

func idChar(c byte) bool { return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

// Raw returns the bytes given to Parse, unchanged (BOM, line endings and
// original character set included).
func (m *Message) Raw() []byte { return m.raw }

// Bytes returns the message text as UTF-8 ER7, without BOM, with its
// original segment terminators. It aliases Raw unless the message was
// transcoded.
func (m *Message) Bytes() []byte { return m.text }

// Delims returns the message's encoding characters.
func (m *Message) Delims() Delimiters { return m.d }

// Lossy reports whether decoding replaced malformed input with U+FFFD.
func (m *Message) Lossy() bool { return m.lossy }

// Charset returns the table 0211 name of the character set the message was
// decoded with. For pure ASCII text, which every supported set decodes
// alike, it is the override or MSH-18 when that names a supported set, and
// "UNICODE UTF-8" otherwise.
func (m *Message) Charset() string {
	if m.csSet {
		return m.cs.name
	}
	raw, _, _ := m.Header().fieldRaw(18)
	if cs, err := LookupCharset(string(firstRepComp(raw, m.d))); err == nil {
		return cs.name
	}
	return utf8Charset.name
}

// NumSegments returns the number of segments.
func (m *Message) NumSegments() int { return len(m.segs) }

// SegmentAt returns segment i (0-based, in message order).
func (m *Message) SegmentAt(i int) Segment {
	s := m.segs[i]
	return Segment{raw: m.text[s.start:s.end], d: m.d}
}

// Segments returns all segments in order.
func (m *Message) Segments() []Segment {
	ss := make([]Segment, len(m.segs))
	for i := range ss {
		ss[i] = m.SegmentAt(i)
	}
	return ss
}

// Header returns the MSH segment.
func (m *Message) Header() Segment { return m.SegmentAt(0) }

// Segment returns the first segment with the given ID.
func (m *Message) Segment(name string) (Segment, bool) {
	return m.nthSegment(name, 1)
}

// nthSegment returns the n-th (1-based) segment with the given ID.
func (m *Message) nthSegment(name string, n int) (Segment, bool) {
	if len(name) != 3 {
		return Segment{}, false
	}
	for _, s := range m.segs {
		if string(m.text[s.start:s.start+3]) == name {
			if n--; n == 0 {
				return Segment{raw: m.text[s.start:s.end], d: m.d}, true
			}
		}
	}
	return Segment{}, false
}

// AllSegments returns every segment with the given ID, in order.
func (m *Message) AllSegments(name string) []Segment {
	var ss []Segment
	for _, s := range m.segs {
		if len(name) == 3 && string(m.text[s.start:s.start+3]) == name {
			ss = append(ss, Segment{raw: m.text[s.start:s.end], d: m.d})
		}
	}
	return ss
}

// Type returns MSH-9: message code, trigger event and message structure
// (the structure is empty before v2.3.1 and in many later messages).
func (m *Message) Type() (code, trigger, structure string) {
	f := m.Header().Field(9).Rep(1)
	return f.Component(1).Sub(1).String(), f.Component(2).Sub(1).String(), f.Component(3).Sub(1).String()
}

// ControlID returns MSH-10, the message control ID.
func (m *Message) ControlID() string { return m.Get("MSH-10") }

// ProcessingID returns MSH-11.1: P, T or D.
func (m *Message) ProcessingID() string { return m.Get("MSH-11.1") }

// Version returns MSH-12.1, e.g. "2.5.1".
func (m *Message) Version() string { return m.Get("MSH-12.1") }

// Encode returns the message as UTF-8 ER7 with every segment terminated by
// a carriage return, the standard terminator. Segment bytes are written as
// parsed, so a message parsed from UTF-8 text encodes to the same bytes
// once line endings are normalised. MSH-18 is left as it was.
func (m *Message) Encode() []byte {
	n := 0
	for _, s := range m.segs {
		n += int(s.end-s.start) + 1
	}
	out := make([]byte, 0, n)
	for _, s := range m.segs {
		out = append(out, m.text[s.start:s.end]...)
		out = append(out, '\r')
	}
	return out
}

// EncodeCharset is Encode followed by conversion to the named character
// set; characters the set cannot represent are an error.
func (m *Message) EncodeCharset(name string) ([]byte, error) {
	cs, err := LookupCharset(name)
	if err != nil {
		return nil, err
	}
	out, err := cs.encode(m.Encode())
	if err != nil {
		return nil, fmt.Errorf("hl7v2: encode message: %w", err)
	}
	return out, nil
}
