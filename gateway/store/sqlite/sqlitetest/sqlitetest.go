// Package sqlitetest gives tests a migrated embedded store in a temporary
// directory, as pgtest gives them a PostgreSQL database.
package sqlitetest

import (
	"context"
	"testing"

	"github.com/shch/fhirgw/gateway/store/sqlite"
)

// New opens a migrated store in t's temporary directory, closed when t ends.
func New(t testing.TB) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return st
}
