package seed_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/bitnobi/bitnobi/internal/seed"
)

// TestFill_Compacts checks that a seeded SQLite database holds no free
// pages and has incremental auto-vacuum, as a long-running server's does,
// even when the file was created without it (by an earlier version).
func TestFill_Compacts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// An empty database file created without auto-vacuum: the table
	// written and dropped fixes the mode in the file's header.
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "bitnobi.db")+"?_pragma=auto_vacuum(NONE)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`CREATE TABLE tmp (x TEXT)`, `DROP TABLE tmp`} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, dir)
	db.AuditSegmentSize = 256 // so that the seed seals, and frees pages
	pragma := func(name string) int64 {
		t.Helper()
		var v int64
		if err := db.Write.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := pragma("auto_vacuum"); got != 0 {
		t.Fatalf("before seeding: auto_vacuum=%d, want 0", got)
	}
	if _, err := (&seed.Seeder{DB: db, Size: tiny, Seed: 5}).Fill(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pragma("freelist_count"); got != 0 {
		t.Errorf("seeded: freelist_count=%d, want 0", got)
	}
	if got, want := pragma("auto_vacuum"), int64(2); got != want {
		t.Errorf("seeded: auto_vacuum=%d, want %d", got, want)
	}
}
