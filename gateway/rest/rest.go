// Package rest serves the gateway over HTTP with Echo: the FHIR R4 RESTful API under
// /fhir, and the operational endpoints /healthz, /readyz and /metrics. It only translates
// between HTTP and interaction.Request/Response; FHIR semantics live in interaction.
package rest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shch/fhirgw/gateway/fhirjson"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/metrics"
	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/store"
)

// Base is the path the FHIR API is served under.
const Base = "/fhir"

// DefaultMaxBody bounds request bodies unless Options says otherwise.
const DefaultMaxBody = 16 << 20

// Pinger reports whether the store can serve requests (for /readyz).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options configure the HTTP server.
type Options struct {
	// BaseURL is the public FHIR base for Location headers, e.g. http://host:8080/fhir.
	BaseURL  string
	MaxBody  int64
	Log      *slog.Logger
	Metrics  *metrics.Metrics
	Gatherer prometheus.Gatherer
	Store    Pinger
	// HL7 and Messages, when both set, serve HL7 v2 under /hl7v2 (see hl7.go).
	HL7      HL7Pipeline
	Messages store.MessageReader
}

// Server is the HTTP front of the gateway.
type Server struct {
	svc  *interaction.Service
	opts Options
	echo *echo.Echo
}

// New builds the routes.
func New(svc *interaction.Service, opts Options) *Server {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{svc: svc, opts: opts, echo: e}
	e.HTTPErrorHandler = s.httpError
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.ready)
	if opts.Gatherer != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{})))
	}
	if opts.HL7 != nil && opts.Messages != nil {
		s.hl7Routes()
	}
	e.Any(Base, s.fhir)
	e.Any(Base+"/*", s.fhir)
	return s
}

// Handler returns the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.echo }

func (s *Server) ready(c echo.Context) error {
	if s.opts.Store == nil {
		return c.String(http.StatusOK, "ok\n")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.opts.Store.Ping(ctx); err != nil {
		s.opts.Log.WarnContext(ctx, "readiness check failed", "err", err)
		return c.String(http.StatusServiceUnavailable, "store unreachable\n")
	}
	return c.String(http.StatusOK, "ok\n")
}

// httpError answers errors Echo raises itself (for example a route that does not exist).
func (s *Server) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
	}
	oe := outcome.New(status, "exception", "%s", http.StatusText(status))
	if status == http.StatusNotFound {
		oe = outcome.NotFound("no such endpoint: the FHIR API is under %s", Base)
	}
	_ = writeBody(c, status, "application/fhir+json", oe.JSON(), false)
}

func (s *Server) fhir(c echo.Context) error {
	start := time.Now()
	r := c.Request()
	resp := s.serve(c)
	s.write(c, r, resp)
	d := time.Since(start)
	if s.opts.Metrics != nil {
		s.opts.Metrics.ObserveRequest(resp.Interaction, resp.ResourceType, resp.Status, d)
	}
	// One line per request; never the path or query, which can carry identifiers.
	s.opts.Log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("interaction", resp.Interaction),
		slog.String("resource_type", resp.ResourceType),
		slog.Int("status", resp.Status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int64("bytes_in", r.ContentLength),
		slog.Int("bytes_out", len(resp.Body)),
		slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
	)
	return nil
}

// serve turns the HTTP request into an interaction and runs it.
func (s *Server) serve(c echo.Context) *interaction.Response {
	r := c.Request()
	if e := negotiate(r); e != nil {
		return fail(e)
	}
	req := &interaction.Request{
		Method:      r.Method,
		Path:        strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, Base), "/"),
		Query:       r.URL.Query(),
		IfMatch:     r.Header.Get("If-Match"),
		IfNoneMatch: r.Header.Get("If-None-Match"),
		IfNoneExist: r.Header.Get("If-None-Exist"),
		Prefer:      r.Header.Get("Prefer"),
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil {
			req.IfModifiedSince = t
		}
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, s.opts.MaxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return fail(outcome.New(http.StatusRequestEntityTooLarge, "too-costly", "the body is larger than the limit of %d bytes", s.opts.MaxBody))
			}
			return fail(outcome.BadRequest("cannot read the request body: %v", err))
		}
		req.Body = body
		ct, e := contentType(r, req.Path)
		if e != nil {
			return fail(e)
		}
		req.ContentType = ct
	}
	return s.svc.Handle(r.Context(), req)
}

func fail(e *outcome.Error) *interaction.Response {
	return &interaction.Response{Status: e.Status, Body: e.JSON(), Outcome: true, Interaction: "invalid"}
}

func (s *Server) write(c echo.Context, r *http.Request, resp *interaction.Response) {
	h := c.Response().Header()
	if resp.ETag != "" {
		h.Set("ETag", resp.ETag)
	}
	if !resp.LastModified.IsZero() {
		h.Set("Last-Modified", resp.LastModified.UTC().Format(http.TimeFormat))
	}
	if resp.Location != "" {
		h.Set("Location", s.opts.BaseURL+"/"+resp.Location)
		if resp.Status == http.StatusOK || resp.Status == http.StatusCreated {
			h.Set("Content-Location", s.opts.BaseURL+"/"+resp.Location)
		}
	}
	body := resp.Body
	if isWrite(r.Method) && !resp.Outcome && resp.Status < 300 && len(body) > 0 && resp.Interaction != "batch-transaction" {
		switch interaction.PreferReturn(r.Header.Get("Prefer")) {
		case "minimal":
			body = nil
		case "OperationOutcome":
			body = outcome.Resource(outcome.Issue{Severity: "information", Code: "informational", Diagnostics: "the " + resp.Interaction + " succeeded"})
		}
	}
	if resp.Status == http.StatusNotModified || resp.Status == http.StatusNoContent || r.Method == http.MethodHead {
		c.Response().WriteHeader(resp.Status)
		return
	}
	pretty := r.URL.Query().Get("_pretty") == "true"
	_ = writeBody(c, resp.Status, responseType(r), body, pretty)
}

func writeBody(c echo.Context, status int, ct string, body []byte, pretty bool) error {
	if len(body) == 0 {
		return c.NoContent(status)
	}
	if pretty {
		body = fhirjson.Pretty(body)
	}
	return c.Blob(status, ct+"; charset=utf-8", body)
}

func isWrite(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// jsonTypes are the media types the server reads and writes.
var jsonTypes = map[string]bool{"application/fhir+json": true, "application/json": true, "application/json+fhir": true, "json": true}

var xmlTypes = map[string]bool{"application/fhir+xml": true, "application/xml": true, "text/xml": true, "application/xml+fhir": true, "xml": true}

// negotiate checks that the client accepts JSON (406 otherwise) through _format or Accept.
func negotiate(r *http.Request) *outcome.Error {
	if f := r.URL.Query().Get("_format"); f != "" {
		mt, _, err := mime.ParseMediaType(f)
		if err != nil {
			mt = f
		}
		if jsonTypes[mt] {
			return nil
		}
		return outcome.New(http.StatusNotAcceptable, "not-supported", "_format %q is not supported: this server speaks FHIR JSON only (XML is not supported yet)", f)
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		return nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if params["q"] == "0" {
			continue
		}
		if jsonTypes[mt] || mt == "*/*" || mt == "application/*" {
			if v, ok := params["fhirversion"]; ok && !fhirVersionOK(v) {
				continue
			}
			return nil
		}
	}
	return outcome.New(http.StatusNotAcceptable, "not-supported", "cannot answer in %q: this server speaks FHIR JSON (application/fhir+json) only", accept)
}

func fhirVersionOK(v string) bool { return v == "4.0" || v == "4.0.1" }

// contentType checks the media type of a request body (415 otherwise).
func contentType(r *http.Request, path string) (string, *outcome.Error) {
	raw := r.Header.Get("Content-Type")
	if raw == "" {
		return "application/fhir+json", nil
	}
	mt, params, err := mime.ParseMediaType(raw)
	if err != nil {
		return "", outcome.New(http.StatusUnsupportedMediaType, "not-supported", "malformed Content-Type %q", raw)
	}
	if v, ok := params["fhirversion"]; ok && !fhirVersionOK(v) {
		return "", outcome.New(http.StatusUnsupportedMediaType, "not-supported", "fhirVersion %q is not supported: this is an R4 (4.0) server", v)
	}
	switch {
	case jsonTypes[mt]:
		// FHIR JSON is UTF-8 (RFC 8259); a body declared in another charset (GBK from
		// a Chinese HIS, say) is refused as such rather than failing later as invalid text.
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
			return "", outcome.New(http.StatusUnsupportedMediaType, "not-supported", "charset %q is not supported: FHIR JSON is UTF-8; convert the body to UTF-8", cs)
		}
		return "application/fhir+json", nil
	case mt == "application/json-patch+json" && r.Method == http.MethodPatch:
		return mt, nil
	case mt == "application/x-www-form-urlencoded" && r.Method == http.MethodPost && strings.HasSuffix(path, "_search"):
		return mt, nil
	case xmlTypes[mt]:
		return "", outcome.New(http.StatusUnsupportedMediaType, "not-supported", "XML bodies are not supported yet; send application/fhir+json")
	}
	return "", outcome.New(http.StatusUnsupportedMediaType, "not-supported", "unsupported Content-Type %q", mt)
}

// responseType answers application/json to clients that asked for exactly that.
func responseType(r *http.Request) string {
	if f := r.URL.Query().Get("_format"); f == "application/json" || f == "json" && r.Header.Get("Accept") == "application/json" {
		return "application/json"
	}
	if r.Header.Get("Accept") == "application/json" {
		return "application/json"
	}
	return "application/fhir+json"
}
