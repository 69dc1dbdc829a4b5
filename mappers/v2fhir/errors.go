package v2fhir

import (
	"fmt"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// HL7 table 0357 condition codes of mapping failures (MapError.Code).
const (
	// CodeSegmentSequence: segments out of order, or a required segment missing.
	CodeSegmentSequence = hl7v2.CodeSegmentSequence // 100
	// CodeRequiredFieldMissing: a field the mapping needs is empty.
	CodeRequiredFieldMissing = 101
	// CodeInternalError: the message is well formed but cannot be applied.
	CodeInternalError = hl7v2.CodeInternalError // 207
)

// MapError is a mapping failure caused by the message itself (a missing
// segment, an empty required field), located as an ERR segment's ERR-2 (ERL)
// locates it, with the table 0357 condition for ERR-3. Map wraps it; find it
// with errors.As.
type MapError struct {
	Segment string // segment ID, e.g. "PID"
	// Sequence is the segment's occurrence among segments with its ID,
	// 1-based (ERL-2); for a missing segment, the occurrence that is missing.
	Sequence int
	Field    int // field number (ERL-3); 0 when the whole segment is at fault
	Code     int // table 0357
	Reason   string
}

func (e *MapError) Error() string { return e.Reason }

// missingSegment is the error of a message without the n-th segment of the
// given ID that its type needs.
func missingSegment(seg string, n int, format string, args ...any) error {
	return &MapError{Segment: seg, Sequence: n, Code: CodeSegmentSequence, Reason: fmt.Sprintf(format, args...)}
}

// segmentError is an error located at field (0: the whole segment) of s.
func (m *mapper) segmentError(s hl7v2.Segment, field, code int, format string, args ...any) error {
	return &MapError{Segment: s.Name(), Sequence: m.occurrence(s), Field: field, Code: code, Reason: fmt.Sprintf(format, args...)}
}

// occurrence returns the 1-based position of s among the message's segments
// with its ID (ERL-2), or 0 for a segment not in the message. A Segment is a
// view into the message text, so the one at the same address is s.
func (m *mapper) occurrence(s hl7v2.Segment) int {
	raw := s.Raw()
	if len(raw) == 0 {
		return 0
	}
	for i, o := range m.msg.AllSegments(s.Name()) {
		if r := o.Raw(); len(r) > 0 && &r[0] == &raw[0] {
			return i + 1
		}
	}
	return 0
}
