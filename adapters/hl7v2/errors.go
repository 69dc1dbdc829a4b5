package hl7v2

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Error condition codes from HL7 table 0357, suggested for ERR-3 when a
// message is rejected because of a ParseError.
const (
	CodeSegmentSequence = 100 // segment sequence error: no MSH, unexpected segment
	CodeDataTypeError   = 102 // data type error: bad encoding characters, bad segment name
	CodeInternalError   = 207 // application internal error: unsupported charset option
)

// ParseError describes why data could not be parsed, with enough location
// detail to build an ERR segment (ERR-2 error location, ERR-3 code).
type ParseError struct {
	Segment string // segment ID, e.g. "MSH"; empty when unknown
	// Sequence is the segment's occurrence among the segments with its ID,
	// 1-based, as ERR-2.2 (ERL-2 Segment Sequence) has it: 2 for a second
	// MSH wherever it stands. 0 when the ID is unknown or invalid.
	Sequence int
	Index    int // 1-based position of the segment among all segments; 0 when unknown
	Field    int // HL7 field number; 0 when the whole segment is at fault
	Position int // byte offset in the message text (after BOM removal and decoding to UTF-8)
	Code     int // HL7 table 0357 condition code
	Reason   string
	Err      error // underlying error, if any
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("hl7v2: ")
	if e.Segment != "" {
		b.WriteString(e.Segment)
		if e.Field > 0 {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(e.Field))
		}
	}
	if e.Index > 0 {
		if e.Segment != "" {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "(segment %d of the message)", e.Index)
	}
	if e.Segment != "" || e.Index > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	fmt.Fprintf(&b, " at byte %d", e.Position)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// occurrence returns the 1-based occurrence of a segment with the given ID
// that follows the segments of text up to end: one more than the segments
// before it with that ID. Only errors need it, so it rescans rather than
// having the parser count every ID.
func occurrence(text []byte, end int, id string) int {
	n := 1
	for pos := 0; pos < end; {
		e := min(segmentEnd(text[pos:])+pos, end)
		if line := bytes.TrimPrefix(text[pos:e], bom); len(line) >= 3 && string(line[:3]) == id {
			n++
		}
		pos = e + 1
	}
	return n
}
