package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/bitnobi/bitnobi"
)

//go:embed migrations/*.sql migrations/*/*.sql
var migrationFS embed.FS

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in version order. A file
// migrations/<engine>/NNNN_name.sql, where present, replaces the generic one
// for that engine; that is where dialects may differ.
func Migrations(engine string) ([]Migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		base := path.Base(name)
		num, rest, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", base)
		}
		body, err := fs.ReadFile(migrationFS, name)
		if err != nil {
			return nil, err
		}
		if alt, err := fs.ReadFile(migrationFS, "migrations/"+engine+"/"+base); err == nil {
			body = alt
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(rest, ".sql"), SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %04d: versions must be 1, 2, 3... without gaps", m.Version)
		}
	}
	return ms, nil
}

// LatestSchemaVersion is the schema version this binary migrates to.
func LatestSchemaVersion() int {
	ms, err := Migrations("")
	if err != nil {
		panic(err) // the embedded files are part of the binary; tests catch this
	}
	return len(ms)
}

// SchemaVersion returns the version the database is at (0 when new). It
// only reads, so a backup may call it on a live database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	return SchemaVersionOf(ctx, db.Read, db.Dialect)
}

// SchemaVersionOf returns the schema version seen by q, for example within
// a backup's snapshot transaction (0 when the database is new).
func SchemaVersionOf(ctx context.Context, q Querier, d Dialect) (int, error) {
	tables, err := d.Tables(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !slices.Contains(tables, "schema_migrations") {
		return 0, nil
	}
	var v int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func (db *DB) ensureMigrationTable(ctx context.Context) error {
	_, err := db.Write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version     INTEGER PRIMARY KEY,
		name        TEXT NOT NULL,
		applied_at  TEXT NOT NULL,
		app_version TEXT NOT NULL
	)`)
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return nil
}

// Migrated returns db, just opened with err, after [DB.Migrate], closing
// it if the migrations fail: what an engine package's Open does with what
// its OpenNoMigrate returns.
func Migrated(ctx context.Context, db *DB, err error) (*DB, error) {
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Migrate applies every migration the database lacks.
func (db *DB) Migrate(ctx context.Context) error {
	if err := db.MigrateTo(ctx, LatestSchemaVersion()); err != nil {
		return err
	}
	return db.prepareHot(ctx)
}

// MigrateTo applies migrations up to and including version target, each in
// its own transaction. A restore uses it to build the schema a backup was
// taken at, load the rows, then migrate forward with [DB.Migrate]: the same
// migrations the server runs.
func (db *DB) MigrateTo(ctx context.Context, target int) error {
	ms, err := Migrations(db.Dialect.Name())
	if err != nil {
		return err
	}
	if target > len(ms) {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d): use a newer bitnobi", target, len(ms))
	}
	if err := db.ensureMigrationTable(ctx); err != nil {
		return err
	}
	cur, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if cur > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d): use a newer bitnobi", cur, len(ms))
	}
	for _, m := range ms[cur:target] {
		applied := false
		err := db.WriteTx(ctx, func(tx *Tx) error {
			// Another process may have applied it since cur was read;
			// write transactions run one at a time, so this check holds.
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil || n > 0 {
				return err
			}
			applied = true
			if _, err := tx.Tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at, app_version) VALUES (?, ?, ?, ?)`,
				m.Version, m.Name, ts(tx.Now()), bitnobi.Version)
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if applied {
			db.Logger.Info("applied migration", "version", m.Version, "name", m.Name)
		}
	}
	return nil
}
