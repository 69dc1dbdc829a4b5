package hl7v2

import (
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
	Segment  string // segment ID, e.g. "MSH"; empty when unknown
	Sequence int    // 1-based position of the segment in the message; 0 when unknown
	Field    int    // HL7 field number; 0 when the whole segment is at fault
	Position int    // byte offset in the message text (after BOM removal and decoding to UTF-8)
	Code     int    // HL7 table 0357 condition code
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
		if e.Sequence > 0 {
			fmt.Fprintf(&b, " (segment %d)", e.Sequence)
		}
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
