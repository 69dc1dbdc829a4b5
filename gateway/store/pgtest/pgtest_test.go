package pgtest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestNewDatabase(t *testing.T) {
	var first string
	t.Run("create", func(t *testing.T) {
		a, b := NewDatabase(t), NewDatabase(t)
		if a == b {
			t.Fatalf("two calls returned the same database %s", a)
		}
		for _, u := range []string{a, b} {
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, u)
			if err != nil {
				t.Fatalf("connect to %s: %v", u, err)
			}
			var db, enc string
			var tables int
			err = conn.QueryRow(ctx, `SELECT current_database(), pg_encoding_to_char(encoding),
				(SELECT count(*) FROM pg_tables WHERE schemaname = 'public')
				FROM pg_database WHERE datname = current_database()`).Scan(&db, &enc, &tables)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(db, NamePrefix) || enc != "UTF8" || tables != 0 {
				t.Errorf("database %s: encoding %s, %d tables; want %s*, UTF8, 0", db, enc, tables, NamePrefix)
			}
			if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
				t.Errorf("database %s not writable: %v", db, err)
			}
			// Left open on purpose: the cleanup must drop the database anyway.
			_ = conn
		}
		first = a
	})
	if first == "" {
		t.Fatal("subtest did not record a database")
	}
	name := first[strings.LastIndex(first, "/")+1:]
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	conn, err := pgx.Connect(context.Background(), ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

// recorder stands in for a testing.TB to observe how NewDatabase gives up.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		skipEnv  string
		wantSkip bool
	}{
		{"", false},
		{"0", false},
		{"1", true},
	} {
		t.Run("skip="+tc.skipEnv, func(t *testing.T) {
			// Port 1 on loopback: nothing listens there, the connection is refused at once.
			t.Setenv(EnvURL, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable")
			t.Setenv(EnvSkip, tc.skipEnv)
			r := &recorder{TB: t}
			done := make(chan string)
			go func() {
				var url string
				defer func() { done <- url }()
				url = NewDatabase(r)
			}()
			if url := <-done; url != "" {
				t.Fatalf("NewDatabase returned %s for an unreachable server", url)
			}
			if tc.wantSkip && (r.skip == "" || r.fatal != "") {
				t.Errorf("want skip, got skip=%q fatal=%q", r.skip, r.fatal)
			}
			if !tc.wantSkip && (r.fatal == "" || r.skip != "") {
				t.Errorf("want fatal, got skip=%q fatal=%q", r.skip, r.fatal)
			}
			if msg := r.skip + r.fatal; !strings.Contains(msg, "unreachable") {
				t.Errorf("message %q does not say why", msg)
			}
		})
	}
}
