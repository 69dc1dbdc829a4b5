// Package postgres is the production store: PostgreSQL through pgx/v5 and a pgxpool.
//
// The schema mirrors the embedded store's (gateway/store/sqlite) so that sqlsearch
// builds the same searches for both. Write transactions run at READ COMMITTED: a read
// inside a transaction locks the resource row (SELECT ... FOR UPDATE), and every write
// checks the version it replaces in the statement itself, so no update is ever lost.
// Each Put is one statement (data-modifying CTEs: resource row, history row, index
// rows), hence one round trip.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlsearch"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultMaxConns is the pool size when neither WithMaxConns nor the URL's
// pool_max_conns sets one: enough to keep a small server's cores busy while some
// connections wait on locks or the network.
const DefaultMaxConns = 16

// Option configures Open.
type Option func(*options)

type options struct {
	maxConns    int32
	maxAttempts int
	readLanes   int
	logger      *slog.Logger
}

// WithReadLanes sets how many queries reading resources by id may be in flight at
// once (default: one per CPU, at least 2); reads that arrive while all are busy
// share the next query.
func WithReadLanes(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readLanes = n
		}
	}
}

// WithMaxConns sets the maximum number of pooled connections. It overrides the URL's
// pool_max_conns.
func WithMaxConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxConns = int32(min(n, 1<<30))
		}
	}
}

// WithMaxAttempts sets how many times Update runs its function when the database
// reports a deadlock or serialization failure (default 5).
func WithMaxAttempts(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxAttempts = n
		}
	}
}

// WithLogger sets the logger for retried transactions (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// Store is a store.Store in a PostgreSQL database. Create it with Open and call Migrate
// before use.
type Store struct {
	pool        *pgxpool.Pool
	connConfig  *pgx.ConnConfig // for goose, which needs a *sql.DB
	maxAttempts int
	log         *slog.Logger
	now         func() time.Time

	putSQLs sync.Map // putShape -> string
	reads   *readBatcher
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres://user@host:port/db?...; pgxpool
// settings such as pool_max_conns are honoured). It does not create or upgrade the
// schema: call Migrate.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{maxAttempts: 5, readLanes: max(2, runtime.GOMAXPROCS(0)), logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	switch {
	case o.maxConns > 0:
		cfg.MaxConns = o.maxConns
	case !hasParam(url, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "fhirgw"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	s := &Store{pool: pool, connConfig: cfg.ConnConfig.Copy(), maxAttempts: o.maxAttempts,
		log: o.logger, now: time.Now}
	s.reads = newReadBatcher(o.readLanes, s.readMany)
	// Fail at start-up, not on the first request, when the server is unreachable.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store %s:%d/%s: %w",
			cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return s, nil
}

// hasParam reports whether the connection string (URL or key=value form) sets key.
func hasParam(connString, key string) bool {
	if u, err := url.Parse(connString); err == nil && u.Scheme != "" {
		return u.Query().Has(key)
	}
	for _, f := range strings.Fields(connString) {
		if k, _, ok := strings.Cut(f, "="); ok && strings.TrimSpace(k) == key {
			return true
		}
	}
	return false
}

// provider opens a goose provider on its own database/sql handle; the caller closes
// both with the returned function.
func (s *Store) provider(locked bool) (*goose.Provider, func() error, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, nil, err
	}
	db := stdlib.OpenDB(*s.connConfig.Copy())
	// Out-of-order: migrations developed on parallel branches may land with a lower
	// number than one a database already has; each is applied once all the same.
	popts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true)}
	if locked {
		// Several gateways starting together must not apply the same migration twice.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		popts = append(popts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, popts...)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return p, func() error { return errors.Join(p.Close(), db.Close()) }, nil
}

// Migrate creates or upgrades the schema to the newest version this binary knows.
func (s *Store) Migrate(ctx context.Context) (err error) {
	p, closeFn, err := s.provider(true)
	if err != nil {
		return fmt.Errorf("migrate postgres store: %w", err)
	}
	defer func() { err = errors.Join(err, closeFn()) }()
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate postgres store: %w", err)
	}
	return nil
}

// SchemaVersion returns the newest migration applied to the database (0: none). It
// creates nothing in a database that was never migrated.
func (s *Store) SchemaVersion(ctx context.Context) (v int64, err error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass('goose_db_version') IS NOT NULL").Scan(&exists); err != nil {
		return 0, fmt.Errorf("postgres schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	p, closeFn, err := s.provider(false)
	if err != nil {
		return 0, fmt.Errorf("postgres schema version: %w", err)
	}
	defer func() { err = errors.Join(err, closeFn()) }()
	v, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres schema version: %w", err)
	}
	return v, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres store: %w", err)
	}
	return nil
}

// Close waits for borrowed connections to come back and closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Read implements store.Reader.
func (s *Store) Read(ctx context.Context, typ, id string) (store.Resource, error) {
	return s.reads.read(ctx, typ, id)
}

// readMany reads the current rows of keys for the read batcher.
func (s *Store) readMany(ctx context.Context, keys []resourceKey) (map[resourceKey]store.Resource, error) {
	found := make(map[resourceKey]store.Resource, len(keys))
	if len(keys) == 1 {
		// The one-row statement is cheaper to plan and run than the join.
		r, err := scanResource(s.pool.QueryRow(ctx, selectCurrent, keys[0].typ, keys[0].id))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return nil, err
		default:
			found[keys[0]] = r
		}
		return found, nil
	}
	types, ids := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		types[i], ids[i] = k.typ, k.id
	}
	rows, err := s.pool.Query(ctx, selectCurrentMany, types, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, err
		}
		found[resourceKey{r.Type, r.ID}] = r
	}
	return found, rows.Err()
}

// VRead implements store.Reader.
func (s *Store) VRead(ctx context.Context, typ, id string, version int64) (store.Resource, error) {
	return vread(ctx, s.pool, typ, id, version)
}

// History implements store.Reader.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	return history(ctx, s.pool, q)
}

// Search implements store.Reader.
func (s *Store) Search(ctx context.Context, q store.Query) (store.Page, error) {
	return search(ctx, s.pool, q, s.now())
}

// Update implements store.Store. fn runs in a READ COMMITTED transaction; it runs again
// (up to the WithMaxAttempts limit, after a short random pause) when PostgreSQL aborts
// the transaction with a deadlock or serialization failure.
func (s *Store) Update(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.update(ctx, fn)
		if err == nil || attempt >= s.maxAttempts || !retryable(err) {
			return err
		}
		// Jittered, growing pause: the competing transaction needs a moment to finish,
		// and two retrying peers should not collide again in lockstep.
		pause := time.Duration(1<<min(attempt, 6))*time.Millisecond + rand.N(2*time.Millisecond)
		s.log.DebugContext(ctx, "retrying postgres transaction", "attempt", attempt, "pause", pause, "err", err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

func (s *Store) update(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin postgres transaction: %w", err)
	}
	defer conn.Release()
	t := &tx{s: s, conn: conn, known: make(map[resourceKey]current)}
	t.tx = flushing{t}
	// Also covers a panic in fn; a no-op after Commit.
	defer t.rollback(context.WithoutCancel(ctx))
	err = fn(ctx, t)
	if err == nil && t.pg == nil && len(t.pending) == 1 {
		// fn only wrote one resource (a create, say): its one statement is atomic on
		// its own and commits without BEGIN and COMMIT, one round trip instead of three.
		return t.flushAutocommit(ctx)
	}
	if err == nil {
		// Sends the queued Puts; also returns the error of a failed write fn went on
		// after, so that the transaction never commits half of it.
		err = t.flush(ctx)
	}
	if err != nil {
		return err
	}
	if t.pg == nil {
		return nil // fn did nothing on the database
	}
	if err := t.pg.Commit(ctx); err != nil {
		return fmt.Errorf("commit postgres transaction: %w", err)
	}
	return nil
}

// SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const (
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeUniqueViolation      = "23505"
)

// retryable reports whether err means the transaction lost a race that running it
// again can win.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == codeSerializationFailure || pgErr.Code == codeDeadlockDetected
}

func readErr(op, typ, id string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s %s/%s: %w", op, typ, id, store.ErrNotFound)
	}
	return fmt.Errorf("%s %s/%s: %w", op, typ, id, err)
}

// dialect is the placeholder style of pgx ($1, $2, ...) for sqlsearch.
const dialect = sqlsearch.Postgres
