// Package sqlite opens Bitnobi's embedded database: one SQLite file in WAL
// mode, through the pure-Go driver modernc.org/sqlite (no cgo, so the binary
// builds and cross-compiles with the Go toolchain alone). The services
// themselves are in package store; this package holds what is particular
// to SQLite: the connection settings and the [store.Dialect].
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/bitnobi/bitnobi/store"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Open opens (creating if needed) the database file at path and applies the
// migrations. Writes go through a pool of one connection, so that writers
// queue instead of failing with SQLITE_BUSY; reads use their own pool and,
// in WAL mode, never wait for writers, which is what lets a backup read one
// snapshot while the server keeps writing.
func Open(ctx context.Context, path string) (*store.DB, error) {
	db, err := OpenNoMigrate(ctx, path)
	return store.Migrated(ctx, db, err)
}

// OpenNoMigrate opens the database without applying migrations (a restore
// builds the schema a backup was taken at itself).
func OpenNoMigrate(ctx context.Context, path string) (*store.DB, error) {
	return openDB(ctx, path, false)
}

// OpenStaging opens, without migrating, a database that is built in one
// go and thrown away unless it is complete: a restore's staging database.
// It runs without fsyncs (synchronous OFF) and with its rollback journal
// in memory instead of a write-ahead log, so each page is written once
// and nothing waits for the disk. A crash can leave such a database
// corrupt, so the caller must discard it unless it was closed and then
// made durable (fsynced) as a whole; [FinishStaging] puts it back in the
// server's normal mode (WAL) before that.
func OpenStaging(ctx context.Context, path string) (*store.DB, error) {
	return openDB(ctx, path, true)
}

// FinishStaging switches the closed database at path, opened with
// [OpenStaging], to WAL mode, in which [Open] and the server use it, and
// closes it again, checkpointed, so that the file alone holds the data.
func FinishStaging(ctx context.Context, path string) error {
	db, err := open(ctx, path, false, false) // journal_mode(WAL) persists in the file
	if err != nil {
		return err
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return fmt.Errorf("sqlite %s: %w", path, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("sqlite %s: %w", path, err)
	}
	if mode != "wal" {
		return fmt.Errorf("sqlite %s: journal mode is %s, not wal", path, mode)
	}
	return nil
}

func init() {
	// Data directories hold SQLite files wherever this package is linked
	// in: see store.RegisteredFileEngine.
	store.RegisterFileEngine(Local{})
}

var _ store.FileEngine = Local{}

// Local opens the SQLite file of a data directory for package backup
// (backup.LocalDB), which imports no engine package: backups read it,
// restores stage it, deep verification checks it.
type Local struct{}

// OpenNoMigrate is [OpenNoMigrate].
func (Local) OpenNoMigrate(ctx context.Context, path string) (*store.DB, error) {
	return OpenNoMigrate(ctx, path)
}

// OpenStaging is [OpenStaging].
func (Local) OpenStaging(ctx context.Context, path string) (*store.DB, error) {
	return OpenStaging(ctx, path)
}

// FinishStaging is [FinishStaging].
func (Local) FinishStaging(ctx context.Context, path string) error {
	return FinishStaging(ctx, path)
}

func openDB(ctx context.Context, path string, staging bool) (*store.DB, error) {
	write, err := open(ctx, path, false, staging)
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	read, err := open(ctx, path, true, staging)
	if err != nil {
		write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(4)
	return store.New(write, read, Dialect{}), nil
}

func open(ctx context.Context, path string, readOnly, staging bool) (*sql.DB, error) {
	q := url.Values{}
	if !readOnly {
		// Incremental auto-vacuum lets the database file give back the
		// pages that sealing the audit log frees (see
		// [Dialect.ReclaimSpace]). It takes effect only when set before
		// the first table is created, and before journal_mode(WAL),
		// which writes the file's header: so first thing, on the write
		// connection. On a database created without it, it is a no-op
		// until a VACUUM on this connection, which converts the file.
		q.Add("_pragma", "auto_vacuum(INCREMENTAL)")
	}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	if staging {
		q.Add("_pragma", "synchronous(OFF)")
	} else {
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	if !readOnly {
		// Writers take the write lock at BEGIN, so two writers never
		// deadlock upgrading a read lock.
		q.Add("_txlock", "immediate")
		if staging {
			q.Add("_pragma", "journal_mode(MEMORY)")
		} else {
			q.Add("_pragma", "journal_mode(WAL)")
		}
		// A 32 MiB page cache for the one writer (the default is 2 MiB):
		// large transactions, a restore loading millions of rows above
		// all, otherwise spend much of their time re-reading index pages
		// through system calls. Measured by BenchmarkRestore_AuditRows.
		q.Add("_pragma", "cache_size(-32768)")
	}
	if !readOnly {
		if err := restrictMode(path); err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
	}
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return db, nil
}

// restrictMode creates the database file at path with mode 0600 if it is
// missing, and takes away others' access if it has any. SQLite creates a
// new file with 0644 less the umask, and gives its -wal, -shm and
// -journal files the database file's mode: they hold password hashes and
// users' data.
func restrictMode(path string) error {
	if path == "" || strings.HasPrefix(path, ":") {
		return nil // in memory
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return f.Chmod(fi.Mode().Perm() &^ 0o077)
	}
	return nil
}

// Dialect is the SQLite [store.Dialect].
type Dialect struct{}

var _ store.Dialect = Dialect{}

// Name returns "sqlite".
func (Dialect) Name() string { return "sqlite" }

// Rebind returns query unchanged: SQLite takes "?" placeholders.
func (Dialect) Rebind(query string) string { return query }

// LockAudit does nothing: SQLite has one writer at a time.
func (Dialect) LockAudit(context.Context, *sql.Tx) error { return nil }

// ReclaimSpace gives at most pages of the database file's free pages
// back to the file system (PRAGMA incremental_vacuum), in one transaction
// on one of db's connections, and returns how many free pages are left.
// On a database created without incremental auto-vacuum the pragma does
// nothing, so as many are left as before ([Compact] converts one).
func (Dialect) ReclaimSpace(ctx context.Context, db *sql.DB, pages int) (left int64, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("incremental vacuum: %w", err)
	}
	defer conn.Close()
	// The pragma frees one page per result row: read them all, or it
	// stops after the first.
	rows, err := conn.QueryContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, max(pages, 1)))
	if err != nil {
		return 0, fmt.Errorf("incremental vacuum: %w", err)
	}
	for rows.Next() {
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("incremental vacuum: %w", err)
	}
	if err := conn.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&left); err != nil {
		return 0, fmt.Errorf("incremental vacuum: free pages: %w", err)
	}
	return left, nil
}

var _ store.SealedDeleter = Dialect{}

// stampTrigger is the trigger of migration 0002 that replaces audit_log's
// change stamp for each row deleted.
const stampTrigger = "audit_log_stamp_delete"

// DeleteSealed deletes the rows of audit_log with seq first to last in
// tx, as a seal does, and replaces audit_log's change stamp once, which
// is all a backup needs to know (store/migrations/0002_table_changes.sql)
// and what the row trigger stampTrigger would have done 16,384 times,
// doubling the time the seal holds the write lock. So the trigger is
// dropped for the DELETE and created again from its own text in the
// schema, all in tx: SQLite's schema changes are transactional, so a
// rollback or a crash leaves it as it was, and no other writer runs
// while tx holds the write lock. Other connections prepare their
// statements again once, when they see the new schema.
func (Dialect) DeleteSealed(ctx context.Context, tx *sql.Tx, first, last int64) (int64, error) {
	var trigger string
	err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?`, stampTrigger).Scan(&trigger)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read trigger %s: %w", stampTrigger, err)
	}
	if trigger != "" {
		if _, err := tx.ExecContext(ctx, `DROP TRIGGER `+stampTrigger); err != nil {
			return 0, fmt.Errorf("drop trigger %s for the delete: %w", stampTrigger, err)
		}
	}
	r, err := tx.ExecContext(ctx, `DELETE FROM audit_log WHERE seq >= ? AND seq <= ?`, first, last)
	if err != nil {
		return 0, err
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, err
	}
	if trigger != "" {
		if _, err := tx.ExecContext(ctx, trigger); err != nil {
			return 0, fmt.Errorf("create trigger %s again: %w", stampTrigger, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('audit_log', lower(hex(randomblob(16))))`); err != nil {
			return 0, fmt.Errorf("replace audit_log's change stamp: %w", err)
		}
	}
	return n, nil
}

// Compact rebuilds the database file without its free pages (VACUUM), on
// db's connection outside any transaction. The write connection asks for
// incremental auto-vacuum (see [Open]), so this also converts a database
// created without it. It needs free disk space for a copy of the database
// and blocks writers while it runs.
func (Dialect) Compact(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	return nil
}

// Tables lists the user tables, sorted by name.
func (Dialect) Tables(ctx context.Context, q store.Querier) ([]string, error) {
	return store.QueryStrings(ctx, q, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
}

// Columns lists a table's columns with their types normalised.
func (Dialect) Columns(ctx context.Context, q store.Querier, table string) ([]store.Column, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, err
	}
	return store.ScanColumns(rows, table, normalType)
}

func normalType(typ string) (string, error) {
	switch t := strings.ToUpper(typ); t {
	case "TEXT", "INTEGER", "REAL":
		return t, nil
	}
	return "", fmt.Errorf("type %q is not TEXT, INTEGER or REAL (see store/migrations/0001_init.sql)", typ)
}

// PrimaryKey lists the primary-key columns in key order.
func (Dialect) PrimaryKey(ctx context.Context, q store.Querier, table string) ([]string, error) {
	return store.QueryStrings(ctx, q, `SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`, table)
}

// References lists the tables the table's foreign keys point to.
func (Dialect) References(ctx context.Context, q store.Querier, table string) ([]string, error) {
	return store.QueryStrings(ctx, q, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?) ORDER BY 1`, table)
}

// ForeignKeys lists the table's foreign keys. A key that names no
// referenced columns points to the referenced table's primary key; its
// RefColumns are then empty.
func (Dialect) ForeignKeys(ctx context.Context, q store.Querier, table string) ([]store.ForeignKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, "table", "from", COALESCE("to", '') FROM pragma_foreign_key_list(?) ORDER BY id, seq`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var fks []store.ForeignKey
	last := -1
	for rows.Next() {
		var id int
		var ref, from, to string
		if err := rows.Scan(&id, &ref, &from, &to); err != nil {
			return nil, err
		}
		if id != last {
			fks = append(fks, store.ForeignKey{Table: table, RefTable: ref})
			last = id
		}
		fk := &fks[len(fks)-1]
		fk.Columns = append(fk.Columns, from)
		if to != "" {
			fk.RefColumns = append(fk.RefColumns, to)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Slice(fks, func(i, j int) bool { return strings.Join(fks[i].Columns, ",") < strings.Join(fks[j].Columns, ",") })
	return fks, nil
}

// SecondaryIndexes returns the CREATE INDEX statements of the schema's
// explicit indexes (not those SQLite makes for keys and UNIQUE), so that a
// bulk load can drop them first and rebuild each once at the end.
func (Dialect) SecondaryIndexes(ctx context.Context, q store.Querier) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	idx := map[string]string{}
	for rows.Next() {
		var name, stmt string
		if err := rows.Scan(&name, &stmt); err != nil {
			return nil, err
		}
		idx[name] = stmt
	}
	return idx, rows.Err()
}

// BrokenReferences reports the rows whose foreign keys point to no row,
// from PRAGMA foreign_key_check: SQLite checks foreign keys only on the
// connections that turn them on, so a restored file is checked whole.
func (Dialect) BrokenReferences(ctx context.Context, q store.Querier, max int) ([]string, error) {
	rows, err := q.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return nil, fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() && len(problems) < max {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int64
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return nil, fmt.Errorf("foreign key check: %w", err)
		}
		problems = append(problems, fmt.Sprintf("a row of %s (rowid %d) refers to a missing row of %s", table, rowid.Int64, parent))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("foreign key check: %w", err)
	}
	return problems, nil
}
