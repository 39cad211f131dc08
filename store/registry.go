package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// NotBackedUp names the tables a backup leaves out, each with the reason.
// Every other table of the schema holds state and is backed up: the list of
// tables is read from the schema, so a table added by a migration is covered
// without anyone remembering to add it here.
var NotBackedUp = map[string]string{
	"schema_migrations": "bookkeeping: a restore builds the schema by running the same migrations",
	"sessions":          "sign-in tokens are live credentials: after a restore users sign in again",
	"password_resets":   "password-reset tokens are live credentials, as sign-in tokens are: a restore must not revive one",
	"table_changes":     "bookkeeping: this database's change stamps (see ChangeStamps); a restored database starts with new ones",
}

// Table describes a table that holds state, as a backup records it.
type Table struct {
	Name       string   `json:"name"`
	Columns    []Column `json:"columns"`
	PrimaryKey []string `json:"primary_key"`
	References []string `json:"references,omitempty"` // tables its foreign keys point to
}

// StateTables returns every table that holds state, in an order in which
// rows can be loaded without breaking a foreign key (referenced tables
// first, then by name).
func (db *DB) StateTables(ctx context.Context, q Querier) ([]Table, error) {
	names, err := db.Dialect.Tables(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	byName := map[string]*Table{}
	for _, name := range names {
		if _, skip := NotBackedUp[name]; skip {
			continue
		}
		t := &Table{Name: name}
		if t.Columns, err = db.Dialect.Columns(ctx, q, name); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", name, err)
		}
		if t.PrimaryKey, err = db.Dialect.PrimaryKey(ctx, q, name); err != nil {
			return nil, fmt.Errorf("primary key of %s: %w", name, err)
		}
		if len(t.PrimaryKey) == 0 {
			return nil, fmt.Errorf("table %s has no primary key: every state table needs one so backups are ordered", name)
		}
		if t.References, err = db.Dialect.References(ctx, q, name); err != nil {
			return nil, fmt.Errorf("foreign keys of %s: %w", name, err)
		}
		byName[name] = t
	}
	// Kahn's algorithm over the foreign-key graph, smallest name first.
	var out []Table
	done := map[string]bool{}
	for len(out) < len(byName) {
		var ready []string
		for name, t := range byName {
			if done[name] {
				continue
			}
			ok := true
			for _, ref := range t.References {
				if ref != name && !done[ref] && byName[ref] != nil {
					ok = false
				}
			}
			if ok {
				ready = append(ready, name)
			}
		}
		if len(ready) == 0 {
			return nil, fmt.Errorf("foreign keys form a cycle among the tables")
		}
		sort.Strings(ready)
		done[ready[0]] = true
		out = append(out, *byName[ready[0]])
	}
	return out, nil
}

// ExportRows calls fn with every row of t in primary-key order, each value
// a string, int64, float64 or nil. Run it inside [DB.ReadTx] so that all
// tables come from one snapshot. The slice passed to fn is reused.
func (db *DB) ExportRows(ctx context.Context, tx *Tx, t Table, fn func(row []any) error) error {
	pk := make([]string, len(t.PrimaryKey))
	for i, c := range t.PrimaryKey {
		pk[i] = quoteIdent(c)
	}
	return db.exportRows(ctx, tx, t, " ORDER BY "+strings.Join(pk, ", "), nil, fn)
}

// exportRows runs SELECT of t's columns FROM t, followed by tail with its
// arguments, and calls fn with each row normalised.
func (db *DB) exportRows(ctx context.Context, tx *Tx, t Table, tail string, args []any, fn func(row []any) error) error {
	q := "SELECT " + selectColumns(t) + " FROM " + quoteIdent(t.Name) + tail
	rows, err := tx.Tx.QueryContext(ctx, db.Dialect.Rebind(q), args...)
	if err != nil {
		return fmt.Errorf("export %s: %w", t.Name, err)
	}
	defer rows.Close()
	dest := make([]any, len(t.Columns))
	ptrs := make([]any, len(t.Columns))
	for i := range dest {
		ptrs[i] = &dest[i]
	}
	row := make([]any, len(t.Columns))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("export %s: %w", t.Name, err)
		}
		for i, c := range t.Columns {
			v, err := normalize(c, dest[i])
			if err != nil {
				return fmt.Errorf("export %s.%s: %w", t.Name, c.Name, err)
			}
			row[i] = v
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export %s: %w", t.Name, err)
	}
	return nil
}

// normalize turns a scanned driver value into the engine-neutral form of
// its column type.
func normalize(c Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.Type {
	case "TEXT":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case "INTEGER":
		switch x := v.(type) {
		case int64:
			return x, nil
		case int32:
			return int64(x), nil
		case int:
			return int64(x), nil
		case bool:
			return boolInt(x), nil
		}
	case "REAL":
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		}
	}
	return nil, fmt.Errorf("value %v of Go type %T does not fit column type %s", v, v, c.Type)
}

// Importer inserts rows into one table, many rows to a statement: one
// INSERT with a VALUES list of a whole batch costs much less than one
// INSERT per row, whose statement overhead (binding, stepping, resetting,
// and database/sql's locking around each) was most of a restore's load
// time. It is made by [DB.NewImporter]; it is not safe for concurrent use.
//
// Rows given to [Importer.Insert] are buffered and written when a batch
// is full, and the last ones by [Importer.Flush] or [Importer.Close]. So
// an error of the database (a constraint, say) may come from a later
// Insert, or from Flush or Close, than the Insert of the row that caused
// it; it names the table and the range of rows of the batch.
type Importer struct {
	tx     *Tx
	table  Table
	insert string // INSERT INTO t (columns) VALUES
	tuple  string // (?, ?, ...)
	batch  *sql.Stmt
	rows   int   // rows per full batch
	vals   []any // the buffered rows' values, row after row
	queued int   // rows buffered
	n      int64 // rows written
}

// maxImportParams bounds the parameters of one INSERT of an [Importer]:
// SQLite allows 32,766 (SQLITE_MAX_VARIABLE_NUMBER since 3.32),
// PostgreSQL 65,535.
const maxImportParams = 32766

// importBatchRows is the number of rows an [Importer] inserts with one
// statement, for tables with few columns. Beyond about 100 rows a larger
// batch gains little (BenchmarkImporter), and its values are held in
// memory.
const importBatchRows = 100

// NewImporter prepares the insertion of rows into t within tx. The table
// must exist with at least t's columns.
func (db *DB) NewImporter(ctx context.Context, tx *Tx, t Table) (*Importer, error) {
	if len(t.Columns) == 0 {
		return nil, fmt.Errorf("prepare import of %s: no columns", t.Name)
	}
	cols := make([]string, len(t.Columns))
	marks := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quoteIdent(c.Name)
		marks[i] = "?"
	}
	im := &Importer{
		tx:     tx,
		table:  t,
		insert: fmt.Sprintf("INSERT INTO %s (%s) VALUES ", quoteIdent(t.Name), strings.Join(cols, ", ")),
		tuple:  "(" + strings.Join(marks, ", ") + ")",
		rows:   max(1, min(importBatchRows, maxImportParams/len(t.Columns))),
	}
	stmt, err := tx.Tx.PrepareContext(ctx, im.query(im.rows))
	if err != nil {
		return nil, fmt.Errorf("prepare import of %s: %w", t.Name, err)
	}
	im.batch = stmt
	im.vals = make([]any, im.rows*len(t.Columns))
	return im, nil
}

// query returns the INSERT of rows rows, in the dialect's placeholders.
func (im *Importer) query(rows int) string {
	var b strings.Builder
	b.Grow(len(im.insert) + rows*(len(im.tuple)+2))
	b.WriteString(im.insert)
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(im.tuple)
	}
	return im.tx.db.Dialect.Rebind(b.String())
}

// Insert adds one row given in the engine-neutral form: strings, json.Number
// or numbers, and nil. Values are checked against the column types at once;
// the row is written with its batch (see [Importer]). row is not retained.
func (im *Importer) Insert(ctx context.Context, row []any) error {
	cols := im.table.Columns
	if len(row) != len(cols) {
		return fmt.Errorf("import %s: row %d has %d values, table has %d columns", im.table.Name, im.n+int64(im.queued)+1, len(row), len(cols))
	}
	dst := im.vals[im.queued*len(cols) : (im.queued+1)*len(cols)]
	for i, c := range cols {
		v, err := denormalize(c, row[i])
		if err != nil {
			clear(dst)
			return fmt.Errorf("import %s.%s: row %d: %w", im.table.Name, c.Name, im.n+int64(im.queued)+1, err)
		}
		dst[i] = v
	}
	im.queued++
	if im.queued == im.rows {
		return im.Flush(ctx)
	}
	return nil
}

// Flush writes the rows buffered by [Importer.Insert]. Rows are numbered
// from 1 in the order they were inserted.
func (im *Importer) Flush(ctx context.Context) error {
	if im.queued == 0 {
		return nil
	}
	k := im.queued
	vals := im.vals[:k*len(im.table.Columns)]
	var err error
	if k == im.rows {
		_, err = im.batch.ExecContext(ctx, vals...)
	} else {
		// The last, partial batch of a table: one statement of its own,
		// prepared and used once.
		_, err = im.tx.Tx.ExecContext(ctx, im.query(k), vals...)
	}
	clear(vals) // hold no strings beyond the batch
	im.queued = 0
	if err != nil {
		return fmt.Errorf("import %s: rows %d-%d: %w", im.table.Name, im.n+1, im.n+int64(k), err)
	}
	im.n += int64(k)
	return nil
}

// Count is the number of rows inserted so far: written to the table, which
// rows still buffered (see [Importer]) are not yet.
func (im *Importer) Count() int64 { return im.n }

// Close writes the rows still buffered, as [Importer.Flush] does, and
// releases the prepared statement. It returns the first error of the two;
// call Flush first to write them with a context of your own. Rows that
// could not be written are discarded, and an importer is not used after
// Close.
func (im *Importer) Close() error {
	err := im.Flush(context.Background())
	if cerr := im.batch.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("import %s: %w", im.table.Name, cerr)
	}
	return err
}

// ConvertRow converts row, in the engine-neutral form [Importer.Insert]
// takes, to the values a driver takes for t's columns (string, int64,
// float64 or nil), checking each against its column type. It reuses dst
// when that is large enough. Bulk loaders (COPY on PostgreSQL) use it.
func ConvertRow(t Table, row, dst []any) ([]any, error) {
	if len(row) != len(t.Columns) {
		return nil, fmt.Errorf("import %s: row has %d values, table has %d columns", t.Name, len(row), len(t.Columns))
	}
	if cap(dst) < len(row) {
		dst = make([]any, len(row))
	}
	dst = dst[:len(row)]
	for i, c := range t.Columns {
		v, err := denormalize(c, row[i])
		if err != nil {
			return nil, fmt.Errorf("import %s.%s: %w", t.Name, c.Name, err)
		}
		dst[i] = v
	}
	return dst, nil
}

func denormalize(c Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.Type {
	case "TEXT":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "INTEGER":
		switch x := v.(type) {
		case json.Number:
			n, err := x.Int64()
			if err != nil {
				return nil, fmt.Errorf("not an integer: %s", x)
			}
			return n, nil
		case int64:
			return x, nil
		case float64:
			if x == float64(int64(x)) {
				return int64(x), nil
			}
		}
	case "REAL":
		switch x := v.(type) {
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return nil, fmt.Errorf("not a number: %s", x)
			}
			return f, nil
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	}
	return nil, fmt.Errorf("value %v (%T) does not fit column type %s", v, v, c.Type)
}

// quoteIdent quotes an identifier the SQL-standard way, which both SQLite
// and PostgreSQL accept.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// IndexLister is an optional [Dialect] capability: it lists the schema's
// secondary indexes by name with the statement that creates each. A bulk
// load (a restore) drops them, loads, and creates each once at the end,
// instead of updating every index for every row.
type IndexLister interface {
	SecondaryIndexes(ctx context.Context, q Querier) (map[string]string, error)
}

// DeferIndexes drops the secondary indexes within tx when the dialect can
// list them, and returns a function that creates them again; call it
// before tx commits. Without the capability both are no-ops.
func (db *DB) DeferIndexes(ctx context.Context, tx *Tx) (rebuild func() error, err error) {
	il, ok := db.Dialect.(IndexLister)
	if !ok {
		return func() error { return nil }, nil
	}
	idx, err := il.SecondaryIndexes(ctx, tx.Tx)
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	names := make([]string, 0, len(idx))
	for name := range idx {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := tx.Tx.ExecContext(ctx, "DROP INDEX "+quoteIdent(name)); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", name, err)
		}
	}
	return func() error {
		for _, name := range names {
			if _, err := tx.Tx.ExecContext(ctx, idx[name]); err != nil {
				return fmt.Errorf("rebuild index %s: %w", name, err)
			}
		}
		return nil
	}, nil
}

// QueryStrings runs query on q (in q's own placeholder syntax: no
// rebinding) and returns the first column of every row as strings. The
// dialects use it for their catalogue queries.
func QueryStrings(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ScanColumns reads the columns a dialect's catalogue query returns, one
// row of (name, declared type) each in declaration order, normalising
// each type with normal. The dialects share it for [Dialect.Columns].
func ScanColumns(rows *sql.Rows, table string, normal func(typ string) (string, error)) ([]Column, error) {
	defer rows.Close()
	var cols []Column
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		t, err := normal(typ)
		if err != nil {
			return nil, fmt.Errorf("column %s.%s: %w", table, name, err)
		}
		cols = append(cols, Column{Name: name, Type: t})
	}
	return cols, rows.Err()
}

// entities names what each state table holds, for an operator.
var entities = map[string]string{
	"meta":              "installation facts",
	"users":             "users",
	"user_attributes":   "user attributes",
	"secrets":           "sealed secrets",
	"blobs":             "blobs (files)",
	"policies":          "policies",
	"policy_attributes": "policy attributes",
	"datasources":       "data sources",
	"workflows":         "workflows",
	"workflow_policies": "policies attached to workflows",
	"workflow_runs":     "workflow runs",
	"run_sources":       "run sources",
	"reports":           "reports",
	"remote_servers":    "remote servers",
	"email_settings":    "e-mail settings",
	"backup_settings":   "backup settings",
	"python_settings":   "python settings",
	"audit_log":         "audit log entries",
	"audit_segments":    "sealed audit log segments",
}

// Entity describes for an operator what the table called table holds:
// "user attributes" for user_attributes. A table it does not know (one
// of a newer schema, say) is described by its name.
func Entity(table string) string {
	if e, ok := entities[table]; ok {
		return e
	}
	return strings.ReplaceAll(table, "_", " ")
}

// HasEntity reports whether [Entity] has a description of its own for
// table; a test keeps every state table described.
func HasEntity(table string) bool {
	_, ok := entities[table]
	return ok
}

// FileEngine opens the database file a data directory holds: package
// sqlite provides it (sqlite.Local) and registers it when linked in, as a
// database/sql driver registers itself, so that packages such as backup
// import no engine.
type FileEngine interface {
	// OpenNoMigrate opens the database file at path as it is.
	OpenNoMigrate(ctx context.Context, path string) (*DB, error)
	// OpenStaging opens a new database file at path that is built in one
	// go and thrown away unless complete: it may skip fsyncs until
	// FinishStaging.
	OpenStaging(ctx context.Context, path string) (*DB, error)
	// FinishStaging puts the closed staging database at path in the mode
	// a server opens it in, and leaves it closed.
	FinishStaging(ctx context.Context, path string) error
}

// fileEngine is the registered [FileEngine].
var fileEngine FileEngine

// RegisterFileEngine registers e as the [FileEngine] of data directories
// ([RegisteredFileEngine]).
func RegisterFileEngine(e FileEngine) { fileEngine = e }

// RegisteredFileEngine returns the [FileEngine] registered, or nil when
// no engine package is linked in.
func RegisteredFileEngine() FileEngine { return fileEngine }

// schemaCache holds, per schema version, the tables SchemaTables built.
var schemaCache sync.Map // int -> []Table

// SchemaTables returns the tables that hold state in a database at schema
// version v, in load order, as [DB.StateTables] lists them: built once per
// version and process, by migrating a scratch database of the registered
// [FileEngine] in a temporary directory.
func SchemaTables(ctx context.Context, v int) ([]Table, error) {
	if ts, ok := schemaCache.Load(v); ok {
		return ts.([]Table), nil
	}
	if fileEngine == nil {
		return nil, fmt.Errorf("schema version %d: no engine registered to build it in (import package sqlite)", v)
	}
	dir, err := os.MkdirTemp("", "bitnobi-schema-")
	if err != nil {
		return nil, fmt.Errorf("schema version %d: %w", v, err)
	}
	defer os.RemoveAll(dir)
	db, err := fileEngine.OpenStaging(ctx, filepath.Join(dir, "schema.db"))
	if err != nil {
		return nil, fmt.Errorf("schema version %d: %w", v, err)
	}
	defer db.Close()
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.MigrateTo(ctx, v); err != nil {
		return nil, fmt.Errorf("schema version %d: %w", v, err)
	}
	ts, err := db.StateTables(ctx, db.Read)
	if err != nil {
		return nil, fmt.Errorf("schema version %d: %w", v, err)
	}
	schemaCache.Store(v, ts)
	return ts, nil
}
