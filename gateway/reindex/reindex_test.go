package reindex

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/index"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlite/sqlitetest"
)

const ext = "http://shch.example/fhir/StructureDefinition/team"

var team = searchparam.Definition{URL: "http://shch.example/fhir/SearchParameter/team", Code: "team", Type: "string",
	Base: []string{"Patient"}, Expression: "Patient.extension.where(url='" + ext + "').value.ofType(string)"}

func TestRunnerReindexesWithLease(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.New(t)
	live, _ := index.NewLive(searchparam.Official(), fhirschema.ResourceTypes(), "")
	// 450 patients written before the definition exists: no "team" rows.
	const n = 450
	err := st.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		for i := range n {
			body := fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","extension":[{"url":"%s","valueString":"张江%d队"}]}`, i, ext, i%3)
			idx, err := live.Index(ctx, "Patient", []byte(body))
			if err != nil {
				return err
			}
			r := store.Resource{Type: "Patient", ID: fmt.Sprintf("p%d", i), Version: 1, LastUpdated: time.Unix(1700000000, int64(i)*1000).UTC(), Method: "PUT", Body: []byte(body)}
			if err := tx.Put(ctx, r, idx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	changed, errs := live.Set([]searchparam.Definition{team})
	if len(errs) > 0 || len(changed) != 1 {
		t.Fatalf("Set: changed %v, errs %v", changed, errs)
	}
	now := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a, b := New(st, live, time.Second, nil), New(st, live, time.Second, nil)
	a.now, b.now = clock, clock
	a.batch, b.batch = 100, 100
	if err := a.Enqueue(ctx, changed); err != nil {
		t.Fatal(err)
	}
	// Not before the delay: every gateway must be on the new definitions first.
	if worked, err := a.Step(ctx); err != nil || worked {
		t.Fatalf("step before the delay: worked %v, %v", worked, err)
	}
	now = now.Add(2 * time.Second)
	if worked, err := a.Step(ctx); err != nil || !worked {
		t.Fatalf("first step: worked %v, %v", worked, err)
	}
	// a holds the lease: b finds nothing to do.
	if worked, err := b.Step(ctx); err != nil || worked {
		t.Fatalf("second runner while the lease is held: worked %v, %v", worked, err)
	}
	jobs, _ := a.Jobs(ctx)
	if len(jobs) != 1 || jobs[0].Status != Running || jobs[0].Total != n || jobs[0].Processed != 100 {
		t.Fatalf("after one batch: %+v", jobs)
	}
	// a dies; after the lease b takes over and finishes.
	now = now.Add(time.Minute)
	runJobs(t, b, 20)
	jobs, _ = b.Jobs(ctx)
	if jobs[0].Status != Done || jobs[0].Processed != n {
		t.Fatalf("finished job: %+v", jobs[0])
	}
	p, err := st.Search(ctx, store.Query{Type: "Patient", Total: true, Where: []store.Clause{{Param: "team", Kind: store.KindString,
		Strings: []store.StringMatch{{Value: index.Fold("张江1")}}}}})
	if err != nil || p.Total != n/3 {
		t.Errorf("patients found by the new parameter: %d, %v; want %d", p.Total, err, n/3)
	}
}

// When the index rules change (here: the server's base URL becomes known, so absolute
// references on it are local), what is stored is re-indexed once; an empty store and
// unchanged rules make no job.
func TestEnsureRules(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.New(t)
	const base = "https://fhir.sq.example/fhir"
	old, _ := index.NewLive(searchparam.Official(), fhirschema.ResourceTypes(), "")
	cur, _ := index.NewLive(searchparam.Official(), fhirschema.ResourceTypes(), base)
	now := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	r := New(st, cur, time.Second, nil)
	r.now = func() time.Time { return now }
	jobs := func() []Job {
		t.Helper()
		js, err := r.Jobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	if err := r.EnsureRules(ctx, "v1"); err != nil || len(jobs()) != 0 {
		t.Fatalf("empty store: %v, jobs %v", err, jobs())
	}
	err := st.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		body := `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"血压"},"subject":{"reference":"` + base + `/Patient/p1"}}`
		idx, err := old.Index(ctx, "Observation", []byte(body))
		if err != nil {
			return err
		}
		return tx.Put(ctx, store.Resource{Type: "Observation", ID: "o1", Version: 1, LastUpdated: now, Method: "PUT", Body: []byte(body)}, idx)
	})
	if err != nil {
		t.Fatal(err)
	}
	bySubject := func() int {
		p, err := st.Search(ctx, store.Query{Type: "Observation", Total: true, Where: []store.Clause{{Param: "subject", Kind: store.KindReference,
			References: []store.ReferenceMatch{{Type: "Patient", ID: "p1"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		return p.Total
	}
	if n := bySubject(); n != 0 {
		t.Fatalf("found by subject=Patient/p1 before re-indexing: %d", n)
	}
	if err := r.EnsureRules(ctx, "v1"); err != nil || len(jobs()) != 0 {
		t.Fatalf("unchanged rules: %v, jobs %v", err, jobs())
	}
	if err := r.EnsureRules(ctx, "v2"); err != nil || len(jobs()) != 1 {
		t.Fatalf("changed rules: %v, jobs %v", err, jobs())
	}
	if err := r.EnsureRules(ctx, "v2"); err != nil || len(jobs()) != 1 {
		t.Fatalf("the same rules again made another job: %v, jobs %v", err, jobs())
	}
	now = now.Add(2 * time.Second)
	runJobs(t, r, 1000)
	if js := jobs(); js[0].Status != Done || js[0].Processed != 1 {
		t.Fatalf("job: %+v", js[0])
	}
	if n := bySubject(); n != 1 {
		t.Errorf("found by subject=Patient/p1 after re-indexing: %d, want 1", n)
	}
}

// runJobs steps r until it finds no work, failing after max steps.
func runJobs(t *testing.T, r *Runner, max int) {
	t.Helper()
	for i := 0; ; i++ {
		worked, err := r.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !worked {
			return
		}
		if i > max {
			t.Fatal("job does not finish")
		}
	}
}
