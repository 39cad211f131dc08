package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/bitnobi/bitnobi/blob"
)

// ErrSegmentMissing is wrapped, with [ErrAuditChain], by the error of a
// sealed segment whose file is not in the blob store at all (as opposed
// to one whose file was altered). Whether that is a loss or a wrong blob
// store (a data directory other than the server's) is told by
// [BlobStoreHolds].
var ErrSegmentMissing = errors.New("the segment file is missing")

// BlobStoreHolds returns how many blob files the database recorded in q
// (its blobs table, which names every sealed segment's file too) and
// whether blobs holds at least one of them. A blob store that holds none
// of the files recorded is not the one the database was written with:
// the data directory given is not the server's. It stops at the first
// file found.
func BlobStoreHolds(ctx context.Context, q Querier, blobs *blob.Store) (recorded int64, holdsAny bool, err error) {
	// Segments first: they are the files in question.
	rows, err := q.QueryContext(ctx, `SELECT id FROM blobs ORDER BY CASE WHEN id IN (SELECT blob_id FROM audit_segments) THEN 0 ELSE 1 END`)
	if err != nil {
		return 0, false, fmt.Errorf("list recorded blobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return 0, false, fmt.Errorf("list recorded blobs: %w", err)
		}
		recorded++
		if holdsAny {
			continue // counting the rest
		}
		if _, err := blobs.Stat(id); err == nil {
			holdsAny = true
		} else if !errors.Is(err, blob.ErrNotFound) && !errors.Is(err, blob.ErrInvalidID) {
			return 0, false, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, false, fmt.Errorf("list recorded blobs: %w", err)
	}
	return recorded, holdsAny, nil
}

// MissingAuditSegments returns the sealed segments, as q indexes them,
// whose files blobs does not hold, and how many segments are indexed.
func MissingAuditSegments(ctx context.Context, q Querier, blobs *blob.Store) (indexed int, missing []AuditSegment, err error) {
	segs, err := AuditSegments(ctx, q)
	if err != nil {
		return 0, nil, err
	}
	for _, s := range segs {
		if _, err := blobs.Stat(s.BlobID); errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidID) {
			missing = append(missing, s)
		} else if err != nil {
			return 0, nil, err
		}
	}
	return len(segs), missing, nil
}
