package index

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/shch/fhirgw/conformance/fhirpkg"
	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/internal/golden"
	"github.com/shch/fhirgw/gateway/store"
)

// goldenFile is fhirpath.js's golden file (package golden): gateway/fhirpath's golden
// tests compare FHIRPath results with it, this file the index rows built from them.
const goldenFile = "../fhirpath/testdata/golden/extraction.jsonl.gz"

// compositeRowExceptions are (parameter code, file) pairs whose groups legitimately
// differ from fhirpath.js's, each examined.
var compositeRowExceptions = map[[2]string]string{
	// fhirpath.js compares decimals with a tolerance, so the union in
	// "Observation | Observation.component" drops the component 1.0E-245 g as a
	// duplicate of 1E-22 g (gateway/fhirpath's goldenExceptions): the engine has
	// a group more, rightly.
	{"combo-code-value-quantity", "Observation-decimal.json"}: "the engine has groups fhirpath.js drops",
	// The R4 component "value.as(DateTime)" selects nothing for a FHIR dateTime in
	// either engine; the extractor corrects it to as(dateTime) (componentErratum).
	{"code-value-date", "Observation-date-lastmp.json"}: "R4 erratum corrected in the extractor",
}

// TestGoldenCompositeRows checks the extractor's composite index rows end to end on
// every official example: for each composite parameter of the resource's type, the
// groups Index writes ("code#g$i" rows) equal, as a multiset of groups, the groups
// obtained by indexing, with the same conversion (add), the component values
// fhirpath.js selected on each item of the parameter's expression, keeping the
// items whose every component yields a row (addComposite indexes only those). It fails if a
// composite is not indexed, is indexed from other items, or a component's
// expression is evaluated in another context than its item.
func TestGoldenCompositeRows(t *testing.T) {
	records := readGoldenComposites(t)
	x := newExtractor(t)
	reg := x.Registry()
	ctx := context.Background()

	var pairs, withGroups, groups, excepted int
	used := map[[2]string]bool{}
	seen := map[[2]string]bool{}
	for _, r := range fhirpkg.TestResources(t) {
		name, typ := r.Name, r.Type
		if !fhirschema.IsResourceType(typ) {
			continue
		}
		idx, err := x.Index(ctx, typ, r.Body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := compositeGroups(t, idx)
		for _, d := range Applicable(reg, typ) {
			if d.Type != "composite" {
				continue
			}
			pairs++
			kinds, ok := Components(reg, d)
			if !ok {
				t.Errorf("%s: composite %s is not indexed", name, d.URL)
				continue
			}
			want := &store.Index{}
			g, hasGolden := records[[2]string{name, d.URL}]
			seen[[2]string{name, d.URL}] = true
			for gi, item := range g.Components {
				if len(item) != len(kinds) {
					t.Fatalf("%s: %s on %s: %d components, the definition has %d", goldenFile, d.URL, name, len(item), len(kinds))
				}
				// An item is indexed only when every component yields a row.
				var group store.Index
				complete := true
				for ci, comp := range item {
					if comp.Error != "" {
						t.Errorf("%s on %s: fhirpath.js: %s", d.URL, name, comp.Error)
					}
					n := group.Len()
					for vi, raw := range comp.Values {
						add(&group, fmt.Sprintf("%s#%d$%d", d.Code, gi, ci), kinds[ci],
							strings.TrimPrefix(comp.Types[vi], "FHIR."), decodeNumbers(t, raw))
					}
					complete = complete && group.Len() > n
				}
				if complete {
					want.Append(&group)
				}
			}
			dedupe(want)
			wantGroups := compositeGroups(t, want)[d.Code]
			gotGroups := got[d.Code]
			if len(wantGroups) > 0 {
				withGroups++
				groups += len(wantGroups)
			}
			if hasGolden && len(g.Components) == 0 {
				t.Errorf("%s: %s on %s has no components: regenerate it", goldenFile, d.URL, name)
			}
			if slices.Equal(gotGroups, wantGroups) {
				continue
			}
			if k := [2]string{d.Code, name}; compositeRowExceptions[k] != "" {
				used[k] = true
				excepted++
				continue
			}
			t.Errorf("%s on %s:\n extractor %q\n fhirpath.js %q", d.Code, name, gotGroups, wantGroups)
		}
	}
	for k := range records {
		if !seen[k] {
			t.Errorf("golden composite %s on %s was not compared (the registry's Applicable leaves it out)", k[1], k[0])
		}
	}
	for k, why := range compositeRowExceptions {
		if !used[k] {
			t.Errorf("exception %v (%s) matches no disagreement: remove it", k, why)
		}
	}
	t.Logf("%d (resource, composite parameter) pairs, %d with index groups (%d groups): %d agree, %d excepted",
		pairs, withGroups, groups, pairs-excepted, excepted)
	// Against a vacuous pass: most records where fhirpath.js found a value for every
	// component of an item must give groups (not all: a Range is no quantity row).
	complete := 0
	for _, g := range records {
		if slices.ContainsFunc(g.Components, func(item []golden.Component) bool {
			return !slices.ContainsFunc(item, func(c golden.Component) bool { return len(c.Values) == 0 })
		}) {
			complete++
		}
	}
	t.Logf("%d golden records with an item whose every component has values", complete)
	if withGroups == 0 || withGroups < complete*9/10 {
		t.Errorf("only %d pairs with groups of %d golden records with a complete item", withGroups, complete)
	}
}

// compositeRow is "code#group$component" with an optional modifier suffix
// (":identifier", ":of-type").
var compositeRow = regexp.MustCompile(`^(.+)#([0-9]+)\$([0-9]+)(.*)$`)

// compositeGroups renders the composite rows of idx by parameter code: one string
// per group (its rows, sorted, each prefixed with its component), the groups sorted,
// so that two indexes compare regardless of group numbering.
func compositeGroups(t *testing.T, idx *store.Index) map[string][]string {
	t.Helper()
	byGroup := map[[2]string][]string{}
	emit := func(param, row string) {
		m := compositeRow.FindStringSubmatch(param)
		if m == nil {
			return
		}
		k := [2]string{m[1], m[2]}
		byGroup[k] = append(byGroup[k], "$"+m[3]+m[4]+" "+row)
	}
	rowsOf(idx.Strings, func(e *store.StringEntry) *string { return &e.Param }, emit)
	rowsOf(idx.Tokens, func(e *store.TokenEntry) *string { return &e.Param }, emit)
	rowsOf(idx.References, func(e *store.ReferenceEntry) *string { return &e.Param }, emit)
	rowsOf(idx.Dates, func(e *store.DateEntry) *string { return &e.Param }, emit)
	rowsOf(idx.Quantities, func(e *store.QuantityEntry) *string { return &e.Param }, emit)
	rowsOf(idx.Numbers, func(e *store.NumberEntry) *string { return &e.Param }, emit)
	rowsOf(idx.URIs, func(e *store.URIEntry) *string { return &e.Param }, emit)
	out := map[string][]string{}
	for k, rows := range byGroup {
		sort.Strings(rows)
		out[k[0]] = append(out[k[0]], strings.Join(rows, "; "))
	}
	for _, gs := range out {
		sort.Strings(gs)
	}
	return out
}

// rowsOf renders each row of xs without its parameter name and passes both to emit.
func rowsOf[T any](xs []T, param func(*T) *string, emit func(param, row string)) {
	for _, e := range xs {
		p := *param(&e)
		*param(&e) = ""
		emit(p, fmt.Sprintf("%T%+v", e, e))
	}
}

// readGoldenComposites reads the golden records of composite parameters, the only
// ones with components.
func readGoldenComposites(t *testing.T) map[[2]string]golden.Record {
	t.Helper()
	out := map[[2]string]golden.Record{}
	err := golden.Read(goldenFile, golden.HasComponents, func(r golden.Record) error {
		out[[2]string{r.File, r.Param}] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// decodeNumbers decodes a JSON value as the extractor does: numbers as json.Number.
func decodeNumbers(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}
