package sqlite_test

import (
	"context"
	"testing"

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlite"
	"github.com/shch/fhirgw/gateway/store/storetest"
)

func open(t *testing.T) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("fresh schema version = %d, %v", v, err)
	}
	for range 2 { // idempotent
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v < 1 {
		t.Fatalf("schema version after migrate = %d, %v", v, err)
	}
}
