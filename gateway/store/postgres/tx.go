package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

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
//
// Puts that need no answer before the next statement (a create, or an update of a row
// the transaction already read) are queued and sent together, in one round trip,
// before anything else runs on the connection (tx.tx flushes first) and before
// commit: a transaction Bundle of 100 entries costs one round trip for its writes
// instead of 100. A queued Put's error is reported by the statement that flushes it,
// and by Update.
//
// The transaction itself begins with the first statement that needs it, so that an
// Update that only creates one resource sends that one statement and nothing else
// (Store.update).
type tx struct {
	s          *Store
	conn       *pgxpool.Conn
	pg         pgx.Tx   // nil until begin
	tx         flushing // every statement goes through here, after the queued Puts
	known      map[resourceKey]current
	pending    []queued
	queuedKeys map[resourceKey]bool            // resources with a queued Put
	peeked     map[resourceKey]*store.Resource // Prefetch's answers (nil: absent) for Peek
	err        error                           // the first failed write
}

// queued is a queued statement: a Put (put set; it answers its seq, or no row when it
// wrote nothing), whose statement flush builds, or a statement that answers nothing.
type queued struct {
	put       *queuedPut
	what, sql string // a statement that is not a Put: what it does, for errors
	args      []any
}

// queuedPut is a queued Put: the version, its index rows and the putSQL shape, with
// the version it replaces when it updates.
type queuedPut struct {
	res       store.Resource
	idx       *store.Index
	shape     putShape
	replacing int64
}

// statement returns the SQL and arguments that carry out q.
func (q queued) statement(s *Store) (string, []any) {
	p := q.put
	if p == nil {
		return q.sql, q.args
	}
	r, body := p.res, p.res.Body
	if body == nil {
		body = []byte{} // a delete has no body; the column is NOT NULL
	}
	args := make([]any, 0, 9+4*7)
	args = append(args, r.Type, r.ID, r.Version, sqlsearch.Micros(r.LastUpdated), r.Deleted,
		r.Method, body, int32(p.shape.newMask))
	if !p.shape.create {
		args = append(args, p.replacing)
	}
	return s.putSQL(p.shape), appendIndexArgs(args, p.idx)
}

// flushing is the transaction's connection as the statements other than queued Puts
// use it: each call first sends the queued Puts.
type flushing struct{ t *tx }

// by is the connection for a statement that reads only the row of typ/id: queued
// statements need not go first unless one of them writes that row (what the
// transaction wrote, it must read back).
func (t *tx) by(typ, id string) querier {
	if t.queuedKeys[resourceKey{typ, id}] {
		return t.tx
	}
	return direct{t}
}

// direct runs a statement without sending the queued ones first.
type direct struct{ t *tx }

func (d direct) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := d.t.begin(ctx); err != nil {
		return nil, err
	}
	return d.t.pg.Query(ctx, sql, args...)
}

func (d direct) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if d.t.err != nil {
		return errRow{d.t.err}
	}
	if err := d.t.begin(ctx); err != nil {
		return errRow{err}
	}
	return d.t.pg.QueryRow(ctx, sql, args...)
}

func (d direct) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := d.t.begin(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return d.t.pg.Exec(ctx, sql, args...)
}

// begin starts the database transaction if it has not started yet.
func (t *tx) begin(ctx context.Context) error {
	if t.pg != nil {
		return nil
	}
	pg, err := t.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("begin postgres transaction: %w", err)
	}
	t.pg = pg
	return nil
}

func (t *tx) rollback(ctx context.Context) {
	if t.pg != nil {
		_ = t.pg.Rollback(ctx)
	}
}

// flushAutocommit sends the one queued statement outside a transaction block, where
// it commits on its own.
func (t *tx) flushAutocommit(ctx context.Context) error {
	pending := t.pending
	t.pending = nil
	return t.send(ctx, t.conn, pending)
}

func (f flushing) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := f.t.flush(ctx); err != nil {
		return nil, err
	}
	return f.t.pg.Query(ctx, sql, args...)
}

func (f flushing) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := f.t.flush(ctx); err != nil {
		return errRow{err}
	}
	return f.t.pg.QueryRow(ctx, sql, args...)
}

func (f flushing) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := f.t.flush(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return f.t.pg.Exec(ctx, sql, args...)
}

// errRow is a pgx.Row that fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// flush sends the queued Puts in one round trip and reports the first that failed.
// After a failure the transaction is done for: every later flush returns that error.
func (t *tx) flush(ctx context.Context) error {
	if t.err != nil {
		return t.err
	}
	if err := t.begin(ctx); err != nil {
		t.err = err
		return err
	}
	if len(t.pending) == 0 {
		return nil
	}
	pending := t.pending
	t.pending = nil
	clear(t.queuedKeys)
	if err := t.send(ctx, t.pg, pending); err != nil {
		t.err = err
		return err
	}
	return nil
}

// batchSender is a connection or a transaction.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// send runs the queued statements in one round trip and reports the first failure.
// Creates of resources nothing else in the queue touches go first, as one bulk
// statement when there are several.
func (t *tx) send(ctx context.Context, to batchSender, pending []queued) error {
	creates, rest := splitCreates(pending)
	var batch pgx.Batch
	if len(creates) > 0 {
		sql, args := t.s.bulkCreateArgs(creates)
		batch.Queue(sql, args...)
	}
	for _, q := range rest {
		sql, args := q.statement(t.s)
		batch.Queue(sql, args...)
	}
	br := to.SendBatch(ctx, &batch) // reads batch until Close
	var first error
	if len(creates) > 0 {
		var n int64
		what := fmt.Sprintf("create %d resources", len(creates))
		if err := br.QueryRow().Scan(&n); err != nil {
			first = writeErr(what, err)
		} else if n != int64(len(creates)) {
			// Some existed already (a concurrent create of the same id): the
			// statement created the others, and the transaction must fail.
			first = fmt.Errorf("%s: %d exist already: %w", what, int64(len(creates))-n, store.ErrConflict)
		}
	}
	for _, q := range rest {
		var err error
		if q.put != nil {
			var seq int64
			err = br.QueryRow().Scan(&seq)
		} else {
			_, err = br.Exec()
		}
		if err != nil && first == nil {
			first = putErr(q, err)
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = fmt.Errorf("put: %w", err)
	}
	return first
}

// splitCreates separates the Puts that create a resource no other queued Put touches,
// when there are at least two of them, from the rest (in queue order).
func splitCreates(pending []queued) (creates []*queuedPut, rest []queued) {
	puts := map[resourceKey]int{}
	n := 0
	for _, q := range pending {
		if q.put != nil {
			puts[resourceKey{q.put.res.Type, q.put.res.ID}]++
			if q.put.shape.create {
				n++
			}
		}
	}
	if n < 2 {
		return nil, pending
	}
	for _, q := range pending {
		if q.put != nil && q.put.shape.create && puts[resourceKey{q.put.res.Type, q.put.res.ID}] == 1 {
			creates = append(creates, q.put)
		} else {
			rest = append(rest, q)
		}
	}
	if len(creates) < 2 {
		return nil, pending
	}
	return creates, rest
}

// putErr explains why the queued statement q failed.
func putErr(q queued, err error) error {
	if q.put == nil {
		return fmt.Errorf("%s: %w", q.what, err)
	}
	r := q.put.res
	what := fmt.Sprintf("put %s/%s version %d", r.Type, r.ID, r.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		// A concurrent transaction created the resource (or, without a prior Read,
		// it already existed), or the version moved: the statement wrote nothing.
		return fmt.Errorf("%s: %w", what, store.ErrConflict)
	}
	return writeErr(what, err)
}

// writeErr wraps the error of a write; a unique violation is also ErrConflict.
func writeErr(what string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation {
		err = errors.Join(store.ErrConflict, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

var _ store.Tx = (*tx)(nil)

// Read implements store.Reader: it locks the row (FOR UPDATE) until the transaction
// ends.
func (t *tx) Read(ctx context.Context, typ, id string) (store.Resource, error) {
	var r store.Resource
	var lu int64
	var mask int32
	err := t.by(typ, id).QueryRow(ctx, selectForUpdate, typ, id).Scan(
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

// Put implements store.Tx with one statement, queued (see tx) when the transaction
// creates the resource or already read it; an update of a resource it did not read
// first costs a round trip to lock the row.
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
	if t.err != nil {
		return t.err
	}
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
	newMask := indexMask(idx)
	p := &queuedPut{res: r, idx: idx, shape: putShape{create: !cur.exists, newMask: newMask}}
	if cur.exists {
		p.shape.oldMask, p.replacing = cur.mask, cur.version
	}
	delete(t.peeked, k)
	t.pending = append(t.pending, queued{put: p})
	if t.queuedKeys == nil {
		t.queuedKeys = make(map[resourceKey]bool)
	}
	t.queuedKeys[k] = true
	// Assumed to succeed: if it does not, the transaction fails as a whole.
	t.known[k] = current{exists: true, version: r.Version, mask: newMask}
	return nil
}
