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
	var v []byte
	err := q.QueryRowContext(ctx, "SELECT value FROM gateway_state WHERE key = ?1", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("state %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", key, err)
	}
	return v, nil
}

func listState(ctx context.Context, q execQuerier, prefix string) ([]store.StateEntry, error) {
	// A range on the key rather than LIKE, so that "_" and "%" in a prefix are literal.
	rows, err := q.QueryContext(ctx, "SELECT key, value FROM gateway_state WHERE key >= ?1 AND key < ?2 ORDER BY key",
		prefix, prefix+"\U0010FFFF")
	if err != nil {
		return nil, fmt.Errorf("list state %s: %w", prefix, err)
	}
	defer rows.Close()
	var out []store.StateEntry
	for rows.Next() {
		var e store.StateEntry
		if err := rows.Scan(&e.Key, &e.Value); err != nil {
			return nil, fmt.Errorf("list state %s: %w", prefix, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
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
	if value == nil {
		value = []byte{}
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO gateway_state (key, value, updated) VALUES (?1, ?2, ?3)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated`, key, value, sqlsearch.Micros(t.s.now()))
	if err != nil {
		err = fmt.Errorf("put state %s: %w", key, err)
		if t.err == nil {
			t.err = err
		}
	}
	return err
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
