package mllp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// ackHandler answers every message with an AA acknowledgement of its control id, built
// by the HL7 v2 library as the gateway does.
func ackHandler(_ context.Context, msg []byte, _ ConnInfo) [][]byte {
	m, err := hl7v2.Parse(msg)
	if err != nil {
		ack, _ := hl7v2.Ack{Code: "AR", ControlID: "NAK", Err: err}.Build(nil)
		return [][]byte{ack}
	}
	ack, err := hl7v2.Ack{Code: "AA", ControlID: "ACK-" + m.ControlID(), Time: time.Now()}.Build(m)
	if err != nil {
		panic(err)
	}
	return [][]byte{ack}
}

func start(t *testing.T, cfg Config, h Handler) (*Server, string) {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = quiet
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(cfg, h)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return s, ln.Addr().String()
}

// withControlID rewrites MSH-10 of a corpus message.
func withControlID(t testing.TB, msg []byte, id string) []byte {
	t.Helper()
	m, err := hl7v2.Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(msg, []byte("MSH"))
	sep := msg[start+3]
	// MSH-10 follows the 9th field separator (the first, right after MSH, is MSH-1).
	pos, n := start+3, 1
	for n < 9 {
		pos++
		if msg[pos] == sep {
			n++
		}
	}
	end := bytes.IndexByte(msg[pos+1:], sep) + pos + 1
	if string(msg[pos+1:end]) != m.ControlID() {
		t.Fatalf("MSH-10 located at %q, expected %q", msg[pos+1:end], m.ControlID())
	}
	out := append([]byte{}, msg[:pos+1]...)
	out = append(out, id...)
	return append(out, msg[end:]...)
}

func ackedControlID(t testing.TB, ack []byte) (code, id string) {
	t.Helper()
	m, err := hl7v2.Parse(ack)
	if err != nil {
		t.Fatalf("ACK does not parse: %v", err)
	}
	return m.Get("MSA-1"), m.Get("MSA-2")
}

func TestConcurrentConnections(t *testing.T) {
	_, addr := start(t, Config{}, ackHandler)
	var msgs [][]byte
	for _, m := range corpus(t) {
		if _, err := hl7v2.Parse(m); err == nil {
			msgs = append(msgs, m)
		}
	}
	const conns, perConn = 20, 50
	// Every message a distinct control id, prepared before any goroutine starts.
	plan := make([][][]byte, conns)
	for c := range conns {
		for i := range perConn {
			plan[c] = append(plan[c], withControlID(t, msgs[(c*perConn+i)%len(msgs)], fmt.Sprintf("C%02dM%03d", c, i)))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(30 * time.Second))
			// Pipeline the messages without waiting for ACKs: the server must still
			// answer strictly in order.
			w, r := NewWriter(nc), NewReader(nc, 0)
			go func() {
				for _, m := range plan[c] {
					if w.WriteMessage(m) != nil {
						return
					}
				}
			}()
			for i := range perConn {
				want := fmt.Sprintf("C%02dM%03d", c, i)
				ack, err := r.ReadMessage()
				if err != nil {
					errs <- fmt.Errorf("conn %d ack %d: %w", c, i, err)
					return
				}
				code, id := ackedControlID(t, ack)
				if code != "AA" || id != want {
					errs <- fmt.Errorf("conn %d ack %d: %s %q, want AA %q", c, i, code, id, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSizeLimit: without Oversize, a message over the limit closes the connection.
func TestSizeLimit(t *testing.T) {
	_, addr := start(t, Config{MaxBytes: 1000}, ackHandler)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	w, r := NewWriter(nc), NewReader(nc, 0)
	small := []byte("MSH|^~\\&|A|B|C|D|20240101||ADT^A01^ADT_A01|OK1|P|2.5\rPID|1||1\r")
	if err := w.WriteMessage(small); err != nil {
		t.Fatal(err)
	}
	ack, err := r.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if _, id := ackedControlID(t, ack); id != "OK1" {
		t.Fatalf("acked %q", id)
	}
	large := append(bytes.Clone(small), bytes.Repeat([]byte("NTE|1||"+string(bytes.Repeat([]byte("x"), 100))+"\r"), 20)...)
	w.WriteMessage(large) // may fail once the server has closed
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if ack, err := r.ReadMessage(); err == nil {
		t.Fatalf("oversized message answered: %q", ack)
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("connection left open after an oversized message")
	}
}

// TestOversize: a message over the limit is answered by Oversize with its first
// MaxBytes bytes, and the connection goes on to the next message.
func TestOversize(t *testing.T) {
	const max = 1000
	var calls []string
	var mu sync.Mutex
	oversize := func(_ context.Context, prefix []byte, size int64, _ ConnInfo) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, fmt.Sprintf("%d/%d", len(prefix), size))
		return [][]byte{append([]byte("too big:"), prefix[:10]...)}
	}
	_, addr := start(t, Config{MaxBytes: max, Oversize: oversize}, ackHandler)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	w, r := NewWriter(nc), NewReader(nc, 0)
	msg := func(id string) []byte {
		return []byte("MSH|^~\\&|A|B|C|D|20240101||ADT^A01^ADT_A01|" + id + "|P|2.5\rPID|1||1\r")
	}
	large := append(msg("BIG"), bytes.Repeat([]byte("NTE|1||"+string(bytes.Repeat([]byte("x"), 1000))+"\r"), 1000)...)
	go func() {
		w.WriteMessage(msg("OK1"))
		w.WriteMessage(large)
		w.WriteMessage(msg("OK2"))
	}()
	for _, want := range []string{"OK1", "too big:MSH|^~\\&|A", "OK2"} {
		reply, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		if bytes.HasPrefix(reply, []byte("too big:")) {
			if string(reply) != want {
				t.Fatalf("reply %q, want %q", reply, want)
			}
			continue
		}
		if _, id := ackedControlID(t, reply); id != want {
			t.Fatalf("acked %q, want %q", id, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := fmt.Sprintf("%d/%d", max, len(large)); len(calls) != 1 || calls[0] != want {
		t.Fatalf("Oversize called with %q, want [%s]", calls, want)
	}
}

// TestOversizeUnended: a message over the limit whose frame never ends closes the
// connection without an answer.
func TestOversizeUnended(t *testing.T) {
	tests := []struct {
		name  string
		idle  time.Duration
		close bool // the sender closes its side instead of waiting
	}{
		{"idle timeout", 200 * time.Millisecond, false},
		{"peer closes", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := make(chan struct{}, 1)
			oversize := func(context.Context, []byte, int64, ConnInfo) [][]byte {
				called <- struct{}{}
				return [][]byte{[]byte("too big")}
			}
			_, addr := start(t, Config{MaxBytes: 100, IdleTimeout: tt.idle, Oversize: oversize}, ackHandler)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := nc.Write([]byte("\x0bMSH|" + string(bytes.Repeat([]byte("x"), 1000)))); err != nil {
				t.Fatal(err)
			}
			if tt.close {
				nc.(*net.TCPConn).CloseWrite()
			}
			if got, err := io.ReadAll(nc); err != nil || len(got) > 0 {
				t.Fatalf("read %q, %v; want the connection closed without an answer", got, err)
			}
			select {
			case <-called:
				t.Fatal("Oversize called for a frame that did not end")
			default:
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	_, addr := start(t, Config{IdleTimeout: 200 * time.Millisecond}, ackHandler)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	begin := time.Now()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = nc.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read on an idle connection: %v, want EOF from the server closing it", err)
	}
	if d := time.Since(begin); d < 150*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}
}

func TestGracefulShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := func(ctx context.Context, msg []byte, ci ConnInfo) [][]byte {
		close(entered)
		<-release
		return ackHandler(ctx, msg, ci)
	}
	s, addr := start(t, Config{}, h)
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := NewWriter(busy).WriteMessage([]byte("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|INFLIGHT|P|2.5\r")); err != nil {
		t.Fatal(err)
	}
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()

	// The idle connection is closed at once; new connections are refused.
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection during shutdown: %v, want EOF", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a message was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := NewReader(busy, 0)
	ack, err := r.ReadMessage()
	if err != nil {
		t.Fatalf("in-flight message not acknowledged: %v", err)
	}
	if _, id := ackedControlID(t, ack); id != "INFLIGHT" {
		t.Fatalf("acked %q", id)
	}
	if _, err := r.ReadMessage(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the in-flight ACK: %v, want EOF", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("new connection accepted after shutdown")
	}
}

// pki is a throw-away CA with server and client certificates.
type pki struct {
	dir              string
	ca               *x509.Certificate
	caKey            *ecdsa.PrivateKey
	caFile           string
	certFile         string
	keyFile          string
	serial           int64
	trustedServerCAs *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.serial = 1
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	p.trustedServerCAs = x509.NewCertPool()
	p.trustedServerCAs.AddCert(p.ca)
	srv := p.issue(t, "127.0.0.1", true, p.ca, p.caKey)
	p.certFile = p.write(t, "server.pem", "CERTIFICATE", srv.Certificate[0])
	kder, _ := x509.MarshalECPrivateKey(srv.PrivateKey.(*ecdsa.PrivateKey))
	p.keyFile = p.write(t, "server.key", "EC PRIVATE KEY", kder)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	f := filepath.Join(p.dir, name)
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// issue makes a certificate for cn signed by parent (self-signed when parent is nil).
func (p *pki) issue(t *testing.T, cn string, server bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	p.serial++
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func TestTLS(t *testing.T) {
	p := newPKI(t)
	alice := p.issue(t, "alice-hospital", false, p.ca, p.caKey)
	bob := p.issue(t, "bob-clinic", false, p.ca, p.caKey)
	selfSigned := p.issue(t, "alice-hospital", false, nil, nil) // same CN, no CA
	none := tls.Certificate{}
	tests := []struct {
		name   string
		opts   TLSOptions
		client tls.Certificate
		ok     bool
		wantCN string
	}{
		{"server TLS only", TLSOptions{}, none, true, ""},
		{"mTLS with CA", TLSOptions{ClientCAFile: p.caFile}, bob, true, "bob-clinic"},
		{"mTLS without a client certificate", TLSOptions{ClientCAFile: p.caFile}, none, false, ""},
		{"mTLS rejects a certificate from another issuer", TLSOptions{ClientCAFile: p.caFile}, selfSigned, false, ""},
		{"allowed by CN", TLSOptions{ClientCAFile: p.caFile, Allow: []string{"cn:alice-hospital"}}, alice, true, "alice-hospital"},
		{"CN not on the list", TLSOptions{ClientCAFile: p.caFile, Allow: []string{"alice-hospital"}}, bob, false, ""},
		{"allowed by fingerprint", TLSOptions{ClientCAFile: p.caFile, Allow: []string{"sha256:" + Fingerprint(bob.Leaf)}}, bob, true, "bob-clinic"},
		{"pinned self-signed", TLSOptions{Allow: []string{Fingerprint(selfSigned.Leaf)}}, selfSigned, true, "alice-hospital"},
		{"pinned list rejects another self-signed", TLSOptions{Allow: []string{Fingerprint(selfSigned.Leaf)}}, p.issue(t, "alice-hospital", false, nil, nil), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.CertFile, opts.KeyFile = p.certFile, p.keyFile
			cfg, err := TLSConfig(opts)
			if err != nil {
				t.Fatal(err)
			}
			var seen ConnInfo
			var mu sync.Mutex
			h := func(ctx context.Context, msg []byte, ci ConnInfo) [][]byte {
				mu.Lock()
				seen = ci
				mu.Unlock()
				return ackHandler(ctx, msg, ci)
			}
			_, addr := start(t, Config{TLS: cfg}, h)
			ccfg := &tls.Config{RootCAs: p.trustedServerCAs, ServerName: "127.0.0.1"}
			if tt.client.Certificate != nil {
				ccfg.Certificates = []tls.Certificate{tt.client}
			}
			nc, err := tls.Dial("tcp", addr, ccfg)
			if err != nil {
				if tt.ok {
					t.Fatalf("dial: %v", err)
				}
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			// With TLS 1.3 a rejected client learns it on its first read.
			werr := NewWriter(nc).WriteMessage([]byte("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|T1|P|2.5\r"))
			ack, rerr := NewReader(nc, 0).ReadMessage()
			if !tt.ok {
				if werr == nil && rerr == nil {
					t.Fatalf("rejected client was answered: %q", ack)
				}
				return
			}
			if werr != nil || rerr != nil {
				t.Fatalf("write %v, read %v", werr, rerr)
			}
			if _, id := ackedControlID(t, ack); id != "T1" {
				t.Fatalf("acked %q", id)
			}
			mu.Lock()
			defer mu.Unlock()
			if !seen.TLS || seen.ClientCN != tt.wantCN {
				t.Fatalf("handler saw %+v, want TLS with CN %q", seen, tt.wantCN)
			}
			if tt.wantCN != "" && seen.ClientFingerprint != Fingerprint(tt.client.Leaf) {
				t.Fatalf("fingerprint %s, want %s", seen.ClientFingerprint, Fingerprint(tt.client.Leaf))
			}
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	p := newPKI(t)
	for _, o := range []TLSOptions{
		{CertFile: p.certFile}, // no key
		{CertFile: p.certFile, KeyFile: p.keyFile, Allow: []string{"cn:x"}}, // CN without CA
		{CertFile: p.certFile, KeyFile: p.keyFile, Allow: []string{"sha256:abcd"}},
		{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: filepath.Join(p.dir, "missing.pem")},
		{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.keyFile}, // no certificate in it
	} {
		if _, err := TLSConfig(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestReplies(t *testing.T) {
	// Enhanced mode: no reply for one message, two (commit and application ACK) for
	// another; each in its own frame, in order, before the next message is read.
	h := func(ctx context.Context, msg []byte, ci ConnInfo) [][]byte {
		switch string(msg) {
		case "none":
			return nil
		case "two":
			return [][]byte{[]byte("commit"), []byte("application")}
		}
		return [][]byte{[]byte("ack:" + string(msg))}
	}
	_, addr := start(t, Config{}, h)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	w, r := NewWriter(nc), NewReader(nc, 0)
	for _, m := range []string{"none", "two", "x"} {
		if err := w.WriteMessage([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"commit", "application", "ack:x"} {
		got, err := r.ReadMessage()
		if err != nil || string(got) != want {
			t.Fatalf("reply %q, %v; want %q", got, err, want)
		}
	}
}

func TestJunkBetweenFramesIsReported(t *testing.T) {
	nc, logs := echoWithLogs(t)
	nc.Write([]byte("PID|secret junk\r\n" + frame("MSH|1")))
	if got, err := NewReader(nc, 0).ReadMessage(); err != nil || string(got) != "MSH|1" {
		t.Fatalf("reply %q, %v", got, err)
	}
	if l := logs(); !bytes.Contains(l, []byte(`"bytes":17`)) {
		t.Fatalf("skipped bytes not reported: %s", l)
	} else if bytes.Contains(l, []byte("secret")) {
		t.Fatal("skipped content logged")
	}
}

// TestJunkLoggedOncePerConnection: whitespace between frames (a line end after each,
// as many senders write) is not reported; other junk is, once per connection.
func TestJunkLoggedOncePerConnection(t *testing.T) {
	nc, logs := echoWithLogs(t)
	r := NewReader(nc, 0)
	for i, in := range []string{
		frame("MSH|1") + "\r\n", frame("MSH|2") + "\n", frame("MSH|3") + " \t\r",
		"junk" + frame("MSH|4"), "more junk" + frame("MSH|5") + "\r\n", frame("MSH|6"),
	} {
		if _, err := nc.Write([]byte(in)); err != nil {
			t.Fatal(err)
		}
		if got, err := r.ReadMessage(); err != nil || string(got) != fmt.Sprintf("MSH|%d", i+1) {
			t.Fatalf("reply %d: %q, %v", i+1, got, err)
		}
	}
	var warned []string
	for _, line := range bytes.Split(bytes.TrimSpace(logs()), []byte("\n")) {
		if bytes.Contains(line, []byte(`"level":"WARN"`)) {
			warned = append(warned, string(line))
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "bytes outside frames discarded") || !strings.Contains(warned[0], `"bytes":7`) {
		t.Fatalf("warnings %q, want one of 7 bytes outside frames", warned)
	}
}

// echoWithLogs starts a server that echoes every message, logging as JSON, and
// connects to it; logs returns what the server has logged so far.
func echoWithLogs(t *testing.T) (nc net.Conn, logs func() []byte) {
	t.Helper()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	_, addr := start(t, Config{Log: log}, func(_ context.Context, msg []byte, _ ConnInfo) [][]byte {
		return [][]byte{msg}
	})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	return nc, func() []byte {
		mu.Lock()
		defer mu.Unlock()
		return bytes.Clone(buf.Bytes())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
