package sqlite

import (
	"context"
	"testing"
)

// The writer commits durably: an acknowledged message or a 201 must survive a power
// loss, not only a crash of the process (synchronous=FULL, not WAL's usual NORMAL).
func TestWriterDurability(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var sync int
	if err := s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if sync != 2 || mode != "wal" { // 2 = FULL
		t.Errorf("writer: synchronous=%d journal_mode=%s, want 2 (FULL) and wal", sync, mode)
	}
}
