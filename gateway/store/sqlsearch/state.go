package sqlsearch

import (
	"time"

	"github.com/shch/fhirgw/gateway/store"
)

// BuildGetState selects the value stored under key.
func BuildGetState(d Dialect, key string) Statement {
	return Statement{SQL: "SELECT value FROM gateway_state WHERE key = " + d.Placeholder(1), Args: []any{key}}
}

// BuildListState selects the key and value of every entry whose key starts with
// prefix, in key order; ScanStateEntries reads the rows.
func BuildListState(d Dialect, prefix string) Statement {
	// A range on the key rather than LIKE, so that "_" and "%" in a prefix are literal
	// (PostgreSQL's key column is "C"-collated, to compare as SQLite does).
	return Statement{
		SQL: "SELECT key, value FROM gateway_state WHERE key >= " + d.Placeholder(1) +
			" AND key < " + d.Placeholder(2) + " ORDER BY key",
		Args: []any{prefix, prefix + "\U0010FFFF"},
	}
}

// BuildPutState stores value under key, replacing any value there, as updated at now.
func BuildPutState(d Dialect, key string, value []byte, now time.Time) Statement {
	if value == nil {
		value = []byte{} // the column is NOT NULL
	}
	return Statement{
		SQL: "INSERT INTO gateway_state (key, value, updated) VALUES (" +
			d.Placeholder(1) + ", " + d.Placeholder(2) + ", " + d.Placeholder(3) + ")\n" +
			"ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
		Args: []any{key, value, Micros(now)},
	}
}

// ScanStateEntries reads the rows of a BuildListState statement.
func ScanStateEntries(rows Rows) ([]store.StateEntry, error) {
	var out []store.StateEntry
	for rows.Next() {
		var e store.StateEntry
		if err := rows.Scan(&e.Key, &e.Value); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
