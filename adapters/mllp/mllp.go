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
// The stream cannot be resynchronised reliably afterwards: close the connection.
var ErrTooLarge = errors.New("mllp: message larger than the limit")

// ErrFraming is returned when an end block is not followed by a carriage return.
var ErrFraming = errors.New("mllp: end block 0x1C not followed by 0x0D")

// Reader reads framed messages from a stream.
//
// It is tolerant in the way most receivers are: bytes outside a frame (line feeds a
// sender appends, garbage after a reconnect) are skipped, and a start block inside a
// frame abandons the partial frame before it (the sender evidently restarted). Skipped
// bytes are not silently lost: Skipped reports how many were dropped before the
// message last returned, so the caller can log it.
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
// frames) by the last call to ReadMessage.
func (r *Reader) Skipped() int { return r.skipped }

// ReadMessage returns the next message, without its frame. The slice is valid until the
// next call. At the end of the stream between frames it returns io.EOF; inside a frame,
// io.ErrUnexpectedEOF.
func (r *Reader) ReadMessage() ([]byte, error) {
	r.skipped = 0
	if err := r.skipToStart(); err != nil {
		return nil, err
	}
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice(EndBlock)
		if i := bytes.LastIndexByte(chunk, StartBlock); i >= 0 {
			// A new frame started before this one ended: drop the partial frame.
			r.skipped += len(r.buf) + i + 1 // the abandoned bytes and its start block
			r.buf = r.buf[:0]
			chunk = chunk[i+1:]
		}
		switch {
		case err == nil:
			body := chunk[:len(chunk)-1]
			if len(r.buf)+len(body) > r.max {
				return nil, ErrTooLarge
			}
			r.buf = append(r.buf, body...)
			c, err := r.br.ReadByte()
			if err != nil {
				return nil, unexpected(err)
			}
			if c != CR {
				return nil, fmt.Errorf("%w (got 0x%02X)", ErrFraming, c)
			}
			return r.buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(r.buf)+len(chunk) > r.max {
				return nil, ErrTooLarge
			}
			r.buf = append(r.buf, chunk...)
		default:
			return nil, unexpected(err)
		}
	}
}

// skipToStart consumes bytes up to and including the next start block.
func (r *Reader) skipToStart() error {
	for {
		chunk, err := r.br.ReadSlice(StartBlock)
		if err == nil {
			r.skipped += len(chunk) - 1
			return nil
		}
		r.skipped += len(chunk)
		if errors.Is(err, bufio.ErrBufferFull) {
			if r.skipped > r.max {
				return ErrTooLarge
			}
			continue
		}
		return err
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
