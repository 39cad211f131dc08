package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// hotQueries are the statements run often enough that preparing them at
// every execution shows: SQLite compiles a statement, and the triggers it
// fires, at each prepare, which was about half the cost of an audit
// append (BenchmarkAppendAudit). They are prepared once per connection
// instead (see [DB.prepareHot]).
var hotQueries = []string{insertAuditSQL, auditHeadSQL}

// preparedStmts holds the hot statements, prepared on the write pool.
type preparedStmts struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt // nil until prepared
}

// prepareHot prepares the hot statements on the write pool, once; the
// schema must be there (it runs after the migrations). It must not run
// within a write transaction: preparing takes a connection of the pool,
// which on SQLite is the only one.
func (db *DB) prepareHot(ctx context.Context) error {
	db.prepared.mu.Lock()
	defer db.prepared.mu.Unlock()
	if db.prepared.stmts != nil {
		return nil
	}
	stmts := make(map[string]*sql.Stmt, len(hotQueries))
	for _, q := range hotQueries {
		st, err := db.Write.PrepareContext(ctx, db.Dialect.Rebind(q))
		if err != nil {
			for _, st := range stmts {
				st.Close()
			}
			return fmt.Errorf("prepare %.40q...: %w", q, err)
		}
		stmts[q] = st
	}
	db.prepared.stmts = stmts
	return nil
}

// closePrepared closes the hot statements, before the pools close.
func (db *DB) closePrepared() error {
	db.prepared.mu.Lock()
	defer db.prepared.mu.Unlock()
	var errs []error
	for _, st := range db.prepared.stmts {
		errs = append(errs, st.Close())
	}
	db.prepared.stmts = nil
	return errors.Join(errs...)
}

// stmt returns the hot statement query for use in tx, or nil when the
// statements are not prepared (a database opened without migrating, or
// a read transaction's pool): the caller then runs the query as it is.
// database/sql reuses the statement already prepared on tx's connection,
// or prepares it there once.
func (tx *Tx) stmt(ctx context.Context, query string) *sql.Stmt {
	tx.db.prepared.mu.Lock()
	st := tx.db.prepared.stmts[query]
	tx.db.prepared.mu.Unlock()
	if st == nil || tx.pool != tx.db.Write { // a statement belongs to its pool
		return nil
	}
	return tx.Tx.StmtContext(ctx, st)
}

// execHot is [Tx.Exec] for a hot query.
func (tx *Tx) execHot(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.Exec(ctx, query, args...)
}

// queryRowHot is [Tx.QueryRow] for a hot query.
func (tx *Tx) queryRowHot(ctx context.Context, query string, args ...any) *sql.Row {
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRow(ctx, query, args...)
}
