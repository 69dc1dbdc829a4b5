package rest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/ingest"
	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/store"
)

// HL7Base is the path of the HL7 v2 endpoints.
const HL7Base = "/hl7v2"

// ER7Type is the media type of HL7 v2 messages in their pipe-delimited encoding.
const ER7Type = "x-application/hl7-v2+er7"

// HL7Pipeline ingests HL7 v2 messages (ingest.Pipeline).
type HL7Pipeline interface {
	Process(ctx context.Context, in ingest.Inbound) ingest.Outcome
	Replay(ctx context.Context, id string) (ingest.Outcome, error)
	// Charset is the character set the pipeline reads a stored message with.
	Charset(m store.Message) string
}

// maxMessagePage bounds _count of a message listing.
const maxMessagePage = 1000

// hl7Routes serves HL7 v2 over HTTP and the message log:
//
//	POST /hl7v2                          one ER7 message; the answer is its ACK
//	GET  /hl7v2/messages                 received messages, newest first (no content)
//	GET  /hl7v2/messages/{id}            one message with its raw bytes
//	POST /hl7v2/messages/{id}/$replay    run a stored message through the pipeline again
func (s *Server) hl7Routes() {
	g := s.echo.Group(HL7Base)
	g.POST("", s.hl7Route("hl7v2-receive", s.hl7Receive))
	g.GET("/messages", s.hl7Route("hl7v2-list", s.hl7List))
	g.GET("/messages/:id", s.hl7Route("hl7v2-read", s.hl7Read))
	g.POST("/messages/:id/$replay", s.hl7Route("hl7v2-replay", s.hl7Replay))
}

// hl7Route logs one line per request like the FHIR API: never the path, query or body.
func (s *Server) hl7Route(name string, h func(c echo.Context) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := h(c)
		var oe *outcome.Error
		if errors.As(err, &oe) {
			err = writeBody(c, oe.Status, "application/fhir+json", oe.JSON(), false)
		}
		r := c.Request()
		d := time.Since(start)
		status := c.Response().Status
		if s.opts.Metrics != nil {
			s.opts.Metrics.ObserveRequest(name, "", status, d)
		}
		s.opts.Log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("interaction", name),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.Int64("bytes_in", r.ContentLength),
			slog.Int64("bytes_out", c.Response().Size),
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
		)
		return err
	}
}

func (s *Server) hl7Receive(c echo.Context) error {
	r := c.Request()
	in := ingest.Inbound{Channel: "http", Remote: r.RemoteAddr}
	if raw := r.Header.Get("Content-Type"); raw != "" {
		mt, params, err := mime.ParseMediaType(raw)
		if err != nil {
			return outcome.New(http.StatusUnsupportedMediaType, "not-supported", "malformed Content-Type %q", raw)
		}
		if mt != ER7Type && mt != "text/plain" && mt != "application/hl7-v2" {
			return outcome.New(http.StatusUnsupportedMediaType, "not-supported", "send HL7 v2 messages as %s or text/plain, not %q", ER7Type, mt)
		}
		// The charset parameter overrides MSH-18 for this message, as a channel
		// charset does for MLLP.
		if cs := params["charset"]; cs != "" {
			if _, err := hl7v2.LookupCharset(cs); err != nil {
				return outcome.New(http.StatusUnsupportedMediaType, "not-supported", "charset %q is not supported", cs)
			}
			in.Charset = cs
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, s.opts.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return outcome.New(http.StatusRequestEntityTooLarge, "too-costly", "the message is larger than the limit of %d bytes", s.opts.MaxBody)
		}
		return outcome.BadRequest("cannot read the request body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return outcome.BadRequest("the body is empty: send one HL7 v2 message in ER7")
	}
	in.Raw = body
	out := s.opts.HL7.Process(r.Context(), in)
	if out.MessageID != "" {
		c.Response().Header().Set("Content-Location", HL7Base+"/messages/"+out.MessageID)
	}
	// HTTP is synchronous, so the application acknowledgement, when the sender asked
	// for one in enhanced mode, is the better answer than the commit ACK.
	ack := out.ACK
	if out.AppACK != nil {
		ack = out.AppACK
	}
	ct := ER7Type
	if in.Charset != "" {
		ct += "; charset=" + in.Charset
	}
	return c.Blob(http.StatusOK, ct, ack)
}

// messageJSON is a message in a listing: everything but its content.
type messageJSON struct {
	ID        string     `json:"id"`
	Channel   string     `json:"channel"`
	Sender    string     `json:"sender"`
	ControlID string     `json:"controlId"`
	Type      string     `json:"type"`
	EventTime *time.Time `json:"eventTime,omitempty"`
	Received  time.Time  `json:"received"`
	Status    string     `json:"status"`
	Reason    string     `json:"reason,omitempty"`
	Resources []string   `json:"resources"`
	Attempts  int        `json:"attempts"`
	Charset   string     `json:"charset,omitempty"` // the transport's, when it named one
}

// messageDetailJSON adds the content: Raw (base64 in JSON) and, when it can be
// decoded, Text.
type messageDetailJSON struct {
	messageJSON
	Raw  []byte `json:"raw"`
	Text string `json:"text,omitempty"`
}

func toMessageJSON(m store.Message) messageJSON {
	j := messageJSON{ID: m.ID, Channel: m.Channel, Sender: m.Sender, ControlID: m.ControlID, Type: m.Type,
		Received: m.Received.UTC(), Status: m.Status, Reason: m.Reason, Resources: m.Resources, Attempts: m.Attempts, Charset: m.Charset}
	if !m.EventTime.IsZero() {
		t := m.EventTime.UTC()
		j.EventTime = &t
	}
	if j.Resources == nil {
		j.Resources = []string{}
	}
	return j
}

type messageListJSON struct {
	Messages []messageJSON `json:"messages"`
	// Next is the URL of the following page, absent on the last.
	Next string `json:"next,omitempty"`
}

func (s *Server) hl7List(c echo.Context) error {
	q, err := messageQuery(c.Request().URL.Query())
	if err != nil {
		return err
	}
	page, lerr := s.opts.Messages.ListMessages(c.Request().Context(), q)
	if lerr != nil {
		return outcome.New(http.StatusInternalServerError, "exception", "listing messages failed")
	}
	out := messageListJSON{Messages: make([]messageJSON, 0, len(page.Messages))}
	for _, m := range page.Messages {
		out.Messages = append(out.Messages, toMessageJSON(m))
	}
	if page.Next != 0 {
		v := c.Request().URL.Query()
		v.Set("_page", strconv.FormatInt(page.Next, 10))
		out.Next = HL7Base + "/messages?" + v.Encode()
	}
	return c.JSON(http.StatusOK, out)
}

// messageQuery reads the listing parameters; unknown ones are refused so that a typo
// does not silently list everything.
func messageQuery(v url.Values) (store.MessageQuery, *outcome.Error) {
	var q store.MessageQuery
	for name := range v {
		switch name {
		case "status", "sender", "type", "channel", "controlId", "superseded", "since", "until", "_count", "_page":
		default:
			return q, outcome.BadRequest("unknown parameter %q (known: status, sender, type, channel, controlId, superseded, since, until, _count, _page)", name)
		}
	}
	q.Status, q.Sender, q.Type, q.Channel = v.Get("status"), v.Get("sender"), v.Get("type"), v.Get("channel")
	q.ControlID = v.Get("controlId") // every copy of one message
	if q.Status != "" && !store.ValidMessageStatus(q.Status) {
		return q, outcome.BadRequest("status %q is not one of applied, error, rejected, duplicate", q.Status)
	}
	// superseded=false: the error queue without the failures a later copy solved.
	if s := v.Get("superseded"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, outcome.BadRequest("superseded must be true or false, got %q", s)
		}
		q.Superseded = &b
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if s := v.Get(p.name); s != "" {
			t, err := parseInstant(s)
			if err != nil {
				return q, outcome.BadRequest("%s: %v", p.name, err)
			}
			*p.dst = t
		}
	}
	if s := v.Get("_count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, outcome.BadRequest("_count must be a positive integer, got %q", s)
		}
		q.Count = min(n, maxMessagePage)
	}
	if s := v.Get("_page"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return q, outcome.BadRequest("_page %q is not a page of this listing", s)
		}
		q.Before = n
	}
	return q, nil
}

// parseInstant accepts an RFC 3339 instant or a date (midnight UTC).
func parseInstant(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("expected an instant such as 2024-05-01T08:00:00+08:00 or a date 2024-05-01")
}

func (s *Server) hl7Read(c echo.Context) error {
	m, err := s.opts.Messages.ReadMessage(c.Request().Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return outcome.NotFound("no message with that id")
	}
	if err != nil {
		return outcome.New(http.StatusInternalServerError, "exception", "reading the message failed")
	}
	return c.JSON(http.StatusOK, messageDetailJSON{messageJSON: toMessageJSON(m), Raw: m.Raw, Text: s.messageText(m)})
}

// messageText decodes a stored message to UTF-8 text as the pipeline reads it.
func (s *Server) messageText(m store.Message) string {
	cs := m.Charset
	if s.opts.HL7 != nil {
		cs = s.opts.HL7.Charset(m)
	}
	return messageText(m.Raw, cs)
}

// messageText decodes a message to UTF-8 text as the parser does (charset, else MSH-18
// or detection); empty when that fails or would lose characters.
func messageText(raw []byte, charset string) string {
	var opts []hl7v2.Option
	if charset != "" {
		opts = append(opts, hl7v2.WithCharset(charset))
	}
	if msg, err := hl7v2.Parse(raw, opts...); err == nil && !msg.Lossy() {
		return string(msg.Bytes())
	}
	if utf8.Valid(raw) {
		return string(raw)
	}
	return ""
}

// outcomeJSON is the result of a replay.
type outcomeJSON struct {
	MessageID string `json:"messageId"`
	Status    string `json:"status"`
	Code      string `json:"code"`
	AppCode   string `json:"appCode,omitempty"`
	Reason    string `json:"reason,omitempty"`
	ACK       string `json:"ack"`
}

func (s *Server) hl7Replay(c echo.Context) error {
	out, err := s.opts.HL7.Replay(c.Request().Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return outcome.NotFound("no message with that id")
	}
	if err != nil {
		return outcome.New(http.StatusInternalServerError, "exception", "reading the message to replay failed")
	}
	return c.JSON(http.StatusOK, outcomeJSON{MessageID: out.MessageID, Status: out.Status, Code: out.Code,
		AppCode: out.AppCode, Reason: out.Reason, ACK: messageText(out.ACK, "")})
}
