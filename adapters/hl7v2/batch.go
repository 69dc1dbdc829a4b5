package hl7v2

import (
	"bytes"
	"errors"
	"fmt"
)

// SplitBatch splits a batch file into its messages. It accepts the HL7
// batch protocol (FHS, BHS, messages, BTS, FTS, in any nesting the standard
// allows) and plain files of messages concatenated one after another, each
// starting with MSH, with CR, LF or CRLF terminators and an optional UTF-8
// BOM. Each message is a subslice of data: its original bytes from MSH up
// to the next message or batch segment, terminators included. A file with
// batch headers but no message yields no messages and no error.
//
// SplitBatch works on the undecoded bytes; this is safe for every supported
// character set because segment boundaries (CR, LF) never occur inside a
// multibyte character. Errors are *ParseError.
func SplitBatch(data []byte) ([][]byte, error) {
	var (
		msgs    [][]byte
		start   = -1 // start of the current message, -1 outside one
		batch   bool // a batch segment was seen
		seq     int
		text    = bytes.TrimPrefix(data, bom)
		base    = len(data) - len(text)
		pos     int
		flushAt = func(end int) {
			if start >= 0 {
				msgs = append(msgs, data[start:end])
				start = -1
			}
		}
	)
	for pos < len(text) {
		end := segmentEnd(text[pos:]) + pos
		line, at := text[pos:end], base+pos
		if bytes.HasPrefix(line, bom) { // files concatenated with their BOMs
			line, at = line[len(bom):], at+len(bom)
		}
		if len(line) > 0 && !blank(line) {
			seq++
			id := ""
			if len(line) >= 3 {
				id = string(line[:3])
			}
			switch {
			case id == "MSH" && len(line) > 3:
				flushAt(base + pos)
				start = at
			case id == "FHS" || id == "BHS" || id == "BTS" || id == "FTS":
				flushAt(base + pos)
				batch = true
			case start < 0:
				occ := 0
				if id != "" {
					occ = occurrence(text, pos, id)
				}
				return nil, &ParseError{Segment: id, Sequence: occ, Index: seq, Position: at, Code: CodeSegmentSequence,
					Reason: "segment outside a message (expected MSH, FHS, BHS, BTS or FTS)"}
			}
		}
		pos = end + 1
	}
	flushAt(len(data))
	if len(msgs) == 0 && !batch {
		return nil, &ParseError{Code: CodeSegmentSequence, Reason: "no message (MSH segment) found"}
	}
	return msgs, nil
}

// ParseBatch splits data with SplitBatch and parses every message with the
// given options. A message that fails to parse is nil in the result and its
// error, wrapped with its 1-based index, is joined into the returned error;
// the other messages are still returned.
func ParseBatch(data []byte, opts ...Option) ([]*Message, error) {
	raws, err := SplitBatch(data)
	if err != nil {
		return nil, err
	}
	msgs := make([]*Message, len(raws))
	var errs []error
	for i, raw := range raws {
		m, err := Parse(raw, opts...)
		if err != nil {
			errs = append(errs, fmt.Errorf("batch message %d: %w", i+1, err))
			continue
		}
		msgs[i] = m
	}
	return msgs, errors.Join(errs...)
}
