package loadgen

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/index"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/pgtest"
	"github.com/shch/fhirgw/gateway/store/postgres"
)

// BenchmarkWriteCost measures what search indexing adds to a create on PostgreSQL:
// each iteration creates two resources of the population, one with the index the
// gateway's extractor builds from it (extraction time included) and one with the JSON
// alone, alternating so that a busy shared machine slows both alike. It reports the
// mean time of each and their ratio; the target is a ratio of at most 2.
func BenchmarkWriteCost(b *testing.B) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	ix, _ := index.NewExtractor(searchparam.Official(), fhirschema.ResourceTypes(), nil)
	pop := NewPopulation(1, 1<<30, 20)
	for _, typ := range []string{"Patient", "Observation"} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/batch=%d", typ, batch), func(b *testing.B) {
				writeCost(b, s, ix, pop, typ, batch)
			})
		}
	}
}

// writeCost creates batch resources of type typ per transaction, alternately with and
// without their index. A batch of 1 includes a commit (WAL flush) per create, as a
// single REST create does; a batch of 100 shows the cost of the rows themselves, as a
// transaction Bundle does.
func writeCost(b *testing.B, s store.Store, ix *index.Extractor, pop Population, typ string, batch int) {
	ctx := context.Background()
	var indexed, plain, extract time.Duration
	rows, i := 0, 0
	for b.Loop() {
		for _, full := range []bool{i%2 == 0, i%2 != 0} {
			type put struct {
				r store.Resource
				x *store.Index
			}
			puts := make([]put, 0, batch)
			t0 := time.Now()
			for k := range batch {
				e := firstOf(pop.Compartment(i*batch+k), typ)
				var x *store.Index
				if full {
					var err error
					t1 := time.Now()
					if x, err = ix.Index(ctx, typ, e.Body); err != nil {
						b.Fatal(err)
					}
					extract += time.Since(t1)
					rows += x.Len()
				}
				id := fmt.Sprintf("%s-b%d-%v", e.ID, batch, full)
				puts = append(puts, put{store.Resource{Type: typ, ID: id, Version: 1, LastUpdated: time.Now().UTC().Truncate(time.Microsecond), Method: "POST", Body: e.Body}, x})
			}
			err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
				for _, p := range puts {
					if err := tx.Put(ctx, p.r, p.x); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if full {
				indexed += time.Since(t0)
			} else {
				plain += time.Since(t0)
			}
		}
		i++
	}
	n := float64(b.N * batch)
	b.ReportMetric(float64(indexed.Nanoseconds())/n, "indexed-ns/create")
	b.ReportMetric(float64(plain.Nanoseconds())/n, "json-ns/create")
	b.ReportMetric(float64(extract.Nanoseconds())/n, "extract-ns/create")
	b.ReportMetric(float64(indexed)/float64(plain), "ratio")
	b.ReportMetric(float64(rows)/n, "index-rows/create")
}

func firstOf(entries []Entry, typ string) Entry {
	for _, e := range entries {
		if e.Type == typ {
			return e
		}
	}
	panic("no " + typ + " in the compartment")
}
