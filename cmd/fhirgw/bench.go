package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shch/fhirgw/conformance/loadgen"
)

// bench drives a running gateway; see BENCHMARKS.md for how the figures were taken.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "http" {
		return errors.New("usage: fhirgw bench http [flags]")
	}
	fs := flag.NewFlagSet("bench http", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "server root (the FHIR base is <target>/fhir, metrics at <target>/metrics)")
	scenarios := fs.String("scenario", "all", "comma-separated scenarios: read, create, update, tx10, tx100, or all")
	concurrency := fs.Int("concurrency", 32, "concurrent clients")
	duration := fs.Duration("duration", 10*time.Second, "how long each scenario runs")
	seed := fs.Int("seed", 2000, "patients created before read and update runs")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	list := loadgen.Scenarios
	if *scenarios != "all" {
		list = nil
		for _, s := range strings.Split(*scenarios, ",") {
			list = append(list, loadgen.Scenario(strings.TrimSpace(s)))
		}
	}
	root := strings.TrimRight(*target, "/")
	for _, sc := range list {
		r, err := loadgen.Run(ctx, loadgen.Config{BaseURL: root + "/fhir", MetricsURL: root + "/metrics",
			Scenario: sc, Concurrency: *concurrency, Duration: *duration, Seed: *seed})
		if err != nil {
			return fmt.Errorf("bench %s: %w", sc, err)
		}
		fmt.Fprintln(stdout, r)
	}
	return nil
}
