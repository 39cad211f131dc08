package seed_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/seed"
	"github.com/bitnobi/bitnobi/store"
)

// TestFill_History checks what bench/run.sh HISTORY=n relies on: n times
// the audit history, over n years, and the same blobs.
func TestFill_History(t *testing.T) {
	ctx := context.Background()
	fill := func(size seed.Size) (int64, time.Time, []string) {
		t.Helper()
		db := openDB(t, t.TempDir())
		if _, err := (&seed.Seeder{DB: db, Size: size, Seed: 3}).Fill(ctx); err != nil {
			t.Fatal(err)
		}
		// VerifyAudit counts the whole log, however it is stored.
		n, _, err := store.VerifyAudit(ctx, db.Read)
		if err != nil {
			t.Fatal(err)
		}
		var last string
		if err := db.Read.QueryRowContext(ctx, `SELECT MAX(at) FROM audit_log`).Scan(&last); err != nil {
			t.Fatal(err)
		}
		at, err := bitnobi.ParseTime(last)
		if err != nil {
			t.Fatal(err)
		}
		return n, at, logical(t, db)["blobs"]
	}
	n1, last1, blobs1 := fill(tiny)
	size3 := tiny.WithHistory(3)
	n3, last3, blobs3 := fill(size3)

	if got, want := n1, int64(tiny.Audit); got != want {
		t.Errorf("history 1: %d audit entries, want %d", got, want)
	}
	if got, want := n3, int64(3*tiny.Audit); got != want {
		t.Errorf("history 3: %d audit entries, want %d", got, want)
	}
	if got, want := last3.Sub(last1), 2*365*24*time.Hour; got < want-30*24*time.Hour || got > want+30*24*time.Hour {
		t.Errorf("history 3 ends %v after history 1, want about two years (%v)", got, want)
	}
	if len(blobs1) == 0 || !slices.Equal(blobs1, blobs3) {
		t.Errorf("blobs differ with the history:\n%v\n%v", blobs1, blobs3)
	}
	if got := tiny.WithHistory(0); got.Audit != tiny.Audit {
		t.Errorf("WithHistory(0).Audit = %d, want %d", got.Audit, tiny.Audit)
	}
}
