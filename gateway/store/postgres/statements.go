package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlsearch"
)

const (
	selectCurrent     = "SELECT type, id, version, last_updated, deleted, method, body, seq FROM resources WHERE type = $1 AND id = $2"
	selectCurrentMany = "SELECT r.type, r.id, r.version, r.last_updated, r.deleted, r.method, r.body, r.seq FROM resources r JOIN unnest($1::text[], $2::text[]) k(type, id) ON r.type = k.type AND r.id = k.id"
	selectVersion     = "SELECT type, id, version, last_updated, deleted, method, body, seq FROM history WHERE type = $1 AND id = $2 AND version = $3"
	// The transaction's read also returns idx_mask, which the following Put needs, and
	// locks the row until the transaction ends.
	selectForUpdate = "SELECT type, id, version, last_updated, deleted, method, body, seq, idx_mask FROM resources WHERE type = $1 AND id = $2 FOR UPDATE"
	selectMask      = "SELECT version, idx_mask FROM resources WHERE type = $1 AND id = $2 FOR UPDATE"
	advisoryLock    = "SELECT pg_advisory_xact_lock($1)"
)

// querier is what reads need from a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func scanResource(row pgx.Row) (store.Resource, error) {
	var r store.Resource
	var lu int64
	if err := row.Scan(&r.Type, &r.ID, &r.Version, &lu, &r.Deleted, &r.Method, &r.Body, &r.Seq); err != nil {
		return store.Resource{}, err
	}
	r.LastUpdated = sqlsearch.FromMicros(lu)
	return r, nil
}

func vread(ctx context.Context, q querier, typ, id string, version int64) (store.Resource, error) {
	r, err := scanResource(q.QueryRow(ctx, selectVersion, typ, id, version))
	if err != nil {
		return store.Resource{}, readErr("vread", typ, id, err)
	}
	return r, nil
}

// Searches and history listings run as unnamed statements whose description pgx caches
// (one round trip, as for a prepared statement), so that PostgreSQL plans each one for
// its actual values: a generic plan cannot tell a rare code from a common one.
func queryArgs(args []any) []any {
	return append([]any{pgx.QueryExecModeCacheDescribe}, args...)
}

func history(ctx context.Context, q querier, hq store.HistoryQuery) (store.HistoryPage, error) {
	stmt, err := sqlsearch.BuildHistory(dialect, hq)
	if err != nil {
		return store.HistoryPage{}, err
	}
	if hq.Count == 0 {
		var p store.HistoryPage
		if err := q.QueryRow(ctx, stmt.SQL, queryArgs(stmt.Args)...).Scan(&p.Total); err != nil {
			return store.HistoryPage{}, fmt.Errorf("count history %s/%s: %w", hq.Type, hq.ID, err)
		}
		return p, nil
	}
	rows, err := q.Query(ctx, stmt.SQL, queryArgs(stmt.Args)...)
	if err != nil {
		return store.HistoryPage{}, fmt.Errorf("history %s/%s: %w", hq.Type, hq.ID, err)
	}
	defer rows.Close()
	var p store.HistoryPage
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return store.HistoryPage{}, fmt.Errorf("history %s/%s: %w", hq.Type, hq.ID, err)
		}
		p.Versions = append(p.Versions, r)
	}
	if err := rows.Err(); err != nil {
		return store.HistoryPage{}, fmt.Errorf("history %s/%s: %w", hq.Type, hq.ID, err)
	}
	if len(p.Versions) > hq.Count {
		p.Versions = p.Versions[:hq.Count]
		p.Next = p.Versions[hq.Count-1].Seq
	}
	return p, nil
}

// search answers q exactly as the sqlite store does (see its search function).
func search(ctx context.Context, db querier, q store.Query, now time.Time) (store.Page, error) {
	s, err := sqlsearch.BuildSearch(dialect, q, now)
	if err != nil {
		return store.Page{}, fmt.Errorf("search %s: %w", q.Type, err)
	}
	page := store.Page{Total: -1}
	if s.Count.SQL != "" {
		n, err := count(ctx, db, s)
		if err != nil {
			return store.Page{}, fmt.Errorf("search %s: count: %w", q.Type, err)
		}
		page.Total = int(n)
		if q.Count == 0 {
			page.More = page.Total > q.Offset
		}
	}
	if s.Page.SQL == "" {
		return page, nil
	}
	rows, err := db.Query(ctx, s.Page.SQL, queryArgs(s.Page.Args)...)
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

// count counts the matches, or estimates their number (sqlsearch.Estimate).
func count(ctx context.Context, db querier, s sqlsearch.Search) (int64, error) {
	var n int64
	if s.Estimate == nil {
		err := db.QueryRow(ctx, s.Count.SQL, queryArgs(s.Count.Args)...).Scan(&n)
		return n, err
	}
	e := s.Estimate
	if err := db.QueryRow(ctx, e.Bounded.SQL, queryArgs(e.Bounded.Args)...).Scan(&n); err != nil {
		return 0, err
	}
	return e.Total(n, func() (int64, error) {
		var plan []byte
		if err := db.QueryRow(ctx, e.Plan.SQL, queryArgs(e.Plan.Args)...).Scan(&plan); err != nil {
			return 0, fmt.Errorf("explain: %w", err)
		}
		return sqlsearch.PlanRows(plan)
	})
}

// indexColumns lists each index table's value columns after (type, id, param), with the
// array type unnest needs for each.
var indexColumns = [...][]column{
	store.KindToken:     {{"system", "text"}, {"code", "text"}, {"text", "text"}},
	store.KindString:    {{"norm", "text"}, {"exact", "text"}},
	store.KindReference: {{"target_type", "text"}, {"target_id", "text"}, {"url", "text"}},
	store.KindDate:      {{"low", "bigint"}, {"high", "bigint"}},
	store.KindQuantity:  {{"value", "float8"}, {"system", "text"}, {"code", "text"}, {"unit", "text"}},
	store.KindNumber:    {{"value", "float8"}},
	store.KindURI:       {{"uri", "text"}},
}

type column struct{ name, typ string }

// putShape selects one Put statement: whether it creates the resource row or updates
// it, the index tables it fills (newMask) and those it clears (oldMask).
type putShape struct {
	create           bool
	newMask, oldMask uint32
}

// maskBit is the idx_mask bit of an index kind, as in the sqlite store.
func maskBit(k store.ParamKind) uint32 { return 1 << uint(k) }

// putSQL returns the single statement that writes one version. Its parameters are
// $1 type, $2 id, $3 version, $4 last_updated, $5 deleted, $6 method, $7 body,
// $8 idx_mask, then for an update $9 the version replaced, then one array per index
// column (param first) of every kind in newMask, in kind order. It returns the new seq,
// or no row when the version check failed, in which case it changed nothing: every
// other part reads from the first.
func (s *Store) putSQL(shape putShape) string {
	if v, ok := s.putSQLs.Load(shape); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 8
	if shape.create {
		b.WriteString(`WITH r AS (INSERT INTO resources (type, id, version, last_updated, deleted, method, body, seq, idx_mask)
VALUES ($1, $2, $3, $4, $5, $6, $7, nextval('history_seq'), $8)
ON CONFLICT (type, id) DO NOTHING RETURNING seq)`)
	} else {
		n = 9
		b.WriteString(`WITH r AS (UPDATE resources SET version = $3, last_updated = $4, deleted = $5, method = $6,
body = $7, seq = nextval('history_seq'), idx_mask = $8
WHERE type = $1 AND id = $2 AND version = $9 RETURNING seq)`)
	}
	b.WriteString(`,
h AS (INSERT INTO history (seq, type, id, version, last_updated, deleted, method, body)
SELECT seq, $1, $2, $3, $4, $5, $6, $7 FROM r)`)
	for k := store.KindToken; k <= store.KindURI; k++ {
		table, _ := sqlsearch.IndexTable(k)
		if shape.oldMask&maskBit(k) != 0 {
			fmt.Fprintf(&b, ",\nd%d AS (DELETE FROM %s x USING r WHERE x.type = $1 AND x.id = $2)", k, table)
		}
	}
	for k := store.KindToken; k <= store.KindURI; k++ {
		if shape.newMask&maskBit(k) == 0 {
			continue
		}
		table, _ := sqlsearch.IndexTable(k)
		cols := []string{"param"}
		arrays := []string{"$" + strconv.Itoa(n+1) + "::text[]"}
		n++
		for _, c := range indexColumns[k] {
			n++
			cols = append(cols, c.name)
			arrays = append(arrays, "$"+strconv.Itoa(n)+"::"+c.typ+"[]")
		}
		fmt.Fprintf(&b, ",\ni%d AS (INSERT INTO %s (type, id, %s) SELECT $1, $2, u.* FROM r, unnest(%s) u)",
			k, table, strings.Join(cols, ", "), strings.Join(arrays, ", "))
	}
	b.WriteString("\nSELECT seq FROM r")
	sql := b.String()
	s.putSQLs.Store(shape, sql)
	return sql
}

// indexMask returns the idx_mask of idx.
func indexMask(idx *store.Index) uint32 {
	var m uint32
	for k, n := range kindCounts(idx) {
		if n > 0 {
			m |= maskBit(store.ParamKind(k))
		}
	}
	return m
}

// kindCounts returns how many rows idx has of each kind.
func kindCounts(idx *store.Index) [store.KindURI + 1]int {
	var c [store.KindURI + 1]int
	if idx == nil {
		return c
	}
	c[store.KindToken], c[store.KindString], c[store.KindReference] = len(idx.Tokens), len(idx.Strings), len(idx.References)
	c[store.KindDate], c[store.KindQuantity] = len(idx.Dates), len(idx.Quantities)
	c[store.KindNumber], c[store.KindURI] = len(idx.Numbers), len(idx.URIs)
	return c
}

// appendIndexArgs appends the array parameters of putSQL for idx, in kind order.
func appendIndexArgs(args []any, idx *store.Index) []any {
	if idx == nil {
		return args
	}
	if n := len(idx.Tokens); n > 0 {
		param, system, code, text := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, e := range idx.Tokens {
			param[i], system[i], code[i], text[i] = e.Param, e.System, e.Code, e.Text
		}
		args = append(args, param, system, code, text)
	}
	if n := len(idx.Strings); n > 0 {
		param, norm, exact := make([]string, n), make([]string, n), make([]string, n)
		for i, e := range idx.Strings {
			param[i], norm[i], exact[i] = e.Param, e.Norm, e.Exact
		}
		args = append(args, param, norm, exact)
	}
	if n := len(idx.References); n > 0 {
		param, typ, id, u := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, e := range idx.References {
			param[i], typ[i], id[i], u[i] = e.Param, e.TargetType, e.TargetID, e.URL
		}
		args = append(args, param, typ, id, u)
	}
	if n := len(idx.Dates); n > 0 {
		param, low, high := make([]string, n), make([]int64, n), make([]int64, n)
		for i, e := range idx.Dates {
			param[i], low[i], high[i] = e.Param, sqlsearch.LowMicros(e.Low), sqlsearch.HighMicros(e.High)
		}
		args = append(args, param, low, high)
	}
	if n := len(idx.Quantities); n > 0 {
		param, value := make([]string, n), make([]float64, n)
		system, code, unit := make([]string, n), make([]string, n), make([]string, n)
		for i, e := range idx.Quantities {
			param[i], value[i], system[i], code[i], unit[i] = e.Param, e.Value, e.System, e.Code, e.Unit
		}
		args = append(args, param, value, system, code, unit)
	}
	if n := len(idx.Numbers); n > 0 {
		param, value := make([]string, n), make([]float64, n)
		for i, e := range idx.Numbers {
			param[i], value[i] = e.Param, e.Value
		}
		args = append(args, param, value)
	}
	if n := len(idx.URIs); n > 0 {
		param, uri := make([]string, n), make([]string, n)
		for i, e := range idx.URIs {
			param[i], uri[i] = e.Param, e.URI
		}
		args = append(args, param, uri)
	}
	return args
}
