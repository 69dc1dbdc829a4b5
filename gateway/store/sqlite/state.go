package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlsearch"
)

type execQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func getState(ctx context.Context, q execQuerier, key string) ([]byte, error) {
	stmt := sqlsearch.BuildGetState(sqlsearch.SQLite, key)
	var v []byte
	if err := q.QueryRowContext(ctx, stmt.SQL, stmt.Args...).Scan(&v); err != nil {
		return nil, sqlsearch.LookupErr("state "+key, err)
	}
	return v, nil
}

func listState(ctx context.Context, q execQuerier, prefix string) ([]store.StateEntry, error) {
	stmt := sqlsearch.BuildListState(sqlsearch.SQLite, prefix)
	rows, err := q.QueryContext(ctx, stmt.SQL, stmt.Args...)
	if err != nil {
		return nil, fmt.Errorf("list state %s: %w", prefix, err)
	}
	defer rows.Close()
	out, err := sqlsearch.ScanStateEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("list state %s: %w", prefix, err)
	}
	return out, nil
}

// GetState implements store.StateReader.
func (s *Store) GetState(ctx context.Context, key string) ([]byte, error) {
	return getState(ctx, s.r, key)
}

// ListState implements store.StateReader.
func (s *Store) ListState(ctx context.Context, prefix string) ([]store.StateEntry, error) {
	return listState(ctx, s.r, prefix)
}

func (t *tx) GetState(ctx context.Context, key string) ([]byte, error) {
	return getState(ctx, t.tx, key)
}

func (t *tx) ListState(ctx context.Context, prefix string) ([]store.StateEntry, error) {
	return listState(ctx, t.tx, prefix)
}

func (t *tx) PutState(ctx context.Context, key string, value []byte) error {
	stmt := sqlsearch.BuildPutState(sqlsearch.SQLite, key, value, t.s.now())
	if _, err := t.tx.ExecContext(ctx, stmt.SQL, stmt.Args...); err != nil {
		err = fmt.Errorf("put state %s: %w", key, err)
		if t.err == nil {
			t.err = err
		}
		return err
	}
	return nil
}

// Reindex implements store.Tx.
func (t *tx) Reindex(ctx context.Context, r store.Resource, idx *store.Index) (bool, error) {
	var version int64
	var mask int64
	var deleted bool
	err := t.tx.QueryRowContext(ctx, "SELECT version, idx_mask, deleted FROM resources WHERE type = ?1 AND id = ?2", r.Type, r.ID).Scan(&version, &mask, &deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reindex %s/%s: %w", r.Type, r.ID, err)
	}
	if version != r.Version || deleted {
		return false, nil
	}
	for k := store.KindToken; k <= store.KindURI; k++ {
		if mask&(1<<k) == 0 {
			continue
		}
		if _, err := t.tx.StmtContext(ctx, t.st.deleteIndex[k]).ExecContext(ctx, r.Type, r.ID); err != nil {
			return false, fmt.Errorf("reindex %s/%s: clear index: %w", r.Type, r.ID, err)
		}
	}
	newMask, err := t.insertIndex(ctx, r, idx)
	if err != nil {
		return false, fmt.Errorf("reindex %s/%s: %w", r.Type, r.ID, err)
	}
	if _, err := t.tx.ExecContext(ctx, "UPDATE resources SET idx_mask = ?3 WHERE type = ?1 AND id = ?2", r.Type, r.ID, newMask); err != nil {
		return false, fmt.Errorf("reindex %s/%s: %w", r.Type, r.ID, err)
	}
	return true, nil
}

// Peek implements store.Tx; the SQLite transaction holds the only write lock, so it is
// Read.
func (t *tx) Peek(ctx context.Context, typ, id string) (store.Resource, error) {
	return t.Read(ctx, typ, id)
}

// Prefetch implements store.Tx: an embedded database has no round trips to save.
func (t *tx) Prefetch(context.Context, []store.Ref) error { return nil }
