// Package dbtest opens fresh Bitnobi databases for tests, on every engine
// the environment provides, so that one test body runs on each:
//
//	for _, engine := range dbtest.Engines(t) {
//		t.Run(engine, func(t *testing.T) {
//			db := dbtest.Open(t, engine)
//			...
//		})
//	}
//
// SQLite is always there. PostgreSQL is when [EnvPostgres] holds a DSN
// (scripts/with-postgres.sh, which scripts/test.sh runs the tests under,
// starts a throw-away cluster and sets it): each [Open] then creates a
// database of its own from that DSN and drops it when the test ends. When
// [EnvPostgresRequired] is 1, a test that would skip for lack of
// PostgreSQL fails instead, so that a broken CI setup cannot pass quietly.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver, for the administrative connection

	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// Environment variables that select the engines.
const (
	// EnvPostgres is a DSN of a PostgreSQL database whose role may create
	// databases, e.g. postgres://bitnobi_test:pw@127.0.0.1:5432/bitnobi_test.
	EnvPostgres = "BITNOBI_TEST_POSTGRES"
	// EnvPostgresRequired, when "1", turns a PostgreSQL test's skip into
	// a failure.
	EnvPostgresRequired = "BITNOBI_TEST_POSTGRES_REQUIRED"
)

// Engine names, as [store.Dialect.Name] gives them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Engines returns the engines to test on: SQLite, and PostgreSQL when
// [EnvPostgres] is set. If PostgreSQL is required but not configured, it
// fails the test.
func Engines(tb testing.TB) []string {
	tb.Helper()
	if os.Getenv(EnvPostgres) == "" {
		if required() {
			tb.Fatalf("%s=1 but %s is not set: PostgreSQL tests cannot run", EnvPostgresRequired, EnvPostgres)
		}
		return []string{SQLite}
	}
	return []string{SQLite, Postgres}
}

// Run runs fn as a subtest named after each engine of [Engines], in
// parallel with each other.
func Run(t *testing.T, fn func(t *testing.T, engine string)) {
	t.Helper()
	for _, engine := range Engines(t) {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			fn(t, engine)
		})
	}
}

func required() bool { return os.Getenv(EnvPostgresRequired) == "1" }

// PostgresDSN returns the DSN of [EnvPostgres]. Without it, the test is
// skipped, or fails if PostgreSQL is required.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(EnvPostgres)
	if dsn == "" {
		if required() {
			tb.Fatalf("%s=1 but %s is not set: this PostgreSQL test cannot run", EnvPostgresRequired, EnvPostgres)
		}
		tb.Skipf("no PostgreSQL: set %s to a DSN (scripts/with-postgres.sh does) to run this test", EnvPostgres)
	}
	return dsn
}

// NewPostgresDatabase creates an empty database named bitnobi_test_<random>
// and returns its DSN; the database is dropped when the test ends (after
// the cleanups registered later, such as closing it). Without PostgreSQL it
// skips as [PostgresDSN] does.
func NewPostgresDatabase(tb testing.TB) string {
	tb.Helper()
	base := PostgresDSN(tb)
	ctx := context.Background()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", EnvPostgres, err)
	}
	defer admin.Close()
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "bitnobi_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database (%s): %v", EnvPostgres, err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close()
		// FORCE may not end an autovacuum worker busy on a large database
		// ("must be a member of the role whose process is being
		// terminated"): it finishes soon, so try again for a while.
		for try := 0; ; try++ {
			_, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			if err == nil {
				return
			}
			if try == 60 {
				tb.Errorf("drop test database %s: %v", name, err)
				return
			}
			time.Sleep(time.Second)
		}
	})
	dsn, err := withDatabase(base, name)
	if err != nil {
		tb.Fatalf("%s: %v", EnvPostgres, err)
	}
	return dsn
}

// withDatabase returns dsn with its database replaced by name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse DSN: %w", err) // url.Error hides the password
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// key=value settings: a later key overrides an earlier one.
	return dsn + " dbname=" + name, nil
}

// Open returns a fresh, migrated database on engine, closed when the test
// ends: a SQLite file in a temporary folder, or a new PostgreSQL database
// (see [NewPostgresDatabase]). Its logs go to the test log; Blobs and Key
// are left for the test to set.
func Open(tb testing.TB, engine string) *store.DB {
	tb.Helper()
	db := OpenNoMigrate(tb, engine)
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate %s database: %v", engine, err)
	}
	return db
}

// OpenNoMigrate is [Open] without the migrations: an empty database.
func OpenNoMigrate(tb testing.TB, engine string) *store.DB {
	tb.Helper()
	ctx := context.Background()
	var db *store.DB
	var err error
	switch engine {
	case SQLite:
		db, err = sqlite.OpenNoMigrate(ctx, filepath.Join(tb.TempDir(), "bitnobi.db"))
	case Postgres:
		db, err = postgres.OpenNoMigrate(ctx, NewPostgresDatabase(tb))
	default:
		tb.Fatalf("dbtest: unknown engine %q", engine)
	}
	if err != nil {
		tb.Fatalf("open %s database: %v", engine, err)
	}
	tb.Cleanup(func() { db.Close() })
	db.Logger = slog.New(slog.NewTextHandler(logWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return db
}

// logWriter sends logs to the test log.
type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
