package postgres

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlsearch"
)

// bulkShape keys the cached bulk-create statement by the index tables it fills.
type bulkShape struct{ mask uint32 }

// bulkCreateSQL returns the one statement that creates many resources with their
// history and index rows: what a transaction Bundle of new resources needs, for a
// fraction of the server work of one statement per resource. Its parameters are
// arrays: $1 types, $2 ids, $3 versions, $4 last_updated, $5 deleted, $6 methods,
// $7 bodies, $8 idx_masks; then per index kind in mask (kind order) the param and
// value columns as in putSQL; then per kind in mask the rows' types and ids. It
// returns how many resources it created: fewer than asked means some existed, and
// the transaction must fail (the index rows were written regardless).
func (s *Store) bulkCreateSQL(mask uint32) string {
	if v, ok := s.putSQLs.Load(bulkShape{mask}); ok {
		return v.(string)
	}
	var b strings.Builder
	b.WriteString(`WITH r AS (INSERT INTO resources (type, id, version, last_updated, deleted, method, body, seq, idx_mask)
SELECT u.type, u.id, u.version, u.last_updated, u.deleted, u.method, u.body, nextval('history_seq'), u.idx_mask
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::boolean[], $6::text[], $7::bytea[], $8::integer[])
  AS u(type, id, version, last_updated, deleted, method, body, idx_mask)
ON CONFLICT (type, id) DO NOTHING
RETURNING seq, type, id, version, last_updated, deleted, method, body),
h AS (INSERT INTO history (seq, type, id, version, last_updated, deleted, method, body)
SELECT seq, type, id, version, last_updated, deleted, method, body FROM r)`)
	n := 8
	type kindArgs struct {
		k       store.ParamKind
		cols    []string
		arrays  []string
		typeArg string
		idArg   string
	}
	var kinds []kindArgs
	for k := store.KindToken; k <= store.KindURI; k++ {
		if mask&maskBit(k) == 0 {
			continue
		}
		n++
		ka := kindArgs{k: k, cols: []string{"param"}, arrays: []string{"$" + strconv.Itoa(n) + "::text[]"}}
		for _, c := range indexColumns[k] {
			n++
			ka.cols = append(ka.cols, c.name)
			ka.arrays = append(ka.arrays, "$"+strconv.Itoa(n)+"::"+c.typ+"[]")
		}
		kinds = append(kinds, ka)
	}
	for i := range kinds {
		kinds[i].typeArg = "$" + strconv.Itoa(n+1) + "::text[]"
		kinds[i].idArg = "$" + strconv.Itoa(n+2) + "::text[]"
		n += 2
	}
	for _, ka := range kinds {
		table, _ := sqlsearch.IndexTable(ka.k)
		fmt.Fprintf(&b, ",\ni%d AS (INSERT INTO %s (type, id, %s) SELECT * FROM unnest(%s, %s, %s))",
			ka.k, table, strings.Join(ka.cols, ", "), ka.typeArg, ka.idArg, strings.Join(ka.arrays, ", "))
	}
	b.WriteString("\nSELECT count(*) FROM r")
	sql := b.String()
	s.putSQLs.Store(bulkShape{mask}, sql)
	return sql
}

// bulkCreateArgs returns the statement (bulkCreateSQL) and arguments that create
// every resource of creates.
func (s *Store) bulkCreateArgs(creates []*queuedPut) (string, []any) {
	n := len(creates)
	types, ids, methods := make([]string, n), make([]string, n), make([]string, n)
	versions, lastUpdated := make([]int64, n), make([]int64, n)
	deleted := make([]bool, n)
	bodies := make([][]byte, n)
	masks := make([]int32, n)
	var all store.Index
	var rowTypes, rowIDs [store.KindURI + 1][]string
	for i, q := range creates {
		r := q.res
		types[i], ids[i], versions[i], lastUpdated[i] = r.Type, r.ID, r.Version, sqlsearch.Micros(r.LastUpdated)
		deleted[i], methods[i], bodies[i], masks[i] = r.Deleted, r.Method, r.Body, int32(q.shape.newMask)
		if bodies[i] == nil {
			bodies[i] = []byte{}
		}
		if x := q.idx; x != nil {
			all.Append(x)
			for k, n := range kindCounts(x) {
				for range n {
					rowTypes[k] = append(rowTypes[k], r.Type)
					rowIDs[k] = append(rowIDs[k], r.ID)
				}
			}
		}
	}
	mask := indexMask(&all)
	args := []any{types, ids, versions, lastUpdated, deleted, methods, bodies, masks}
	args = appendIndexArgs(args, &all)
	for k := store.KindToken; k <= store.KindURI; k++ {
		if mask&maskBit(k) != 0 {
			args = append(args, rowTypes[k], rowIDs[k])
		}
	}
	return s.bulkCreateSQL(mask), args
}
