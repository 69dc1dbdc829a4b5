package hl7v2

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// SplitBatch splits a batch file into its messages. It accepts the HL7
// batch protocol (FHS, BHS, messages, BTS, FTS, in any nesting the standard
// allows) and plain files of messages concatenated one after another, each
// starting with MSH, with CR, LF or CRLF terminators and an optional UTF-8
// BOM. Each message is a subslice of data: its original bytes from MSH up
// to the next message or batch segment, terminators included. A file with
// batch headers but no message yields no messages and no error.
//
// SplitBatch is strict: a segment outside a message is an error and no
// message is returned. ReadBatch is its lenient form, which skips such lines
// and also checks the trailer counts. Neither decodes the bytes; this is safe
// for every supported character set because segment boundaries (CR, LF)
// never occur inside a multibyte character. Errors are *ParseError.
func SplitBatch(data []byte) ([][]byte, error) {
	b, err := splitBatch(data, true)
	return b.Messages, err
}

// Batch is a batch file split by ReadBatch.
type Batch struct {
	Messages [][]byte // as SplitBatch returns them
	Lines    []int    // Lines[i] is the 1-based line of the file where Messages[i] starts
	// Warnings are the problems found in the file, in line order: lines
	// outside a message, which were skipped, and trailer counts (BTS-1,
	// FTS-1) that differ from what the file holds, which suggest that
	// messages or batches were lost.
	Warnings []BatchWarning
}

// BatchWarning is a problem in a batch file that does not stop its messages
// from being processed.
type BatchWarning struct {
	Line    int    // 1-based line of the file; CR, LF and CRLF each end a line
	Segment string // segment ID of the line; "" when the line does not start with a valid one
	Reason  string
}

func (w BatchWarning) String() string {
	if w.Segment != "" {
		return fmt.Sprintf("line %d: %s: %s", w.Line, w.Segment, w.Reason)
	}
	return fmt.Sprintf("line %d: %s", w.Line, w.Reason)
}

// ReadBatch splits data as SplitBatch does, except that a line outside a
// message (before the first MSH, or after a batch segment) is skipped with a
// warning instead of failing the whole file, and that it compares each BTS-1
// (batch message count) with the messages of its batch and each FTS-1 (file
// batch count) with the batches of its file, warning when they differ. An
// empty count is not checked. ReadBatch fails only when data holds no
// message and no batch segment; the warnings are returned with that error.
func ReadBatch(data []byte) (Batch, error) {
	return splitBatch(data, false)
}

func splitBatch(data []byte, strict bool) (Batch, error) {
	var (
		b       Batch
		start   = -1 // start of the current message, -1 outside one
		isBatch bool // a batch segment was seen
		seq     int  // non-blank segments so far
		line    = 1
		text    = bytes.TrimPrefix(data, bom)
		base    = len(data) - len(text)
		pos     int
		flushAt = func(end int) {
			if start >= 0 {
				b.Messages = append(b.Messages, data[start:end])
				start = -1
			}
		}
		// Trailer counts: messages since the last BHS or BTS, and BHS and
		// BTS segments since the last FHS.
		batchMsgs, fileMsgs, bhs, bts int
	)
	warn := func(id, format string, args ...any) {
		b.Warnings = append(b.Warnings, BatchWarning{Line: line, Segment: id, Reason: fmt.Sprintf(format, args...)})
	}
	for pos < len(text) {
		end := segmentEnd(text[pos:]) + pos
		seg, at := text[pos:end], base+pos
		if bytes.HasPrefix(seg, bom) { // files concatenated with their BOMs
			seg, at = seg[len(bom):], at+len(bom)
		}
		if len(seg) > 0 && !blank(seg) {
			seq++
			// Header and trailer segments are known by their first three
			// bytes, whatever follows (MSH, FHS and BHS define their own
			// separators); other IDs only serve to name stray lines.
			id := ""
			if len(seg) >= 3 {
				id = string(seg[:3])
			}
			switch {
			case id == "MSH" && len(seg) > 3:
				flushAt(base + pos)
				start = at
				b.Lines = append(b.Lines, line)
				batchMsgs++
				fileMsgs++
			case id == "FHS" || id == "BHS" || id == "BTS" || id == "FTS":
				flushAt(base + pos)
				isBatch = true
				switch id {
				case "FHS":
					batchMsgs, fileMsgs, bhs, bts = 0, 0, 0, 0
				case "BHS":
					batchMsgs = 0
					bhs++
				case "BTS":
					if n, ok, bad := trailerCount(seg); bad {
						warn(id, "BTS-1 (batch message count) is not a number")
					} else if ok && n != batchMsgs {
						warn(id, "BTS-1 says %d messages, the batch holds %d: messages may have been lost", n, batchMsgs)
					}
					batchMsgs = 0
					bts++
				case "FTS":
					// Messages with no BHS or BTS around them form one batch.
					batches := max(bhs, bts)
					if batches == 0 && fileMsgs > 0 {
						batches = 1
					}
					if n, ok, bad := trailerCount(seg); bad {
						warn(id, "FTS-1 (file batch count) is not a number")
					} else if ok && n != batches {
						warn(id, "FTS-1 says %d batches, the file holds %d: batches may have been lost", n, batches)
					}
				}
			case start < 0:
				id = segmentID(seg)
				if strict {
					occ := 0
					if id != "" {
						occ = occurrence(text, pos, id)
					}
					return Batch{}, &ParseError{Segment: id, Sequence: occ, Index: seq, Position: at, Code: CodeSegmentSequence,
						Reason: "segment outside a message (expected MSH, FHS, BHS, BTS or FTS)"}
				}
				warn(id, "not part of a message (expected MSH, FHS, BHS, BTS or FTS): skipped")
			}
		}
		// CRLF ends one line, not two.
		if end < len(text) && (text[end] == '\n' || end+1 == len(text) || text[end+1] != '\n') {
			line++
		}
		pos = end + 1
	}
	flushAt(len(data))
	if len(b.Messages) == 0 && !isBatch {
		return Batch{Warnings: b.Warnings}, &ParseError{Code: CodeSegmentSequence, Reason: "no message (MSH segment) found"}
	}
	return b, nil
}

// segmentID returns the segment ID that seg starts with, or "" when it does
// not start with one: three upper-case letters or digits, then the end or a
// character that cannot be part of an ID (the field separator). Outside a
// message the separator is unknown, and "JUNK" must not pass for a JUN
// segment.
func segmentID(seg []byte) string {
	if len(seg) < 3 || !idChar(seg[0]) || !idChar(seg[1]) || !idChar(seg[2]) ||
		len(seg) > 3 && (idChar(seg[3]) || seg[3] >= 'a' && seg[3] <= 'z') {
		return ""
	}
	return string(seg[:3])
}

// trailerCount reads field 1 of a BTS or FTS segment: ok when it holds a
// count, bad when it holds something else.
func trailerCount(seg []byte) (n int, ok, bad bool) {
	if len(seg) <= 4 {
		return 0, false, false
	}
	f := seg[4:]
	if i := bytes.IndexByte(f, seg[3]); i >= 0 {
		f = f[:i]
	}
	f = bytes.TrimSpace(f)
	if len(f) == 0 {
		return 0, false, false
	}
	n, err := strconv.Atoi(string(f))
	if err != nil || n < 0 {
		return 0, false, true
	}
	return n, true, false
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
