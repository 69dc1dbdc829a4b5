// Package sqlsearch builds the SQL both relational stores (sqlite and postgres) run for
// search, history, the HL7 message log and the gateway's state, and reads the rows
// back through either driver, so that the two backends answer every query the same way.
//
// The schema it targets is the one both backends' migrations create: a table
// "resources" with the current version of every resource (alias r), a table "history"
// with every version (alias h), and one index table per search parameter type (see
// IndexTable). Dates are bigint microseconds since the Unix epoch, UTC. Every value is
// a bound parameter; only identifiers chosen by this package appear in the SQL text.
package sqlsearch

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shch/fhirgw/gateway/store"
)

// Dialect is the SQL flavour of a backend. Both use numbered placeholders so that a
// value bound once can appear several times in a statement.
type Dialect int

// The dialects of the two backends.
const (
	Postgres Dialect = iota + 1 // $1, $2, ... (pgx)
	SQLite                      // ?1, ?2, ... (modernc.org/sqlite)
)

// Placeholder returns the text of the n-th (1-based) bound parameter.
func (d Dialect) Placeholder(n int) string {
	if d == SQLite {
		return "?" + strconv.Itoa(n)
	}
	return "$" + strconv.Itoa(n)
}

// ErrUnsupported is returned (wrapped) for a clause this package cannot translate yet.
var ErrUnsupported = errors.New("sqlsearch: unsupported search clause")

// IndexTable returns the index table holding rows of the given parameter kind.
func IndexTable(k store.ParamKind) (string, bool) {
	switch k {
	case store.KindToken:
		return "idx_token", true
	case store.KindString:
		return "idx_string", true
	case store.KindReference:
		return "idx_reference", true
	case store.KindDate:
		return "idx_date", true
	case store.KindQuantity:
		return "idx_quantity", true
	case store.KindNumber:
		return "idx_number", true
	case store.KindURI:
		return "idx_uri", true
	}
	return "", false
}

// Micros converts a time to the stored representation, microseconds since the epoch.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros converts a stored time back, in UTC.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// LowMicros converts the lower bound of a range: the zero time means unbounded below.
func LowMicros(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixMicro()
}

// HighMicros converts the upper bound of a range: the zero time means unbounded above.
func HighMicros(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return t.UnixMicro()
}

// ResourceColumns are the columns of the resources table (alias r) that Search
// statements select, in this order: type, id, version, last_updated, deleted, method,
// body, seq.
const ResourceColumns = "r.type, r.id, r.version, r.last_updated, r.deleted, r.method, r.body, r.seq"

// HistoryColumns are the columns of the history table (alias h) that History
// statements select, in the same order as ResourceColumns.
const HistoryColumns = "h.type, h.id, h.version, h.last_updated, h.deleted, h.method, h.body, h.seq"

// Statement is SQL text with its bound values.
type Statement struct {
	SQL  string
	Args []any
}

// Search holds the statements that answer a store.Query.
type Search struct {
	// Page selects ResourceColumns for up to Limit rows; empty SQL when the query asks
	// only for the total (Count zero).
	Page Statement
	// Limit is the number of rows Page asks for: Count+1, so that the caller can tell
	// whether more matches follow.
	Limit int
	// Count selects the number of matches; empty SQL when no total is needed.
	Count Statement
	// Estimate, when set (PostgreSQL, Query.Estimate), replaces Count: see Estimate.
	Estimate *Estimate
	// sort are the query's sort keys, which Scan reads after ResourceColumns.
	sort []store.SortKey
}

// BuildSearch translates q. now anchors the "ap" (approximately) date prefix.
func BuildSearch(d Dialect, q store.Query, now time.Time) (Search, error) {
	if q.Count < 0 || q.Offset < 0 {
		return Search{}, fmt.Errorf("sqlsearch: negative count or offset")
	}
	b := builder{d: d, now: now}
	var where strings.Builder
	where.WriteString(" FROM resources r WHERE NOT r.deleted")
	scope := scope{alias: "r"}
	switch {
	case q.Type != "":
		scope.typeArg = b.arg(q.Type)
		where.WriteString(" AND r.type = " + scope.typeArg)
	case len(q.Types) > 0:
		where.WriteString(" AND r.type IN (")
		for i, t := range q.Types {
			if i > 0 {
				where.WriteString(", ")
			}
			where.WriteString(b.arg(t))
		}
		where.WriteString(")")
	}
	var strs []string // string clauses' index subqueries, intersected below
	for _, c := range q.Where {
		if scope.typeArg != "" && plainString(c) {
			sub, err := b.ids(scope, c)
			if err != nil {
				return Search{}, err
			}
			strs = append(strs, sub)
			continue
		}
		sql, err := b.clause(scope, c)
		if err != nil {
			return Search{}, err
		}
		where.WriteString(" AND ")
		where.WriteString(sql)
	}
	switch len(strs) {
	case 0:
	case 1:
		where.WriteString(" AND r.id IN (" + strs[0] + ")")
	default:
		// Several string clauses (family and given name): intersect their index rows
		// before reading any resource. Prefix matches on Chinese text are estimated
		// badly, and the planner otherwise reads the resource row of every match of
		// one clause (1,300 for a common given name) to check the other.
		where.WriteString(" AND r.id IN (" + strings.Join(strs, " INTERSECT ") + ")")
	}
	w := where.String()
	s := Search{sort: q.Sort}
	if q.Total || q.Count == 0 {
		s.Count = Statement{SQL: "SELECT COUNT(*)" + w, Args: b.args}
		if q.Total && q.Estimate && d == Postgres {
			s.Estimate = b.estimate(w)
		}
	}
	if q.Count > 0 {
		s.Limit = q.Count + 1
		if len(q.Sort) > 0 {
			page, err := b.sortedPage(q, w)
			if err != nil {
				return Search{}, err
			}
			s.Page = page
			return s, nil
		}
		system := q.Type == ""
		order := defaultOrder(system, false)
		var tail strings.Builder // FROM ... WHERE ... ORDER BY ... LIMIT ... OFFSET ...
		tail.WriteString(w)
		switch {
		case q.After != nil:
			tail.WriteString(" AND " + b.keyset(q.After, system, false))
		case q.Before != nil:
			// Walk backwards from the cursor; the outer query puts the page back in
			// order.
			tail.WriteString(" AND " + b.keyset(q.Before, system, true))
			order = defaultOrder(system, true)
		}
		args := append(b.args[:len(b.args):len(b.args)], int64(s.Limit), int64(q.Offset))
		tail.WriteString(" ORDER BY " + order + " LIMIT " + d.Placeholder(len(args)-1) + " OFFSET " + d.Placeholder(len(args)))
		var sql string
		switch {
		case q.Before != nil:
			// The extra row (the one telling whether more precede the page) goes last,
			// where the caller drops it.
			args = append(args, int64(q.Count))
			sql = "SELECT " + ResourceColumns + " FROM (SELECT " + ResourceColumns + ", ROW_NUMBER() OVER (ORDER BY " + order + ") AS rn" +
				tail.String() + ") r ORDER BY CASE WHEN r.rn > " + d.Placeholder(len(args)) + " THEN 1 ELSE 0 END, " + defaultOrder(system, false)
		case system:
			// Choose the page by id first and read the bodies of only the rows kept:
			// otherwise a search with thousands of matches reads every match's whole
			// row (body included) before sorting. Numbered placeholders let the outer
			// query reuse the type and sort arguments.
			sql = "SELECT " + ResourceColumns + " FROM resources r WHERE (r.type, r.id) IN (SELECT r.type, r.id" + tail.String() + ") ORDER BY " + order
		default:
			sql = "SELECT " + ResourceColumns + " FROM resources r WHERE r.type = " + d.Placeholder(1) + " AND r.id IN (SELECT r.id" + tail.String() + ") ORDER BY " + order
		}
		s.Page = Statement{SQL: sql, Args: args}
	}
	return s, nil
}

// keyset selects the rows after (or before) c in the default order.
func (b *builder) keyset(c *store.Cursor, system, before bool) string {
	lt, gt := "<", ">"
	if before {
		lt, gt = ">", "<"
	}
	lu := b.arg(Micros(c.LastUpdated))
	id := b.arg(c.ID)
	tie := "r.id " + gt + " " + id
	if system {
		tie = "(r.id " + gt + " " + id + " OR (r.id = " + id + " AND r.type " + gt + " " + b.arg(c.Type) + "))"
	}
	return "(r.last_updated " + lt + " " + lu + " OR (r.last_updated = " + lu + " AND " + tie + "))"
}

// defaultOrder is the stable order the API promises: newest first, then id (and type,
// since ids are unique only per type); reverse walks it backwards.
func defaultOrder(system, reverse bool) string {
	if reverse {
		if system {
			return "r.last_updated ASC, r.id DESC, r.type DESC"
		}
		return "r.last_updated ASC, r.id DESC"
	}
	if system {
		return "r.last_updated DESC, r.id, r.type"
	}
	return "r.last_updated DESC, r.id"
}

func sortColumn(k store.ParamKind, desc bool) string {
	switch k {
	case store.KindString:
		return "norm"
	case store.KindToken:
		return "code"
	case store.KindReference:
		return "target_id"
	case store.KindDate:
		if desc {
			return "high"
		}
		return "low"
	case store.KindURI:
		return "uri"
	}
	return "value"
}

// BuildHistory translates q; the statement selects HistoryColumns for up to Count+1
// rows, newest first.
//
// With Count 0 the statement instead selects one row: the number of versions the
// query matches, whatever Before says.
func BuildHistory(d Dialect, q store.HistoryQuery) (Statement, error) {
	if q.Count < 0 {
		return Statement{}, fmt.Errorf("sqlsearch: history count must not be negative")
	}
	if q.ID != "" && q.Type == "" {
		return Statement{}, fmt.Errorf("sqlsearch: instance history without a type")
	}
	b := builder{d: d}
	var sb strings.Builder
	if q.Count == 0 {
		sb.WriteString("SELECT count(*) FROM history h WHERE TRUE")
	} else {
		sb.WriteString("SELECT " + HistoryColumns + " FROM history h WHERE TRUE")
	}
	if q.Type != "" {
		sb.WriteString(" AND h.type = " + b.arg(q.Type))
	}
	if q.ID != "" {
		sb.WriteString(" AND h.id = " + b.arg(q.ID))
	}
	if !q.Since.IsZero() {
		sb.WriteString(" AND h.last_updated >= " + b.arg(Micros(q.Since)))
	}
	if q.Count == 0 {
		return Statement{SQL: sb.String(), Args: b.args}, nil
	}
	if q.Before > 0 {
		sb.WriteString(" AND h.seq < " + b.arg(q.Before))
	}
	sb.WriteString(" ORDER BY h.seq DESC LIMIT " + b.arg(int64(q.Count+1)))
	return Statement{SQL: sb.String(), Args: b.args}, nil
}

type builder struct {
	d       Dialect
	now     time.Time
	args    []any
	aliases int
}

// scope is the resources row a clause tests: its alias, and the placeholder bound to
// its type when the query has one type (empty in a system search).
type scope struct {
	alias   string
	typeArg string
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return b.d.Placeholder(len(b.args))
}

// alias returns a fresh table alias, so that nested subqueries never shadow each other.
func (b *builder) alias(prefix string) string {
	b.aliases++
	return prefix + strconv.Itoa(b.aliases)
}

// plainString reports whether c is a string clause that positive answers with a plain
// index subquery (no negation, :missing, chain or combination).
func plainString(c store.Clause) bool {
	return c.Kind == store.KindString && !c.Not && c.Missing == nil && len(c.Any) == 0 && len(c.All) == 0 &&
		c.Compartment == nil && len(c.Composite) == 0 && c.Has == nil && c.Chain == nil &&
		c.Param != "_id" && c.Param != "_lastUpdated"
}

// in wraps a condition on index rows (alias x) into a membership test of the scope's
// resource: IN (subquery) rather than a correlated EXISTS, so that both planners can
// start from the index table when the value is selective.
func (b *builder) in(sc scope, table, x, cond string) string {
	if sc.typeArg != "" {
		return sc.alias + ".id IN (" + typedIDs(sc, table, x, cond) + ")"
	}
	return "(" + sc.alias + ".type, " + sc.alias + ".id) IN (SELECT " + x + ".type, " + x + ".id FROM " + table + " " + x + " WHERE " + cond + ")"
}

// typedIDs selects the ids of the index rows (alias x) of the scope's type matching cond.
func typedIDs(sc scope, table, x, cond string) string {
	return "SELECT " + x + ".id FROM " + table + " " + x + " WHERE " + x + ".type = " + sc.typeArg + " AND " + cond
}

// ids is the subquery of a plain index clause (plainString) in a scope with a type:
// what positive wraps in "id IN (...)".
func (b *builder) ids(sc scope, c store.Clause) (string, error) {
	table, _ := IndexTable(c.Kind)
	x := b.alias("x")
	match, err := b.matches(x, c)
	if err != nil {
		return "", err
	}
	return typedIDs(sc, table, x, b.paramMatch(x, c, match)), nil
}

// paramMatch is the condition on index rows x of parameter c with any of the values.
func (b *builder) paramMatch(x string, c store.Clause, match []string) string {
	return x + ".param = " + b.arg(c.Param) + " AND (" + strings.Join(match, " OR ") + ")"
}

func (b *builder) clause(sc scope, c store.Clause) (string, error) {
	sql, err := b.positive(sc, c)
	if err != nil {
		return "", err
	}
	if c.Not {
		return "NOT " + sql, nil
	}
	return sql, nil
}

func (b *builder) positive(sc scope, c store.Clause) (string, error) {
	switch {
	case len(c.Any) > 0 || len(c.All) > 0:
		op, cs := " OR ", c.Any
		if len(c.All) > 0 {
			op, cs = " AND ", c.All
		}
		parts := make([]string, 0, len(cs))
		for _, sub := range cs {
			p, err := b.clause(sc, sub)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return "(" + strings.Join(parts, op) + ")", nil
	case c.Compartment != nil:
		return b.compartment(sc, c.Compartment)
	case len(c.Composite) > 0:
		return b.composite(sc, c)
	case c.Has != nil:
		return b.has(sc, c.Has)
	case c.Chain != nil:
		return b.chain(sc, c)
	}
	switch c.Param {
	case "_id":
		return b.idClause(sc, c)
	case "_lastUpdated":
		return b.lastUpdatedClause(sc, c)
	}
	table, ok := IndexTable(c.Kind)
	if !ok {
		return "", fmt.Errorf("%w: parameter %s has unknown kind %d", ErrUnsupported, c.Param, c.Kind)
	}
	x := b.alias("x")
	if c.Missing != nil {
		sql := "EXISTS (SELECT 1 FROM " + table + " " + x + " WHERE " + x + ".type = " + sc.alias + ".type AND " + x + ".id = " + sc.alias + ".id AND " + x + ".param = " + b.arg(c.Param) + ")"
		if *c.Missing {
			sql = "NOT " + sql
		}
		return sql, nil
	}
	match, err := b.matches(x, c)
	if err != nil {
		return "", err
	}
	return b.in(sc, table, x, b.paramMatch(x, c, match)), nil
}

// chain: the scope's reference parameter points at a resource matching the inner clause.
func (b *builder) chain(sc scope, c store.Clause) (string, error) {
	x, r2 := b.alias("x"), b.alias("r")
	inner := scope{alias: r2}
	var target strings.Builder
	target.WriteString("SELECT " + r2 + ".type, " + r2 + ".id FROM resources " + r2 + " WHERE NOT " + r2 + ".deleted")
	if c.Chain.Type != "" {
		inner.typeArg = b.arg(c.Chain.Type)
		target.WriteString(" AND " + r2 + ".type = " + inner.typeArg)
	}
	cond, err := b.clause(inner, c.Chain.Where)
	if err != nil {
		return "", err
	}
	target.WriteString(" AND " + cond)
	return b.in(sc, "idx_reference", x, x+".param = "+b.arg(c.Param)+" AND ("+x+".target_type, "+x+".target_id) IN ("+target.String()+")"), nil
}

// has: a resource of another type refers to the scope's resource and matches the inner
// clause.
func (b *builder) has(sc scope, h *store.Has) (string, error) {
	x, r2 := b.alias("x"), b.alias("r")
	inner := scope{alias: r2, typeArg: b.arg(h.Type)}
	cond, err := b.clause(inner, h.Where)
	if err != nil {
		return "", err
	}
	src := "SELECT " + r2 + ".id FROM resources " + r2 + " WHERE NOT " + r2 + ".deleted AND " + r2 + ".type = " + inner.typeArg + " AND " + cond
	refs := " FROM idx_reference " + x + " WHERE " + x + ".type = " + inner.typeArg + " AND " + x + ".param = " + b.arg(h.Param) + " AND " + x + ".id IN (" + src + ")"
	if sc.typeArg != "" {
		return sc.alias + ".id IN (SELECT " + x + ".target_id" + refs + " AND " + x + ".target_type = " + sc.typeArg + ")", nil
	}
	return "(" + sc.alias + ".type, " + sc.alias + ".id) IN (SELECT " + x + ".target_type, " + x + ".target_id" + refs + ")", nil
}

// compartment: the resource refers to the compartment's owner through one of the
// parameters the compartment definition lists for its type.
func (b *builder) compartment(sc scope, c *store.Compartment) (string, error) {
	x := b.alias("x")
	var alts []string
	types := make([]string, 0, len(c.Params))
	for t := range c.Params {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		ps := c.Params[t]
		if len(ps) == 0 {
			continue
		}
		var in []string
		for _, p := range ps {
			in = append(in, b.arg(p))
		}
		alts = append(alts, "("+x+".type = "+b.arg(t)+" AND "+x+".param IN ("+strings.Join(in, ", ")+"))")
	}
	// The compartment's own resource joins the subquery (UNION ALL) rather than an OR
	// beside it, so that the planner can turn the whole into a semi-join from the
	// reference index instead of testing every resource.
	self := ""
	if c.IncludeSelf {
		self = " UNION ALL SELECT " + b.arg(c.Type) + ", " + b.arg(c.ID)
	}
	if len(alts) == 0 {
		if self == "" {
			return "FALSE", nil
		}
		return "(" + sc.alias + ".type, " + sc.alias + ".id) IN (SELECT " + strings.TrimPrefix(self, " UNION ALL SELECT ") + ")", nil
	}
	cond := x + ".target_type = " + b.arg(c.Type) + " AND " + x + ".target_id = " + b.arg(c.ID) + " AND (" + strings.Join(alts, " OR ") + ")"
	return "(" + sc.alias + ".type, " + sc.alias + ".id) IN (SELECT " + x + ".type, " + x + ".id FROM idx_reference " + x + " WHERE " + cond + self + ")", nil
}

// matches returns the conditions (ORed) on index rows aliased x that c's values set.
func (b *builder) matches(x string, c store.Clause) ([]string, error) {
	var match []string
	switch c.Kind {
	case store.KindToken:
		for _, m := range c.Tokens {
			match = append(match, b.tokenMatch(x, m))
		}
	case store.KindDate:
		for _, m := range c.Dates {
			sql, err := b.dateMatch(x+".low", x+".high", m)
			if err != nil {
				return nil, fmt.Errorf("parameter %s: %w", c.Param, err)
			}
			match = append(match, sql)
		}
	case store.KindString:
		for _, m := range c.Strings {
			match = append(match, b.stringMatch(x, m))
		}
	case store.KindReference:
		for _, m := range c.References {
			match = append(match, b.referenceMatch(x, m))
		}
	case store.KindQuantity, store.KindNumber:
		for _, m := range c.Quantities {
			sql, err := b.quantityMatch(x, c.Kind, m)
			if err != nil {
				return nil, fmt.Errorf("parameter %s: %w", c.Param, err)
			}
			match = append(match, sql)
		}
	case store.KindURI:
		for _, m := range c.URIs {
			match = append(match, b.uriMatch(x, m))
		}
	}
	if len(match) == 0 {
		return nil, fmt.Errorf("sqlsearch: parameter %s has no values", c.Param)
	}
	return match, nil
}

// composite matches resources with one group of component rows (one item the
// composite's expression selected) where every component matches. Component i of
// group g is indexed under the parameter "code#g$i", so the rows of a group are found
// from the first component's parameter name.
func (b *builder) composite(sc scope, c store.Clause) (string, error) {
	if c.Missing != nil {
		table, ok := IndexTable(c.Composite[0].Kind)
		if !ok {
			return "", fmt.Errorf("%w: composite %s of kind %d", ErrUnsupported, c.Param, c.Composite[0].Kind)
		}
		x := b.alias("x")
		prefix := c.Param + "#"
		sql := "EXISTS (SELECT 1 FROM " + table + " " + x + " WHERE " + x + ".type = " + sc.alias + ".type AND " + x + ".id = " + sc.alias + ".id AND " +
			x + ".param >= " + b.arg(prefix) + " AND " + x + ".param < " + b.arg(prefix+"\U0010FFFF") + ")"
		if *c.Missing {
			sql = "NOT " + sql
		}
		return sql, nil
	}
	if len(c.Composite) < 2 || len(c.Composite) > 9 {
		return "", fmt.Errorf("sqlsearch: composite %s needs 2 to 9 components", c.Param)
	}
	var from, where []string
	var first string
	for i, part := range c.Composite {
		table, ok := IndexTable(part.Kind)
		if !ok {
			return "", fmt.Errorf("%w: composite %s component of kind %d", ErrUnsupported, c.Param, part.Kind)
		}
		x := b.alias("x")
		match, err := b.matches(x, part)
		if err != nil {
			return "", err
		}
		if len(match) == 0 {
			return "", fmt.Errorf("sqlsearch: composite %s component %d has no values", c.Param, i)
		}
		if i == 0 {
			first = x
			prefix := c.Param + "#"
			from = append(from, table+" "+x)
			where = append(where, "("+x+".param >= "+b.arg(prefix)+" AND "+x+".param < "+b.arg(prefix+"\U0010FFFF")+
				" AND "+x+".param LIKE "+b.arg(escapeLike(prefix)+"%$0")+" ESCAPE '\\')")
		} else {
			from = append(from, table+" "+x)
			where = append(where, x+".type = "+first+".type AND "+x+".id = "+first+".id AND "+x+".param = substr("+first+".param, 1, length("+first+".param) - 1) || "+b.arg(strconv.Itoa(i)))
		}
		where = append(where, "("+strings.Join(match, " OR ")+")")
	}
	cond := strings.Join(where, " AND ")
	if sc.typeArg != "" {
		return sc.alias + ".id IN (SELECT " + first + ".id FROM " + strings.Join(from, ", ") + " WHERE " + first + ".type = " + sc.typeArg + " AND " + cond + ")", nil
	}
	return "(" + sc.alias + ".type, " + sc.alias + ".id) IN (SELECT " + first + ".type, " + first + ".id FROM " + strings.Join(from, ", ") + " WHERE " + cond + ")", nil
}

func (b *builder) tokenMatch(x string, m store.TokenMatch) string {
	switch {
	case m.Text != "":
		// :text matches the start of any word of the folded display text.
		v := escapeLike(m.Text)
		return "(" + x + ".text LIKE " + b.arg(v+"%") + " ESCAPE '\\' OR " + x + ".text LIKE " + b.arg("% "+v+"%") + " ESCAPE '\\')"
	case m.AnySystem:
		return x + ".code = " + b.arg(m.Code)
	case m.Code == "":
		return x + ".system = " + b.arg(m.System)
	default:
		return "(" + x + ".system = " + b.arg(m.System) + " AND " + x + ".code = " + b.arg(m.Code) + ")"
	}
}

func (b *builder) stringMatch(x string, m store.StringMatch) string {
	switch m.Mode {
	case store.StringExact:
		return x + ".exact = " + b.arg(m.Value)
	case store.StringContains:
		return x + ".norm LIKE " + b.arg("%"+escapeLike(m.Value)+"%") + " ESCAPE '\\'"
	}
	return b.prefix(x+".norm", m.Value)
}

// prefix matches col by prefix in a way the column's index can serve: a range on
// SQLite (whose LIKE is case-insensitive and skips the index), LIKE on PostgreSQL
// (whose index uses text_pattern_ops).
func (b *builder) prefix(col, v string) string {
	if b.d == SQLite {
		if v == "" {
			return "TRUE"
		}
		return "(" + col + " >= " + b.arg(v) + " AND " + col + " < " + b.arg(v+"\U0010FFFF") + ")"
	}
	return col + " LIKE " + b.arg(escapeLike(v)+"%") + " ESCAPE '\\'"
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func (b *builder) referenceMatch(x string, m store.ReferenceMatch) string {
	switch {
	case m.URL != "":
		return x + ".url = " + b.arg(m.URL)
	case m.Type == "":
		return x + ".target_id = " + b.arg(m.ID)
	}
	return "(" + x + ".target_type = " + b.arg(m.Type) + " AND " + x + ".target_id = " + b.arg(m.ID) + ")"
}

// quantityMatch follows https://hl7.org/fhir/R4/search.html#prefix for numbers and
// quantities: eq and ne use the range the value's precision implies.
func (b *builder) quantityMatch(x string, k store.ParamKind, m store.QuantityMatch) (string, error) {
	v := x + ".value"
	var cmp string
	switch m.Prefix {
	case "", "eq":
		cmp = "(" + v + " >= " + b.arg(m.Low) + " AND " + v + " < " + b.arg(m.High) + ")"
	case "ne":
		cmp = "NOT (" + v + " >= " + b.arg(m.Low) + " AND " + v + " < " + b.arg(m.High) + ")"
	case "gt", "sa":
		cmp = v + " > " + b.arg(m.Value)
	case "lt", "eb":
		cmp = v + " < " + b.arg(m.Value)
	case "ge":
		cmp = v + " >= " + b.arg(m.Value)
	case "le":
		cmp = v + " <= " + b.arg(m.Value)
	case "ap":
		d := math.Abs(m.Value) / 10
		cmp = "(" + v + " >= " + b.arg(m.Value-d) + " AND " + v + " <= " + b.arg(m.Value+d) + ")"
	default:
		return "", fmt.Errorf("%w: prefix %q", ErrUnsupported, m.Prefix)
	}
	if k == store.KindNumber || m.AnyUnit {
		return cmp, nil
	}
	switch {
	case m.System != "":
		cmp += " AND " + x + ".system = " + b.arg(m.System) + " AND " + x + ".code = " + b.arg(m.Code)
	case m.Code != "":
		c := b.arg(m.Code)
		cmp += " AND (" + x + ".code = " + c + " OR " + x + ".unit = " + c + ")"
	}
	return "(" + cmp + ")", nil
}

func (b *builder) uriMatch(x string, m store.URIMatch) string {
	switch m.Mode {
	case store.URIBelow:
		return b.prefix(x+".uri", m.Value)
	case store.URIAbove:
		return "substr(" + b.arg(m.Value) + ", 1, length(" + x + ".uri)) = " + x + ".uri"
	}
	return x + ".uri = " + b.arg(m.Value)
}

func (b *builder) idClause(sc scope, c store.Clause) (string, error) {
	if c.Missing != nil {
		// Every resource has an id.
		if *c.Missing {
			return "FALSE", nil
		}
		return "TRUE", nil
	}
	if len(c.Tokens) == 0 {
		return "", fmt.Errorf("sqlsearch: _id has no values")
	}
	var sb strings.Builder
	sb.WriteString(sc.alias + ".id IN (")
	for i, m := range c.Tokens {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(b.arg(m.Code))
	}
	sb.WriteString(")")
	return sb.String(), nil
}

func (b *builder) lastUpdatedClause(sc scope, c store.Clause) (string, error) {
	if c.Missing != nil {
		if *c.Missing {
			return "FALSE", nil
		}
		return "TRUE", nil
	}
	if len(c.Dates) == 0 {
		return "", fmt.Errorf("sqlsearch: _lastUpdated has no values")
	}
	match := make([]string, 0, len(c.Dates))
	for _, m := range c.Dates {
		sql, err := b.dateMatch(sc.alias+".last_updated", sc.alias+".last_updated", m)
		if err != nil {
			return "", fmt.Errorf("parameter _lastUpdated: %w", err)
		}
		match = append(match, sql)
	}
	return "(" + strings.Join(match, " OR ") + ")", nil
}

// dateMatch compares the stored closed range [low, high] with the search range
// following https://hl7.org/fhir/R4/search.html#prefix.
func (b *builder) dateMatch(low, high string, m store.DateMatch) (string, error) {
	sLow, sHigh := LowMicros(m.Low), HighMicros(m.High)
	if sLow > sHigh {
		return "", fmt.Errorf("sqlsearch: date range ends before it starts")
	}
	switch m.Prefix {
	case "", "eq":
		return "(" + low + " >= " + b.arg(sLow) + " AND " + high + " <= " + b.arg(sHigh) + ")", nil
	case "ne":
		return "NOT (" + low + " >= " + b.arg(sLow) + " AND " + high + " <= " + b.arg(sHigh) + ")", nil
	case "gt":
		return high + " > " + b.arg(sHigh), nil
	case "lt":
		return low + " < " + b.arg(sLow), nil
	case "ge":
		lo, hi := b.arg(sLow), b.arg(sHigh)
		return "(" + high + " > " + hi + " OR (" + low + " >= " + lo + " AND " + high + " <= " + hi + "))", nil
	case "le":
		lo, hi := b.arg(sLow), b.arg(sHigh)
		return "(" + low + " < " + lo + " OR (" + low + " >= " + lo + " AND " + high + " <= " + hi + "))", nil
	case "sa":
		return low + " > " + b.arg(sHigh), nil
	case "eb":
		return high + " < " + b.arg(sLow), nil
	case "ap":
		wLow, wHigh := approximate(sLow, sHigh, b.now)
		return "(" + low + " <= " + b.arg(wHigh) + " AND " + high + " >= " + b.arg(wLow) + ")", nil
	}
	return "", fmt.Errorf("%w: date prefix %q", ErrUnsupported, m.Prefix)
}

// approximate widens [low, high] by 10% of the distance between the search value and
// now on both sides, as HAPI FHIR does for the "ap" prefix (the specification leaves
// the amount to the server). An unbounded side stays unbounded.
func approximate(low, high int64, now time.Time) (int64, int64) {
	n := now.UnixMicro()
	ref := low
	if ref == math.MinInt64 {
		ref = high
	}
	if ref == math.MinInt64 || ref == math.MaxInt64 {
		return math.MinInt64, math.MaxInt64
	}
	gap := n - ref
	if gap < 0 {
		gap = -gap
	}
	widen := gap / 10
	if low != math.MinInt64 {
		if low < math.MinInt64+widen {
			low = math.MinInt64
		} else {
			low -= widen
		}
	}
	if high != math.MaxInt64 {
		if high > math.MaxInt64-widen {
			high = math.MaxInt64
		} else {
			high += widen
		}
	}
	return low, high
}
