package sqlsearch

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/shch/fhirgw/gateway/store"
)

// orderKey is one key of a sorted search's order, over a column of the candidate rows.
type orderKey struct {
	col      string // column name in the candidate rows (s0, s1, ..., last_updated, id, type)
	desc     bool
	nullable bool // a sort key: resources without a value have NULL, ordered last
}

// render writes the key for an ORDER BY over alias a; reverse walks the order
// backwards, so that missing values, last going forwards, come first.
func (k orderKey) render(a string, reverse bool) string {
	dir := " ASC"
	if k.desc != reverse {
		dir = " DESC"
	}
	nulls := ""
	if k.nullable {
		nulls = " NULLS LAST"
		if reverse {
			nulls = " NULLS FIRST"
		}
	}
	return a + "." + k.col + dir + nulls
}

func renderOrder(keys []orderKey, a string, reverse bool) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.render(a, reverse)
	}
	return strings.Join(parts, ", ")
}

// sortedPage builds the page statement of a search with _sort. Every match is listed
// with its sort key values (each computed once, in the candidate rows c), the keyset
// condition continues strictly after (or before) the cursor's tuple, and the page's rows
// (p) are joined back to their bodies. The values are selected after ResourceColumns so
// that the caller can build the next cursor from them (see Scan).
func (b *builder) sortedPage(q store.Query, w string) (Statement, error) {
	cols := []string{"r.type", "r.id", "r.last_updated"}
	keys := make([]orderKey, 0, len(q.Sort)+3)
	for i, k := range q.Sort {
		e, err := b.sortExpr(k)
		if err != nil {
			return Statement{}, err
		}
		name := "s" + strconv.Itoa(i)
		cols = append(cols, e+" AS "+name)
		keys = append(keys, orderKey{col: name, desc: k.Desc, nullable: true})
	}
	// The default order breaks ties, so that the order is total and a cursor names
	// exactly one position.
	keys = append(keys, orderKey{col: "last_updated", desc: true}, orderKey{col: "id"}, orderKey{col: "type"})
	// OFFSET 0 keeps PostgreSQL from pulling the candidates up into the outer query,
	// which would evaluate each sort subquery again in the keyset condition.
	fence := ""
	if b.d == Postgres {
		fence = " OFFSET 0"
	}
	cand := "SELECT " + strings.Join(cols, ", ") + w + fence
	cur, backward := q.After, false
	if q.Before != nil {
		cur, backward = q.Before, true
	}
	cond := ""
	if cur != nil {
		if len(cur.Sort) != len(q.Sort) {
			return Statement{}, fmt.Errorf("sqlsearch: cursor has %d sort values for %d sort keys", len(cur.Sort), len(q.Sort))
		}
		vals := make([]any, 0, len(keys))
		for i, k := range q.Sort {
			if err := checkSortValue(k, cur.Sort[i]); err != nil {
				return Statement{}, err
			}
			vals = append(vals, cur.Sort[i])
		}
		vals = append(vals, Micros(cur.LastUpdated), cur.ID, cur.Type)
		cond = " WHERE " + b.sortedKeyset(keys, vals, backward)
	}
	pcols := make([]string, 0, len(keys))
	var values strings.Builder // the sort values the statement returns, after ResourceColumns
	for _, k := range keys {
		pcols = append(pcols, "c."+k.col)
		if k.nullable {
			values.WriteString(", p." + k.col)
		}
	}
	walk := renderOrder(keys, "c", backward)
	if backward {
		pcols = append(pcols, "ROW_NUMBER() OVER (ORDER BY "+walk+") AS rn")
	}
	inner := "SELECT " + strings.Join(pcols, ", ") + " FROM (" + cand + ") c" + cond +
		" ORDER BY " + walk + " LIMIT " + b.arg(int64(q.Count+1)) + " OFFSET " + b.arg(int64(q.Offset))
	order := renderOrder(keys, "p", false)
	if backward {
		// Walking backwards, the extra row (the one telling whether more precede the
		// page) is the farthest from the cursor; it goes last, where the caller drops it.
		order = "CASE WHEN p.rn > " + b.arg(int64(q.Count)) + " THEN 1 ELSE 0 END, " + order
	}
	sql := "SELECT " + ResourceColumns + values.String() + " FROM (" + inner + ") p JOIN resources r ON r.type = p.type AND r.id = p.id ORDER BY " + order
	return Statement{SQL: sql, Args: b.args}, nil
}

// sortExpr is the value a resource sorts by for k: the smallest of its index values
// ascending, the largest descending (for dates, the range's low end ascending and high
// end descending), NULL when it has none.
func (b *builder) sortExpr(k store.SortKey) (string, error) {
	switch k.Param {
	case "_id":
		return "r.id", nil
	case "_lastUpdated":
		return "r.last_updated", nil
	}
	table, ok := IndexTable(k.Kind)
	if !ok {
		return "", fmt.Errorf("%w: sort on %s of kind %d", ErrUnsupported, k.Param, k.Kind)
	}
	agg := "MIN"
	if k.Desc {
		agg = "MAX"
	}
	return "(SELECT " + agg + "(x." + sortColumn(k.Kind, k.Desc) + ") FROM " + table + " x WHERE x.type = r.type AND x.id = r.id AND x.param = " + b.arg(k.Param) + ")", nil
}

// sortedKeyset is the condition for rows strictly after (before: strictly before) the tuple
// vals in the order keys (over alias c), spelled out key by key — (k0 past v0) OR
// (k0 = v0 AND k1 past v1) OR ... — because the keys' directions differ and missing
// values sort last whatever the direction, which a row comparison cannot express.
func (b *builder) sortedKeyset(keys []orderKey, vals []any, before bool) string {
	var alts, eqs []string
	for i, k := range keys {
		col := "c." + k.col
		v := vals[i]
		ph := ""
		if v != nil {
			ph = b.arg(v)
		}
		var past string
		switch {
		case v == nil && !before:
			// Nothing sorts after a missing value but other missing values, which tie.
		case v == nil:
			past = col + " IS NOT NULL"
		default:
			op := " > "
			if k.desc != before {
				op = " < "
			}
			past = col + op + ph
			if !before && k.nullable {
				past = "(" + past + " OR " + col + " IS NULL)"
			}
		}
		if past != "" {
			alts = append(alts, "("+strings.Join(append(eqs[:len(eqs):len(eqs)], past), " AND ")+")")
		}
		if v == nil {
			eqs = append(eqs, col+" IS NULL")
		} else {
			eqs = append(eqs, col+" = "+ph)
		}
	}
	if len(alts) == 0 {
		return "FALSE"
	}
	return "(" + strings.Join(alts, " OR ") + ")"
}

// sortValueKind is the Go type of a sort key's values in store.Cursor.Sort.
type sortValueKind int

const (
	sortString sortValueKind = iota
	sortInt
	sortFloat
)

func valueKind(k store.SortKey) sortValueKind {
	switch {
	case k.Param == "_id":
		return sortString
	case k.Param == "_lastUpdated" || k.Kind == store.KindDate:
		return sortInt
	case k.Kind == store.KindNumber || k.Kind == store.KindQuantity:
		return sortFloat
	}
	return sortString
}

func checkSortValue(k store.SortKey, v any) error {
	if v == nil {
		return nil
	}
	ok := false
	switch valueKind(k) {
	case sortString:
		_, ok = v.(string)
	case sortInt:
		_, ok = v.(int64)
	case sortFloat:
		var f float64
		f, ok = v.(float64)
		ok = ok && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	if !ok {
		return fmt.Errorf("sqlsearch: cursor value %T for sort key %s", v, k.Param)
	}
	return nil
}

// sortValue converts what a driver returned for a sort column to the cursor's type.
func sortValue(k store.SortKey, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch valueKind(k) {
	case sortInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int32:
			return int64(x), nil
		}
	case sortFloat:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64: // tolerated: a driver may hand back a whole number as an integer
			return float64(x), nil
		}
	default:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	}
	return nil, fmt.Errorf("sqlsearch: sort key %s: unexpected value %T", k.Param, v)
}

// Scan reads one row of s.Page through scan (the Scan method of either driver's rows)
// and returns the resource with its position in the query's order.
func (s Search) Scan(scan func(dest ...any) error) (store.Resource, store.Cursor, error) {
	var r store.Resource
	var lu int64
	dest := []any{&r.Type, &r.ID, &r.Version, &lu, &r.Deleted, &r.Method, &r.Body, &r.Seq}
	raw := make([]any, len(s.sort))
	for i := range raw {
		dest = append(dest, &raw[i])
	}
	if err := scan(dest...); err != nil {
		return store.Resource{}, store.Cursor{}, err
	}
	r.LastUpdated = FromMicros(lu)
	pos := store.Cursor{LastUpdated: r.LastUpdated, ID: r.ID, Type: r.Type}
	if len(s.sort) > 0 {
		pos.Sort = make([]any, len(s.sort))
		for i, k := range s.sort {
			v, err := sortValue(k, raw[i])
			if err != nil {
				return store.Resource{}, store.Cursor{}, err
			}
			pos.Sort[i] = v
		}
	}
	return r, pos, nil
}

// EstimateExact is the number of matches up to which _total=estimate is still counted
// exactly: counting that many costs little, and small totals are the ones users read.
const EstimateExact = 1000

// Estimate answers _total=estimate on PostgreSQL without counting every match: Bounded
// counts at most Exact+1 matches; when it reaches that, the total is the planner's row
// estimate for the matches (Plan, an EXPLAIN in JSON; see PlanRows), but never less
// than what was counted.
type Estimate struct {
	Bounded Statement
	Exact   int
	Plan    Statement
}

// Total combines the bounded count n with the planner's estimate (read only when n
// exceeds Exact).
func (e *Estimate) Total(n int64, plan func() (int64, error)) (int64, error) {
	if n <= int64(e.Exact) {
		return n, nil
	}
	rows, err := plan()
	if err != nil {
		return 0, err
	}
	return max(rows, n), nil
}

func (b *builder) estimate(w string) *Estimate {
	args := append(b.args[:len(b.args):len(b.args)], int64(EstimateExact+1))
	return &Estimate{
		Bounded: Statement{SQL: "SELECT COUNT(*) FROM (SELECT 1" + w + " LIMIT " + b.d.Placeholder(len(args)) + ") m", Args: args},
		Exact:   EstimateExact,
		Plan:    Statement{SQL: "EXPLAIN (FORMAT JSON) SELECT 1" + w, Args: b.args[:len(b.args):len(b.args)]},
	}
}

// PlanRows reads the estimated row count of the top plan node from the output of
// EXPLAIN (FORMAT JSON).
func PlanRows(explain []byte) (int64, error) {
	var out []struct {
		Plan struct {
			Rows *float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(explain, &out); err != nil {
		return 0, fmt.Errorf("read query plan: %w", err)
	}
	if len(out) == 0 || out[0].Plan.Rows == nil || *out[0].Plan.Rows < 0 || math.IsNaN(*out[0].Plan.Rows) {
		return 0, fmt.Errorf("read query plan: no row estimate")
	}
	return int64(math.Round(min(*out[0].Plan.Rows, 1e15))), nil
}
