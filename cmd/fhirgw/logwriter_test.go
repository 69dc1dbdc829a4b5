package main

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the writer's flushing goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogWriter(t *testing.T) {
	var out syncBuffer
	lw := newLogWriter(&out, time.Hour) // no periodic flush within the test
	log := newLogger(lw, "info").With("component", "test")
	log.Info("request", "status", 200)
	if s := out.String(); s != "" {
		t.Fatalf("an info line was written at once: %q", s)
	}
	log.Warn("store slow")
	s := out.String()
	if !strings.Contains(s, `"msg":"request"`) || !strings.Contains(s, `"msg":"store slow"`) || !strings.Contains(s, `"component":"test"`) {
		t.Fatalf("a warning did not flush the buffered lines: %q", s)
	}
	log.Info("last")
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"msg":"last"`) {
		t.Fatalf("Close did not flush: %q", out.String())
	}
}

// failingOnce fails its first write.
type failingOnce struct {
	syncBuffer
	failed bool
}

func (f *failingOnce) Write(p []byte) (int, error) {
	if !f.failed {
		f.failed = true
		return 0, errors.New("disk full")
	}
	return f.syncBuffer.Write(p)
}

// One failed write loses the lines it held, not every later line.
func TestLogWriterRecovers(t *testing.T) {
	out := &failingOnce{}
	lw := newLogWriter(out, time.Hour)
	log := newLogger(lw, "info")
	log.Warn("lost") // its flush fails
	log.Warn("kept")
	if s := out.String(); strings.Contains(s, `"lost"`) || !strings.Contains(s, `"msg":"kept"`) {
		t.Fatalf("after a failed write: %q", s)
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	log.Info("after close")
	if !strings.Contains(out.String(), `"msg":"after close"`) {
		t.Fatalf("a line logged after Close was not written: %q", out.String())
	}
}
