// Package hl7v2 parses and builds HL7 version 2 messages in ER7, the
// pipe-and-hat encoding.
//
// Parse takes one message with any of the CR, LF or CRLF segment
// terminators and an optional UTF-8 byte order mark, decodes it to UTF-8
// once (by a WithCharset override, else MSH-18, else UTF-8 with GB18030 as
// the fallback for text that is not valid UTF-8), and records where each
// segment lies. Nothing else is split or copied until asked for: fields,
// repetitions, components and subcomponents are found with bytes.IndexByte
// when read, and strings are only made by String, Get and the header
// accessors, which also undo escape sequences.
//
//	m, err := hl7v2.Parse(data)
//	family := m.Get("PID-5.1")           // first repetition, component 1
//	second := m.Get("PID-3[2].1")        // second repetition of PID-3
//	value := m.Get("OBX[2]-5")           // second OBX segment
//	code, trigger, structure := m.Type() // MSH-9
//
// Fields are numbered as in the standard: for MSH, field 1 is the field
// separator and field 2 the encoding characters. All indices are 1-based.
//
// SplitBatch, ReadBatch and ParseBatch handle batch files (FHS, BHS, BTS,
// FTS) and files of concatenated messages. Builder writes messages with
// automatic escaping, and Ack builds acknowledgments, with an ERR segment
// from a *ParseError.
//
// Parse never panics on malformed input; its errors are *ParseError values
// locating the problem for an ERR segment.
package hl7v2
