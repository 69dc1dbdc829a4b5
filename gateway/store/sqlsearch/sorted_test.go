package sqlsearch

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shch/fhirgw/gateway/store"
)

func TestPlanRows(t *testing.T) {
	tests := []struct {
		name    string
		explain string
		want    int64
		ok      bool
	}{
		// Shape of PostgreSQL 15's EXPLAIN (FORMAT JSON), trimmed.
		{"postgres", `[{"Plan": {"Node Type": "Hash Semi Join", "Parallel Aware": false, "Startup Cost": 12.5, "Total Cost": 4096.2, "Plan Rows": 48211, "Plan Width": 4, "Plans": [{"Node Type": "Seq Scan", "Plan Rows": 1000000}]}}]`, 48211, true},
		{"fractional", `[{"Plan": {"Plan Rows": 2.6}}]`, 3, true},
		{"no rows", `[{"Plan": {"Node Type": "Result"}}]`, 0, false},
		{"empty", `[]`, 0, false},
		{"not json", `QUERY PLAN`, 0, false},
		{"negative", `[{"Plan": {"Plan Rows": -1}}]`, 0, false},
	}
	for _, tc := range tests {
		got, err := PlanRows([]byte(tc.explain))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: %d, %v; want %d, ok %v", tc.name, got, err, tc.want, tc.ok)
		}
	}
}

func TestEstimateTotal(t *testing.T) {
	e := &Estimate{Exact: 1000}
	planned := 0
	plan := func(rows int64, err error) func() (int64, error) {
		return func() (int64, error) { planned++; return rows, err }
	}
	if n, err := e.Total(999, plan(5, nil)); n != 999 || err != nil || planned != 0 {
		t.Errorf("below the bound: %d, %v, planned %d; want the count, no plan", n, err, planned)
	}
	if n, err := e.Total(1001, plan(250000, nil)); n != 250000 || err != nil || planned != 1 {
		t.Errorf("above the bound: %d, %v; want the planner's 250000", n, err)
	}
	if n, _ := e.Total(1001, plan(10, nil)); n != 1001 {
		t.Errorf("planner below what was counted: %d, want 1001", n)
	}
	boom := errors.New("boom")
	if _, err := e.Total(1001, plan(0, boom)); !errors.Is(err, boom) {
		t.Errorf("plan error lost: %v", err)
	}
}

func TestBuildSearchEstimateAndSort(t *testing.T) {
	q := store.Query{Type: "Observation", Count: 20, Total: true, Estimate: true,
		Sort: []store.SortKey{{Param: "date", Kind: store.KindDate, Desc: true}}}
	pg, err := BuildSearch(Postgres, q, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if pg.Estimate == nil || !strings.HasPrefix(pg.Estimate.Plan.SQL, "EXPLAIN (FORMAT JSON) ") || !strings.Contains(pg.Estimate.Bounded.SQL, " LIMIT ") {
		t.Errorf("postgres estimate = %+v", pg.Estimate)
	}
	lite, err := BuildSearch(SQLite, q, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if lite.Estimate != nil || lite.Count.SQL == "" {
		t.Errorf("sqlite counts exactly; got estimate %+v, count %q", lite.Estimate, lite.Count.SQL)
	}
	q.Estimate = false
	if pg, _ := BuildSearch(Postgres, q, time.Now()); pg.Estimate != nil {
		t.Error("_total=accurate got an estimate")
	}
	// A cursor must carry one value of the right type per sort key.
	for _, sortVals := range [][]any{nil, {"2024"}, {int64(1), int64(2)}} {
		q.After = &store.Cursor{ID: "o1", Type: "Observation", Sort: sortVals}
		if _, err := BuildSearch(Postgres, q, time.Now()); err == nil {
			t.Errorf("cursor sort values %#v accepted", sortVals)
		}
	}
	q.After = &store.Cursor{ID: "o1", Type: "Observation", Sort: []any{int64(1)}}
	s, err := BuildSearch(Postgres, q, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Values are bound, never written into the SQL.
	if strings.Contains(s.Page.SQL, "o1") || strings.Count(s.Page.SQL, "NULLS LAST") < 2 {
		t.Errorf("page SQL: %s", s.Page.SQL)
	}
}
