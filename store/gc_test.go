package store_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/store"
)

func openGCDB(t *testing.T, engine string) (*store.DB, string) {
	t.Helper()
	dir := t.TempDir()
	db := dbtest.Open(t, engine)
	db.Logger = slog.New(slog.DiscardHandler)
	db.Blobs = blob.NewStore(filepath.Join(dir, "blobs"))
	return db, filepath.Join(dir, "gc.lock")
}

// putBlob stores content as a blob with the given file age, and a blobs
// row of the given age unless rowAge < 0.
func putBlob(t *testing.T, db *store.DB, content string, fileAge, rowAge time.Duration) string {
	t.Helper()
	ctx := context.Background()
	id, _, err := db.Blobs.Put(ctx, strings.NewReader(content), 0)
	if err != nil {
		t.Fatal(err)
	}
	mt := time.Now().Add(-fileAge)
	if err := os.Chtimes(db.Blobs.Path(id), mt, mt); err != nil {
		t.Fatal(err)
	}
	if rowAge >= 0 {
		_, err := db.Write.Exec(db.Dialect.Rebind(`INSERT INTO blobs (id, size, created_at) VALUES (?, ?, ?)`), id, len(content), bitnobi.FormatTime(time.Now().Add(-rowAge)))
		if err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func TestBlobReferences(t *testing.T) { dbtest.Run(t, testBlobReferences) }

func testBlobReferences(t *testing.T, engine string) {
	db, _ := openGCDB(t, engine)
	refs, err := db.BlobReferences(context.Background(), db.Read)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		got = append(got, r.Table+"."+strings.Join(r.Columns, ","))
	}
	want := []string{"audit_segments.blob_id", "datasources.blob_id", "workflow_runs.result_blob_id"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("BlobReferences=%v, want %v", got, want)
	}
}

func TestCollectGarbage(t *testing.T) { dbtest.Run(t, testCollectGarbage) }

func testCollectGarbage(t *testing.T, engine string) {
	db, lockPath := openGCDB(t, engine)
	ctx := context.Background()
	day := 24 * time.Hour
	used := putBlob(t, db, "referenced", day, day)
	if _, err := db.Write.Exec(`INSERT INTO users (id, username, email, password_hash, created_at, updated_at) VALUES ('u', 'u', '', '', '', '')`); err != nil {
		t.Fatal(err)
	}
	_, err := db.Write.Exec(db.Dialect.Rebind(`INSERT INTO datasources (id, owner_id, name, kind, blob_id, created_at, updated_at) VALUES ('d', 'u', 'd', 'file', ?, '', '')`), used)
	if err != nil {
		t.Fatal(err)
	}
	oldRow := putBlob(t, db, "unreferenced old row", day, day)
	newRow := putBlob(t, db, "unreferenced new row", day, time.Minute)
	oldFile := putBlob(t, db, "old file without row", day, -1)
	newFile := putBlob(t, db, "upload in progress", time.Minute, -1)

	res, err := db.CollectGarbage(ctx, lockPath, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res.RowsDeleted != 1 || res.FilesRemoved != 2 {
		t.Fatalf("result %+v, want 1 row and 2 files removed", res)
	}
	for id, want := range map[string]bool{used: true, oldRow: false, newRow: true, oldFile: false, newFile: true} {
		_, err := db.Blobs.Stat(id)
		if got := err == nil; got != want {
			t.Errorf("blob %.8s present=%v, want %v (%v)", id, got, want, err)
		}
	}
	var rows int
	db.Read.QueryRow(`SELECT COUNT(*) FROM blobs`).Scan(&rows)
	if rows != 2 {
		t.Fatalf("%d blobs rows left, want 2", rows)
	}
}

// The collector waits while a backup holds gc.lock shared.
func TestCollectGarbage_WaitsForBackup(t *testing.T) {
	dbtest.Run(t, testCollectGarbage_WaitsForBackup)
}

func testCollectGarbage_WaitsForBackup(t *testing.T, engine string) {
	db, lockPath := openGCDB(t, engine)
	orphan := putBlob(t, db, "orphan", 48*time.Hour, 48*time.Hour)
	l, err := lockfile.AcquireShared(lockPath, "backup")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := db.CollectGarbage(ctx, lockPath, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CollectGarbage err=%v, want it to wait until the deadline", err)
	}
	if _, err := db.Blobs.Stat(orphan); err != nil {
		t.Fatal("the collector removed a blob while a backup held the lock")
	}
	l.Release()
	if res, err := db.CollectGarbage(context.Background(), lockPath, time.Hour); err != nil || res.FilesRemoved != 1 {
		t.Fatalf("CollectGarbage after release: %+v, %v", res, err)
	}
}
