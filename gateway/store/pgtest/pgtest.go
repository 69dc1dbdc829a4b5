// Package pgtest gives each test a fresh, empty PostgreSQL database.
//
// Environment:
//
//	FHIRGW_TEST_DATABASE_URL   server to create the databases on, as a URL whose user
//	                           may CREATE DATABASE (default DefaultURL)
//	FHIRGW_TEST_SKIP_POSTGRES  "1": skip tests needing PostgreSQL when the server is
//	                           unreachable; otherwise they fail, so that CI never
//	                           passes without having run them
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by NewDatabase.
const (
	EnvURL  = "FHIRGW_TEST_DATABASE_URL"
	EnvSkip = "FHIRGW_TEST_SKIP_POSTGRES"
)

// DefaultURL is the server used when EnvURL is unset: a local PostgreSQL with trust
// authentication.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// NamePrefix starts the name of every database NewDatabase creates, so that ones left
// behind by a killed test run are easy to find and drop.
const NamePrefix = "fhirgw_test_"

// ServerURL returns the URL of the server tests create their databases on: EnvURL, or
// DefaultURL when it is unset.
func ServerURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// NewDatabase creates an empty database for t and returns its URL. The database is
// dropped (even while connections to it remain open) when t and its subtests finish.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := ServerURL()
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: %s must be a postgres:// URL, got %q", EnvURL, admin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := connect(ctx, admin)
	if err != nil {
		if os.Getenv(EnvSkip) == "1" {
			t.Skipf("pgtest: PostgreSQL unreachable (%s=1): %v", EnvSkip, err)
		}
		t.Fatalf("pgtest: PostgreSQL unreachable at %s (set %s=1 to skip instead): %v",
			u.Redacted(), EnvSkip, err)
	}
	defer conn.Close(context.Background())

	var b [8]byte
	rand.Read(b[:])
	name := NamePrefix + hex.EncodeToString(b[:])
	// template0 with an explicit encoding: never a copy of whatever someone left in
	// template1, and UTF-8 whatever the server's default.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := connect(ctx, admin)
		if err == nil {
			// FORCE ends the connections a failed test left open.
			_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			conn.Close(context.Background())
		}
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func connect(ctx context.Context, connString string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	return pgx.ConnectConfig(ctx, cfg)
}
