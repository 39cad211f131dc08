package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// ChangeStamps returns the change stamp of every table that has one: a
// random value that every committed change to the table replaces, in the
// change's own transaction (migration 0002). Within one snapshot, two
// reads that return the same stamp for a table saw the same rows, with
// one exception by design: appending to audit_log leaves its stamp alone
// (only UPDATE, DELETE and TRUNCATE replace it), so a reader checks
// appended rows by key (see [DB.ExportRange]). A table missing from the
// result, or a database older than schema version 2, has no stamp: treat
// it as changed.
func ChangeStamps(ctx context.Context, q Querier, d Dialect) (map[string]string, error) {
	tables, err := d.Tables(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read change stamps: %w", err)
	}
	stamps := map[string]string{}
	if !slices.Contains(tables, "table_changes") {
		return stamps, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT name, stamp FROM table_changes`)
	if err != nil {
		return nil, fmt.Errorf("read change stamps: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, stamp string
		if err := rows.Scan(&name, &stamp); err != nil {
			return nil, fmt.Errorf("read change stamps: %w", err)
		}
		stamps[name] = stamp
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read change stamps: %w", err)
	}
	return stamps, nil
}

// IntegerKey returns the name of t's primary-key column when the key is a
// single INTEGER column, the kind of table [DB.ExportRange] can read by
// key range, and false otherwise.
func (t Table) IntegerKey() (string, bool) {
	if len(t.PrimaryKey) != 1 {
		return "", false
	}
	for _, c := range t.Columns {
		if c.Name == t.PrimaryKey[0] {
			return c.Name, c.Type == "INTEGER"
		}
	}
	return "", false
}

// KeyRange selects rows of a table with a single INTEGER primary key (see
// [Table.IntegerKey]) by their key: From <= key <= To, in ascending key
// order, or descending if Desc, at most Limit rows if Limit > 0.
type KeyRange struct {
	From, To int64
	Desc     bool
	Limit    int
}

// ExportRange is [DB.ExportRows] for the rows of t in r. Run it inside
// [DB.ReadTx], with the other reads of the same snapshot.
func (db *DB) ExportRange(ctx context.Context, tx *Tx, t Table, r KeyRange, fn func(row []any) error) error {
	key, ok := t.IntegerKey()
	if !ok {
		return fmt.Errorf("export %s by key range: the primary key is not one INTEGER column", t.Name)
	}
	order := "ASC"
	if r.Desc {
		order = "DESC"
	}
	tail := fmt.Sprintf(" WHERE %s >= ? AND %s <= ? ORDER BY %s %s", quoteIdent(key), quoteIdent(key), quoteIdent(key), order)
	if r.Limit > 0 {
		tail += fmt.Sprintf(" LIMIT %d", r.Limit)
	}
	return db.exportRows(ctx, tx, t, tail, []any{r.From, r.To}, fn)
}

// selectColumns is the column list of a SELECT of all of t's columns.
func selectColumns(t Table) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quoteIdent(c.Name)
	}
	return strings.Join(cols, ", ")
}
