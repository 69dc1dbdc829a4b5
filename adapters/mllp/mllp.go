// Package mllp implements the Minimal Lower Layer Protocol that carries HL7 v2 over TCP:
// each message travels in a frame 0x0B <message> 0x1C 0x0D. It provides a frame Reader
// and Writer and a Server that hands each message to a Handler and writes back the
// acknowledgement it returns, strictly in order on each connection.
package mllp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Frame delimiters.
const (
	StartBlock byte = 0x0B // VT
	EndBlock   byte = 0x1C // FS
	CR         byte = 0x0D
)

// DefaultMaxBytes bounds a message unless the Reader is told otherwise.
const DefaultMaxBytes = 16 << 20

// ErrTooLarge is returned when a message (or the junk before one) exceeds the limit.
// When the frame is complete the error is a *TooLargeError and reading can go on;
// otherwise the stream cannot be resynchronised reliably: close the connection.
var ErrTooLarge = errors.New("mllp: message larger than the limit")

// TooLargeError reports a complete frame whose message exceeds the limit. ReadMessage
// returns it with the first max bytes of the message; the rest was read and dropped
// without being kept, so the stream is at the next frame.
type TooLargeError struct {
	Size int64 // the whole message's length, without the frame
	Max  int   // the limit
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("mllp: message of %d bytes larger than the limit of %d", e.Size, e.Max)
}

// Is makes a TooLargeError match ErrTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// ErrFraming is returned when an end block is not followed by a carriage return.
var ErrFraming = errors.New("mllp: end block 0x1C not followed by 0x0D")

// Reader reads framed messages from a stream.
//
// It is tolerant in the way most receivers are: bytes outside a frame (line feeds a
// sender appends, garbage after a reconnect) are skipped, and a start block inside a
// frame abandons the partial frame before it (the sender evidently restarted). Skipped
// bytes are not silently lost: Skipped reports how many were dropped before the
// message last returned, so the caller can log it. A message over the limit is cut to
// it, the rest of its frame dropped as it streams by (see TooLargeError).
type Reader struct {
	br      *bufio.Reader
	max     int
	skipped int
	buf     []byte
}

// NewReader returns a Reader of messages of at most max bytes (DefaultMaxBytes when
// max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxBytes
	}
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Skipped returns the number of bytes discarded (outside frames, or abandoned partial
// frames) by the last call to ReadMessage. A gap between frames of nothing but
// whitespace (CR, LF, space, tab), such as the line end many senders write after each
// frame, is not counted: it is not worth reporting.
func (r *Reader) Skipped() int { return r.skipped }

// ReadMessage returns the next message, without its frame. The slice is valid until the
// next call. At the end of the stream between frames it returns io.EOF; inside a frame,
// io.ErrUnexpectedEOF. A complete message over the limit is returned cut to the limit,
// with a *TooLargeError.
func (r *Reader) ReadMessage() ([]byte, error) {
	r.skipped = 0
	if err := r.skipToStart(); err != nil {
		return nil, err
	}
	r.buf = r.buf[:0]
	var size int64 // the message's bytes so far, kept or not
	for {
		chunk, err := r.br.ReadSlice(EndBlock)
		if i := bytes.LastIndexByte(chunk, StartBlock); i >= 0 {
			// A new frame started before this one ended: drop the partial frame.
			r.skipped += int(size) + i + 1 // the abandoned bytes and its start block
			r.buf, size = r.buf[:0], 0
			chunk = chunk[i+1:]
		}
		body := chunk
		if err == nil {
			body = chunk[:len(chunk)-1]
		}
		if err == nil || errors.Is(err, bufio.ErrBufferFull) {
			// Keep no more than the limit: the rest only counts.
			r.buf = append(r.buf, body[:min(len(body), r.max-len(r.buf))]...)
			size += int64(len(body))
		}
		switch {
		case err == nil:
			c, err := r.br.ReadByte()
			if err != nil {
				return nil, r.unended(size, unexpected(err))
			}
			if c != CR {
				return nil, fmt.Errorf("%w (got 0x%02X)", ErrFraming, c)
			}
			if size > int64(r.max) {
				return r.buf, &TooLargeError{Size: size, Max: r.max}
			}
			return r.buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
		default:
			return nil, r.unended(size, unexpected(err))
		}
	}
}

// unended returns err, which ended the stream inside a frame, marked ErrTooLarge
// when the message was already over the limit.
func (r *Reader) unended(size int64, err error) error {
	if size > int64(r.max) {
		return fmt.Errorf("%w (%d bytes, the frame did not end): %w", ErrTooLarge, size, err)
	}
	return err
}

// skipToStart consumes bytes up to and including the next start block.
func (r *Reader) skipToStart() error {
	n, junk := 0, false
	for {
		chunk, err := r.br.ReadSlice(StartBlock)
		if err == nil {
			chunk = chunk[:len(chunk)-1]
		}
		n += len(chunk)
		junk = junk || len(bytes.TrimLeft(chunk, " \t\r\n")) > 0
		if junk {
			r.skipped = n // nothing was skipped before the gap
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
			if n > r.max {
				return ErrTooLarge
			}
		default:
			return err
		}
	}
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Writer writes framed messages.
type Writer struct {
	bw *bufio.Writer
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{bw: bufio.NewWriter(w)} }

// WriteMessage writes msg in one frame and flushes it.
func (w *Writer) WriteMessage(msg []byte) error {
	w.bw.WriteByte(StartBlock)
	w.bw.Write(msg)
	w.bw.WriteByte(EndBlock)
	w.bw.WriteByte(CR)
	return w.bw.Flush()
}

// AppendFrame appends msg in a frame to dst.
func AppendFrame(dst, msg []byte) []byte {
	dst = append(dst, StartBlock)
	dst = append(dst, msg...)
	return append(dst, EndBlock, CR)
}
