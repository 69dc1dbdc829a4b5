package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shch/fhirgw/conformance/fhirpkg"
	"github.com/shch/fhirgw/gateway/store"
)

// patientBody is the official Patient example: a realistic size (about 2 KB) and shape.
func patientBody(b *testing.B) []byte {
	body, err := os.ReadFile(filepath.Join(fhirpkg.TestDir(b), "Patient-example.json"))
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// patientIndex is roughly what the indexer extracts from the Patient example: 15 rows
// in four tables.
func patientIndex(i int) *store.Index {
	id := fmt.Sprint(i)
	born := time.Date(1970+i%50, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC)
	return &store.Index{
		Tokens: []store.TokenEntry{
			{Param: "identifier", System: "urn:oid:1.2.36.146.595.217.0.1", Code: "MRN" + id},
			{Param: "identifier", System: "urn:oid:2.16.840.1.113883.2.4.6.3", Code: "ID" + id},
			{Param: "gender", System: "http://hl7.org/fhir/administrative-gender", Code: "male"},
			{Param: "active", System: "", Code: "true"},
			{Param: "telecom", System: "phone", Code: "(03) 5555 " + id},
			{Param: "phone", System: "phone", Code: "(03) 5555 " + id},
		},
		Strings: []store.StringEntry{
			{Param: "family", Norm: "chalmers", Exact: "Chalmers"},
			{Param: "given", Norm: "peter", Exact: "Peter"},
			{Param: "given", Norm: "james", Exact: "James"},
			{Param: "name", Norm: "chalmers", Exact: "Chalmers"},
			{Param: "address", Norm: "534 erewhon st", Exact: "534 Erewhon St"},
			{Param: "address-city", Norm: "pleasantville", Exact: "PleasantVille"},
		},
		Dates: []store.DateEntry{{Param: "birthdate", Low: born, High: born.AddDate(0, 0, 1).Add(-time.Microsecond)}},
		References: []store.ReferenceEntry{
			{Param: "organization", TargetType: "Organization", TargetID: "1"},
			{Param: "general-practitioner", TargetType: "Practitioner", TargetID: "p" + id},
		},
	}
}

func createPatients(b *testing.B, s store.Store, body []byte, n int) {
	ctx := context.Background()
	at := time.Now().UTC()
	for start := 0; start < n; start += 100 {
		err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			for i := start; i < min(start+100, n); i++ {
				r := store.Resource{Type: "Patient", ID: fmt.Sprint("p", i), Version: 1, LastUpdated: at, Method: "POST", Body: body}
				if err := tx.Put(ctx, r, patientIndex(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead reads existing patients by id from GOMAXPROCS goroutines; ns/op is the
// inverse of the throughput.
func BenchmarkRead(b *testing.B) {
	s := open(b)
	const n = 2000
	createPatients(b, s, patientBody(b), n)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(4) // a request spends most of a read waiting on the server
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprint("p", rand.IntN(n))
			if _, err := s.Read(ctx, "Patient", id); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// BenchmarkPutCreate creates one patient per transaction from several goroutines, as
// concurrent POSTs do.
func BenchmarkPutCreate(b *testing.B) {
	s := open(b)
	body := patientBody(b)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
				r := store.Resource{Type: "Patient", ID: fmt.Sprint("c", i), Version: 1, LastUpdated: time.Now(), Method: "POST", Body: body}
				return tx.Put(ctx, r, patientIndex(i))
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// BenchmarkPutBatch100 writes 100 new patients in one transaction, as a transaction
// Bundle of 100 entries does; ns/op is per transaction.
func BenchmarkPutBatch100(b *testing.B) {
	s := open(b)
	body := patientBody(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			for j := range 100 {
				n := i*100 + j
				r := store.Resource{Type: "Patient", ID: fmt.Sprint("b", n), Version: 1, LastUpdated: time.Now(), Method: "POST", Body: body}
				if err := tx.Put(ctx, r, patientIndex(n)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkReadPut updates existing patients (Read locks, Put replaces the index) from
// several goroutines, as concurrent PUTs of different resources do.
func BenchmarkReadPut(b *testing.B) {
	s := open(b)
	const n = 2000
	body := patientBody(b)
	createPatients(b, s, body, n)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := rand.IntN(n)
			err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
				cur, err := tx.Read(ctx, "Patient", fmt.Sprint("p", i))
				if err != nil {
					return err
				}
				cur.Version++
				cur.LastUpdated = time.Now()
				cur.Method = "PUT"
				return tx.Put(ctx, cur, patientIndex(i))
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}
