// Package postgres opens Bitnobi's database on a PostgreSQL server, through
// pgx (github.com/jackc/pgx/v5) behind database/sql, so that the services of
// package store run on it unchanged. This package holds what is particular
// to PostgreSQL: the connection settings, the [store.Dialect] and the
// advisory lock that keeps a second server off the same database.
//
// The schema is store/migrations/postgres/0001_init.sql: the generic one
// with BIGINT and DOUBLE PRECISION, and text compared byte by byte
// (COLLATE "C"), as SQLite compares it, whatever the database's locale.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/bitnobi/bitnobi/store"
)

// ApplicationName is the application_name of Bitnobi's connections, unless
// the DSN sets one. It is how an operator (and [AcquireLock]'s error)
// tells Bitnobi's sessions apart in pg_stat_activity.
const ApplicationName = "bitnobi serve"

// Pool sizes. Write transactions queue on an advisory lock (see
// [Dialect.LockAudit]) while holding a connection, so writers and readers
// get pools of their own: queued writers never starve a reader.
const (
	maxWriteConns = 8
	maxReadConns  = 8
	maxIdleConns  = 4
)

// Open connects to the database named by dsn (a postgres:// URL or
// "key=value" settings, as libpq takes them) and applies the migrations.
func Open(ctx context.Context, dsn string) (*store.DB, error) {
	db, err := OpenNoMigrate(ctx, dsn)
	return store.Migrated(ctx, db, err)
}

// OpenNoMigrate connects to the database without applying migrations (a
// restore builds the schema a backup was taken at itself).
func OpenNoMigrate(ctx context.Context, dsn string) (*store.DB, error) {
	return OpenWith(ctx, dsn, Options{})
}

// Options are the connection settings [OpenWith] adds to a DSN.
type Options struct {
	// ApplicationName is the connections' application_name unless the DSN
	// sets one; "" means [ApplicationName]. Backups and restores say who
	// they are ("bitnobi backup", "bitnobi restore") so that an operator
	// tells them from the server in pg_stat_activity.
	ApplicationName string
	// Schema, if set, is the connections' search_path: the one schema all
	// of Bitnobi's tables are created in and read from. A restore builds
	// the new state in a schema of its own this way.
	Schema string
}

// OpenWith is [OpenNoMigrate] with the settings of o.
func OpenWith(ctx context.Context, dsn string, o Options) (*store.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The error may quote the DSN, password included: name the field only.
		return nil, errors.New("open postgres: cannot parse the connection string (--db): expected postgres://user:password@host:port/database or key=value settings")
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = ApplicationName
		if o.ApplicationName != "" {
			cfg.RuntimeParams["application_name"] = o.ApplicationName
		}
	}
	if o.Schema != "" {
		cfg.RuntimeParams["search_path"] = quoteIdent(o.Schema)
	}
	write := stdlib.OpenDB(*cfg)
	write.SetMaxOpenConns(maxWriteConns)
	write.SetMaxIdleConns(maxIdleConns)
	write.SetConnMaxIdleTime(5 * time.Minute)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open postgres %s: %w", describe(cfg), err)
	}
	read := stdlib.OpenDB(*cfg)
	read.SetMaxOpenConns(maxReadConns)
	read.SetMaxIdleConns(maxIdleConns)
	read.SetConnMaxIdleTime(5 * time.Minute)
	return store.New(write, read, Dialect{}), nil
}

// describe names the database of cfg for messages, without the password.
func describe(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("database %q on %s:%d as %q", cfg.Database, cfg.Host, cfg.Port, cfg.User)
}

// Advisory lock keys, in PostgreSQL's two-int4 form (classid, objid), so
// that pg_locks shows them as they are written here.
const (
	lockClass  = 0x62697462 // "bitb"
	lockWrites = 1          // transaction-level: write transactions, one at a time
	lockServer = 2          // session-level: the server using the database
)

// Dialect is the PostgreSQL [store.Dialect].
type Dialect struct{}

var _ store.Dialect = Dialect{}

// Name returns "postgres".
func (Dialect) Name() string { return "postgres" }

// Rebind rewrites the "?" placeholders of query as $1, $2, ...; a "?"
// inside a quoted string or identifier is left alone.
func (Dialect) Rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte // the quote character we are inside, or 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote ('' or "") reopens at once: same result
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// LockAudit takes a transaction-level advisory lock, released at commit
// or rollback. Every write transaction takes it first (see
// [store.DB.WriteTx]), so writers run one at a time, as on SQLite: the
// audit chain never forks, and checks such as "is this the first user?"
// or "is this the last administrator?" hold until the transaction ends.
func (Dialect) LockAudit(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockClass, lockWrites)
	return err
}

// ReclaimSpace does nothing and leaves nothing to give back: PostgreSQL's
// autovacuum makes the space of deleted rows reusable.
func (Dialect) ReclaimSpace(context.Context, *sql.DB, int) (int64, error) { return 0, nil }

// Compact does nothing: PostgreSQL's autovacuum makes the space of
// deleted rows reusable, and VACUUM FULL, which would give it back to the
// file system, locks tables for long: the administrator's call.
func (Dialect) Compact(context.Context, *sql.DB) error { return nil }

// Tables lists the tables of the current schema, sorted by name.
func (Dialect) Tables(ctx context.Context, q store.Querier) ([]string, error) {
	names, err := store.QueryStrings(ctx, q, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	sort.Strings(names)
	return names, err
}

// Columns lists a table's columns in declaration order, with their types
// normalised: integer types to INTEGER, floating-point ones to REAL, text
// to TEXT.
func (Dialect) Columns(ctx context.Context, q store.Querier, table string) ([]store.Column, error) {
	rows, err := q.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, err
	}
	return store.ScanColumns(rows, table, normalType)
}

func normalType(typ string) (string, error) {
	switch typ {
	case "text", "character varying", "character":
		return "TEXT", nil
	case "bigint", "integer", "smallint":
		return "INTEGER", nil
	case "double precision", "real":
		return "REAL", nil
	}
	return "", fmt.Errorf("type %q is not text, an integer or a floating-point type (see store/migrations/postgres/0001_init.sql)", typ)
}

// PrimaryKey lists the primary-key columns in key order.
func (Dialect) PrimaryKey(ctx context.Context, q store.Querier, table string) ([]string, error) {
	return store.QueryStrings(ctx, q, `SELECT a.attname
		FROM pg_index i
		JOIN pg_class t ON t.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
		WHERE i.indisprimary AND n.nspname = current_schema() AND t.relname = $1
		ORDER BY k.ord`, table)
}

// References lists the tables the table's foreign keys point to.
func (d Dialect) References(ctx context.Context, q store.Querier, table string) ([]string, error) {
	return store.QueryStrings(ctx, q, `SELECT DISTINCT r.relname
		FROM pg_constraint c
		JOIN pg_class t ON t.oid = c.conrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		JOIN pg_class r ON r.oid = c.confrelid
		WHERE c.contype = 'f' AND n.nspname = current_schema() AND t.relname = $1
		ORDER BY 1`, table)
}

// ForeignKeys lists the table's foreign keys, ordered by their columns.
// PostgreSQL always records the referenced columns, so RefColumns is never
// empty here.
func (Dialect) ForeignKeys(ctx context.Context, q store.Querier, table string) ([]store.ForeignKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT c.conname, r.relname, a.attname, ra.attname
		FROM pg_constraint c
		JOIN pg_class t ON t.oid = c.conrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		JOIN pg_class r ON r.oid = c.confrelid
		CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(col, refcol, ord)
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col
		JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = k.refcol
		WHERE c.contype = 'f' AND n.nspname = current_schema() AND t.relname = $1
		ORDER BY c.conname, k.ord`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var fks []store.ForeignKey
	last := ""
	for rows.Next() {
		var name, ref, from, to string
		if err := rows.Scan(&name, &ref, &from, &to); err != nil {
			return nil, err
		}
		if name != last || len(fks) == 0 {
			fks = append(fks, store.ForeignKey{Table: table, RefTable: ref})
			last = name
		}
		fk := &fks[len(fks)-1]
		fk.Columns = append(fk.Columns, from)
		fk.RefColumns = append(fk.RefColumns, to)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Slice(fks, func(i, j int) bool { return strings.Join(fks[i].Columns, ",") < strings.Join(fks[j].Columns, ",") })
	return fks, nil
}

// LockedError is returned by [AcquireLock] when another session holds the
// database. The fields are what pg_stat_activity tells of that session;
// they are empty where PostgreSQL does not show them to this role.
type LockedError struct {
	PID             int       // backend process ID of the holder's session
	ApplicationName string    // e.g. "bitnobi serve"
	ClientAddr      string    // host:port the holder connects from, or "local socket"
	Since           time.Time // when the holder's session started
}

func (e *LockedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "database is in use by another Bitnobi server (PostgreSQL session pid %d", e.PID)
	if e.ApplicationName != "" {
		fmt.Fprintf(&b, ", application %q", e.ApplicationName)
	}
	if e.ClientAddr != "" {
		fmt.Fprintf(&b, ", client %s", e.ClientAddr)
	}
	if !e.Since.IsZero() {
		fmt.Fprintf(&b, ", connected since %s", e.Since.UTC().Format(time.RFC3339))
	}
	b.WriteString(")")
	return b.String()
}

// AcquireLock takes the session-level advisory lock that marks db's
// database as used by a server, on a connection of its own that it keeps
// until release is called. PostgreSQL drops the lock if that connection
// ends, with the process or otherwise, so a crashed server never leaves
// the database locked. If another session holds the lock, the error is a
// [*LockedError] naming it. release is safe to call more than once.
//
// The lock is what keeps two servers, on two machines with two data
// directories, from writing one database; the data directory's lock file
// cannot see across machines.
func AcquireLock(ctx context.Context, db *sql.DB) (release func(), err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock database: %w", err)
	}
	discard := func() {
		// Close the session rather than return it to the pool: a pooled
		// session would keep holding the lock if the unlock failed.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		_ = conn.Close()
	}
	for range 3 {
		var ok bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, $2)`, lockClass, lockServer).Scan(&ok); err != nil {
			discard()
			return nil, fmt.Errorf("lock database: %w", err)
		}
		if ok {
			var once bool
			return func() {
				if once {
					return
				}
				once = true
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, _ = conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1, $2)`, lockClass, lockServer)
				discard()
			}, nil
		}
		held, err := lockHolder(ctx, conn)
		if err != nil {
			discard()
			return nil, fmt.Errorf("lock database: find the holder: %w", err)
		}
		if held != nil {
			discard()
			return nil, held
		}
		// The holder let go between the two queries: try again.
	}
	discard()
	return nil, errors.New("lock database: the lock is taken and released repeatedly; is another server restarting?")
}

// lockHolder returns the session holding the server lock, or nil if none
// does any more.
func lockHolder(ctx context.Context, conn *sql.Conn) (*LockedError, error) {
	var e LockedError
	var app, addr sql.NullString
	var port sql.NullInt64
	var since sql.NullTime
	err := conn.QueryRowContext(ctx, `SELECT l.pid, a.application_name, host(a.client_addr), a.client_port, a.backend_start
		FROM pg_locks l
		LEFT JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2
		LIMIT 1`, lockClass, lockServer).Scan(&e.PID, &app, &addr, &port, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	e.ApplicationName, e.Since = app.String, since.Time
	switch {
	case addr.Valid && port.Valid:
		e.ClientAddr = addr.String + ":" + strconv.FormatInt(port.Int64, 10)
	case addr.Valid:
		e.ClientAddr = addr.String
	case port.Valid && port.Int64 == -1:
		e.ClientAddr = "local socket"
	}
	return &e, nil
}

// quoteIdent quotes an identifier for PostgreSQL.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// BrokenReferences returns none: PostgreSQL enforces every foreign key at
// every write (Bitnobi's schema declares none deferrable), so no row can
// point to a missing one.
func (Dialect) BrokenReferences(context.Context, store.Querier, int) ([]string, error) {
	return nil, nil
}
