package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logWriter buffers log lines and writes them out every interval, when the buffer
// is full, after a warning or an error, and on Close. A server writes one line per
// request; writing each with its own system call cost about 4% of the CPU of a
// read, and a line reaches the log at most one interval late. What must not be
// lost is in the store, not in the log.
type logWriter struct {
	mu     sync.Mutex
	out    io.Writer
	buf    []byte
	closed bool // after Close every line is written at once
	stop   chan struct{}
	done   chan struct{}
}

// logBuffer is how much is held before it is written out regardless.
const logBuffer = 64 << 10

func newLogWriter(w io.Writer, every time.Duration) *logWriter {
	l := &logWriter{out: w, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				_ = l.Flush()
			}
		}
	}()
	return l
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if l.closed || len(l.buf) >= logBuffer {
		if err := l.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes out what is buffered.
func (l *logWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flush()
}

// flush writes the buffer out; l.mu is held. The buffer is emptied even when
// the write fails, so that one failure (a full disk, a blocked pipe) loses those
// lines but not every later one, as a sticky bufio.Writer error would.
func (l *logWriter) flush() error {
	if len(l.buf) == 0 {
		return nil
	}
	_, err := l.out.Write(l.buf)
	l.buf = l.buf[:0]
	return err
}

// Close stops the periodic flush and flushes; later lines (from work still
// ending) are written at once.
func (l *logWriter) Close() error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return l.flush()
}

// flushingHandler flushes its logWriter after every record at warning level or
// above, so that trouble is in the log at once.
type flushingHandler struct {
	slog.Handler
	w *logWriter
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(as), h.w}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.w}
}
