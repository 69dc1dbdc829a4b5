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
	"github.com/shch/fhirgw/gateway/store/sqlite"
)

const ext = "http://shch.example/fhir/StructureDefinition/team"

var team = searchparam.Definition{URL: "http://shch.example/fhir/SearchParameter/team", Code: "team", Type: "string",
	Base: []string{"Patient"}, Expression: "Patient.extension.where(url='" + ext + "').value.ofType(string)"}

func TestRunnerReindexesWithLease(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	live, _ := index.NewLive(searchparam.Official(), fhirschema.ResourceTypes(), "")
	// 450 patients written before the definition exists: no "team" rows.
	const n = 450
	err = st.Update(ctx, func(ctx context.Context, tx store.Tx) error {
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
	for i := 0; ; i++ {
		worked, err := b.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !worked {
			break
		}
		if i > 20 {
			t.Fatal("job does not finish")
		}
	}
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
