package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

// TestFindAudit_CachedIndexRow damages an index row after a page has
// read (and cached) the segments' frame tables: the reader must refuse
// the row, not skip entries silently. OtherFile: a row names another
// segment's file, whose cached table was not checked against it.
// LastSeq: a row's last_seq disagrees with its count of entries.
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
	for name, damage := range map[string]struct {
		sql  string
		args []any
	}{
		// The row of 20-29 names 10-19's file, whose table is cached.
		"OtherFile": {`UPDATE audit_segments SET blob_id = ? WHERE first_seq = 20`, []any{segs[1].BlobID}},
		// The row of 10-19 says it ends at 25: the reader went on after
		// 25, skipping 20-25 of the next segment.
		"LastSeq": {`UPDATE audit_segments SET last_seq = 25 WHERE first_seq = 10`, nil},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := db.Write.Exec(db.Dialect.Rebind(damage.sql), damage.args...); err != nil {
				t.Fatal(err)
			}
			defer func() {
				// Undo, for the next damage.
				for _, seg := range segs {
					if _, err := db.Write.Exec(db.Dialect.Rebind(`UPDATE audit_segments SET blob_id = ?, last_seq = ? WHERE first_seq = ?`), seg.BlobID, seg.LastSeq, seg.FirstSeq); err != nil {
						t.Fatal(err)
					}
				}
			}()
			es, err := s.FindAuditEntries(adminCtx, bitnobi.AuditFilter{AfterSeq: 5})
			if !errors.Is(err, store.ErrAuditChain) {
				seqs := make([]int64, len(es))
				for i, e := range es {
					seqs[i] = e.Seq
				}
				t.Fatalf("FindAuditEntries(after 5) over a damaged index row: seqs %v, err %v; want ErrAuditChain", seqs, err)
			}
		})
	}
}

// TestFindAudit_ConcurrentPages reads pages of a sealed log of more
// segments than the frame cache holds from many goroutines at once, while
// a sealer seals more (run with -race): each page is the entries it must
// be, whichever goroutine decoded and cached its frames.
func TestFindAudit_ConcurrentPages(t *testing.T) {
	ctx := context.Background()
	db := openSealDB(t, "sqlite")
	const n = 1200
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	appendAll(t, db, variedAudit(n/2, start))
	if _, err := db.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	want := findAll(t, db, bitnobi.AuditFilter{})
	s := &store.AuditService{DB: db}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 6 {
		wg.Go(func() {
			for i := range 200 {
				after := int64((g*131 + i*37) % (n/2 - 20))
				es, err := s.FindAuditEntries(adminCtx, bitnobi.AuditFilter{AfterSeq: after, Limit: 15})
				if err != nil {
					errs <- err
					return
				}
				if len(es) != 15 {
					errs <- fmt.Errorf("page after %d: %d entries", after, len(es))
					return
				}
				for j, e := range es {
					if diff := cmp.Diff(want[after+int64(j)], *e); diff != "" {
						errs <- fmt.Errorf("page after %d, entry %d:\n%s", after, j, diff)
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		es := variedAudit(n/2, start.Add(24*time.Hour))
		if err := db.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, es) }); err != nil {
			errs <- err
			return
		}
		if _, err := db.SealAudit(ctx); err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestFindAudit_FramePages reads pages of segments of several frames each
// (auditseg.FrameEntries entries a frame), on a cold cache and a warm
// one: every entry, its Hash and PrevHash included, is the one audit_log
// held before the seal, across frame and segment boundaries, as each
// frame's hashes are recomputed from the prev_hash its table gives.
func TestFindAudit_FramePages(t *testing.T) {
	ctx := context.Background()
	const n = 3000
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	plain := openSealDB(t, "sqlite")
	appendAll(t, plain, variedAudit(n, start))
	want := findAll(t, plain, bitnobi.AuditFilter{})
	for _, size := range []int64{1200, 2048} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			db := openSealDB(t, "sqlite")
			db.AuditSegmentSize = size
			appendAll(t, db, variedAudit(n, start))
			if res, err := db.SealAudit(ctx); err != nil || res.Segments == 0 {
				t.Fatalf("SealAudit()=%+v, %v", res, err)
			}
			for _, pass := range []string{"cold", "warm"} {
				for _, after := range []int64{0, 510, 511, 512, 1023, 1198, 1199, 1200, 2046, 2047, 2900} {
					es, err := (&store.AuditService{DB: db}).FindAuditEntries(adminCtx, bitnobi.AuditFilter{AfterSeq: after, Limit: 40})
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(want[after:after+40], derefAudit(es)); diff != "" {
						t.Fatalf("%s page after %d (-rows +sealed):\n%s", pass, after, diff)
					}
				}
			}
		})
	}
}
