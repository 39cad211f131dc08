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
	// Sealed counts, for audit_log, the rows that one side holds live and
	// the other no more because it sealed them into a segment (its
	// audit_segments covers their seq): A's rows that B sealed, and B's
	// rows that A had sealed. They moved, so they are neither counted nor
	// listed as removed or added. A row that ends one of the other side's
	// segments is compared with it: if its hash is not the segment's
	// last_hash, the histories differ, and it is counted and listed as
	// changed (column hash).
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
	var err error
	inB := map[string]store.Table{}
	for _, t := range bTables {
		inB[t.Name] = t
	}
	var sealedA, sealedB sealedLog
	if tb, ok := inB["audit_segments"]; ok {
		if sealedB, err = readSealed(tb.Columns, func(fn func([]any) error) error { return eachB(tb, fn) }); err != nil {
			return nil, err
		}
	}
	if i := slices.IndexFunc(a.Manifest().Tables, func(t format.Table) bool { return t.Name == "audit_segments" }); i >= 0 {
		ta := a.Manifest().Tables[i]
		sealedA, err = readSealed(storeColumns(ta.Columns), func(fn func([]any) error) error {
			rows, err := a.Rows(ctx, ta.Name)
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
		})
		if err != nil {
			return nil, err
		}
	}
	for _, ta := range a.Manifest().Tables {
		tb, ok := inB[ta.Name]
		delete(inB, ta.Name)
		td := TableDiff{Table: ta.Name, Entity: store.Entity(ta.Name)}
		var err error
		if ok {
			err = diffTable(ctx, a, ta, tb, eachB, &td, opts, sealedA, sealedB)
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
// Rows of audit_log that one side has and the other lacks, where the
// other's sealed segments (sealedA, sealedB) cover their seq, were sealed
// on that side: counted as td.Sealed, unless one ends a segment whose
// last_hash is not its hash (see [TableDiff.Sealed]).
func diffTable(ctx context.Context, a *Reader, ta format.Table, tb store.Table, eachB func(store.Table, func([]any) error) error, td *TableDiff, opts DiffOptions, sealedA, sealedB sealedLog) error {
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
	hashA := slices.IndexFunc(ta.Columns, func(c format.Column) bool { return c.Name == "hash" })
	hashB := slices.IndexFunc(tb.Columns, func(c store.Column) bool { return c.Name == "hash" })
	// sealed reports whether the audit_log row r (key pk, hash column h),
	// which one side lacks, is in that side's sealed segments (other),
	// and counts it: as sealed, or as changed when it ends one of them
	// with another hash.
	sealed := func(other sealedLog, r []any, pk []int, h int, name int) bool {
		if ta.Name != "audit_log" || len(pk) != 1 || h < 0 {
			return false
		}
		seq, ok := r[pk[0]].(int64)
		if !ok || seq > other.upTo {
			return false
		}
		if hash, _ := r[h].(string); !other.matches(seq, hash) {
			td.Changed++
			td.list(ChangeChanged, rowKey(pk, r), rowName(name, r), []string{"hash"}, opts.Limit)
			return true
		}
		td.Sealed++
		return true
	}
	removed := func(ra []any) {
		if sealed(sealedB, ra, pkA, hashA, nameA) {
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
		if sealed(sealedA, rb, pkB, hashB, nameB) {
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

// sealedLog is one side's sealed audit history, as its audit_segments
// index gives it.
type sealedLog struct {
	upTo int64            // the last seq sealed (0 for none)
	last map[int64]string // each segment's last_seq and last_hash
}

// matches reports whether the entry seq, whose hash is hash, agrees with
// the segments: when seq ends a segment, hash must be its last_hash; the
// entries inside a segment are not in the index, so they agree.
func (s sealedLog) matches(seq int64, hash string) bool {
	h, ok := s.last[seq]
	return !ok || h == hash
}

// readSealed reads the sealed history from the rows of audit_segments
// (of columns cols) that each passes to its callback; an index of
// another shape (no last_seq) is read as none.
func readSealed(cols []store.Column, each func(func([]any) error) error) (sealedLog, error) {
	seqCol := slices.IndexFunc(cols, func(c store.Column) bool { return c.Name == "last_seq" })
	hashCol := slices.IndexFunc(cols, func(c store.Column) bool { return c.Name == "last_hash" })
	s := sealedLog{last: map[int64]string{}}
	if seqCol < 0 {
		return s, nil
	}
	err := each(func(row []any) error {
		v, ok := row[seqCol].(int64)
		if !ok {
			return nil
		}
		s.upTo = max(s.upTo, v)
		if hashCol >= 0 {
			h, _ := row[hashCol].(string)
			s.last[v] = h
		}
		return nil
	})
	if err != nil {
		return sealedLog{}, fmt.Errorf("diff table audit_segments: %w", err)
	}
	return s, nil
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
