package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlsearch"
)

const (
	selectCurrent = "SELECT type, id, version, last_updated, deleted, method, body, seq FROM resources WHERE type = ?1 AND id = ?2"
	selectVersion = "SELECT type, id, version, last_updated, deleted, method, body, seq FROM history WHERE type = ?1 AND id = ?2 AND version = ?3"
)

// numKinds bounds the store.ParamKind values, which index the per-kind statements.
const numKinds = int(store.KindURI) + 1

// indexColumns lists the value columns of each index table after (type, id, param).
var indexColumns = [numKinds]string{
	store.KindToken:     "system, code, text",
	store.KindString:    "norm, exact",
	store.KindReference: "target_type, target_id, url",
	store.KindDate:      "low, high",
	store.KindQuantity:  "value, system, code, unit",
	store.KindNumber:    "value",
	store.KindURI:       "uri",
}

// statements are prepared once per Store: the read ones on the read pool, the others
// on the writer connection (used through sql.Tx.StmtContext).
type statements struct {
	read, vread     *sql.Stmt // read pool
	txRead, txVRead *sql.Stmt // writer
	current         *sql.Stmt // version and idx_mask of the current row
	insertHistory   *sql.Stmt
	upsertCurrent   *sql.Stmt
	deleteIndex     [numKinds]*sql.Stmt
	insertIndex     [numKinds]*sql.Stmt

	readMessage, findApplied     *sql.Stmt // read pool
	txReadMessage, txFindApplied *sql.Stmt // writer
	upsertMessage                *sql.Stmt
	eventTime, setEventTime      *sql.Stmt

	all []*sql.Stmt
}

func prepare(ctx context.Context, r, w *sql.DB) (*statements, error) {
	st := &statements{}
	var err error
	p := func(db *sql.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = db.PrepareContext(ctx, q)
		if s != nil {
			st.all = append(st.all, s)
		}
		return s
	}
	st.read = p(r, selectCurrent)
	st.vread = p(r, selectVersion)
	st.txRead = p(w, selectCurrent)
	st.txVRead = p(w, selectVersion)
	st.current = p(w, "SELECT version, idx_mask FROM resources WHERE type = ?1 AND id = ?2")
	st.insertHistory = p(w, "INSERT INTO history (type, id, version, last_updated, deleted, method, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
	st.upsertCurrent = p(w, `INSERT INTO resources (type, id, version, last_updated, deleted, method, body, seq, idx_mask)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, last_updated = excluded.last_updated,
deleted = excluded.deleted, method = excluded.method, body = excluded.body, seq = excluded.seq, idx_mask = excluded.idx_mask`)
	for k := store.KindToken; k <= store.KindURI; k++ {
		table, _ := sqlsearch.IndexTable(k)
		st.deleteIndex[k] = p(w, "DELETE FROM "+table+" WHERE type = ?1 AND id = ?2")
		cols := indexColumns[k]
		n := 3 + countCols(cols)
		vals := "?1"
		for i := 2; i <= n; i++ {
			vals += ", " + sqlsearch.SQLite.Placeholder(i)
		}
		st.insertIndex[k] = p(w, "INSERT INTO "+table+" (type, id, param, "+cols+") VALUES ("+vals+")")
	}
	st.readMessage = p(r, selectMessage)
	st.findApplied = p(r, selectAppliedMessage)
	st.txReadMessage = p(w, selectMessage)
	st.txFindApplied = p(w, selectAppliedMessage)
	st.upsertMessage = p(w, upsertMessage)
	st.eventTime = p(w, selectEventTime)
	st.setEventTime = p(w, setEventTime)
	if err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

func countCols(cols string) int {
	n := 1
	for _, c := range cols {
		if c == ',' {
			n++
		}
	}
	return n
}

func (st *statements) close() {
	for _, s := range st.all {
		s.Close()
	}
}

// stmtCache keeps prepared search and history statements by SQL text: the text depends
// only on the shape of a query (values are bound), so a few shapes cover most traffic.
type stmtCache struct {
	db  *sql.DB
	max int

	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB, max int) *stmtCache {
	return &stmtCache{db: db, max: max, m: make(map[string]*sql.Stmt)}
}

func (c *stmtCache) query(ctx context.Context, s sqlsearch.Statement) (*sql.Rows, error) {
	c.mu.Lock()
	st, ok := c.m[s.SQL]
	c.mu.Unlock()
	if !ok {
		if len(c.m) >= c.max {
			// Full: an unusual shape; run it unprepared rather than evict.
			return c.db.QueryContext(ctx, s.SQL, s.Args...)
		}
		var err error
		st, err = c.db.PrepareContext(ctx, s.SQL)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if prev, ok := c.m[s.SQL]; ok {
			st.Close()
			st = prev
		} else if c.m != nil {
			c.m[s.SQL] = st
		}
		c.mu.Unlock()
	}
	return st.QueryContext(ctx, s.Args...)
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

type scanner interface{ Scan(dest ...any) error }

func scanResource(row scanner) (store.Resource, error) {
	var r store.Resource
	var lu int64
	if err := row.Scan(&r.Type, &r.ID, &r.Version, &lu, &r.Deleted, &r.Method, &r.Body, &r.Seq); err != nil {
		return store.Resource{}, err
	}
	r.LastUpdated = sqlsearch.FromMicros(lu)
	return r, nil
}

func historyPage(rows *sql.Rows, count int) (store.HistoryPage, error) {
	defer rows.Close()
	var p store.HistoryPage
	if count == 0 { // the statement counts (sqlsearch.BuildHistory)
		if !rows.Next() {
			return store.HistoryPage{}, fmt.Errorf("count history: %w", errors.Join(rows.Err(), errors.New("no row")))
		}
		if err := rows.Scan(&p.Total); err != nil {
			return store.HistoryPage{}, fmt.Errorf("count history: %w", err)
		}
		return p, rows.Close()
	}
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return store.HistoryPage{}, fmt.Errorf("history: %w", err)
		}
		p.Versions = append(p.Versions, r)
	}
	if err := rows.Err(); err != nil {
		return store.HistoryPage{}, fmt.Errorf("history: %w", err)
	}
	if len(p.Versions) > count {
		p.Versions = p.Versions[:count]
		p.Next = p.Versions[count-1].Seq
	}
	return p, nil
}

type queryFunc func(ctx context.Context, s sqlsearch.Statement) (*sql.Rows, error)

func search(ctx context.Context, query queryFunc, q store.Query, now time.Time) (store.Page, error) {
	s, err := sqlsearch.BuildSearch(sqlsearch.SQLite, q, now)
	if err != nil {
		return store.Page{}, fmt.Errorf("search %s: %w", q.Type, err)
	}
	page := store.Page{Total: -1}
	if s.Count.SQL != "" {
		rows, err := query(ctx, s.Count)
		if err != nil {
			return store.Page{}, fmt.Errorf("search %s: count: %w", q.Type, err)
		}
		var n int
		for rows.Next() {
			err = rows.Scan(&n)
		}
		err = errors.Join(err, rows.Err(), rows.Close())
		if err != nil {
			return store.Page{}, fmt.Errorf("search %s: count: %w", q.Type, err)
		}
		page.Total = n
		if q.Count == 0 {
			page.More = n > q.Offset
		}
	}
	if s.Page.SQL == "" {
		return page, nil
	}
	rows, err := query(ctx, s.Page)
	if err != nil {
		return store.Page{}, fmt.Errorf("search %s: %w", q.Type, err)
	}
	defer rows.Close()
	page.Resources = make([]store.Resource, 0, min(s.Limit, 64))
	for rows.Next() {
		r, pos, err := s.Scan(rows.Scan)
		if err != nil {
			return store.Page{}, fmt.Errorf("search %s: %w", q.Type, err)
		}
		page.Resources = append(page.Resources, r)
		page.Positions = append(page.Positions, pos)
	}
	if err := rows.Err(); err != nil {
		return store.Page{}, fmt.Errorf("search %s: %w", q.Type, err)
	}
	if len(page.Resources) > q.Count {
		page.Resources = page.Resources[:q.Count]
		page.Positions = page.Positions[:q.Count]
		page.More = true
	}
	return page, nil
}
