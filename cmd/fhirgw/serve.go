package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/shch/fhirgw/gateway/app"
	"github.com/shch/fhirgw/gateway/config"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/postgres"
	"github.com/shch/fhirgw/gateway/store/sqlite"
)

// migratingStore is a store whose schema the binary manages.
type migratingStore interface {
	store.Store
	Migrate(ctx context.Context) error
	SchemaVersion(ctx context.Context) (int64, error)
}

func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (config.Config, error) {
	var cfg config.Config
	fs := cfg.FlagSet(name, getenv)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("%s: unexpected arguments %v", name, fs.Args())
	}
	return cfg, cfg.Finish()
}

func openStore(ctx context.Context, cfg config.Config) (migratingStore, error) {
	if cfg.DatabaseURL != "" {
		st, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres store: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open embedded store in %s: %w", cfg.DataDir, err)
	}
	return st, nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig("serve", args, getenv, stderr)
	if err != nil {
		return err
	}
	lw := newLogWriter(stderr, 200*time.Millisecond)
	defer lw.Close()
	log := newLogger(lw, cfg.LogLevel)
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the store", "err", err)
		}
	}()
	if cfg.Migrate {
		if err := st.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate %s store: %w", cfg.StoreKind(), err)
		}
	}
	icfg, err := app.LoadHL7Config(cfg.HL7Config)
	if err != nil {
		return err
	}
	gw := app.New(st, app.Options{BaseURL: cfg.BaseURL, MaxBody: cfg.MaxBodyBytes, Version: version, Log: log, Ingest: icfg})
	if err := gw.Start(ctx); err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           gw.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if cfg.DebugAddr != "" {
		dbg := http.NewServeMux()
		dbg.HandleFunc("/debug/pprof/", pprof.Index)
		dbg.HandleFunc("/debug/pprof/profile", pprof.Profile)
		dbg.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go func() {
			log.Info("profiling endpoints", "addr", cfg.DebugAddr)
			if err := http.ListenAndServe(cfg.DebugAddr, dbg); err != nil {
				log.Error("profiling endpoints stopped", "err", err)
			}
		}()
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	log.Info("fhirgw serving", "addr", ln.Addr().String(), "base_url", cfg.BaseURL, "store", cfg.StoreKind(), "version", version)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ml, err := startMLLP(cfg, gw, log)
	if err != nil {
		srv.Close()
		return err
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case err := <-ml.failed():
		srv.Close()
		return fmt.Errorf("serve mllp: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	mllpDone := make(chan error, 1)
	go func() { mllpDone <- ml.shutdown(sctx) }()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-mllpDone; err != nil {
		return fmt.Errorf("shutdown mllp: %w", err)
	}
	log.Info("stopped")
	return nil
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig("migrate", args, getenv, stderr)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate %s store: %w", cfg.StoreKind(), err)
	}
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	fmt.Fprintf(stderr, "%s store at schema version %d\n", cfg.StoreKind(), v)
	return nil
}
