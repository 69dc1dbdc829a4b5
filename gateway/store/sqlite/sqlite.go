// Package sqlite is the embedded store: one SQLite database file per gateway, no server.
//
// It uses modernc.org/sqlite (pure Go). The database runs in WAL mode with one writer
// connection, on which every Update runs as a BEGIN IMMEDIATE transaction, and a pool of
// read connections, so that concurrent requests read in parallel while writes queue on
// the writer and never fail with SQLITE_BUSY among themselves.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlsearch"
)

// FileName is the name of the database file inside the store's directory.
const FileName = "fhirgw.db"

//go:embed migrations/*.sql
var migrations embed.FS

// Option configures Open.
type Option func(*options)

type options struct {
	readConns   int
	busyTimeout time.Duration
}

// WithReadConns sets the size of the read connection pool (default: twice GOMAXPROCS,
// at least 4).
func WithReadConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readConns = n
		}
	}
}

// WithBusyTimeout sets how long a connection waits for a lock held by another process
// sharing the file (default 10s).
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.busyTimeout = d
		}
	}
}

// Store is a store.Store kept in <dir>/fhirgw.db. Create it with Open and call Migrate
// before use.
type Store struct {
	path string
	w    *sql.DB // exactly one connection: every write transaction
	r    *sql.DB // read pool, query_only
	now  func() time.Time

	mu      sync.Mutex // guards st
	st      *statements
	search  *stmtCache // search statements prepared on r
	history *stmtCache
	// messages holds the message listings: one shape per combination of filters.
	messages *stmtCache
}

var _ store.Store = (*Store)(nil)

// Open opens (creating dir and the file if needed) the database in dir. It does not
// create or upgrade the schema: call Migrate.
func Open(ctx context.Context, dir string, opts ...Option) (*Store, error) {
	o := options{readConns: max(4, 2*runtime.GOMAXPROCS(0)), busyTimeout: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	path := filepath.Join(dir, FileName)
	w, err := sql.Open("sqlite", dsn(path, o, false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	// One writer: SQLite allows one write transaction at a time anyway, and queueing in
	// database/sql is cheaper and fairer than busy-waiting on the file lock.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn(path, o, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.readConns)
	r.SetMaxIdleConns(o.readConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s := &Store{path: path, w: w, r: r, now: time.Now,
		search: newStmtCache(r, 256), history: newStmtCache(r, 32), messages: newStmtCache(r, 128)}
	// The writer connection switches the file to WAL (a persistent setting) before any
	// reader opens it.
	if err := w.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return s, nil
}

func dsn(path string, o options, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL: a commit is on disk before it returns, as PostgreSQL's is. NORMAL would
	// survive a crash of the process but not of the machine, and the gateway answers
	// 201 and AA only for what is committed.
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "cache_size(-16000)")
	if readOnly {
		q.Add("_pragma", "query_only(ON)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

func (s *Store) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	// The writer connection runs the migrations, so they queue behind writes like any
	// other write transaction.
	return goose.NewProvider(goose.DialectSQLite3, s.w, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
}

// Migrate creates or upgrades the schema to the newest version this binary knows.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	return nil
}

// SchemaVersion returns the newest migration applied to the database (0: none).
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	var n int
	err := s.w.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'goose_db_version'").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite schema version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	p, err := s.provider()
	if err != nil {
		return 0, fmt.Errorf("sqlite schema version: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlite schema version: %w", err)
	}
	return v, nil
}

// Ping reports whether both connection pools can reach the database file.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite store: %w", err)
	}
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite store: %w", err)
	}
	return nil
}

// Close waits for running statements and closes the database.
func (s *Store) Close() error {
	s.search.close()
	s.history.close()
	s.messages.close()
	s.mu.Lock()
	if s.st != nil {
		s.st.close()
		s.st = nil
	}
	s.mu.Unlock()
	return errors.Join(s.r.Close(), s.w.Close())
}

// stmts returns the prepared statements, preparing them on first use: Open cannot,
// because the schema may not exist before Migrate.
func (s *Store) stmts(ctx context.Context) (*statements, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st != nil {
		return s.st, nil
	}
	st, err := prepare(ctx, s.r, s.w)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: prepare statements: %w", err)
	}
	s.st = st
	return st, nil
}

// Read implements store.Reader.
func (s *Store) Read(ctx context.Context, typ, id string) (store.Resource, error) {
	st, err := s.stmts(ctx)
	if err != nil {
		return store.Resource{}, err
	}
	r, err := scanResource(st.read.QueryRowContext(ctx, typ, id))
	if err != nil {
		return store.Resource{}, readErr("read", typ, id, err)
	}
	return r, nil
}

// VRead implements store.Reader.
func (s *Store) VRead(ctx context.Context, typ, id string, version int64) (store.Resource, error) {
	st, err := s.stmts(ctx)
	if err != nil {
		return store.Resource{}, err
	}
	r, err := scanResource(st.vread.QueryRowContext(ctx, typ, id, version))
	if err != nil {
		return store.Resource{}, readErr("vread", typ, id, err)
	}
	return r, nil
}

// History implements store.Reader.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	stmt, err := sqlsearch.BuildHistory(sqlsearch.SQLite, q)
	if err != nil {
		return store.HistoryPage{}, err
	}
	rows, err := s.history.query(ctx, stmt)
	if err != nil {
		return store.HistoryPage{}, fmt.Errorf("history %s/%s: %w", q.Type, q.ID, err)
	}
	return historyPage(rows, q.Count)
}

// Search implements store.Reader.
func (s *Store) Search(ctx context.Context, q store.Query) (store.Page, error) {
	return search(ctx, s.search.query, q, s.now())
}

// Update implements store.Store. Write transactions are serialised on the single
// writer connection, so fn never has to be retried.
func (s *Store) Update(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) (err error) {
	st, err := s.stmts(ctx)
	if err != nil {
		return err
	}
	sqlTx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dsn)
	if err != nil {
		return fmt.Errorf("begin sqlite transaction: %w", err)
	}
	done := false
	defer func() {
		// A panic in fn must not leave the only writer connection inside a transaction.
		if !done {
			sqlTx.Rollback()
		}
	}()
	t := &tx{s: s, st: st, tx: sqlTx}
	err = fn(ctx, t)
	if err == nil && t.err != nil {
		// fn went on after a failed Put; the transaction must not commit half of it.
		err = t.err
	}
	if err != nil {
		done = true
		sqlTx.Rollback()
		return err
	}
	done = true
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit sqlite transaction: %w", err)
	}
	return nil
}

func readErr(op, typ, id string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %s/%s: %w", op, typ, id, store.ErrNotFound)
	}
	return fmt.Errorf("%s %s/%s: %w", op, typ, id, err)
}
