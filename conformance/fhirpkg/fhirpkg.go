// Package fhirpkg locates the official FHIR R4 examples package (hl7.fhir.r4.examples@4.0.1,
// CC0) that tests and code generators read. The package is fetched with npm into
// .cache/fhir by `make fhir-examples`; it is never committed.
package fhirpkg

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Name and Version identify the npm package.
const (
	Name    = "hl7.fhir.r4.examples"
	Version = "4.0.1"
)

// EnvDir overrides where the unpacked package (the folder holding package.json) is.
const EnvDir = "FHIRGW_FHIR_EXAMPLES"

// Dir returns the folder holding the unpacked package's JSON files.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return checkDir(d)
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("fhirpkg: cannot locate the repository")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	return checkDir(filepath.Join(root, ".cache", "fhir", Name+"-"+Version, "package"))
}

func checkDir(d string) (string, error) {
	if _, err := os.Stat(filepath.Join(d, "package.json")); err != nil {
		return "", fmt.Errorf("fhirpkg: %s@%s not found in %s (run `make fhir-examples`): %w", Name, Version, d, err)
	}
	return d, nil
}

// TestDir returns Dir or fails the test: the examples are a required test input.
func TestDir(tb testing.TB) string {
	tb.Helper()
	d, err := Dir()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// Resource is one JSON file of the package that holds a resource.
type Resource struct {
	Name string // file name, e.g. Patient-example.json
	Type string // its resourceType
	Body []byte
}

// TestResources reads every JSON file of the package that has a resourceType (the
// package's own metadata files have none), in file name order, or fails the test.
func TestResources(tb testing.TB) []Resource {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(TestDir(tb), "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []Resource
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var head struct{ ResourceType string }
		if json.Unmarshal(body, &head) != nil || head.ResourceType == "" {
			continue
		}
		out = append(out, Resource{Name: filepath.Base(f), Type: head.ResourceType, Body: body})
	}
	return out
}
