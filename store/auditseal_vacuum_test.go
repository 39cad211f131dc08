package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

// sqlitePragma returns the integer value of PRAGMA name on db's writer.
func sqlitePragma(t *testing.T, db *store.DB, name string) int64 {
	t.Helper()
	var v int64
	if err := db.Write.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// TestSealAudit_GivesBackSpace checks that on SQLite the pages of the
// rows a seal deletes go back to the file system (no free pages left,
// fewer pages in all) instead of staying in the file.
func TestSealAudit_GivesBackSpace(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Open(t, dbtest.SQLite)
	db.Blobs = blob.NewStore(filepath.Join(t.TempDir(), "blobs"))
	db.AuditSegmentSize = 500
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pad := strings.Repeat("d", 500)
	es := make([]*bitnobi.AuditEntry, 2100)
	for i := range es {
		es[i] = &bitnobi.AuditEntry{At: start.Add(time.Duration(i) * time.Second), ActorID: "u1", ActorName: "user1",
			Action: bitnobi.ActionSignIn, TargetType: "user", TargetID: "u1", Detail: `{"pad":"` + pad + `"}`}
	}
	appendAll(t, db, es)
	before := sqlitePragma(t, db, "page_count")

	res, err := db.SealAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Segments, 4; got != want {
		t.Fatalf("Segments=%d, want %d", got, want)
	}
	if got := sqlitePragma(t, db, "freelist_count"); got != 0 {
		t.Fatalf("freelist_count=%d after sealing, want 0", got)
	}
	// About 2,000 of the 2,100 entries' rows left the file.
	if got, most := sqlitePragma(t, db, "page_count"), before/3; got > most {
		t.Fatalf("page_count=%d after sealing, want at most %d (%d before)", got, most, before)
	}
}

// BenchmarkReclaimSpace_Segment measures what giving back the pages of
// one sealed segment costs on SQLite: DefaultAuditSegmentSize entries of
// about 500 bytes each (what an entry takes in an M database, indexes
// included) are deleted, as a seal deletes them, and then only
// Dialect.ReclaimSpace is timed.
func BenchmarkReclaimSpace_Segment(b *testing.B) {
	ctx := context.Background()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pad := strings.Repeat("d", 250)
	n := store.DefaultAuditSegmentSize
	var freed int64
	for b.Loop() {
		b.StopTimer()
		db := dbtest.Open(b, dbtest.SQLite)
		es := make([]*bitnobi.AuditEntry, n+1)
		for i := range es {
			es[i] = &bitnobi.AuditEntry{At: start.Add(time.Duration(i) * time.Second), ActorID: "u1", ActorName: "user1",
				Action: bitnobi.ActionSignIn, TargetType: "user", TargetID: "u1", Detail: `{"pad":"` + pad + `"}`}
		}
		if err := db.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, es) }); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Write.ExecContext(ctx, `DELETE FROM audit_log WHERE seq < ?`, n); err != nil {
			b.Fatal(err)
		}
		var free int64
		if err := db.Write.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
			b.Fatal(err)
		}
		freed += free
		b.StartTimer()
		for left := int64(1); left > 0; {
			var err error
			if left, err = db.Dialect.ReclaimSpace(ctx, db.Write, 128); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(freed)/float64(b.N), "pages/op")
}
