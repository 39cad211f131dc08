package backuptest

import (
	"context"
	"os"
	"testing"

	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/secret"
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
	if err := os.MkdirAll(path, 0o700); err != nil {
		tb.Fatal(err)
	}
	dir := datadir.Dir(path)
	key, _, err := secret.LoadOrCreateKeyFile(dir.Key())
	if err != nil {
		tb.Fatal(err)
	}
	d := openPostgres(tb, dir, dsn, key)
	ctx := context.Background()
	if err := d.DB.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := d.DB.EnsureInstance(ctx); err != nil {
		tb.Fatal(err)
	}
	return d, dsn
}

// OpenOn is [Open] for a data directory whose database is the PostgreSQL
// database dsn; with dsn "" it is Open.
func OpenOn(tb testing.TB, path, dsn string) *DataDir {
	tb.Helper()
	if dsn == "" {
		return Open(tb, path)
	}
	dir := datadir.Dir(path)
	key, err := secret.ReadKeyFile(dir.Key())
	if err != nil {
		tb.Fatal(err)
	}
	return openPostgres(tb, dir, dsn, key)
}

func openPostgres(tb testing.TB, dir datadir.Dir, dsn string, key secret.Key) *DataDir {
	tb.Helper()
	db, err := postgres.OpenNoMigrate(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	db.Logger = discardLogger
	db.Key = key
	db.Blobs = blob.NewStore(dir.Blobs())
	return &DataDir{Dir: dir, DB: db, Key: key, Blobs: db.Blobs}
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
