package fhirpath

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shch/fhirgw/conformance/fhirpkg"
)

func loadExample(tb testing.TB, file string) any {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(fhirpkg.TestDir(tb), file))
	if err != nil {
		tb.Fatal(err)
	}
	return decodeJSON(tb, data)
}

// TestEvaluateTypes checks what the indexer relies on: each result item
// carries its FHIR type name and its JSON node.
func TestEvaluateTypes(t *testing.T) {
	patient := loadExample(t, "Patient-example.json")
	obs := loadExample(t, "Observation-example.json")
	tests := []struct {
		name     string
		resource any
		expr     string
		types    []string // the type of each item
		values   []string // Item.String() of each item, nil to skip
	}{
		{"complex repeating", patient, "Patient.name", []string{"HumanName", "HumanName", "HumanName"}, nil},
		{"primitive", patient, "Patient.birthDate", []string{"date"}, []string{"1974-12-25"}},
		{"code", patient, "Patient.gender", []string{"code"}, []string{"male"}},
		{"identifier", patient, "Patient.identifier", []string{"Identifier"}, nil},
		{"reference", patient, "Patient.managingOrganization", []string{"Reference"}, nil},
		{"shared expression, other head type", patient, "Practitioner.name | Patient.name.where(use = 'official')", []string{"HumanName"}, nil},
		{"backbone element", patient, "Patient.contact", []string{"Patient.contact"}, nil},
		{"extension on a primitive", patient, "Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value",
			[]string{"dateTime"}, []string{"1974-12-25T14:35:45-05:00"}},
		{"choice element", obs, "Observation.value", []string{"Quantity"}, nil},
		{"as on a choice", obs, "(Observation.value as Quantity).value", []string{"decimal"}, []string{"185"}},
		{"ofType excludes", obs, "Observation.value.ofType(CodeableConcept)", nil, nil},
		{"choice dateTime", obs, "Observation.effective", []string{"dateTime"}, []string{"2016-03-28"}},
		{"resolve type test", obs, "Observation.subject.where(resolve() is Patient)", []string{"Reference"}, nil},
		{"resolve type mismatch", obs, "Observation.subject.where(resolve() is Group)", nil, nil},
		{"exists", patient, "Patient.deceased.exists() and Patient.deceased != false", []string{"System.Boolean"}, []string{"false"}},
		{"descendants", patient, "Patient.descendants().ofType(Period).count()", []string{"System.Integer"}, nil},
		{"union dedups", patient, "Patient.gender | Patient.gender", []string{"code"}, []string{"male"}},
		{"first", patient, "Patient.name.first().family", []string{"string"}, []string{"Chalmers"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := MustCompile(tc.expr).Evaluate(context.Background(), tc.resource)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(tc.types) {
				t.Fatalf("%s: got %d items %v, want %d", tc.expr, len(out), out, len(tc.types))
			}
			for i, it := range out {
				if it.Type() != tc.types[i] {
					t.Errorf("item %d: type %q, want %q", i, it.Type(), tc.types[i])
				}
				if tc.values != nil && it.String() != tc.values[i] {
					t.Errorf("item %d: value %q, want %q", i, it.String(), tc.values[i])
				}
				if !it.IsSystem() && it.Value() == nil && it.PrimitiveExtension() == nil {
					t.Errorf("item %d: FHIR item without a JSON node", i)
				}
			}
		})
	}
}

// TestEvaluateNodeIsShared checks that complex items are the resource's own
// JSON maps, so the indexer reads them without copying.
func TestEvaluateNodeIsShared(t *testing.T) {
	patient := loadExample(t, "Patient-example.json").(map[string]any)
	out, err := MustCompile("Patient.identifier").Evaluate(context.Background(), patient)
	if err != nil || len(out) != 1 {
		t.Fatalf("got %v, %v", out, err)
	}
	m, ok := out[0].Value().(map[string]any)
	if !ok {
		t.Fatalf("Value() is %T, want map[string]any", out[0].Value())
	}
	want := patient["identifier"].([]any)[0].(map[string]any)
	if m["value"] != want["value"] || m["system"] != want["system"] {
		t.Errorf("identifier %v, want %v", m, want)
	}
	if _, ok := out[0].Value().(map[string]any)["period"].(map[string]any); !ok {
		t.Error("identifier lost its period")
	}
}

func TestEvaluateErrors(t *testing.T) {
	patient := loadExample(t, "Patient-example.json")
	tests := []struct {
		expr string
		want string
	}{
		{"Patient.name.given + 1", "ErrEvaluation"},
		{"Patient.deceasedBoolean", "ofType"},
		{"Patient.name.single()", "ErrEvaluation"},
		{"%undefined", "ErrEvaluation"},
	}
	for _, tc := range tests {
		_, err := MustCompile(tc.expr).Evaluate(context.Background(), patient)
		if err == nil {
			t.Errorf("%s: no error", tc.expr)
			continue
		}
		if tc.want == "ErrEvaluation" && !errors.Is(err, ErrEvaluation) {
			t.Errorf("%s: %v is not ErrEvaluation", tc.expr, err)
		}
		if tc.want != "ErrEvaluation" && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v does not mention %q", tc.expr, err, tc.want)
		}
	}
	for _, src := range []string{"Patient.name.", "Patient.(", "where(", "1 +", "'unterminated", "Patient.name.nosuchfunction()"} {
		if _, err := Compile(src); err == nil {
			t.Errorf("Compile(%q): no error", src)
		}
	}
}

// TestEvaluateDeadline checks that a runaway expression stops at the
// context's deadline.
func TestEvaluateDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := MustCompile("1.repeat($this + 1)").Evaluate(ctx, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
}

// TestEvaluateResolver checks resolve() with a Resolver and with contained resources.
func TestEvaluateResolver(t *testing.T) {
	obs := loadExample(t, "Observation-example.json")
	patient := loadExample(t, "Patient-example.json")
	r := ResolverFunc(func(_ context.Context, ref string) (any, error) {
		if ref == "Patient/example" {
			return patient, nil
		}
		return nil, nil
	})
	out, err := MustCompile("Observation.subject.resolve().name.first().family").Evaluate(context.Background(), obs, WithResolver(r))
	if err != nil || len(out) != 1 || out[0].String() != "Chalmers" {
		t.Errorf("got %v, %v; want Chalmers", out, err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(`{"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"p1","gender":"female"}],"subject":{"reference":"#p1"}}`), &doc); err != nil {
		t.Fatal(err)
	}
	out, err = MustCompile("Observation.subject.resolve().ofType(Patient).gender").Evaluate(context.Background(), doc)
	if err != nil || len(out) != 1 || out[0].String() != "female" {
		t.Errorf("contained: got %v, %v; want female", out, err)
	}
}
