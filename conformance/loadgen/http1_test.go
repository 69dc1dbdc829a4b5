package loadgen

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The lean client must agree with net/http's server on every way a response ends:
// Content-Length, chunked, no body, and a closed connection.
func TestHTTP1Conn(t *testing.T) {
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, r.Method+" "+r.URL.RequestURI()+" "+string(b))
		switch r.URL.Path {
		case "/fhir/chunked":
			w.WriteHeader(http.StatusOK)
			for range 3 {
				io.WriteString(w, strings.Repeat("x", 5000))
				w.(http.Flusher).Flush()
			}
		case "/fhir/created":
			w.Header().Set("Content-Length", "2")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "{}")
		case "/fhir/gone":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusGone)
		case "/fhir/same":
			w.WriteHeader(http.StatusNotModified)
		default:
			io.WriteString(w, "ok")
		}
	}))
	defer srv.Close()
	c := newDoer(srv.URL+"/fhir", srv.Client()).(*http1Conn)
	defer c.close()
	ctx := context.Background()
	steps := []struct {
		method, path string
		body         string
		want         int
		wantErr      bool
	}{
		{"GET", "/chunked", "", 200, false},
		{"POST", "/created", `{"a":1}`, 201, false},
		{"GET", "/same", "", 304, false},
		{"GET", "/plain?x=1", "", 200, false},
		{"GET", "/gone", "", 410, false},
		{"GET", "/plain", "", 200, false}, // after the server closed: a new connection
		{"GET", "/plain", "", 201, true},  // a status other than wanted is an error
	}
	for _, s := range steps {
		var body []byte
		if s.body != "" {
			body = []byte(s.body)
		}
		err := c.do(ctx, s.method, srv.URL+"/fhir"+s.path, body, s.want)
		if (err != nil) != s.wantErr {
			t.Fatalf("%s %s: err %v, want error %v", s.method, s.path, err, s.wantErr)
		}
	}
	if got := bodies[1]; got != `POST /fhir/created {"a":1}` {
		t.Errorf("server saw %q", got)
	}
	if got := bodies[3]; got != "GET /fhir/plain?x=1 " {
		t.Errorf("server saw %q", got)
	}
	if len(bodies) != len(steps) {
		t.Errorf("server saw %d requests, want %d (none repeated)", len(bodies), len(steps))
	}
}

func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\n\r\n",
		"HTTP/1.1 410 Gone\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.0 20",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		status, _, err := readResponse(bufio.NewReader(strings.NewReader(string(b))))
		if err == nil && (status < 0 || status > 999) {
			t.Fatalf("status %d accepted", status)
		}
	})
}

func TestReadResponse(t *testing.T) {
	for _, tc := range []struct {
		in        string
		status    int
		keepAlive bool
	}{
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", 201, true},
		{"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 200, false},
		{"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", 200, true},
		{"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", 200, false},
		{"HTTP/1.1 204 No Content\r\n\r\n", 204, true},
	} {
		status, keepAlive, err := readResponse(bufio.NewReader(strings.NewReader(tc.in)))
		if err != nil || status != tc.status || keepAlive != tc.keepAlive {
			t.Errorf("%q: %d %v %v, want %d %v", tc.in, status, keepAlive, err, tc.status, tc.keepAlive)
		}
	}
}
