package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlsearch"
)

type resourceKey struct{ typ, id string }

// current is what the transaction knows of a resource row it has locked (or found
// absent): enough for Put to check the version and clear the old index rows without
// asking the database again.
type current struct {
	exists  bool
	version int64
	mask    uint32
}

// tx is a store.Tx on one pgx transaction. Not safe for concurrent use, like the
// connection under it.
type tx struct {
	s     *Store
	tx    pgx.Tx
	known map[resourceKey]current
	err   error // the first failed Put
}

var _ store.Tx = (*tx)(nil)

// Read implements store.Reader: it locks the row (FOR UPDATE) until the transaction
// ends.
func (t *tx) Read(ctx context.Context, typ, id string) (store.Resource, error) {
	var r store.Resource
	var lu int64
	var mask int32
	err := t.tx.QueryRow(ctx, selectForUpdate, typ, id).Scan(
		&r.Type, &r.ID, &r.Version, &lu, &r.Deleted, &r.Method, &r.Body, &r.Seq, &mask)
	if errors.Is(err, pgx.ErrNoRows) {
		// Nothing to lock: a concurrent create is caught by Put's ON CONFLICT instead.
		t.known[resourceKey{typ, id}] = current{}
	}
	if err != nil {
		return store.Resource{}, readErr("read", typ, id, err)
	}
	r.LastUpdated = sqlsearch.FromMicros(lu)
	t.known[resourceKey{typ, id}] = current{exists: true, version: r.Version, mask: uint32(mask)}
	return r, nil
}

// VRead implements store.Reader.
func (t *tx) VRead(ctx context.Context, typ, id string, version int64) (store.Resource, error) {
	return vread(ctx, t.tx, typ, id, version)
}

// History implements store.Reader.
func (t *tx) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	return history(ctx, t.tx, q)
}

// Search implements store.Reader. At READ COMMITTED it sees every transaction committed
// before it starts, so a search after Lock sees what the previous holder wrote.
func (t *tx) Search(ctx context.Context, q store.Query) (store.Page, error) {
	return search(ctx, t.tx, q, t.s.now())
}

// Lock implements store.Tx with a transaction-scoped advisory lock on a 64-bit hash of
// key (a collision only makes two unrelated requests wait for each other).
func (t *tx) Lock(ctx context.Context, key string) error {
	h := fnv.New64a()
	h.Write([]byte(key))
	if _, err := t.tx.Exec(ctx, advisoryLock, int64(h.Sum64())); err != nil {
		return fmt.Errorf("lock %q: %w", key, err)
	}
	return nil
}

// Put implements store.Tx in one statement when the transaction creates the resource
// or already read it; an update of a resource it did not read first costs one more
// round trip to lock the row.
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
	if r.Type == "" || r.ID == "" {
		return fmt.Errorf("put %s/%s: resource without type or id", r.Type, r.ID)
	}
	k := resourceKey{r.Type, r.ID}
	cur, ok := t.known[k]
	// Version 1 needs no lookup: the insert itself fails if the resource exists.
	if !ok && r.Version != 1 {
		var mask int32
		err := t.tx.QueryRow(ctx, selectMask, r.Type, r.ID).Scan(&cur.version, &mask)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("put %s/%s: lock current version: %w", r.Type, r.ID, err)
		default:
			cur.exists, cur.mask = true, uint32(mask)
		}
		ok = true
	}
	if ok && r.Version != cur.version+1 {
		return fmt.Errorf("put %s/%s version %d over version %d: %w",
			r.Type, r.ID, r.Version, cur.version, store.ErrConflict)
	}
	body := r.Body
	if body == nil {
		body = []byte{} // a delete has no body; the column is NOT NULL
	}
	newMask := indexMask(idx)
	shape := putShape{create: !cur.exists, newMask: newMask}
	args := make([]any, 0, 9+4*7)
	args = append(args, r.Type, r.ID, r.Version, sqlsearch.Micros(r.LastUpdated), r.Deleted,
		r.Method, body, int32(newMask))
	if cur.exists {
		shape.oldMask = cur.mask
		args = append(args, cur.version)
	}
	args = appendIndexArgs(args, idx)
	var seq int64
	err := t.tx.QueryRow(ctx, t.s.putSQL(shape), args...).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		// A concurrent transaction created the resource (or, without a prior Read,
		// it already existed): the statement wrote nothing.
		return fmt.Errorf("put %s/%s version %d: %w", r.Type, r.ID, r.Version, store.ErrConflict)
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation {
			err = errors.Join(store.ErrConflict, err)
		}
		return fmt.Errorf("put %s/%s version %d: %w", r.Type, r.ID, r.Version, err)
	}
	t.known[k] = current{exists: true, version: r.Version, mask: newMask}
	return nil
}
