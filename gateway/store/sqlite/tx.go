package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlsearch"
)

// tx is a write transaction on the single writer connection. Because SQLite allows
// one writer and the store opens it with BEGIN IMMEDIATE, the whole transaction holds
// the write lock: reads inside it are already serialised against every other writer,
// so Read needs no row lock and Lock needs no lock table.
type tx struct {
	s   *Store
	st  *statements
	tx  *sql.Tx
	err error // the first failed Put: the transaction must roll back
}

var _ store.Tx = (*tx)(nil)

func (t *tx) Read(ctx context.Context, typ, id string) (store.Resource, error) {
	r, err := scanResource(t.tx.StmtContext(ctx, t.st.txRead).QueryRowContext(ctx, typ, id))
	if err != nil {
		return store.Resource{}, readErr("read", typ, id, err)
	}
	return r, nil
}

func (t *tx) VRead(ctx context.Context, typ, id string, version int64) (store.Resource, error) {
	r, err := scanResource(t.tx.StmtContext(ctx, t.st.txVRead).QueryRowContext(ctx, typ, id, version))
	if err != nil {
		return store.Resource{}, readErr("vread", typ, id, err)
	}
	return r, nil
}

func (t *tx) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	stmt, err := sqlsearch.BuildHistory(sqlsearch.SQLite, q)
	if err != nil {
		return store.HistoryPage{}, err
	}
	rows, err := t.tx.QueryContext(ctx, stmt.SQL, stmt.Args...)
	if err != nil {
		return store.HistoryPage{}, fmt.Errorf("history %s/%s: %w", q.Type, q.ID, err)
	}
	return historyPage(rows, q.Count)
}

func (t *tx) Search(ctx context.Context, q store.Query) (store.Page, error) {
	query := func(ctx context.Context, s sqlsearch.Statement) (*sql.Rows, error) {
		return t.tx.QueryContext(ctx, s.SQL, s.Args...)
	}
	return search(ctx, query, q, t.s.now())
}

// Lock is a no-op: the transaction already excludes every other writer.
func (t *tx) Lock(ctx context.Context, key string) error { return ctx.Err() }

func (t *tx) Put(ctx context.Context, r store.Resource, idx *store.Index) error {
	if err := t.put(ctx, r, idx); err != nil {
		if t.err == nil {
			t.err = err
		}
		return err
	}
	return nil
}

func (t *tx) put(ctx context.Context, r store.Resource, idx *store.Index) error {
	var cur int64
	var mask int64
	err := t.tx.StmtContext(ctx, t.st.current).QueryRowContext(ctx, r.Type, r.ID).Scan(&cur, &mask)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		cur, mask = 0, 0
	case err != nil:
		return fmt.Errorf("put %s/%s: current version: %w", r.Type, r.ID, err)
	}
	if r.Version != cur+1 {
		return fmt.Errorf("put %s/%s version %d over %d: %w", r.Type, r.ID, r.Version, cur, store.ErrConflict)
	}
	lu := sqlsearch.Micros(r.LastUpdated)
	res, err := t.tx.StmtContext(ctx, t.st.insertHistory).ExecContext(ctx,
		r.Type, r.ID, r.Version, lu, r.Deleted, r.Method, body(r))
	if err != nil {
		return fmt.Errorf("put %s/%s: history: %w", r.Type, r.ID, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("put %s/%s: history seq: %w", r.Type, r.ID, err)
	}
	for k := store.KindToken; k <= store.KindURI; k++ {
		if mask&(1<<k) == 0 {
			continue
		}
		if _, err := t.tx.StmtContext(ctx, t.st.deleteIndex[k]).ExecContext(ctx, r.Type, r.ID); err != nil {
			return fmt.Errorf("put %s/%s: clear index: %w", r.Type, r.ID, err)
		}
	}
	newMask, err := t.insertIndex(ctx, r, idx)
	if err != nil {
		return fmt.Errorf("put %s/%s: index: %w", r.Type, r.ID, err)
	}
	if _, err := t.tx.StmtContext(ctx, t.st.upsertCurrent).ExecContext(ctx,
		r.Type, r.ID, r.Version, lu, r.Deleted, r.Method, body(r), seq, newMask); err != nil {
		return fmt.Errorf("put %s/%s: current: %w", r.Type, r.ID, err)
	}
	return nil
}

// body never hands SQLite a nil slice: the column is NOT NULL and a delete has no body.
func body(r store.Resource) []byte {
	if r.Body == nil {
		return []byte{}
	}
	return r.Body
}

func (t *tx) insertIndex(ctx context.Context, r store.Resource, idx *store.Index) (int64, error) {
	if idx == nil || r.Deleted {
		return 0, nil
	}
	var mask int64
	exec := func(k store.ParamKind, args ...any) error {
		mask |= 1 << k
		_, err := t.tx.StmtContext(ctx, t.st.insertIndex[k]).ExecContext(ctx, append([]any{r.Type, r.ID}, args...)...)
		return err
	}
	for _, e := range idx.Tokens {
		if err := exec(store.KindToken, e.Param, e.System, e.Code, e.Text); err != nil {
			return 0, err
		}
	}
	for _, e := range idx.Strings {
		if err := exec(store.KindString, e.Param, e.Norm, e.Exact); err != nil {
			return 0, err
		}
	}
	for _, e := range idx.References {
		if err := exec(store.KindReference, e.Param, e.TargetType, e.TargetID, e.URL); err != nil {
			return 0, err
		}
	}
	for _, e := range idx.Dates {
		if err := exec(store.KindDate, e.Param, sqlsearch.LowMicros(e.Low), sqlsearch.HighMicros(e.High)); err != nil {
			return 0, err
		}
	}
	for _, e := range idx.Quantities {
		if err := exec(store.KindQuantity, e.Param, e.Value, e.System, e.Code, e.Unit); err != nil {
			return 0, err
		}
	}
	for _, e := range idx.Numbers {
		if err := exec(store.KindNumber, e.Param, e.Value); err != nil {
			return 0, err
		}
	}
	for _, e := range idx.URIs {
		if err := exec(store.KindURI, e.Param, e.URI); err != nil {
			return 0, err
		}
	}
	return mask, nil
}
