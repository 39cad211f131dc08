package backup

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/bitnobi/bitnobi/backup/format"
)

// Reader reads the tables of one backup row by row without restoring it,
// for "bitnobi backups inspect" and "bitnobi backups diff". Its memory use
// is bounded by the longest row, not by the size of a table.
//
// It trusts nothing it has not checked: [OpenReader] reads and checks the
// manifest; [Reader.Rows] checks a table file's size and SHA-256 against
// the manifest before decoding it, and, once the last row is read, that
// the file held the number of rows the manifest records in strictly
// ascending primary-key order. Blobs are not read; [Verify] checks a whole
// backup.
type Reader struct {
	dir  string
	m    *format.Manifest
	keys *format.Keys
}

// OpenReader reads and checks the manifest of the backup in dir, and
// unlocks it with keys if it is encrypted; nil keys are enough for a
// plain backup. Errors are those of [format.ReadManifest] and
// [format.Unlock].
func OpenReader(dir string, keys *format.Keys) (*Reader, error) {
	m, err := format.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if m, err = format.Unlock(dir, m, keys); err != nil {
		return nil, err
	}
	return &Reader{dir: dir, m: m, keys: m.ContentKeys(keys)}, nil
}

// Dir returns the backup's directory.
func (r *Reader) Dir() string { return r.dir }

// Name returns the backup's directory name.
func (r *Reader) Name() string { return filepath.Base(r.dir) }

// Manifest returns the backup's full manifest (for an encrypted backup,
// the unlocked one). The caller must not change it.
func (r *Reader) Manifest() *format.Manifest { return r.m }

// Table returns the manifest entry of the table called name.
func (r *Reader) Table(name string) (format.Table, bool) {
	for _, t := range r.m.Tables {
		if t.Name == name {
			return t, true
		}
	}
	return format.Table{}, false
}

// file returns the manifest's entry for path.
func (r *Reader) file(path string) (format.File, bool) {
	i, ok := slices.BinarySearchFunc(r.m.Files, path, func(f format.File, p string) int { return cmp.Compare(f.Path, p) })
	if !ok {
		return format.File{}, false
	}
	return r.m.Files[i], true
}

// Rows opens the rows of the table called name, after checking its file
// against the manifest (see [Reader]). A damaged file gives an error
// matching [ErrVerify], as does, from [Rows.Err], a file whose rows do not
// agree with the manifest. The caller must Close the result.
func (r *Reader) Rows(ctx context.Context, name string) (*Rows, error) {
	t, ok := r.Table(name)
	if !ok {
		return nil, fmt.Errorf("backup %s has no table %s", r.Name(), name)
	}
	for _, s := range t.Parts() {
		f, ok := r.file(s.File)
		if !ok { // ParseManifest checks this; be safe anyway.
			return nil, &FileError{Op: "read", Path: s.File, Err: fmt.Errorf("%w: not in the manifest's files", ErrMalformed)}
		}
		if err := r.checkFile(f); err != nil {
			return nil, err
		}
	}
	pk, err := keyColumns(t)
	if err != nil {
		return nil, err
	}
	tr, err := openTable(r.dir, t, r.keys)
	if err != nil {
		return nil, err
	}
	return &Rows{ctx: ctx, t: t, rc: tr, rr: format.NewRowReader(tr, t.Columns), pk: pk}, nil
}

// checkFile compares a file's size and SHA-256 with the manifest's.
func (r *Reader) checkFile(f format.File) error {
	sum, n, err := format.HashFile(filepath.Join(r.dir, filepath.FromSlash(f.Path)), nil)
	if err != nil {
		return &FileError{Op: "read", Path: f.Path, Err: err, Hint: "the backup is incomplete: bitnobi backups verify " + r.Name()}
	}
	if n != f.Size || sum != f.SHA256 {
		return &FileError{Op: "read", Path: f.Path,
			Err:  fmt.Errorf("%w: %d bytes with SHA-256 %s, manifest says %d bytes with %s", ErrChecksumMismatch, n, sum, f.Size, f.SHA256),
			Hint: "the file was altered or damaged: bitnobi backups verify " + r.Name()}
	}
	return nil
}

// keyColumns returns the indexes of t's primary-key columns.
func keyColumns(t format.Table) ([]int, error) {
	pk := make([]int, len(t.PrimaryKey))
	for i, name := range t.PrimaryKey {
		pk[i] = slices.IndexFunc(t.Columns, func(c format.Column) bool { return c.Name == name })
		if pk[i] < 0 {
			return nil, &FileError{Op: "read", Path: t.Where(), Err: fmt.Errorf("%w: primary-key column %s is not a column", ErrMalformed, name)}
		}
	}
	return pk, nil
}

// Rows iterates over the rows of one table of a backup, in primary-key
// order:
//
//	rows, err := r.Rows(ctx, "users")
//	...
//	defer rows.Close()
//	for rows.Next() {
//		row := rows.Row()
//	}
//	if err := rows.Err(); err != nil { ... }
type Rows struct {
	ctx  context.Context
	t    format.Table
	rc   io.ReadCloser
	rr   *format.RowReader
	pk   []int
	prev []any // the previous row's key
	row  []any
	err  error
	done bool
}

// Table returns the manifest's entry for the table.
func (rs *Rows) Table() format.Table { return rs.t }

// Next advances to the next row and reports whether there is one. After
// the last row, or an error, it returns false; see [Rows.Err].
func (rs *Rows) Next() bool {
	if rs.done {
		return false
	}
	if rs.rr.Lines()%4096 == 0 {
		if err := rs.ctx.Err(); err != nil {
			return rs.fail(err)
		}
	}
	row, err := rs.rr.Next()
	if err == io.EOF {
		rs.done = true
		if rs.rr.Lines() != rs.t.Rows {
			rs.err = &FileError{Op: "read", Path: rs.t.Where(), Err: fmt.Errorf("%w: %d rows, manifest says %d", ErrMalformed, rs.rr.Lines(), rs.t.Rows)}
		}
		return false
	}
	if err != nil {
		return rs.fail(&FileError{Op: "decode", Path: rs.t.Where(), Err: err})
	}
	if rs.prev != nil && compareKeys(rs.pk, rs.prev, row) >= 0 {
		return rs.fail(&FileError{Op: "read", Path: rs.t.Where(),
			Err: fmt.Errorf("%w: line %d is not after the line before it in primary-key order", ErrMalformed, rs.rr.Lines())})
	}
	if rs.prev == nil {
		rs.prev = make([]any, len(row))
	}
	for _, i := range rs.pk {
		rs.prev[i] = row[i]
	}
	rs.row = row
	return true
}

func (rs *Rows) fail(err error) bool {
	rs.err, rs.done, rs.row = err, true, nil
	return false
}

// Row returns the current row: one value per column of the manifest, each
// a string, int64, float64 or nil. The slice is reused by the next call
// to Next.
func (rs *Rows) Row() []any { return rs.row }

// Err returns the error that ended the iteration, if any, including a
// row count that differs from the manifest's.
func (rs *Rows) Err() error { return rs.err }

// Close releases the file.
func (rs *Rows) Close() error {
	rs.done = true
	return rs.rc.Close()
}

// compareKeys compares the primary keys (the columns pk) of rows a and b.
func compareKeys(pk []int, a, b []any) int {
	for _, i := range pk {
		if c := compareValues(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// compareValues orders two values as SQLite orders them, and as the
// PostgreSQL schema (TEXT COLLATE "C") does: NULL first, then numbers by
// value, then text byte by byte.
func compareValues(a, b any) int {
	ra, rb := valueRank(a), valueRank(b)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp.Compare(x, y)
		case float64:
			return cmp.Compare(float64(x), y)
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return cmp.Compare(x, float64(y))
		case float64:
			return cmp.Compare(x, y)
		}
	case string:
		return cmp.Compare(x, b.(string))
	}
	return 0
}

func valueRank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case int64, float64:
		return 1
	case string:
		return 2
	}
	return 3
}

// equalValues reports whether two rows' values are equal.
func equalValues(a, b any) bool {
	return valueRank(a) == valueRank(b) && compareValues(a, b) == 0
}
