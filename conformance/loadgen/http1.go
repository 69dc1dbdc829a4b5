package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// doer sends one request and checks its status.
type doer interface {
	do(ctx context.Context, method, url string, body []byte, want int) error
	close()
}

// newDoer returns the client one worker uses: a lean HTTP/1.1 connection for http
// targets, net/http for anything else.
func newDoer(base string, shared *http.Client) doer {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return stdDoer{shared}
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	return &http1Conn{addr: host, host: u.Host}
}

type stdDoer struct{ c *http.Client }

func (stdDoer) close() {}

func (d stdDoer) do(ctx context.Context, method, url string, body []byte, want int) error {
	return do(ctx, d.c, method, url, body, want)
}

// http1Conn is a minimal HTTP/1.1 keep-alive client in the manner of wrk: it writes a
// request and reads the status line, the headers it needs and the body, nothing
// more. The load generator shares the two cores with the server it measures, and
// net/http's client costs about as much CPU per request as the server's read
// itself; this one costs a fraction of that, leaving the cores to the server.
type http1Conn struct {
	addr, host string
	nc         net.Conn
	br         *bufio.Reader
	req        []byte
}

func (c *http1Conn) do(ctx context.Context, method, rawURL string, body []byte, want int) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	c.req = c.req[:0]
	c.req = append(c.req, method...)
	c.req = append(c.req, ' ')
	c.req = append(c.req, u.RequestURI()...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: "...)
	c.req = append(c.req, c.host...)
	c.req = append(c.req, "\r\nPrefer: return=minimal\r\n"...)
	if body != nil {
		c.req = append(c.req, "Content-Type: application/fhir+json\r\nContent-Length: "...)
		c.req = strconv.AppendInt(c.req, int64(len(body)), 10)
		c.req = append(c.req, "\r\n"...)
	}
	c.req = append(c.req, "\r\n"...)
	c.req = append(c.req, body...)

	reused := c.nc != nil
	status, err := c.roundTrip(ctx)
	if err != nil && reused && method == http.MethodGet {
		// The server may have closed an idle connection: a read is safe to send again.
		c.close()
		status, err = c.roundTrip(ctx)
	}
	if err != nil {
		c.close()
		return fmt.Errorf("%s %s: %w", method, rawURL, err)
	}
	if status != want {
		return fmt.Errorf("%s %s: status %d", method, rawURL, status)
	}
	return nil
}

func (c *http1Conn) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

func (c *http1Conn) roundTrip(ctx context.Context) (int, error) {
	if c.nc == nil {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return 0, err
		}
		c.nc = nc
		if c.br == nil {
			c.br = bufio.NewReaderSize(nc, 32<<10)
		} else {
			c.br.Reset(nc)
		}
	}
	deadline := time.Now().Add(time.Minute)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		return 0, err
	}
	if _, err := c.nc.Write(c.req); err != nil {
		return 0, err
	}
	status, keepAlive, err := readResponse(c.br)
	if err == nil && !keepAlive {
		c.close()
	}
	return status, err
}

// readResponse reads one response from br, discarding its body, and returns its
// status and whether the connection stays open. After an error the connection is
// unusable.
func readResponse(br *bufio.Reader) (status int, keepAlive bool, err error) {
	for {
		status, keepAlive, err = readOne(br)
		// 1xx responses (100 Continue) are interim: the final one follows.
		if err != nil || status >= 200 {
			return status, keepAlive, err
		}
	}
}

func readOne(br *bufio.Reader) (status int, keepAlive bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	// HTTP/1.0 closes unless asked to keep the connection.
	length, chunked, closing := -1, false, bytes.HasPrefix(line, []byte("HTTP/1.0"))
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		h := bytes.TrimRight(line, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("malformed header %q", h)
		}
		value = bytes.TrimSpace(value)
		switch strings.ToLower(string(name)) {
		case "content-length":
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case "transfer-encoding":
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case "connection":
			for _, tok := range bytes.Split(value, []byte(",")) {
				switch tok = bytes.TrimSpace(tok); {
				case bytes.EqualFold(tok, []byte("close")):
					closing = true
				case bytes.EqualFold(tok, []byte("keep-alive")):
					closing = false
				}
			}
		}
	}
	switch {
	case status == http.StatusNotModified || status == http.StatusNoContent || status < 200:
	case chunked:
		if err := discardChunked(br); err != nil {
			return 0, false, err
		}
	case length >= 0:
		if _, err := br.Discard(length); err != nil {
			return 0, false, err
		}
	default:
		return 0, false, errors.New("response with neither Content-Length nor chunked body")
	}
	return status, !closing, nil
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		sz, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(sz)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			// trailers, then the empty line
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n)); err != nil {
			return err
		}
		if _, err := br.Discard(2); err != nil { // CRLF after the chunk
			return err
		}
	}
}
