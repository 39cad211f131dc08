package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

// TestFindAudit_CachedIndexRow damages an index row so that it names
// another segment's file after a page has read (and cached) that file's
// frame table: the reader must refuse the row as it does with a cold
// cache, not skip the segment's entries because the cached table's seqs
// are below the page.
func TestFindAudit_CachedIndexRow(t *testing.T) { dbtest.Run(t, testFindAudit_CachedIndexRow) }

func testFindAudit_CachedIndexRow(t *testing.T, engine string) {
	ctx := context.Background()
	db := openSealDB(t, engine)
	appendAll(t, db, variedAudit(35, time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)))
	if _, err := db.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	segs, err := store.AuditSegments(ctx, db.Read)
	if err != nil || len(segs) != 3 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	// Segments 10-19 and 20-29 hold 10 entries each: the row of 20-29
	// names 10-19's file, whose table the page below has cached.
	s := &store.AuditService{DB: db}
	if es, err := s.FindAuditEntries(adminCtx, bitnobi.AuditFilter{}); err != nil || len(es) != 35 {
		t.Fatalf("FindAuditEntries()=%d entries, %v; want 35", len(es), err)
	}
	if _, err := db.Write.Exec(db.Dialect.Rebind(`UPDATE audit_segments SET blob_id = ? WHERE first_seq = 20`), segs[1].BlobID); err != nil {
		t.Fatal(err)
	}
	es, err := s.FindAuditEntries(adminCtx, bitnobi.AuditFilter{AfterSeq: 19})
	if !errors.Is(err, store.ErrAuditChain) {
		seqs := make([]int64, len(es))
		for i, e := range es {
			seqs[i] = e.Seq
		}
		t.Fatalf("FindAuditEntries(after 19) over a row naming another segment's file: seqs %v, err %v; want ErrAuditChain", seqs, err)
	}
}
