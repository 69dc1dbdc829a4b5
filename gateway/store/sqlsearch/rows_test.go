package sqlsearch

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shch/fhirgw/gateway/store"
)

// fakeRows yields rows of values as a driver would scan them; a nil value is NULL.
type fakeRows struct {
	rows [][]any
	next int
	err  error // what Err reports after the last row
}

func (r *fakeRows) Next() bool { r.next++; return r.next <= len(r.rows) }
func (r *fakeRows) Err() error { return r.err }

func (r *fakeRows) Scan(dest ...any) error {
	row := r.rows[r.next-1]
	if len(dest) != len(row) {
		return fmt.Errorf("%d destinations for %d columns", len(dest), len(row))
	}
	for i, v := range row {
		d := reflect.ValueOf(dest[i]).Elem()
		if v == nil {
			d.SetZero()
			continue
		}
		d.Set(reflect.ValueOf(v))
	}
	return nil
}

func decodeJSON(s string) ([]string, error) {
	var list []string
	err := json.Unmarshal([]byte(s), &list)
	return list, err
}

func messageRow(id string, eventTime *int64, raw []byte, resources string, seq int64) []any {
	var et any
	if eventTime != nil {
		et = eventTime
	}
	var r any
	if raw != nil {
		r = raw
	}
	return []any{id, "mllp", "HIS", "C" + id, "ADT^A01", et, int64(1_700_000_000_000_000),
		store.MessageApplied, "", r, resources, 1, seq, "GB18030"}
}

func TestScanMessagePage(t *testing.T) {
	us := int64(1_699_999_000_000_123)
	rows := func() [][]any {
		return [][]any{
			messageRow("m3", &us, []byte("MSH|"), `["Patient/p/_history/1"]`, 3),
			messageRow("m2", nil, nil, `[]`, 2),
			messageRow("m1", nil, nil, `[]`, 1),
		}
	}
	tests := []struct {
		name     string
		rows     [][]any
		rowsErr  error
		count    int
		wantIDs  []string
		wantNext int64
		wantErr  string
	}{
		{name: "one more than the page", rows: rows(), count: 2, wantIDs: []string{"m3", "m2"}, wantNext: 2},
		{name: "last page", rows: rows(), count: 3, wantIDs: []string{"m3", "m2", "m1"}},
		{name: "no rows", count: 3},
		{name: "bad resources", rows: [][]any{messageRow("m9", nil, nil, `{`, 9)}, count: 3,
			wantErr: "message m9: resources: "},
		{name: "rows error", rows: rows(), rowsErr: errors.New("connection lost"), count: 3, wantErr: "connection lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ScanMessagePage(&fakeRows{rows: tt.rows, err: tt.rowsErr}, tt.count, decodeJSON)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range p.Messages {
				ids = append(ids, m.ID)
			}
			if !slices.Equal(ids, tt.wantIDs) || p.Next != tt.wantNext {
				t.Errorf("page %q next %d, want %q next %d", ids, p.Next, tt.wantIDs, tt.wantNext)
			}
		})
	}
}

// A row's NULLs and empty values read as the store's zero values.
func TestScanMessage(t *testing.T) {
	us := int64(1_699_999_000_000_123)
	r := &fakeRows{rows: [][]any{messageRow("m1", &us, []byte("MSH|"), `["Patient/p/_history/1"]`, 7), messageRow("m2", nil, nil, `[]`, 8)}}
	r.Next()
	m, err := ScanMessage(r.Scan, decodeJSON)
	if err != nil {
		t.Fatal(err)
	}
	if !m.EventTime.Equal(time.UnixMicro(us)) || m.EventTime.Location() != time.UTC || string(m.Raw) != "MSH|" ||
		!slices.Equal(m.Resources, []string{"Patient/p/_history/1"}) || m.Attempts != 1 || m.Seq != 7 || m.ControlID != "Cm1" || m.Charset != "GB18030" {
		t.Errorf("first row read as %+v", m)
	}
	r.Next()
	m, err = ScanMessage(r.Scan, decodeJSON)
	if err != nil {
		t.Fatal(err)
	}
	if !m.EventTime.IsZero() || m.Raw == nil || len(m.Raw) != 0 || m.Resources != nil {
		t.Errorf("NULL event time, no raw bytes and no resources read as %v, %#v, %#v", m.EventTime, m.Raw, m.Resources)
	}
}

func TestScanStateEntries(t *testing.T) {
	r := &fakeRows{rows: [][]any{{"reindex/a", []byte("1")}, {"reindex/b", []byte{}}}}
	got, err := ScanStateEntries(r)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.StateEntry{{Key: "reindex/a", Value: []byte("1")}, {Key: "reindex/b", Value: []byte{}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries %+v, want %+v", got, want)
	}
	if _, err := ScanStateEntries(&fakeRows{err: sql.ErrConnDone}); !errors.Is(err, sql.ErrConnDone) {
		t.Errorf("rows error: %v", err)
	}
}

func TestBuildState(t *testing.T) {
	now := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		d    Dialect
		stmt Statement
		want string
		args []any
	}{
		{SQLite, BuildGetState(SQLite, "k"), "SELECT value FROM gateway_state WHERE key = ?1", []any{"k"}},
		{Postgres, BuildGetState(Postgres, "k"), "SELECT value FROM gateway_state WHERE key = $1", []any{"k"}},
		{SQLite, BuildListState(SQLite, "re_"), "SELECT key, value FROM gateway_state WHERE key >= ?1 AND key < ?2 ORDER BY key",
			[]any{"re_", "re_\U0010FFFF"}},
		{Postgres, BuildListState(Postgres, "re_"), "SELECT key, value FROM gateway_state WHERE key >= $1 AND key < $2 ORDER BY key",
			[]any{"re_", "re_\U0010FFFF"}},
		{SQLite, BuildPutState(SQLite, "k", nil, now), "INSERT INTO gateway_state (key, value, updated) VALUES (?1, ?2, ?3)\n" +
			"ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated", []any{"k", []byte{}, now.UnixMicro()}},
		{Postgres, BuildPutState(Postgres, "k", []byte("v"), now), "INSERT INTO gateway_state (key, value, updated) VALUES ($1, $2, $3)\n" +
			"ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated", []any{"k", []byte("v"), now.UnixMicro()}},
	}
	for _, tt := range tests {
		if tt.stmt.SQL != tt.want || !reflect.DeepEqual(tt.stmt.Args, tt.args) {
			t.Errorf("dialect %d: %q %#v, want %q %#v", tt.d, tt.stmt.SQL, tt.stmt.Args, tt.want, tt.args)
		}
	}
}

func TestLookupErr(t *testing.T) {
	tests := []struct {
		err      error
		notFound bool
	}{
		{sql.ErrNoRows, true},
		{pgx.ErrNoRows, true},
		{fmt.Errorf("scan: %w", sql.ErrNoRows), true},
		{sql.ErrConnDone, false},
	}
	for _, tt := range tests {
		err := LookupErr("read message m1", tt.err)
		if errors.Is(err, store.ErrNotFound) != tt.notFound || !strings.HasPrefix(err.Error(), "read message m1: ") {
			t.Errorf("LookupErr(%v) = %v", tt.err, err)
		}
		if !tt.notFound && !errors.Is(err, tt.err) {
			t.Errorf("LookupErr(%v) = %v does not wrap it", tt.err, err)
		}
	}
}
