package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/shch/fhirgw/adapters/mllp"
	"github.com/shch/fhirgw/gateway/app"
	"github.com/shch/fhirgw/gateway/config"
)

// mllpListener is the running MLLP receiver of serve.
type mllpListener struct {
	srv  *mllp.Server
	errc chan error
}

// startMLLP listens on cfg.MLLPAddr, with TLS when configured; nil when MLLPAddr is
// empty.
func startMLLP(cfg config.Config, gw *app.Gateway, log *slog.Logger) (*mllpListener, error) {
	if cfg.MLLPAddr == "" {
		return nil, nil
	}
	scfg := mllp.Config{MaxBytes: int(cfg.MLLPMaxBytes), IdleTimeout: cfg.MLLPIdleTimeout, Log: log,
		Oversize: gw.MLLPOversizeHandler()}
	if cfg.MLLPTLS() {
		t, err := mllp.TLSConfig(mllp.TLSOptions{CertFile: cfg.MLLPTLSCert, KeyFile: cfg.MLLPTLSKey,
			ClientCAFile: cfg.MLLPClientCA, Allow: cfg.MLLPAllowClient})
		if err != nil {
			return nil, err
		}
		scfg.TLS = t
	}
	ln, err := net.Listen("tcp", cfg.MLLPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen for MLLP on %s: %w", cfg.MLLPAddr, err)
	}
	l := &mllpListener{srv: mllp.NewServer(scfg, gw.MLLPHandler()), errc: make(chan error, 1)}
	log.Info("fhirgw receiving HL7 v2 over MLLP", "addr", ln.Addr().String(), "tls", cfg.MLLPTLS(),
		"mutual_tls", cfg.MLLPClientCA != "" || len(cfg.MLLPAllowClient) > 0)
	go func() { l.errc <- l.srv.Serve(ln) }()
	return l, nil
}

// failed delivers the listener's error if it stops by itself (nil receiver: never).
func (l *mllpListener) failed() <-chan error {
	if l == nil {
		return nil
	}
	return l.errc
}

// shutdown stops accepting and lets every connection finish its in-flight message.
func (l *mllpListener) shutdown(ctx context.Context) error {
	if l == nil {
		return nil
	}
	err := l.srv.Shutdown(ctx)
	if serr := <-l.errc; serr != nil && !errors.Is(serr, mllp.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
