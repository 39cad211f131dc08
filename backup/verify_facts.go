package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/store"
)

// checkSegmentFacts decodes the rows of p, one segment of a table of the
// backup m describes (Segments holds exactly that segment, or p is a
// format 1 or 2 table), and checks every fact the manifest states about
// it against the rows themselves, so that a forged manifest whose
// checksum was recomputed is caught: the row count, the decoded size
// (raw_size), for a table split by key the smallest and largest key
// (first, last), every key inside the segment's range and the SHA-256
// of the last line (last_row_sha256), and for the meta table that its
// instance_id row is the manifest's instance_id. It returns the rows read.
func checkSegmentFacts(ctx context.Context, dir string, m *format.Manifest, p format.Table, keys *format.Keys) (int64, error) {
	r, err := openTable(dir, p, keys)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	ps := p.Parts()
	var seg format.Segment
	if len(ps) == 1 {
		seg = ps[0]
	}
	keyCol := -1
	if seg.Keys != nil && len(p.PrimaryKey) == 1 {
		keyCol = slices.IndexFunc(p.Columns, func(c format.Column) bool { return c.Name == p.PrimaryKey[0] })
	}
	metaKey, metaValue := -1, -1
	if p.Name == "meta" {
		metaKey = slices.IndexFunc(p.Columns, func(c format.Column) bool { return c.Name == "key" })
		metaValue = slices.IndexFunc(p.Columns, func(c format.Column) bool { return c.Name == "value" })
	}
	fail := func(format string, args ...any) error {
		return &FileError{Op: "verify", Path: p.Where(), Err: fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))}
	}
	rr := format.NewRowReader(r, p.Columns)
	var (
		raw         int64
		last        []byte
		first, high int64
		instanceID  string
		sawInstance bool
	)
	for {
		if rr.Lines()%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return rr.Lines(), err
			}
		}
		row, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var fe *FileError
			if errors.As(err, &fe) {
				return rr.Lines(), err
			}
			if !errors.Is(err, ErrVerify) {
				err = fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			return rr.Lines(), &FileError{Op: "decode", Path: r.path(), Err: err}
		}
		raw += int64(len(rr.Line()))
		last = append(last[:0], rr.Line()...)
		if keyCol >= 0 {
			k, ok := row[keyCol].(int64)
			if !ok {
				return rr.Lines(), fail("row %d: key %v is not an integer", rr.Lines(), row[keyCol])
			}
			if k < seg.Keys[0] || k > seg.Keys[1] {
				return rr.Lines(), fail("row %d: key %d outside the segment's range [%d, %d]", rr.Lines(), k, seg.Keys[0], seg.Keys[1])
			}
			if rr.Lines() == 1 {
				first, high = k, k
			} else {
				first, high = min(first, k), max(high, k)
			}
		}
		if metaKey >= 0 && metaValue >= 0 && row[metaKey] == store.MetaInstanceID {
			instanceID, _ = row[metaValue].(string)
			sawInstance = true
		}
	}
	n := rr.Lines()
	if n != p.Rows {
		return n, fail("%d rows, manifest says %d", n, p.Rows)
	}
	if raw != p.RawSize {
		return n, fail("%d bytes of rows decoded, manifest says raw_size %d", raw, p.RawSize)
	}
	if keyCol >= 0 && n > 0 {
		if first != seg.First || high != seg.Last {
			return n, fail("keys %d to %d, manifest says first %d, last %d", first, high, seg.First, seg.Last)
		}
		sum := sha256.Sum256(last)
		if got := hex.EncodeToString(sum[:]); got != seg.LastRowSHA256 {
			return n, fail("last row has SHA-256 %s, manifest says last_row_sha256 %s", got, seg.LastRowSHA256)
		}
	}
	if sawInstance && m.InstanceID != "" && instanceID != m.InstanceID {
		return n, fail("meta holds instance_id %q, manifest says %q", instanceID, m.InstanceID)
	}
	return n, nil
}

// checkSchema checks that the tables m lists, in their order, with their
// columns and primary keys, are exactly those of a database at
// m.SchemaVersion ([store.SchemaTables], built once per version):
// a forged schema_version, primary_key, column list or table order does
// not pass.
func checkSchema(ctx context.Context, m *format.Manifest) error {
	want, err := store.SchemaTables(ctx, m.SchemaVersion)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	bad := func(msg string, args ...any) error {
		return &FileError{Op: "verify", Path: format.ManifestName, Err: fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(msg, args...))}
	}
	if len(m.Tables) != len(want) {
		return bad("%d tables, schema_version %d has %d", len(m.Tables), m.SchemaVersion, len(want))
	}
	for i, t := range m.Tables {
		w := want[i]
		switch {
		case t.Name != w.Name:
			return bad("table %d is %s, schema_version %d's table order has %s there", i, t.Name, m.SchemaVersion, w.Name)
		case !slices.Equal(t.Columns, formatColumns(w.Columns)):
			return bad("table %s: columns %v, schema_version %d's are %v", t.Name, t.Columns, m.SchemaVersion, w.Columns)
		case !slices.Equal(t.PrimaryKey, w.PrimaryKey):
			return bad("table %s: primary_key %v, schema_version %d's is %v", t.Name, t.PrimaryKey, m.SchemaVersion, w.PrimaryKey)
		}
	}
	return nil
}
