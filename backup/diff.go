package backup

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/store"
)

// LiveName is the name [DiffLive] gives the live side of a difference.
const LiveName = "live"

// DiffOptions configures [Diff] and [DiffLive].
type DiffOptions struct {
	// Limit is how many added, removed or changed rows of each table are
	// listed; counts are always complete. Zero lists none.
	Limit int
}

// Difference is what changed from one state (A, a backup) to another (B,
// a backup or the live database), table by table.
type Difference struct {
	A      string      `json:"a"` // backup name
	B      string      `json:"b"` // backup name, or [LiveName]
	Tables []TableDiff `json:"tables"`
}

// Changed reports whether the two states differ at all.
func (d *Difference) Changed() bool {
	for _, t := range d.Tables {
		if t.Added+t.Removed+t.Changed+t.Sealed > 0 || t.Note != "" {
			return true
		}
	}
	return false
}

// TableDiff is the difference in one table. Rows are matched by primary
// key: a key only in B is added, only in A removed, in both with other
// values changed.
type TableDiff struct {
	Table   string `json:"table"`
	Entity  string `json:"entity"` // see [store.Entity]
	Added   int64  `json:"added"`
	Removed int64  `json:"removed"`
	Changed int64  `json:"changed"`
	// Sealed counts, for audit_log, the rows of A that B holds no more
	// because it sealed them into a segment (B's audit_segments covers
	// their seq): moved, not removed, so neither counted nor listed as
	// removed.
	Sealed int64 `json:"sealed,omitempty"`
	// Note says why the table was not compared column by column, or that
	// its columns differ (different schema versions).
	Note string `json:"note,omitempty"`
	// Rows lists the first [DiffOptions.Limit] changes, in primary-key
	// order; Unlisted counts the others.
	Rows     []RowChange `json:"rows,omitzero"`
	Unlisted int64       `json:"unlisted,omitempty"`
}

// Kinds of [RowChange].
const (
	ChangeAdded   = "added"
	ChangeRemoved = "removed"
	ChangeChanged = "changed"
)

// RowChange is one added, removed or changed row. It names the row and,
// for a changed one, the columns that differ; it never holds values other
// than the key and the name, so secrets and password hashes are never
// shown.
type RowChange struct {
	Change  string   `json:"change"` // ChangeAdded, ChangeRemoved or ChangeChanged
	Key     string   `json:"key"`    // the primary-key values, joined by "/"
	Name    string   `json:"name,omitempty"`
	Columns []string `json:"columns,omitempty"` // for ChangeChanged
}

// Diff compares the backups a and b table by table. Both hold their rows
// in primary-key order, so each table is merge-joined a row at a time:
// memory does not grow with the tables.
func Diff(ctx context.Context, a, b *Reader, opts DiffOptions) (*Difference, error) {
	var tables []store.Table
	for _, t := range b.Manifest().Tables {
		tables = append(tables, store.Table{Name: t.Name, Columns: storeColumns(t.Columns), PrimaryKey: t.PrimaryKey})
	}
	return diff(ctx, a, b.Name(), tables, func(t store.Table, fn func([]any) error) error {
		rows, err := b.Rows(ctx, t.Name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := fn(rows.Row()); err != nil {
				return err
			}
		}
		return rows.Err()
	}, opts)
}

// DiffLive compares the backup a with the live database db, read in one
// read transaction (one consistent snapshot, which on SQLite never blocks
// the server) with [store.DB.ExportRows]. Memory does not grow with the
// tables.
func DiffLive(ctx context.Context, a *Reader, db *store.DB, opts DiffOptions) (*Difference, error) {
	var d *Difference
	err := db.ReadTx(ctx, func(tx *store.Tx) error {
		tables, err := db.StateTables(ctx, tx)
		if err != nil {
			return err
		}
		d, err = diff(ctx, a, LiveName, tables, func(t store.Table, fn func([]any) error) error {
			return db.ExportRows(ctx, tx, t, fn)
		}, opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("diff %s with the live database: %w", a.Name(), err)
	}
	return d, nil
}

// diff compares a's tables with B's, whose rows eachB passes to its
// callback in primary-key order.
func diff(ctx context.Context, a *Reader, bName string, bTables []store.Table, eachB func(store.Table, func([]any) error) error, opts DiffOptions) (*Difference, error) {
	d := &Difference{A: a.Name(), B: bName}
	inB := map[string]store.Table{}
	for _, t := range bTables {
		inB[t.Name] = t
	}
	sealedB, err := sealedUpTo(inB, eachB)
	if err != nil {
		return nil, err
	}
	for _, ta := range a.Manifest().Tables {
		tb, ok := inB[ta.Name]
		delete(inB, ta.Name)
		td := TableDiff{Table: ta.Name, Entity: store.Entity(ta.Name)}
		var err error
		if ok {
			err = diffTable(ctx, a, ta, tb, eachB, &td, opts, sealedB)
		} else {
			td.Note = "only in " + a.Name()
			err = onlyA(ctx, a, ta, &td, opts)
		}
		if err != nil {
			return nil, err
		}
		d.Tables = append(d.Tables, td)
	}
	for _, tb := range bTables {
		if _, left := inB[tb.Name]; !left {
			continue
		}
		td := TableDiff{Table: tb.Name, Entity: store.Entity(tb.Name), Note: "only in " + bName}
		pk, err := keyIndexes(tb.Columns, tb.PrimaryKey)
		if err != nil {
			return nil, fmt.Errorf("diff table %s: %w", tb.Name, err)
		}
		name := nameColumn(tb.Name, tb.Columns)
		err = eachB(tb, func(row []any) error {
			td.Added++
			td.list(ChangeAdded, rowKey(pk, row), rowName(name, row), nil, opts.Limit)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("diff table %s: %w", tb.Name, err)
		}
		d.Tables = append(d.Tables, td)
	}
	return d, nil
}

// onlyA lists every row of a table that B lacks as removed.
func onlyA(ctx context.Context, a *Reader, ta format.Table, td *TableDiff, opts DiffOptions) error {
	rows, err := a.Rows(ctx, ta.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	pk, _ := keyColumns(ta) // Rows checked them
	name := nameColumn(ta.Name, storeColumns(ta.Columns))
	for rows.Next() {
		td.Removed++
		td.list(ChangeRemoved, rowKey(pk, rows.Row()), rowName(name, rows.Row()), nil, opts.Limit)
	}
	return rows.Err()
}

// diffTable merge-joins the rows of one table of A and B by primary key.
// Rows of audit_log that A has and B lacks, up to seq sealedB, were
// sealed on B's side: counted as td.Sealed.
func diffTable(ctx context.Context, a *Reader, ta format.Table, tb store.Table, eachB func(store.Table, func([]any) error) error, td *TableDiff, opts DiffOptions, sealedB int64) error {
	if !slices.Equal(ta.PrimaryKey, tb.PrimaryKey) {
		td.Note = fmt.Sprintf("primary key (%s) differs from (%s): rows not compared",
			strings.Join(ta.PrimaryKey, ", "), strings.Join(tb.PrimaryKey, ", "))
		return nil
	}
	pkA, err := keyColumns(ta)
	if err != nil {
		return err
	}
	pkB, err := keyIndexes(tb.Columns, tb.PrimaryKey)
	if err != nil {
		return fmt.Errorf("diff table %s: %w", tb.Name, err)
	}
	// Compare the columns both sides have, by name.
	var common [][2]int
	var onlyInA, onlyInB []string
	for i, c := range ta.Columns {
		j := slices.IndexFunc(tb.Columns, func(x store.Column) bool { return x.Name == c.Name })
		if j < 0 {
			onlyInA = append(onlyInA, c.Name)
			continue
		}
		common = append(common, [2]int{i, j})
	}
	for _, c := range tb.Columns {
		if !slices.ContainsFunc(ta.Columns, func(x format.Column) bool { return x.Name == c.Name }) {
			onlyInB = append(onlyInB, c.Name)
		}
	}
	if len(onlyInA)+len(onlyInB) > 0 {
		td.Note = fmt.Sprintf("columns differ (only in A: %s; only in B: %s): the others are compared",
			orNone(onlyInA), orNone(onlyInB))
	}
	nameA := nameColumn(ta.Name, storeColumns(ta.Columns))
	nameB := nameColumn(tb.Name, tb.Columns)

	rows, err := a.Rows(ctx, ta.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	removed := func(ra []any) {
		if seq, ok := ra[pkA[0]].(int64); ok && ta.Name == "audit_log" && seq <= sealedB {
			td.Sealed++
			return
		}
		td.Removed++
		td.list(ChangeRemoved, rowKey(pkA, ra), rowName(nameA, ra), nil, opts.Limit)
	}
	haveA := rows.Next()
	var prevB []any
	var nB int64
	err = eachB(tb, func(rb []any) error {
		nB++
		if prevB != nil && compareKeys(pkB, prevB, rb) >= 0 {
			return fmt.Errorf("%w: row %d of the B side is not after the row before it in primary-key order", ErrMalformed, nB)
		}
		if prevB == nil {
			prevB = make([]any, len(rb))
		}
		for _, i := range pkB {
			prevB[i] = rb[i]
		}
		for haveA {
			ra := rows.Row()
			c := compareKeysAB(pkA, pkB, ra, rb)
			if c > 0 {
				break
			}
			if c < 0 {
				removed(ra)
				haveA = rows.Next()
				continue
			}
			var cols []string
			for _, p := range common {
				if !equalValues(ra[p[0]], rb[p[1]]) {
					cols = append(cols, ta.Columns[p[0]].Name)
				}
			}
			if len(cols) > 0 {
				td.Changed++
				td.list(ChangeChanged, rowKey(pkB, rb), rowName(nameB, rb), cols, opts.Limit)
			}
			haveA = rows.Next()
			return nil
		}
		td.Added++
		td.list(ChangeAdded, rowKey(pkB, rb), rowName(nameB, rb), nil, opts.Limit)
		return nil
	})
	if err != nil {
		return fmt.Errorf("diff table %s: %w", ta.Name, err)
	}
	for haveA {
		removed(rows.Row())
		haveA = rows.Next()
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("diff table %s: %w", ta.Name, err)
	}
	return nil
}

// sealedUpTo returns the last seq that B's sealed audit segments hold (0
// when B has none, or no audit_segments table).
func sealedUpTo(inB map[string]store.Table, eachB func(store.Table, func([]any) error) error) (int64, error) {
	tb, ok := inB["audit_segments"]
	if !ok {
		return 0, nil
	}
	col := slices.IndexFunc(tb.Columns, func(c store.Column) bool { return c.Name == "last_seq" })
	if col < 0 {
		return 0, nil
	}
	var last int64
	err := eachB(tb, func(row []any) error {
		if v, ok := row[col].(int64); ok && v > last {
			last = v
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("diff table audit_segments: %w", err)
	}
	return last, nil
}

func (td *TableDiff) list(change, key, name string, cols []string, limit int) {
	if len(td.Rows) >= limit {
		td.Unlisted++
		return
	}
	td.Rows = append(td.Rows, RowChange{Change: change, Key: key, Name: name, Columns: cols})
}

// keyIndexes returns the indexes of the key columns among cols.
func keyIndexes(cols []store.Column, key []string) ([]int, error) {
	pk := make([]int, len(key))
	for i, name := range key {
		pk[i] = slices.IndexFunc(cols, func(c store.Column) bool { return c.Name == name })
		if pk[i] < 0 {
			return nil, fmt.Errorf("primary-key column %s is not a column", name)
		}
	}
	return pk, nil
}

// compareKeysAB compares the key of a row of A with that of a row of B.
func compareKeysAB(pkA, pkB []int, a, b []any) int {
	for i := range pkA {
		if c := compareValues(a[pkA[i]], b[pkB[i]]); c != 0 {
			return c
		}
	}
	return 0
}

// nameColumn picks the column that names a table's rows for an operator,
// or -1.
func nameColumn(table string, cols []store.Column) int {
	candidates := []string{"username", "name"}
	switch table {
	case "audit_log":
		candidates = []string{"action"}
	case "meta", "user_attributes", "policy_attributes", "secrets":
		return -1 // the key says it all; a secret's row has nothing to show
	}
	for _, c := range candidates {
		if i := slices.IndexFunc(cols, func(x store.Column) bool { return x.Name == c }); i >= 0 {
			return i
		}
	}
	return -1
}

func rowName(col int, row []any) string {
	if col < 0 {
		return ""
	}
	s, _ := row[col].(string)
	return s
}

// rowKey renders a row's primary key: its values joined by "/".
func rowKey(pk []int, row []any) string {
	parts := make([]string, len(pk))
	for i, c := range pk {
		switch v := row[c].(type) {
		case nil:
			parts[i] = "NULL"
		case string:
			parts[i] = v
		case int64:
			parts[i] = strconv.FormatInt(v, 10)
		case float64:
			parts[i] = strconv.FormatFloat(v, 'g', -1, 64)
		default:
			parts[i] = fmt.Sprint(v)
		}
	}
	return strings.Join(parts, "/")
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
