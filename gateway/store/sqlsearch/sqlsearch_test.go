package sqlsearch

import (
	"strings"
	"testing"
	"time"

	"github.com/shch/fhirgw/gateway/store"
)

// Several string clauses are intersected on the index before any resource row is
// read; a negated one, a single one, or a system search keep their own subquery.
func TestBuildSearchIntersectsStrings(t *testing.T) {
	str := func(param, v string, not bool) store.Clause {
		return store.Clause{Param: param, Kind: store.KindString, Not: not, Strings: []store.StringMatch{{Value: v}}}
	}
	tests := []struct {
		name      string
		q         store.Query
		intersect int // INTERSECT keywords expected
	}{
		{"family and given", store.Query{Type: "Patient", Count: 20, Where: []store.Clause{str("family", "孙", false), str("given", "艳", false)}}, 1},
		{"three names", store.Query{Type: "Patient", Count: 20, Where: []store.Clause{str("family", "孙", false), str("given", "艳", false), str("name", "孙艳", false)}}, 2},
		{"one name", store.Query{Type: "Patient", Count: 20, Where: []store.Clause{str("family", "孙", false)}}, 0},
		{"negated", store.Query{Type: "Patient", Count: 20, Where: []store.Clause{str("family", "孙", false), str("given", "艳", true)}}, 0},
		{"system search", store.Query{Count: 20, Where: []store.Clause{str("name", "孙", false), str("name", "艳", false)}}, 0},
	}
	for _, tt := range tests {
		for _, d := range []Dialect{SQLite, Postgres} {
			s, err := BuildSearch(d, tt.q, time.Now())
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if n := strings.Count(s.Page.SQL, " INTERSECT "); n != tt.intersect {
				t.Errorf("%s (%v): %d INTERSECT in %s", tt.name, d, n, s.Page.SQL)
			}
		}
	}
}
