// Package fhirtest starts a complete gateway over a real store for end-to-end tests:
// the embedded SQLite store in a temporary directory, or PostgreSQL in a fresh database.
package fhirtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shch/fhirgw/gateway/app"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/pgtest"
	"github.com/shch/fhirgw/gateway/store/postgres"
	"github.com/shch/fhirgw/gateway/store/sqlite"
)

// Stores are the store kinds every end-to-end test runs against.
var Stores = []string{"sqlite", "postgres"}

// Server is a running gateway.
type Server struct {
	t     testing.TB
	URL   string // the FHIR base, e.g. http://127.0.0.1:34567/fhir
	Root  string // the server root, for /healthz and /metrics
	Store store.Store
	HTTP  *http.Client
}

// Options adjust the gateway under test.
type Options struct {
	MaxBody int64
}

// Start runs a gateway on a new, empty store of the given kind until the test ends.
func Start(t testing.TB, kind string, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx := context.Background()
	var st interface {
		store.Store
		Migrate(context.Context) error
	}
	switch kind {
	case "sqlite":
		s, err := sqlite.Open(ctx, t.TempDir())
		if err != nil {
			t.Fatalf("open sqlite store: %v", err)
		}
		st = s
	case "postgres":
		s, err := postgres.Open(ctx, pgtest.NewDatabase(t))
		if err != nil {
			t.Fatalf("open postgres store: %v", err)
		}
		st = s
	default:
		t.Fatalf("unknown store kind %q", kind)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s store: %v", kind, err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	base := srv.URL + "/fhir"
	gw := app.New(st, app.Options{BaseURL: base, MaxBody: o.MaxBody, Version: "test", ParamPoll: 200 * time.Millisecond,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	srv.Config.Handler = gw.Handler()
	gctx, stop := context.WithCancel(context.Background())
	if err := gw.Start(gctx); err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(func() {
		stop()
		srv.Close()
		_ = st.Close()
	})
	return &Server{t: t, URL: base, Root: srv.URL, Store: st, HTTP: srv.Client()}
}

// Response is what the server answered.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r *Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("response body is not JSON (%v): %s", err, r.Body)
	}
	return m
}

// Do sends a request to a path under the FHIR base (or an absolute URL). header holds
// pairs of names and values.
func (s *Server) Do(method, path string, body []byte, header ...string) *Response {
	s.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = s.URL + "/" + strings.TrimPrefix(path, "/")
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Must sends a request and fails the test unless the status is want.
func (s *Server) Must(want int, method, path string, body []byte, header ...string) *Response {
	s.t.Helper()
	r := s.Do(method, path, body, header...)
	if r.Status != want {
		s.t.Fatalf("%s %s: status %d, want %d; body: %.800s", method, path, r.Status, want, r.Body)
	}
	return r
}
