package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shch/fhirgw/conformance/fhirpkg"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/pgtest"
	"github.com/shch/fhirgw/gateway/store/postgres"
	"github.com/shch/fhirgw/gateway/store/storetest"
)

// open returns a migrated store on a fresh database, closed when tb ends.
func open(tb testing.TB, opts ...postgres.Option) *postgres.Store {
	tb.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.NewDatabase(tb), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("fresh schema version = %d, %v; want 0", v, err)
	}
	// Asking must not create anything: the version stays 0 on a second look.
	if v, err := s.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("schema version asked twice = %d, %v; want 0", v, err)
	}
	for range 2 { // idempotent
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := newestMigration(t)
	if v, err := s.SchemaVersion(ctx); err != nil || v != want {
		t.Fatalf("schema version after migrate = %d, %v; want %d", v, err, want)
	}
	// Bodies are stored lz4-compressed, or uncompressed out of line without lz4.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, table := range []string{"resources", "history"} {
		var compression, storage string
		err := conn.QueryRow(ctx, `SELECT attcompression::text, attstorage::text FROM pg_attribute
			WHERE attrelid = $1::regclass AND attname = 'body'`, table).Scan(&compression, &storage)
		if err != nil {
			t.Fatal(err)
		}
		if compression != "l" && storage != "e" {
			t.Errorf("%s.body: compression %q, storage %q; want lz4 (l) or external (e)", table, compression, storage)
		}
	}
	// Concurrent migrations (gateways starting together) must not trip over each other.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := s.Migrate(ctx); err != nil {
				t.Errorf("concurrent migrate: %v", err)
			}
		})
	}
	wg.Wait()
}

// newestMigration reads the highest version number among the migration files.
func newestMigration(t *testing.T) int64 {
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	sort.Strings(files)
	var v int64
	if _, err := fmt.Sscanf(filepath.Base(files[len(files)-1]), "%d_", &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded against a closed port")
	}
}

func TestOpenMissingDatabase(t *testing.T) {
	// The server is up, the database is not: Open reports it instead of failing later.
	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path += "_missing"
	s, err := postgres.Open(context.Background(), u.String())
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a database that does not exist")
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" {
		t.Errorf("Open = %v, want invalid_catalog_name (3D000)", err)
	}
}

// TestExamples stores official FHIR examples and reads every one back byte for byte.
func TestExamples(t *testing.T) {
	dir := fhirpkg.TestDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	type example struct {
		typ, id string
		body    []byte
	}
	var examples []example
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ ResourceType, ID string }
		if json.Unmarshal(b, &head) != nil || head.ID == "" || head.ResourceType == "" {
			continue // package.json, or an example without an id
		}
		examples = append(examples, example{head.ResourceType, head.ID, b})
		if len(examples) == 300 {
			break
		}
	}
	if len(examples) < 300 {
		t.Fatalf("only %d examples with an id in %s", len(examples), dir)
	}
	s := open(t)
	ctx := context.Background()
	at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	seen := map[[2]string]bool{}
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, e := range examples {
			if seen[[2]string{e.typ, e.id}] {
				continue
			}
			seen[[2]string{e.typ, e.id}] = true
			r := store.Resource{Type: e.typ, ID: e.id, Version: 1, LastUpdated: at, Method: "POST", Body: e.body}
			idx := &store.Index{Tokens: []store.TokenEntry{{Param: "_type", Code: e.typ}}}
			if err := tx.Put(ctx, r, idx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range examples {
		r, err := s.Read(ctx, e.typ, e.id)
		if err != nil {
			t.Fatalf("read %s/%s: %v", e.typ, e.id, err)
		}
		if !bytes.Equal(r.Body, e.body) {
			t.Errorf("%s/%s: body changed in the store (%d bytes in, %d out)", e.typ, e.id, len(e.body), len(r.Body))
		}
	}
	p, err := s.Search(ctx, store.Query{Total: true})
	if err != nil || p.Total != len(seen) {
		t.Errorf("system total = %d, %v; want %d", p.Total, err, len(seen))
	}
}

// TestCreateRace creates the same resource from many transactions that do not read it
// first: exactly one wins, the others get ErrConflict and write nothing.
func TestCreateRace(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	const workers = 8
	var wins, conflicts atomic.Int32
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			<-start
			err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
				r := store.Resource{Type: "Patient", ID: "race", Version: 1, LastUpdated: time.Now(),
					Method: "PUT", Body: fmt.Appendf(nil, `{"w":%d}`, w)}
				return tx.Put(ctx, r, &store.Index{Tokens: []store.TokenEntry{{Param: "identifier", System: "w", Code: fmt.Sprint(w)}}})
			})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("worker %d: %v", w, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != workers-1 {
		t.Errorf("%d wins, %d conflicts; want 1 and %d", wins.Load(), conflicts.Load(), workers-1)
	}
	h, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "race", Count: 100})
	if err != nil || len(h.Versions) != 1 {
		t.Errorf("history: %d versions, %v; want 1", len(h.Versions), err)
	}
	p, err := s.Search(ctx, store.Query{Type: "Patient", Count: 10, Where: []store.Clause{{
		Param: "identifier", Kind: store.KindToken, Tokens: []store.TokenMatch{{System: "w"}}}}})
	if err != nil || len(p.Resources) != 1 {
		t.Fatalf("search by the writers' identifiers: %d, %v; want 1", len(p.Resources), err)
	}
	r, err := s.Read(ctx, "Patient", "race")
	if err != nil || !bytes.Equal(r.Body, p.Resources[0].Body) {
		t.Errorf("index rows belong to another writer than the body: %s vs %s", r.Body, p.Resources[0].Body)
	}
}

// TestUpdateWithoutRead replaces a version without reading it first in the transaction
// (the path that looks the row up itself), several times in one transaction.
func TestUpdateWithoutRead(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	tokens := func(code string) *store.Index {
		return &store.Index{Tokens: []store.TokenEntry{{Param: "code", System: "s", Code: code}},
			Strings: []store.StringEntry{{Param: "name", Norm: code, Exact: code}}}
	}
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.Put(ctx, store.Resource{Type: "Basic", ID: "b", Version: 1, LastUpdated: at, Method: "POST", Body: []byte(`{"v":1}`)}, tokens("one"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		for v := int64(2); v <= 4; v++ {
			r := store.Resource{Type: "Basic", ID: "b", Version: v, LastUpdated: at.Add(time.Duration(v) * time.Second),
				Method: "PUT", Body: fmt.Appendf(nil, `{"v":%d}`, v)}
			if err := tx.Put(ctx, r, tokens(fmt.Sprint("v", v))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]int{"one": 0, "v2": 0, "v3": 0, "v4": 1} {
		p, err := s.Search(ctx, store.Query{Type: "Basic", Count: 10, Where: []store.Clause{{
			Param: "code", Kind: store.KindToken, Tokens: []store.TokenMatch{{AnySystem: true, Code: code}}}}})
		if err != nil || len(p.Resources) != want {
			t.Errorf("code %s: %d matches, %v; want %d", code, len(p.Resources), err, want)
		}
	}
	r, err := s.Read(ctx, "Basic", "b")
	if err != nil || r.Version != 4 || string(r.Body) != `{"v":4}` {
		t.Errorf("read = %+v, %v", r, err)
	}
}

// TestDeadlockRetried makes two transactions lock two resources in opposite orders.
// PostgreSQL aborts one with deadlock_detected; Update must run it again, so both
// succeed.
func TestDeadlockRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for PostgreSQL's deadlock_timeout (1s)")
	}
	s := open(t)
	ctx := context.Background()
	at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"a", "b"} {
		err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.Put(ctx, store.Resource{Type: "Basic", ID: id, Version: 1, LastUpdated: at, Method: "POST", Body: []byte(`{}`)}, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var both sync.WaitGroup
	both.Add(2)
	var calls atomic.Int32
	bump := func(first, second string) error {
		attempt := 0
		return s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			calls.Add(1)
			attempt++
			for i, id := range []string{first, second} {
				cur, err := tx.Read(ctx, "Basic", id)
				if err != nil {
					return err
				}
				if i == 0 && attempt == 1 {
					// Both hold their first lock before either asks for its second.
					both.Done()
					both.Wait()
				}
				cur.Version++
				cur.LastUpdated = cur.LastUpdated.Add(time.Second)
				if err := tx.Put(ctx, cur, nil); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := bump("a", "b"); err != nil {
			t.Errorf("a then b: %v", err)
		}
	})
	wg.Go(func() {
		if err := bump("b", "a"); err != nil {
			t.Errorf("b then a: %v", err)
		}
	})
	wg.Wait()
	if calls.Load() < 3 {
		t.Errorf("fn ran %d times; a deadlock should have made one run again", calls.Load())
	}
	for _, id := range []string{"a", "b"} {
		if r, err := s.Read(ctx, "Basic", id); err != nil || r.Version != 3 {
			t.Errorf("Basic/%s = version %d, %v; want 3", id, r.Version, err)
		}
	}
}

// TestNoRetryOnOwnError checks that an error of fn's own is returned at once.
func TestNoRetryOnOwnError(t *testing.T) {
	s := open(t)
	calls := 0
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(ctx context.Context, tx store.Tx) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("Update = %v after %d calls; want boom after 1", err, calls)
	}
}

// TestMessageAppliedAcrossProcesses applies one message from two gateways (two stores
// on one database) that both found no applied copy: the second to record it waits for
// the first to commit, then gets ErrConflict and writes nothing.
func TestMessageAppliedAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	var stores [2]*postgres.Store
	for i := range stores {
		s, err := postgres.Open(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	var checked sync.WaitGroup
	checked.Add(len(stores))
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			first := true
			errs[i] = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
				if _, err := tx.FindAppliedMessage(ctx, "HIS^H1", "M1"); !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("find applied: %v", err)
				}
				if first {
					first = false
					checked.Done()
					checked.Wait()
				}
				id := fmt.Sprintf("g%d", i)
				if err := tx.Put(ctx, store.Resource{Type: "Patient", ID: id, Version: 1, LastUpdated: time.Now(), Method: "POST", Body: []byte(`{}`)}, nil); err != nil {
					return err
				}
				_, err := tx.PutMessage(ctx, store.Message{Channel: "mllp", Sender: "HIS^H1", ControlID: "M1", Type: "ADT^A01",
					Status: store.MessageApplied, Raw: []byte("MSH|"), Resources: []string{"Patient/" + id + "/_history/1"}})
				return err
			})
		})
	}
	wg.Wait()
	var ok, conflicts int
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrConflict):
			conflicts++
		default:
			t.Errorf("gateway %d: %v", i, err)
		}
	}
	if ok != 1 || conflicts != 1 {
		t.Fatalf("%d applied, %d conflicts; want 1 and 1 (%v)", ok, conflicts, errs)
	}
	m, err := stores[0].FindAppliedMessage(ctx, "HIS^H1", "M1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := stores[1].Search(ctx, store.Query{Type: "Patient", Count: 10})
	if err != nil || len(p.Resources) != 1 || m.Resources[0] != "Patient/"+p.Resources[0].ID+"/_history/1" {
		t.Errorf("patients %v, %v; want only the one message %v produced", p.Resources, err, m.Resources)
	}
}

// TestConcurrentReads reads many resources from many goroutines at once, so that
// reads share queries, while a writer updates one of them and reads each version
// back as soon as it has committed: every reader must get its own resource (or
// not found), and no read may miss a write committed before it began.
func TestConcurrentReads(t *testing.T) {
	s := open(t, postgres.WithReadLanes(1)) // one lane: reads queue and batch the most
	ctx := context.Background()
	at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	const n = 40
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		for i := range n {
			r := store.Resource{Type: "Basic", ID: fmt.Sprint("b", i), Version: 1, LastUpdated: at,
				Method: "PUT", Body: fmt.Appendf(nil, `{"i":%d}`, i)}
			if err := tx.Put(ctx, r, nil); err != nil {
				return err
			}
		}
		return tx.Put(ctx, store.Resource{Type: "Basic", ID: "w", Version: 1, LastUpdated: at, Method: "PUT", Body: []byte(`{"v":1}`)}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for k := range 60 {
				i := (g*7 + k) % (n + 5) // ids b40..b44 do not exist
				r, err := s.Read(ctx, "Basic", fmt.Sprint("b", i))
				switch {
				case i >= n:
					if !errors.Is(err, store.ErrNotFound) {
						t.Errorf("read b%d: %v, want not found", i, err)
					}
				case err != nil:
					t.Errorf("read b%d: %v", i, err)
				case string(r.Body) != fmt.Sprintf(`{"i":%d}`, i) || r.ID != fmt.Sprint("b", i):
					t.Errorf("read b%d: got %s %s", i, r.ID, r.Body)
				}
			}
		})
	}
	wg.Go(func() {
		for v := int64(2); v <= 30; v++ {
			err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
				return tx.Put(ctx, store.Resource{Type: "Basic", ID: "w", Version: v, LastUpdated: at.Add(time.Duration(v) * time.Second),
					Method: "PUT", Body: fmt.Appendf(nil, `{"v":%d}`, v)}, nil)
			})
			if err != nil {
				t.Errorf("update w to %d: %v", v, err)
				return
			}
			if r, err := s.Read(ctx, "Basic", "w"); err != nil || r.Version != v {
				t.Errorf("read w after committing version %d: version %d, %v", v, r.Version, err)
			}
		}
	})
	wg.Wait()
}
