// Package store implements Bitnobi's services on a SQL database through
// database/sql. The SQL is written once, with "?" placeholders, and a
// [Dialect] adapts it to each engine (package sqlite, package postgres):
// the differences between engines live in the dialect and nowhere else.
//
// The schema is applied by numbered migrations embedded in the binary
// (migrations/NNNN_name.sql), recorded in schema_migrations. The tables that
// hold state are read from the schema itself (see [DB.Tables]), so the backup
// covers every table without a list of its own.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/secret"
)

// Dialect is what differs between database engines.
type Dialect interface {
	// Name is the engine's name as written in backup manifests:
	// "sqlite" or "postgres".
	Name() string
	// Rebind rewrites a query written with "?" placeholders for the engine.
	Rebind(query string) string
	// LockAudit serialises audit appends within tx (a no-op where the
	// engine already allows a single writer). It holds until tx ends and
	// may be taken again in the same transaction. [DB.WriteTx] takes it
	// first thing, so write transactions run one at a time on every
	// engine.
	LockAudit(ctx context.Context, tx *sql.Tx) error
	// ReclaimSpace gives up to pages pages of the free space of deleted
	// rows back to the file system where that is cheap (SQLite with
	// incremental auto-vacuum), in one short transaction on db, and
	// returns how many free pages are left; elsewhere it does nothing and
	// returns 0. It runs outside any transaction. Callers give back much
	// space in several calls, so that writers waiting for the write lock
	// get it in between.
	ReclaimSpace(ctx context.Context, db *sql.DB, pages int) (left int64, err error)
	// Compact rebuilds the database without its free space where the
	// engine's own maintenance does not (SQLite's VACUUM), and otherwise
	// does nothing. It runs on db outside any transaction and may block
	// writers for as long as a copy of the database takes.
	Compact(ctx context.Context, db *sql.DB) error
	// Tables lists the user tables of the schema, sorted by name.
	Tables(ctx context.Context, q Querier) ([]string, error)
	// Columns lists a table's columns in declaration order, with their
	// declared types normalised to TEXT, INTEGER or REAL.
	Columns(ctx context.Context, q Querier, table string) ([]Column, error)
	// PrimaryKey lists the columns of a table's primary key, in order.
	PrimaryKey(ctx context.Context, q Querier, table string) ([]string, error)
	// References lists the tables that a table's foreign keys point to.
	References(ctx context.Context, q Querier, table string) ([]string, error)
	// ForeignKeys lists a table's foreign keys, ordered by their columns.
	// The blob collector derives from them which columns refer to blobs.
	ForeignKeys(ctx context.Context, q Querier, table string) ([]ForeignKey, error)
	// BrokenReferences describes, in at most max lines, the rows whose
	// foreign keys point to no row: what an integrity check of a
	// restored database reports. An engine that enforces every foreign
	// key at every write may return none without looking.
	BrokenReferences(ctx context.Context, q Querier, max int) ([]string, error)
}

// Querier is what both *sql.DB and *sql.Tx provide.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Column describes one column of a table.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"` // TEXT, INTEGER or REAL
}

// DB is an open Bitnobi database with the services on it.
type DB struct {
	// Write is the pool for transactions that change state. On SQLite it
	// holds one connection, so writers queue in Go instead of failing busy.
	Write *sql.DB
	// Read is the pool for read-only work; it may be the same as Write.
	Read *sql.DB
	// Dialect adapts the SQL to the engine.
	Dialect Dialect

	// Blobs holds file content; Key seals secrets. Both must be set before
	// services that need them are used.
	Blobs *blob.Store
	Key   secret.Key

	// Now is the clock; tests replace it.
	Now func() time.Time
	// Logger receives operator logs.
	Logger *slog.Logger
	// SessionTTL is how long a sign-in stays valid at most (its absolute
	// lifetime).
	SessionTTL time.Duration
	// SessionIdle ends a session unused for this long (0: never).
	SessionIdle time.Duration
	// AuditSegmentSize is the number of entries [DB.SealAudit] seals into
	// one segment (0: [DefaultAuditSegmentSize]). Readers go by the
	// segments' index, never by this size; tests make it small.
	AuditSegmentSize int64

	prepared preparedStmts // the hot statements, once migrated
	sealMu   sync.Mutex    // sealers take turns (see SealAudit)
	segs     segmentCache  // frame tables and recently decoded frames of sealed segments

	// Test hooks (export_test.go): afterSegmentPut runs in SealAudit
	// between a segment's blob put and its transaction, afterGCList in
	// CollectGarbage between listing the blob files and removing them.
	afterSegmentPut func(id string)
	afterGCList     func()
	// sealLockHeld, when set, gets how long each of SealAudit's write
	// steps (a segment's transaction, a step of giving back space) held
	// the write connection: what an audited write may wait behind.
	sealLockHeld func(step string, held time.Duration)
	sums         summaryCache // their summaries, parsed
}

// Session lifetimes of a new [DB].
const (
	DefaultSessionTTL  = 30 * 24 * time.Hour
	DefaultSessionIdle = 24 * time.Hour
)

// New returns a DB on the given pools with default settings. Call
// [DB.Migrate] before use.
func New(write, read *sql.DB, d Dialect) *DB {
	return &DB{
		Write:       write,
		Read:        read,
		Dialect:     d,
		Now:         time.Now,
		Logger:      slog.Default(),
		SessionTTL:  DefaultSessionTTL,
		SessionIdle: DefaultSessionIdle,
	}
}

// Close closes both pools.
func (db *DB) Close() error {
	err := errors.Join(db.closePrepared(), db.Write.Close())
	if db.Read != db.Write {
		err = errors.Join(err, db.Read.Close())
	}
	return err
}

// now returns the current time in UTC, truncated as it will be stored.
func (db *DB) now() time.Time { return db.Now().UTC() }

// Tx is a transaction with the dialect at hand.
type Tx struct {
	*sql.Tx
	db   *DB
	pool *sql.DB // the pool the transaction came from
	now  time.Time
}

// Exec runs query (with "?" placeholders) in the transaction.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, tx.db.Dialect.Rebind(query), args...)
}

// Query runs query (with "?" placeholders) in the transaction.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.Tx.QueryContext(ctx, tx.db.Dialect.Rebind(query), args...)
}

// QueryRow runs query (with "?" placeholders) in the transaction.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, tx.db.Dialect.Rebind(query), args...)
}

// Now is the time of the transaction: every record it writes carries it.
func (tx *Tx) Now() time.Time { return tx.now }

// WriteTx runs fn in a read-write transaction and commits when fn returns
// nil; otherwise it rolls back, so a failed action leaves no trace, not even
// an audit entry.
//
// Write transactions run one at a time: SQLite has a single writer, and on
// other engines the transaction first takes the dialect's lock (see
// [Dialect.LockAudit]). The services rely on it: they check a rule (a
// free username, another administrator left) and then act, which is only
// safe if no other writer can slip in between.
func (db *DB) WriteTx(ctx context.Context, fn func(tx *Tx) error) error {
	return db.runTx(ctx, db.Write, nil, fn)
}

// ReadTx runs fn in a read-only transaction: one consistent snapshot. (The
// isolation level says so for engines whose default takes a new snapshot
// per statement; SQLite's read transactions are snapshots anyway.)
func (db *DB) ReadTx(ctx context.Context, fn func(tx *Tx) error) error {
	return db.runTx(ctx, db.Read, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}, fn)
}

func (db *DB) runTx(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(tx *Tx) error) error {
	stx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if opts == nil || !opts.ReadOnly {
		// Before reading the clock, so that transactions' times follow
		// their order.
		if err := db.Dialect.LockAudit(ctx, stx); err != nil {
			_ = stx.Rollback()
			return fmt.Errorf("begin transaction: lock for writing: %w", err)
		}
	}
	tx := &Tx{Tx: stx, db: db, pool: pool, now: db.now()}
	if err := fn(tx); err != nil {
		_ = stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Meta returns the value of an installation fact from the meta table, or ""
// when it is not set.
func (db *DB) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := db.Read.QueryRowContext(ctx, db.Dialect.Rebind(`SELECT value FROM meta WHERE key = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("read meta %s: %w", key, err)
	}
	return v, nil
}

// Meta returns the value of an installation fact from the meta table as tx
// sees it, or "" when it is not set.
func (tx *Tx) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("read meta %s: %w", key, err)
	}
	return v, nil
}

// MarkAsCopy makes the state tx writes a copy that never acts as the
// original: a new instance ID, meta clone_of set to the original's,
// e-mail settings and remote servers disabled (a copy must never send the
// original's mail or talk to its federation partners as if it were the
// original), SQL data sources off ([MetaSQLSourcesOff]: nor query the
// original's databases), and no off-site bucket. It returns the new
// instance ID and the original's.
func (tx *Tx) MarkAsCopy(ctx context.Context) (instanceID, cloneOf string, err error) {
	if cloneOf, err = tx.Meta(ctx, MetaInstanceID); err != nil {
		return "", "", err
	}
	instanceID = bitnobi.NewID()
	if err := tx.SetMeta(ctx, MetaInstanceID, instanceID); err != nil {
		return "", "", err
	}
	if err := tx.SetMeta(ctx, MetaCloneOf, cloneOf); err != nil {
		return "", "", err
	}
	if _, err := tx.Exec(ctx, `UPDATE email_settings SET enabled = 0`); err != nil {
		return "", "", fmt.Errorf("disable e-mail: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE remote_servers SET enabled = 0`); err != nil {
		return "", "", fmt.Errorf("disable remote servers: %w", err)
	}
	if err := tx.setSQLSourcesOff(ctx, true); err != nil {
		return "", "", err
	}
	// Nor copy its backups into the original's bucket, where its
	// retention would remove the original's: the administrator names a
	// bucket again.
	if _, err := tx.Exec(ctx, `UPDATE backup_settings SET offsite_bucket = ''`); err != nil {
		return "", "", fmt.Errorf("disable off-site copies: %w", err)
	}
	return instanceID, cloneOf, nil
}

// SetMeta sets an installation fact in the meta table.
func (tx *Tx) SetMeta(ctx context.Context, key, value string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM meta WHERE key = ?`, key); err != nil {
		return fmt.Errorf("set meta %s: %w", key, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, key, value); err != nil {
		return fmt.Errorf("set meta %s: %w", key, err)
	}
	return nil
}

// Meta keys.
const (
	MetaInstanceID   = "instance_id"   // created on first start; kept by a plain restore
	MetaCreatedAt    = "created_at"    // when the installation was first started
	MetaRestoredFrom = "restored_from" // set by a restore: the backup's name
	MetaCloneOf      = "clone_of"      // set by a restore --as-copy: the original instance ID
	// MetaSQLSourcesOff, "1" when set, turns SQL data sources off: a SQL
	// element fails before connecting. A restore --as-copy sets it
	// (MarkAsCopy); an administrator removes it (UpdateSQLSourceSettings).
	MetaSQLSourcesOff = "sql_sources_off"
)

// EnsureInstance creates the installation's instance ID on first start and
// returns it.
func (db *DB) EnsureInstance(ctx context.Context) (string, error) {
	id, err := db.Meta(ctx, MetaInstanceID)
	if err != nil || id != "" {
		return id, err
	}
	id = bitnobi.NewID()
	err = db.WriteTx(ctx, func(tx *Tx) error {
		if err := tx.SetMeta(ctx, MetaInstanceID, id); err != nil {
			return err
		}
		return tx.SetMeta(ctx, MetaCreatedAt, bitnobi.FormatTime(tx.Now()))
	})
	if err != nil {
		return "", fmt.Errorf("create instance id: %w", err)
	}
	return id, nil
}

// ts formats t for storage.
func ts(t time.Time) string { return bitnobi.FormatTime(t) }

// parseTS parses a stored time; a malformed one is reported, not hidden.
func parseTS(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := bitnobi.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t, nil
}

// boolInt stores a bool as 0 or 1.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
