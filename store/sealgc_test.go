package store_test

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

// The blob collector removes a segment's file between the seal's put and
// its transaction (as it can when a seal that crashed left the same
// content unreferenced and old): the seal puts it again inside its
// transaction, so it never indexes a missing file, and no entry is lost.
func TestSealAudit_GCBetweenPutAndCommit(t *testing.T) {
	dbtest.Run(t, testSealAudit_GCBetweenPutAndCommit)
}

func testSealAudit_GCBetweenPutAndCommit(t *testing.T, engine string) {
	ctx := context.Background()
	db := openSealDB(t, engine)
	appendAll(t, db, variedAudit(15, time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)))
	lockPath := filepath.Join(t.TempDir(), "gc.lock")
	var removed int64
	store.SetAfterSegmentPut(db, func(id string) {
		// Grace 0: the file just put is old enough, and no row names it.
		res, err := db.CollectGarbage(ctx, lockPath, 0)
		if err != nil {
			t.Errorf("CollectGarbage: %v", err)
		}
		removed += res.FilesRemoved
		if _, err := db.Blobs.Stat(id); err == nil {
			t.Errorf("the collector kept the unreferenced segment blob %.8s: the test shows nothing", id)
		}
	})
	res, err := db.SealAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments != 1 || removed != 1 {
		t.Fatalf("SealAudit()=%+v with %d files collected, want 1 segment, 1 file", res, removed)
	}
	segs, err := store.AuditSegments(ctx, db.Read)
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments %+v, %v", segs, err)
	}
	if size, err := db.Blobs.Stat(segs[0].BlobID); err != nil || size != segs[0].Size {
		t.Fatalf("indexed segment blob: size %d, %v; want %d", size, err, segs[0].Size)
	}
	if n, _, err := sameDB(db).VerifyAudit(ctx, db.Read); err != nil || n != 15 {
		t.Fatalf("VerifyAudit()=%d, %v; want 15 entries", n, err)
	}
}

// A blob file listed as old and unreferenced, then put again before the
// collector removes it (a seal or an upload of the same content, whose
// row is not committed yet), is kept: the collector checks its time again
// right before removing it.
func TestCollectGarbage_PutAgainAfterListing(t *testing.T) {
	dbtest.Run(t, testCollectGarbage_PutAgainAfterListing)
}

func testCollectGarbage_PutAgainAfterListing(t *testing.T, engine string) {
	ctx := context.Background()
	db, lockPath := openGCDB(t, engine)
	const content = "a segment a crashed seal left behind"
	id := putBlob(t, db, content, 48*time.Hour, -1)
	store.SetAfterGCList(db, func() {
		if _, _, err := db.Blobs.Put(ctx, strings.NewReader(content), 0); err != nil {
			t.Error(err)
		}
	})
	res, err := db.CollectGarbage(ctx, lockPath, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res.FilesRemoved != 0 {
		t.Fatalf("CollectGarbage()=%+v, want nothing removed", res)
	}
	if _, err := db.Blobs.Stat(id); err != nil {
		t.Fatalf("the blob put again was removed: %v", err)
	}
}

// A reader allocates a segment file by its size on disk, not by the size
// its index row gives: a damaged row must not make every read allocate
// hundreds of MiB. (SQLite only, and not in parallel, so that the
// allocation count is this test's.)
func TestSealAudit_IndexSizeNotAllocated(t *testing.T) {
	ctx := context.Background()
	db := openSealDB(t, dbtest.SQLite)
	appendAll(t, db, variedAudit(15, time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)))
	if _, err := db.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	const claimed = 200 << 20
	if _, err := db.Write.Exec(`UPDATE audit_segments SET size = ?`, claimed); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, _, err := sameDB(db).VerifyAudit(ctx, db.Read)
	runtime.ReadMemStats(&after)
	if err != nil || n != 15 {
		t.Fatalf("VerifyAudit()=%d, %v; want 15 entries (the file is whole)", n, err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > claimed/4 {
		t.Fatalf("reading a segment of a few KiB allocated %d bytes: the index's size (%d)", got, claimed)
	}
}
