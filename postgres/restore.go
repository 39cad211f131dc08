package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/bitnobi/bitnobi/store"
)

// Schema name prefixes of a restore: the schema the new state is built in,
// and the one the previous state is kept in after the switch.
const (
	RestoreSchemaPrefix  = "bitnobi_restore_"
	PreviousSchemaPrefix = "bitnobi_before_restore_"
)

// RestoreTarget restores into a PostgreSQL database (package backup calls
// it through its Target interface). The new state is built in a schema of
// its own, bitnobi_restore_<time>, which no server reads; [RestoreTarget.Commit]
// then renames, in one transaction, the application's schema (the first of
// the role's search_path, normally public) to bitnobi_before_restore_<time>
// and the new schema to the application's. A crash before that transaction
// commits leaves the database as it was (and a staging schema that the next
// restore drops); after it, the new state. While it works the target holds
// the server lock ([AcquireLock]), so a restore refuses while a server runs
// on the database, and no server starts meanwhile.
type RestoreTarget struct {
	// DSN names the database, as for [Open].
	DSN string
	// ApplicationName is the connections' application_name (default
	// "bitnobi restore").
	ApplicationName string
	// Now is the clock that names the schemas (default time.Now).
	Now func() time.Time

	admin     *store.DB // on the application's schema; holds the lock
	release   func()
	staged    *store.DB
	schema    string // the staging schema
	appSchema string
	committed bool
}

// Stage locks the database against servers and returns a new, empty
// database to build the restored state in: a connection pool whose
// search_path is a new staging schema. It drops the staging schemas of
// interrupted restores first (holding the lock proves none is running).
// A running server makes it fail with a [*LockedError].
func (rt *RestoreTarget) Stage(ctx context.Context) (*store.DB, error) {
	if rt.admin != nil {
		return nil, errors.New("restore target: staged twice")
	}
	app := rt.ApplicationName
	if app == "" {
		app = "bitnobi restore"
	}
	now := rt.Now
	if now == nil {
		now = time.Now
	}
	admin, err := OpenWith(ctx, rt.DSN, Options{ApplicationName: app})
	if err != nil {
		return nil, err
	}
	release, err := AcquireLock(ctx, admin.Write)
	if err != nil {
		admin.Close()
		return nil, err
	}
	rt.admin, rt.release = admin, release
	fail := func(err error) (*store.DB, error) {
		rt.Close()
		return nil, err
	}
	var cur sql.NullString
	if err := admin.Write.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&cur); err != nil {
		return fail(fmt.Errorf("restore: read the application's schema: %w", err))
	}
	rt.appSchema = cur.String
	if !cur.Valid {
		rt.appSchema = "public" // search_path names no existing schema: the server would create its tables in public
	}
	stale, err := store.QueryStrings(ctx, admin.Write, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY 1`, RestoreSchemaPrefix)
	if err != nil {
		return fail(fmt.Errorf("restore: list staging schemas: %w", err))
	}
	for _, s := range stale {
		if _, err := admin.Write.ExecContext(ctx, `DROP SCHEMA `+quoteIdent(s)+` CASCADE`); err != nil {
			return fail(fmt.Errorf("restore: drop the staging schema %s of an interrupted restore: %w", s, err))
		}
	}
	rt.schema = RestoreSchemaPrefix + now().UTC().Format("20060102_150405")
	if _, err := admin.Write.ExecContext(ctx, `CREATE SCHEMA `+quoteIdent(rt.schema)); err != nil {
		return fail(fmt.Errorf("restore: create staging schema: %w", err))
	}
	staged, err := OpenWith(ctx, rt.DSN, Options{ApplicationName: app, Schema: rt.schema})
	if err != nil {
		return fail(err)
	}
	rt.staged = staged
	return staged, nil
}

// LoadRows loads rows, in the engine-neutral form of backups, into table t
// of the staged database with COPY, and returns how many it loaded. Each
// row is converted and checked as [store.Importer.Insert] does.
func (rt *RestoreTarget) LoadRows(ctx context.Context, t store.Table, rows iter.Seq2[[]any, error]) (int64, error) {
	if rt.staged == nil {
		return 0, errors.New("restore target: not staged")
	}
	next, stop := iter.Pull2(rows)
	defer stop()
	src := &rowSource{next: next, t: t}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = c.Name
	}
	conn, err := rt.staged.Write.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n int64
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("restore: unexpected driver connection %T", dc)
		}
		var err error
		n, err = c.Conn().CopyFrom(ctx, pgx.Identifier{rt.schema, t.Name}, cols, src)
		return err
	})
	if src.err != nil { // the reader's error, rather than COPY's report of it
		return n, src.err
	}
	if err != nil {
		return n, fmt.Errorf("copy into %s: %w", t.Name, err)
	}
	return n, nil
}

// rowSource feeds COPY from a pulled sequence of rows.
type rowSource struct {
	next func() ([]any, error, bool)
	t    store.Table
	vals []any
	err  error
}

func (s *rowSource) Next() bool {
	row, err, ok := s.next()
	if !ok {
		return false
	}
	if err != nil {
		s.err = err
		return false
	}
	s.vals, s.err = store.ConvertRow(s.t, row, s.vals)
	return s.err == nil
}

func (s *rowSource) Values() ([]any, error) { return s.vals, s.err }
func (s *rowSource) Err() error             { return s.err }

// Commit makes the staged state the database's, in one transaction:
// the application's schema is renamed to bitnobi_before_restore_<time>
// (or dropped, when it holds no table: an empty database), and the staging
// schema takes its name. With discardPrevious the previous schema is then
// dropped. It returns the previous schema's name, or "" when none was
// kept. The staged pool is closed first: its search_path names the
// staging schema, which is gone afterwards.
func (rt *RestoreTarget) Commit(ctx context.Context, discardPrevious bool) (previous string, err error) {
	if rt.staged == nil || rt.committed {
		return "", errors.New("restore target: nothing staged")
	}
	if err := rt.staged.Close(); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	rt.staged = nil
	now := rt.Now
	if now == nil {
		now = time.Now
	}
	tx, err := rt.admin.Write.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("restore: switch schemas: %w", err)
	}
	defer tx.Rollback()
	var exists bool
	var tables int
	err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
		(SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1)`, rt.appSchema).Scan(&exists, &tables)
	if err != nil {
		return "", fmt.Errorf("restore: switch schemas: %w", err)
	}
	switch {
	case exists && tables == 0:
		if _, err := tx.ExecContext(ctx, `DROP SCHEMA `+quoteIdent(rt.appSchema)); err != nil {
			return "", fmt.Errorf("restore: switch schemas: drop the empty schema %s: %w", rt.appSchema, err)
		}
	case exists:
		base := PreviousSchemaPrefix + now().UTC().Format("20060102_150405")
		for n := 1; previous == ""; n++ {
			name := base
			if n > 1 {
				name = fmt.Sprintf("%s_%d", base, n)
			}
			var taken bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, name).Scan(&taken); err != nil {
				return "", fmt.Errorf("restore: switch schemas: %w", err)
			}
			if !taken {
				previous = name
			}
		}
		if _, err := tx.ExecContext(ctx, `ALTER SCHEMA `+quoteIdent(rt.appSchema)+` RENAME TO `+quoteIdent(previous)); err != nil {
			return "", fmt.Errorf("restore: switch schemas: keep the previous state as %s: %w", previous, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `ALTER SCHEMA `+quoteIdent(rt.schema)+` RENAME TO `+quoteIdent(rt.appSchema)); err != nil {
		return "", fmt.Errorf("restore: switch schemas: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("restore: switch schemas: %w", err)
	}
	rt.committed = true
	if discardPrevious && previous != "" {
		if _, err := rt.admin.Write.ExecContext(ctx, `DROP SCHEMA `+quoteIdent(previous)+` CASCADE`); err != nil {
			return previous, fmt.Errorf("restore: the new state is in place, but the previous schema %s could not be dropped: %w", previous, err)
		}
		previous = ""
	}
	return previous, nil
}

// Describe names the database for messages, without the password.
func (rt *RestoreTarget) Describe() string {
	cfg, err := pgx.ParseConfig(rt.DSN)
	if err != nil {
		return "PostgreSQL"
	}
	s := describe(cfg)
	if rt.appSchema != "" && rt.appSchema != "public" {
		s += ", schema " + rt.appSchema
	}
	return "PostgreSQL " + strings.TrimPrefix(s, "database ")
}

// Close drops the staging schema unless it was committed, and releases
// the lock. It is safe to call more than once.
func (rt *RestoreTarget) Close() error {
	var err error
	if rt.staged != nil {
		err = rt.staged.Close()
		rt.staged = nil
	}
	if rt.admin != nil {
		if !rt.committed && rt.schema != "" {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, derr := rt.admin.Write.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+quoteIdent(rt.schema)+` CASCADE`)
			cancel()
			err = errors.Join(err, derr)
		}
		rt.release()
		err = errors.Join(err, rt.admin.Close())
		rt.admin = nil
	}
	return err
}
