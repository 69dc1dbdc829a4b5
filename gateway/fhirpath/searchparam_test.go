package fhirpath

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/shch/fhirgw/conformance/fhirpkg"
	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/searchparam"
)

func decodeJSON(tb testing.TB, data []byte) any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("decode: %v", err)
	}
	return v
}

// officialParams returns the registry's definition of every SearchParameter
// resource in the examples package, sorted by URL, and the URLs the registry
// lacks.
func officialParams(byType map[string][]map[string]any) (defs []*searchparam.Definition, missing []string) {
	reg := searchparam.Official()
	for _, sp := range byType["SearchParameter"] {
		url, _ := sp["url"].(string)
		if d, ok := reg.ByURL(url); ok {
			defs = append(defs, d)
		} else {
			missing = append(missing, url)
		}
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].URL < defs[j].URL })
	return defs, missing
}

// loadExamples reads every resource of the R4 examples package, by type.
func loadExamples(tb testing.TB) map[string][]map[string]any {
	tb.Helper()
	dir := fhirpkg.TestDir(tb)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	byType := map[string][]map[string]any{}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "package.json" || strings.HasPrefix(name, ".") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		m, ok := decodeJSON(tb, data).(map[string]any)
		if !ok {
			continue
		}
		if rt, _ := m["resourceType"].(string); rt != "" {
			byType[rt] = append(byType[rt], m)
		}
	}
	return byType
}

// examplesFor returns the examples a parameter of base type applies to:
// Resource and DomainResource parameters apply to every resource.
func examplesFor(byType map[string][]map[string]any, base string) []map[string]any {
	if base != "Resource" && base != "DomainResource" {
		return byType[base]
	}
	var out []map[string]any
	for t, rs := range byType {
		if base == "Resource" || fhirschema.IsSubtype(t, "DomainResource") {
			out = append(out, rs...)
		}
	}
	return out
}

// TestSearchParameterExpressions compiles the expression of every official R4
// search parameter (and of its composite components) and evaluates it on every
// example of its base types. Evaluation is strict, so a path naming an element
// the model does not define is an error; only the head type may differ from
// the resource's (shared expressions such as "Patient.name | Person.name").
func TestSearchParameterExpressions(t *testing.T) {
	byType := loadExamples(t)
	params, missing := officialParams(byType)
	// The registry leaves out the package's three demonstration parameters
	// (SearchParameter/example*), which redefine core codes.
	for _, url := range missing {
		if !strings.HasPrefix(url, "http://hl7.org/fhir/SearchParameter/example") {
			t.Errorf("the official registry lacks %s", url)
		}
	}
	if len(params)+len(missing) != 1400 || len(params) != 1397 {
		t.Errorf("found %d official search parameters (%d left out), want 1397 of 1400", len(params), len(missing))
	}
	lookupMisses := 0
	reg := searchparam.Official()
	for _, d := range params {
		for _, b := range d.Base {
			if got, ok := reg.Lookup(b, d.Code); !ok || got.URL != d.URL {
				lookupMisses++
			}
		}
	}
	if lookupMisses > 0 {
		// Several official parameters share a code on a base; the registry keeps one.
		t.Logf("%d (base, code) lookups return another parameter than the one defined for them", lookupMisses)
	}
	ctx := context.Background()
	opts := []Option{WithStrict(), func(e *env) { e.mixedContext = true }}

	var withExpr, pairs, pairsWithValues, items int
	itemTypes := map[string]map[string]int{} // search parameter type -> item type -> count
	for _, d := range params {
		if d.Expression == "" {
			continue
		}
		withExpr++
		x, err := Compile(d.Expression)
		if err != nil {
			t.Errorf("%s: %v", d.URL, err)
			continue
		}
		components := make([]*Expression, len(d.Component))
		for i, c := range d.Component {
			if components[i], err = Compile(c.Expression); err != nil {
				t.Errorf("%s component %s: %v", d.URL, c.Definition, err)
			}
		}
		for _, base := range d.Base {
			for _, res := range examplesFor(byType, base) {
				out, err := x.Evaluate(ctx, res, opts...)
				if err != nil {
					t.Errorf("%s on %s/%v: %v", d.URL, res["resourceType"], res["id"], err)
					continue
				}
				pairs++
				if len(out) > 0 {
					pairsWithValues++
				}
				items += len(out)
				for _, it := range out {
					if it.Type() == "" {
						t.Errorf("%s on %s/%v: result item without a type: %s", d.URL, res["resourceType"], res["id"], it)
					}
					if itemTypes[d.Type] == nil {
						itemTypes[d.Type] = map[string]int{}
					}
					itemTypes[d.Type][it.Type()]++
					for i, cx := range components {
						if cx == nil {
							continue
						}
						if _, err := cx.Evaluate(ctx, res, append(opts, WithContext(Collection{it}))...); err != nil {
							t.Errorf("%s component %d on %s/%v: %v", d.URL, i, res["resourceType"], res["id"], err)
						}
					}
				}
			}
		}
	}
	t.Logf("%d official search parameters, %d with an expression, all compiled", len(params), withExpr)
	t.Logf("%d (parameter, example resource) evaluations without error, %d produced values (%d items)", pairs, pairsWithValues, items)
	for _, st := range sortedKeys(itemTypes) {
		var parts []string
		for _, it := range sortedKeys(itemTypes[st]) {
			parts = append(parts, fmt.Sprintf("%s:%d", it, itemTypes[st][it]))
		}
		t.Logf("%s parameters yield %s", st, strings.Join(parts, " "))
	}
	if pairsWithValues == 0 {
		t.Error("no search parameter produced a value on the examples")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
