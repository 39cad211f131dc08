package backuptest

import (
	"context"
	"testing"

	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/store"
)

// NewDataDirOn is [NewDataDir] with the database on engine: for
// dbtest.Postgres a new PostgreSQL database (see
// dbtest.NewPostgresDatabase), whose DSN it returns, while blobs and the
// master key stay in path as with "bitnobi serve --db". For dbtest.SQLite
// it is NewDataDir, and the DSN is "".
func NewDataDirOn(tb testing.TB, path, engine string) (*DataDir, string) {
	tb.Helper()
	if engine == dbtest.SQLite {
		return NewDataDir(tb, path), ""
	}
	dsn := dbtest.NewPostgresDatabase(tb)
	dir, key := newKey(tb, path)
	return setUp(tb, openPostgres(tb, dsn), dir, key, true), dsn
}

// OpenOn is [Open] for a data directory whose database is the PostgreSQL
// database dsn; with dsn "" it is Open.
func OpenOn(tb testing.TB, path, dsn string) *DataDir {
	tb.Helper()
	if dsn == "" {
		return Open(tb, path)
	}
	dir, key := readKey(tb, path)
	return setUp(tb, openPostgres(tb, dsn), dir, key, false)
}

func openPostgres(tb testing.TB, dsn string) *store.DB {
	tb.Helper()
	db, err := postgres.OpenNoMigrate(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// OpenDB returns the [backup.CreateOptions] OpenDB for the database dsn:
// nil (the data directory's SQLite database) when dsn is "".
func OpenDB(dsn string) func(context.Context) (*store.DB, error) {
	if dsn == "" {
		return nil
	}
	return func(ctx context.Context) (*store.DB, error) {
		return postgres.OpenWith(ctx, dsn, postgres.Options{ApplicationName: "bitnobi backup"})
	}
}
