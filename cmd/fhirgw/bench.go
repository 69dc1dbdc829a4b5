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

const benchUsage = "usage: fhirgw bench http|load|search|mllp [flags]"

// bench drives a running gateway; see BENCHMARKS.md for how the figures were taken.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(benchUsage)
	}
	switch args[0] {
	case "http":
		return benchHTTP(ctx, args[1:], stdout, stderr)
	case "load":
		return benchLoad(ctx, args[1:], stdout, stderr)
	case "search":
		return benchSearch(ctx, args[1:], stdout, stderr)
	case "mllp":
		return benchMLLP(ctx, args[1:], stdout, stderr)
	}
	return errors.New(benchUsage)
}

func benchHTTP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench http", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "server root (the FHIR base is <target>/fhir, metrics at <target>/metrics)")
	scenarios := fs.String("scenario", "all", "comma-separated scenarios: read, create, update, tx10, tx100, or all")
	concurrency := fs.Int("concurrency", 32, "concurrent clients")
	duration := fs.Duration("duration", 10*time.Second, "how long each scenario runs")
	seed := fs.Int("seed", 2000, "patients created before read and update runs")
	if err := fs.Parse(args); err != nil {
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

// populationFlags are the flags that say which synthetic population load and search
// work on; both commands must be given the same values.
func populationFlags(fs *flag.FlagSet) func() loadgen.Population {
	patients := fs.Int("patients", 50000, "patients in the synthetic population (plus Patient/"+loadgen.Bench500+")")
	obs := fs.Int("obs", 20, "Observations per patient")
	seed := fs.Uint64("seed", 1, "population seed: the same seed gives the same resources and ids")
	return func() loadgen.Population { return loadgen.NewPopulation(*seed, *patients, *obs) }
}

func benchLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "server root (the FHIR base is <target>/fhir)")
	concurrency := fs.Int("concurrency", 8, "concurrent transactions")
	bundle := fs.Int("bundle", 100, "entries per transaction (whole patient compartments)")
	analyze := fs.String("analyze-database-url", "", "when set, run VACUUM (ANALYZE) on this PostgreSQL database after loading, so that searches are planned with statistics")
	pop := populationFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	p := pop()
	fmt.Fprintf(stderr, "load: %d resources (%d patients + %s, %d observations each) into %s\n",
		p.Total(), p.Patients, loadgen.Bench500, p.ObsPerPatient, *target)
	r, err := loadgen.Load(ctx, loadgen.LoadConfig{BaseURL: strings.TrimRight(*target, "/") + "/fhir",
		Population: p, Concurrency: *concurrency, BundleSize: *bundle, Progress: stderr})
	if err != nil {
		return fmt.Errorf("bench load: %w", err)
	}
	fmt.Fprintln(stdout, r)
	if *analyze != "" {
		t0 := time.Now()
		if err := loadgen.VacuumAnalyze(ctx, *analyze); err != nil {
			return fmt.Errorf("bench load: %w", err)
		}
		fmt.Fprintf(stdout, "vacuum analyze %s\n", time.Since(t0).Round(time.Second))
	}
	return nil
}

func benchSearch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "server root (the FHIR base is <target>/fhir)")
	concurrency := fs.Int("concurrency", 4, "concurrent clients")
	duration := fs.Duration("duration", 20*time.Second, "how long each query class runs")
	classes := fs.String("class", "all", "comma-separated query classes, or all")
	total := fs.String("total", "", "_total sent with every search (none, estimate, accurate); empty: the server's default")
	pop := populationFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	list := loadgen.SearchClasses
	if *classes != "all" {
		list = nil
		for _, s := range strings.Split(*classes, ",") {
			list = append(list, loadgen.SearchClass(strings.TrimSpace(s)))
		}
	}
	base := strings.TrimRight(*target, "/") + "/fhir"
	for _, c := range list {
		r, err := loadgen.Search(ctx, loadgen.SearchConfig{BaseURL: base, Population: pop(), Class: c,
			Concurrency: *concurrency, Duration: *duration, Total: *total})
		if err != nil {
			return fmt.Errorf("bench search %s: %w", c, err)
		}
		fmt.Fprintln(stdout, r)
	}
	return nil
}
