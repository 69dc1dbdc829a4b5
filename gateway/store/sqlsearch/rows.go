package sqlsearch

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/shch/fhirgw/gateway/store"
)

// Rows is what reading needs of either driver's result set (*sql.Rows, pgx.Rows).
// Closing stays with the caller: the two Close methods differ.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// LookupErr wraps the error of a single-row lookup with op, reporting a missing row
// as store.ErrNotFound. Both drivers' no-rows errors match sql.ErrNoRows (pgx's wraps
// it).
func LookupErr(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", op, err)
}
