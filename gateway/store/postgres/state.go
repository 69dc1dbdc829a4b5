package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlsearch"
)

func getState(ctx context.Context, q querier, key string) ([]byte, error) {
	stmt := sqlsearch.BuildGetState(dialect, key)
	var v []byte
	if err := q.QueryRow(ctx, stmt.SQL, stmt.Args...).Scan(&v); err != nil {
		return nil, sqlsearch.LookupErr("state "+key, err)
	}
	return v, nil
}

func listState(ctx context.Context, q querier, prefix string) ([]store.StateEntry, error) {
	stmt := sqlsearch.BuildListState(dialect, prefix)
	rows, err := q.Query(ctx, stmt.SQL, stmt.Args...)
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
	return getState(ctx, s.pool, key)
}

// ListState implements store.StateReader.
func (s *Store) ListState(ctx context.Context, prefix string) ([]store.StateEntry, error) {
	return listState(ctx, s.pool, prefix)
}

func (t *tx) GetState(ctx context.Context, key string) ([]byte, error) {
	return getState(ctx, t.tx, key)
}

func (t *tx) ListState(ctx context.Context, prefix string) ([]store.StateEntry, error) {
	return listState(ctx, t.tx, prefix)
}

func (t *tx) PutState(ctx context.Context, key string, value []byte) error {
	stmt := sqlsearch.BuildPutState(dialect, key, value, t.s.now())
	if _, err := t.tx.Exec(ctx, stmt.SQL, stmt.Args...); err != nil {
		return t.fail(fmt.Errorf("put state %s: %w", key, err))
	}
	return nil
}

// Prefetch implements store.Tx: one statement reads the current versions of refs (no
// lock, as Peek) for the Peeks that follow.
func (t *tx) Prefetch(ctx context.Context, refs []store.Ref) error {
	if len(refs) < 2 {
		return nil
	}
	types, ids := make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		types[i], ids[i] = r.Type, r.ID
	}
	rows, err := direct{t}.Query(ctx, selectCurrentMany, types, ids)
	if err != nil {
		return fmt.Errorf("prefetch: %w", err)
	}
	defer rows.Close()
	if t.peeked == nil {
		t.peeked = make(map[resourceKey]*store.Resource, len(refs))
	}
	for _, r := range refs {
		t.peeked[resourceKey{r.Type, r.ID}] = nil // absent unless a row says otherwise
	}
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return fmt.Errorf("prefetch: %w", err)
		}
		t.peeked[resourceKey{r.Type, r.ID}] = &r
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("prefetch: %w", err)
	}
	return nil
}

// Reindex implements store.Tx: lock the row, then one statement clears the old index
// rows and writes the new ones if the version is still the one indexed.
func (t *tx) Reindex(ctx context.Context, r store.Resource, idx *store.Index) (bool, error) {
	var version int64
	var mask int32
	var deleted bool
	err := t.tx.QueryRow(ctx, "SELECT version, idx_mask, deleted FROM resources WHERE type = $1 AND id = $2 FOR UPDATE",
		r.Type, r.ID).Scan(&version, &mask, &deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reindex %s/%s: %w", r.Type, r.ID, err)
	}
	if version != r.Version || deleted {
		return false, nil
	}
	newMask := indexMask(idx)
	var b strings.Builder
	b.WriteString("WITH r AS (UPDATE resources SET idx_mask = $3 WHERE type = $1 AND id = $2 RETURNING 1)")
	for k := store.KindToken; k <= store.KindURI; k++ {
		if uint32(mask)&maskBit(k) != 0 {
			table, _ := sqlsearch.IndexTable(k)
			fmt.Fprintf(&b, ",\nd%d AS (DELETE FROM %s x USING r WHERE x.type = $1 AND x.id = $2)", k, table)
		}
	}
	n := 3
	for k := store.KindToken; k <= store.KindURI; k++ {
		if newMask&maskBit(k) == 0 {
			continue
		}
		table, _ := sqlsearch.IndexTable(k)
		n++
		cols := []string{"param"}
		arrays := []string{"$" + strconv.Itoa(n) + "::text[]"}
		for _, c := range indexColumns[k] {
			n++
			cols = append(cols, c.name)
			arrays = append(arrays, "$"+strconv.Itoa(n)+"::"+c.typ+"[]")
		}
		fmt.Fprintf(&b, ",\ni%d AS (INSERT INTO %s (type, id, %s) SELECT $1, $2, u.* FROM r, unnest(%s) u)",
			k, table, strings.Join(cols, ", "), strings.Join(arrays, ", "))
	}
	b.WriteString("\nSELECT count(*) FROM r")
	args := appendIndexArgs([]any{r.Type, r.ID, int32(newMask)}, idx)
	var done int
	if err := t.tx.QueryRow(ctx, b.String(), args...).Scan(&done); err != nil {
		err = fmt.Errorf("reindex %s/%s: %w", r.Type, r.ID, err)
		if t.err == nil {
			t.err = err
		}
		return false, err
	}
	if k, ok := t.known[resourceKey{r.Type, r.ID}]; ok {
		k.mask = newMask
		t.known[resourceKey{r.Type, r.ID}] = k
	}
	return done == 1, nil
}

// Peek implements store.Tx: a plain read on the transaction's connection (at READ
// COMMITTED it sees what is committed, and this transaction's own writes), no lock.
func (t *tx) Peek(ctx context.Context, typ, id string) (store.Resource, error) {
	k := resourceKey{typ, id}
	if r, ok := t.peeked[k]; ok && !t.queuedKeys[k] {
		delete(t.peeked, k) // one answer per Prefetch: later Peeks read again
		if r == nil {
			return store.Resource{}, readErr("peek", typ, id, pgx.ErrNoRows)
		}
		return *r, nil
	}
	r, err := scanResource(t.by(typ, id).QueryRow(ctx, selectCurrent, typ, id))
	if err != nil {
		return store.Resource{}, readErr("peek", typ, id, err)
	}
	return r, nil
}
