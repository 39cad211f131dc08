package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/lockfile"
)

// ForeignKey is one foreign key of a table, as the schema declares it.
type ForeignKey struct {
	Table      string   // the table that holds the key
	Columns    []string // its columns, in key order
	RefTable   string   // the table it points to
	RefColumns []string // the columns it points to; empty means RefTable's primary key
}

// Blob garbage collection defaults.
const (
	// DefaultGCGrace is how old an unreferenced blob row or file must be
	// before [DB.CollectGarbage] removes it. A blob is written to the store
	// before the row that refers to it is committed; the grace period
	// covers that gap, so an upload in progress is never collected.
	DefaultGCGrace = time.Hour

	// gcTempGrace is how old a file in the blob store's temporary folder
	// must be before it is removed: a slow upload of a large file writes
	// there for a long time.
	gcTempGrace = 24 * time.Hour
)

// GCResult tells what [DB.CollectGarbage] removed.
type GCResult struct {
	RowsDeleted  int64 // blobs rows that nothing referred to
	FilesRemoved int64 // blob files that had no blobs row
	BytesFreed   int64 // size of the removed files
}

// BlobReferences returns the foreign keys that point to the blobs table,
// read from the schema, so a column added by a later migration is taken
// into account without a list to maintain. Each must be a single column
// pointing to blobs.id.
func (db *DB) BlobReferences(ctx context.Context, q Querier) ([]ForeignKey, error) {
	tables, err := db.Dialect.Tables(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("blob references: list tables: %w", err)
	}
	var refs []ForeignKey
	for _, t := range tables {
		fks, err := db.Dialect.ForeignKeys(ctx, q, t)
		if err != nil {
			return nil, fmt.Errorf("blob references: foreign keys of %s: %w", t, err)
		}
		for _, fk := range fks {
			if fk.RefTable != "blobs" {
				continue
			}
			if len(fk.Columns) != 1 || (len(fk.RefColumns) > 0 && (len(fk.RefColumns) != 1 || fk.RefColumns[0] != "id")) {
				return nil, fmt.Errorf("blob references: %s(%s) must be one column referring to blobs(id)", t, strings.Join(fk.Columns, ", "))
			}
			refs = append(refs, fk)
		}
	}
	return refs, nil
}

// CollectGarbage removes the blobs nothing refers to: first the rows of
// the blobs table that no foreign key (see [DB.BlobReferences]) points to,
// then the blob files that have no blobs row. Only rows and files older
// than grace (by db.Now) are removed, so a blob being uploaded, whose row
// is not committed yet, is left alone. db.Blobs must be set.
//
// It holds the lock file at lockPath exclusively while it works, waiting
// until ctx is done for it. Backups hold the same lock shared from before
// their snapshot until they have copied every blob, so the collector
// never removes a blob that a running backup's snapshot refers to.
func (db *DB) CollectGarbage(ctx context.Context, lockPath string, grace time.Duration) (GCResult, error) {
	var res GCResult
	if db.Blobs == nil {
		return res, errors.New("collect garbage: no blob store")
	}
	lock, err := lockfile.AcquireWait(ctx, lockPath, "gc", false)
	if err != nil {
		return res, fmt.Errorf("collect garbage: %w", err)
	}
	defer lock.Release()

	cutoff := db.now().Add(-grace)
	refs, err := db.BlobReferences(ctx, db.Read)
	if err != nil {
		return res, fmt.Errorf("collect garbage: %w", err)
	}
	conds := []string{"created_at < ?"}
	for _, fk := range refs {
		conds = append(conds, fmt.Sprintf("NOT EXISTS (SELECT 1 FROM %s WHERE %s.%s = blobs.id)",
			quoteIdent(fk.Table), quoteIdent(fk.Table), quoteIdent(fk.Columns[0])))
	}
	err = db.WriteTx(ctx, func(tx *Tx) error {
		r, err := tx.Exec(ctx, "DELETE FROM blobs WHERE "+strings.Join(conds, " AND "), ts(cutoff))
		if err != nil {
			return err
		}
		res.RowsDeleted, err = r.RowsAffected()
		return err
	})
	if err != nil {
		return res, fmt.Errorf("collect garbage: delete unreferenced blob rows: %w", err)
	}

	// Files: list first, then remove each candidate in a write
	// transaction that checks again that no row refers to it, so that a
	// row committed meanwhile (writers run one at a time) keeps its file.
	var candidates []string
	err = db.Blobs.Walk(func(id string, size int64, mod time.Time) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !mod.Before(cutoff) {
			return nil
		}
		var one int
		err := db.Read.QueryRowContext(ctx, db.Dialect.Rebind(`SELECT COUNT(*) FROM blobs WHERE id = ?`), id).Scan(&one)
		if err != nil {
			return err
		}
		if one == 0 {
			candidates = append(candidates, id)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("collect garbage: list blob files: %w", err)
	}
	if db.afterGCList != nil {
		db.afterGCList()
	}
	for _, id := range candidates {
		err := db.WriteTx(ctx, func(tx *Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM blobs WHERE id = ?`, id).Scan(&n); err != nil || n > 0 {
				return err
			}
			// Its time again, right before removing it: content put
			// again since the listing (a seal or an upload of the same
			// bytes, whose row is not committed yet) refreshed it.
			fi, err := os.Stat(db.Blobs.Path(id))
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			} else if err != nil {
				return err
			}
			if !fi.ModTime().Before(cutoff) || !fi.Mode().IsRegular() {
				return nil
			}
			size := fi.Size()
			if err := db.Blobs.Remove(id); err != nil && !errors.Is(err, blob.ErrNotFound) {
				return err
			}
			res.FilesRemoved++
			res.BytesFreed += size
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("collect garbage: remove blob %s: %w", id, err)
		}
	}
	if err := db.Blobs.CleanTemp(max(grace, gcTempGrace)); err != nil {
		return res, fmt.Errorf("collect garbage: %w", err)
	}
	if res.RowsDeleted > 0 || res.FilesRemoved > 0 {
		db.Logger.Info("collected unreferenced blobs", "rows", res.RowsDeleted, "files", res.FilesRemoved, "bytes", res.BytesFreed)
	}
	return res, nil
}
