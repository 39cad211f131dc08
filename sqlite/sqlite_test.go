package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/sqlite"
)

// pragma returns the integer value of PRAGMA name on q.
func pragma(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string) int64 {
	t.Helper()
	var v int64
	if err := q.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// TestOpen_AutoVacuum checks that new databases, the server's and a
// restore's staging one alike, are created with incremental auto-vacuum
// (2), so that they can give back the pages sealing frees.
func TestOpen_AutoVacuum(t *testing.T) {
	ctx := context.Background()
	t.Run("Open", func(t *testing.T) {
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bitnobi.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got, want := pragma(t, db.Read, "auto_vacuum"), int64(2); got != want {
			t.Fatalf("auto_vacuum=%d, want %d", got, want)
		}
	})
	t.Run("Staging", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bitnobi.db")
		db, err := sqlite.OpenStaging(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write.ExecContext(ctx, `CREATE TABLE t (x TEXT)`); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := sqlite.FinishStaging(ctx, path); err != nil {
			t.Fatal(err)
		}
		db, err = sqlite.OpenNoMigrate(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got, want := pragma(t, db.Read, "auto_vacuum"), int64(2); got != want {
			t.Fatalf("auto_vacuum=%d, want %d", got, want)
		}
	})
}

// TestCompact_Converts checks that Compact turns a database created
// without auto-vacuum (by an earlier version) into one with incremental
// auto-vacuum, and gives back its free pages.
func TestCompact_Converts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bitnobi.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 1000)
	for _, q := range []string{
		`CREATE TABLE junk (x TEXT)`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000) INSERT INTO junk SELECT '` + pad + `' || i FROM n`,
		`DELETE FROM junk`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if got := pragma(t, raw, "auto_vacuum"); got != 0 {
		t.Fatalf("old database: auto_vacuum=%d, want 0", got)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := pragma(t, db.Write, "auto_vacuum"); got != 0 {
		t.Fatalf("opened: auto_vacuum=%d, want 0 (unchanged until VACUUM)", got)
	}
	free, pages := pragma(t, db.Write, "freelist_count"), pragma(t, db.Write, "page_count")
	if free < 100 {
		t.Fatalf("freelist_count=%d before, want the deleted rows' pages", free)
	}
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := pragma(t, db.Write, "auto_vacuum"), int64(2); got != want {
		t.Fatalf("compacted: auto_vacuum=%d, want %d", got, want)
	}
	if got := pragma(t, db.Write, "freelist_count"); got != 0 {
		t.Fatalf("compacted: freelist_count=%d, want 0", got)
	}
	// Auto-vacuum adds a few pointer-map pages.
	if got, most := pragma(t, db.Write, "page_count"), pages-free+pages/50; got > most {
		t.Fatalf("compacted: page_count=%d, want at most %d (%d before, %d free)", got, most, pages, free)
	}
}
