package fhirpath

import (
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shch/fhirgw/conformance/fhirpkg"
	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/searchparam"
)

// patientParams compiles the expressions of the search parameters a server
// indexes for a Patient: Patient's own and those of Resource and DomainResource.
func patientParams(tb testing.TB) []*Expression {
	tb.Helper()
	reg := searchparam.Official()
	var out []*Expression
	for _, t := range []string{"Patient", "DomainResource", "Resource"} {
		for _, d := range reg.ForType(t) {
			if d.Expression != "" {
				out = append(out, MustCompile(d.Expression))
			}
		}
	}
	return out
}

// BenchmarkEvaluate measures extracting every Patient search parameter from
// patient-example, as the indexer does on each write: one op is the whole set.
func BenchmarkEvaluate(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(fhirpkg.TestDir(b), "Patient-example.json"))
	if err != nil {
		b.Fatal(err)
	}
	res := decodeJSON(b, data)
	exprs := patientParams(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, x := range exprs {
			if _, err := x.Evaluate(ctx, res); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(exprs)), "exprs/op")
}

// BenchmarkCompile measures compiling the Patient search parameter expressions.
func BenchmarkCompile(b *testing.B) {
	var srcs []string
	for _, x := range patientParams(b) {
		srcs = append(srcs, x.String())
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range srcs {
			if _, err := Compile(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// FuzzCompile checks that the parser never panics and that whatever it
// accepts can be evaluated without panicking. Seeds: every official search
// parameter expression and every expression of the official suite.
func FuzzCompile(f *testing.F) {
	for _, d := range allRegistryExpressions() {
		f.Add(d)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "r4", "tests-fhir-r4.xml"))
	if err != nil {
		f.Fatal(err)
	}
	var suite suiteXML
	if err := xml.Unmarshal(data, &suite); err != nil {
		f.Fatal(err)
	}
	for _, g := range suite.Groups {
		for _, tc := range g.Tests {
			f.Add(strings.TrimSpace(tc.Expr.Text))
		}
	}
	patient, err := os.ReadFile(filepath.Join("testdata", "r4", "patient-example.json"))
	if err != nil {
		f.Fatal(err)
	}
	res := decodeJSON(f, patient)
	f.Fuzz(func(t *testing.T, src string) {
		x, err := Compile(src)
		if err != nil {
			return
		}
		if x.String() != src {
			t.Fatalf("String() = %q, want the source %q", x.String(), src)
		}
		// Evaluation may fail, but must not panic; the deadline stops
		// runaway expressions such as 1.repeat($this + 1).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = x.Evaluate(ctx, res)
	})
}

// allRegistryExpressions lists the expressions of every official search
// parameter and composite component reachable by resource type.
func allRegistryExpressions() []string {
	reg := searchparam.Official()
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, t := range append(fhirschema.ResourceTypes(), "Resource", "DomainResource") {
		for _, d := range reg.ForType(t) {
			add(d.Expression)
			for _, c := range d.Component {
				add(c.Expression)
			}
		}
	}
	return out
}
