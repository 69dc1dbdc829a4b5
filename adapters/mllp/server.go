package mllp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ConnInfo describes the connection a message came in on.
type ConnInfo struct {
	Remote string // the peer's address
	// TLS is set on TLS connections; ClientCN and ClientFingerprint describe the client
	// certificate when one was presented (fingerprint: SHA-256 of the DER, lower hex).
	TLS               bool
	ClientCN          string
	ClientFingerprint string
}

// Handler processes one message and returns the replies to send back, each in its own
// frame, in order: usually one acknowledgement; in enhanced mode possibly none (MSH-15
// NE) or a commit ACK followed by an application ACK. Messages on one connection are
// handled one at a time, in order, the next read only after the replies are written;
// ctx is cancelled only when the server is closed forcibly, not on a graceful shutdown.
type Handler func(ctx context.Context, msg []byte, conn ConnInfo) [][]byte

// OversizeHandler answers a message over the size limit, as Handler answers the
// others: prefix is its first MaxBytes bytes, size its whole length. The rest of the
// message was read and dropped, not kept, so that a sender gets an answer (and stops
// resending) without the server holding an unbounded message.
type OversizeHandler func(ctx context.Context, prefix []byte, size int64, conn ConnInfo) [][]byte

// Default limits.
const (
	DefaultIdleTimeout  = 5 * time.Minute
	DefaultWriteTimeout = 30 * time.Second
)

// Config configures a Server.
type Config struct {
	// TLS, when set, makes the server speak MLLP over TLS (see TLSConfig).
	TLS *tls.Config
	// MaxBytes bounds one message (DefaultMaxBytes when <= 0). A larger one is passed,
	// cut to MaxBytes, to Oversize; without Oversize its connection is closed.
	MaxBytes int
	Oversize OversizeHandler
	// IdleTimeout closes a connection on which no complete message arrives for that long
	// (DefaultIdleTimeout when zero; negative: never).
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one acknowledgement (DefaultWriteTimeout when <= 0).
	WriteTimeout time.Duration
	Log          *slog.Logger
}

// Server accepts MLLP connections and serves each on its own goroutine.
type Server struct {
	cfg     Config
	handler Handler

	ctx    context.Context // handler context, cancelled by Close
	cancel context.CancelFunc

	closing atomic.Bool
	mu      sync.Mutex
	lns     map[net.Listener]struct{}
	conns   map[*conn]struct{}
	wg      sync.WaitGroup // connection goroutines
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("mllp: server closed")

// NewServer returns a server that passes every message to h.
func NewServer(cfg Config, h Handler) *Server {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, handler: h, ctx: ctx, cancel: cancel,
		lns: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}}
}

// Serve accepts connections on ln until Shutdown or Close; it then returns
// ErrServerClosed. The listener is closed on return.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Log.Warn("mllp accept failed; retrying", "err", err, "backoff", backoff.String())
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := &conn{srv: s, nc: nc}
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// isTemporary reports accept errors worth retrying (too many open files and the like).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// Shutdown stops accepting connections, closes idle ones, and waits for every
// connection to finish the message it is processing and send its acknowledgement.
// If ctx ends first, the remaining connections are closed forcibly (Close) and
// Shutdown returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.interruptIfIdle()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once, cancelling the handlers'
// context.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	return nil
}

type conn struct {
	srv  *Server
	nc   net.Conn
	mu   sync.Mutex
	idle bool // waiting for a message: Shutdown may close it
}

// interruptIfIdle unblocks a connection waiting for its next message.
func (c *conn) interruptIfIdle() {
	c.mu.Lock()
	if c.idle {
		c.nc.SetReadDeadline(time.Now())
	}
	c.mu.Unlock()
}

// startWaiting marks the connection idle and arms its read deadline, unless the server
// is shutting down. The closing check and the deadline are under c.mu so that a
// concurrent Shutdown either sees the connection idle or is seen by it.
func (c *conn) startWaiting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv.closing.Load() {
		return false
	}
	c.idle = true
	var dl time.Time
	if d := c.srv.cfg.IdleTimeout; d > 0 {
		dl = time.Now().Add(d)
	}
	c.nc.SetReadDeadline(dl)
	return true
}

func (c *conn) stopWaiting() {
	c.mu.Lock()
	c.idle = false
	c.mu.Unlock()
}

func (c *conn) serve() {
	s := c.srv
	log := s.cfg.Log.With("remote", c.nc.RemoteAddr().String())
	defer func() {
		c.nc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	info := ConnInfo{Remote: c.nc.RemoteAddr().String()}
	if tc, ok := c.nc.(*tls.Conn); ok {
		info.TLS = true
		c.nc.SetDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if err := tc.HandshakeContext(s.ctx); err != nil {
			log.Warn("mllp TLS handshake failed", "err", err)
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			info.ClientCN = certs[0].Subject.CommonName
			info.ClientFingerprint = Fingerprint(certs[0])
		}
	}
	log.Debug("mllp connection opened", "tls", info.TLS, "client_cn", info.ClientCN)
	rd := NewReader(c.nc, s.cfg.MaxBytes)
	wr := NewWriter(c.nc)
	n := 0
	junkLogged := false
	for {
		if !c.startWaiting() {
			log.Debug("mllp connection closed for shutdown", "messages", n)
			return
		}
		msg, err := rd.ReadMessage()
		c.stopWaiting()
		if sk := rd.Skipped(); sk > 0 {
			// Count only: the bytes may be patient data. Warn once per connection: a
			// sender that pads every frame would otherwise fill the log.
			if !junkLogged {
				log.Warn("mllp bytes outside frames discarded; more on this connection are logged at debug level", "bytes", sk)
				junkLogged = true
			} else {
				log.Debug("mllp bytes outside frames discarded", "bytes", sk)
			}
		}
		var replies [][]byte
		var big *TooLargeError
		switch {
		case errors.As(err, &big) && s.cfg.Oversize != nil:
			n++
			log.Warn("mllp message over the size limit", "bytes", big.Size, "max_bytes", s.cfg.MaxBytes)
			replies = s.cfg.Oversize(s.ctx, msg, big.Size, info)
		case err != nil:
			var ne net.Error
			switch {
			case errors.Is(err, io.EOF):
				log.Debug("mllp connection closed by peer", "messages", n)
			case errors.As(err, &ne) && ne.Timeout() && s.closing.Load():
				log.Debug("mllp connection closed for shutdown", "messages", n)
			case errors.Is(err, ErrTooLarge):
				log.Warn("mllp message over the size limit; closing", "err", err, "max_bytes", s.cfg.MaxBytes)
			case errors.As(err, &ne) && ne.Timeout():
				log.Info("mllp connection idle too long; closing", "messages", n, "idle_timeout", s.cfg.IdleTimeout.String())
			default:
				log.Warn("mllp read failed; closing", "err", err, "messages", n)
			}
			return
		default:
			n++
			replies = s.handler(s.ctx, msg, info)
		}
		for _, reply := range replies {
			c.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			if err := wr.WriteMessage(reply); err != nil {
				log.Warn("mllp writing the acknowledgement failed; closing", "err", err)
				return
			}
		}
	}
}
