// Command fhirgw is the community health FHIR R4 gateway.
//
//	fhirgw serve     serve the FHIR API (embedded store unless --database-url is given)
//	fhirgw migrate   apply schema migrations and exit
//	fhirgw ingest    run HL7 v2 message files through the pipeline into the store
//	fhirgw version   print the version
//	fhirgw bench     measure a running gateway (see BENCHMARKS.md)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fhirgw:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: fhirgw <command> [flags]

commands:
  serve     serve the FHIR R4 API
  migrate   apply database schema migrations and exit
  ingest    run HL7 v2 files (single messages or batches) into the store: fhirgw ingest FILE...
  version   print the version and exit
  bench     drive a running gateway with load (bench http) and print the figures

Run 'fhirgw <command> -h' for the flags of a command.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stderr)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stderr)
	case "ingest":
		return ingestFiles(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		return bench(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "fhirgw %s (FHIR 4.0.1)\n", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	var h slog.Handler = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})
	if lw, ok := w.(*logWriter); ok {
		h = flushingHandler{h, lw}
	}
	return slog.New(h)
}
