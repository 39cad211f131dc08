package main

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/store"
)

// oldDataDir returns a data directory whose SQLite database was created
// without auto-vacuum, as an earlier version created them, holding a
// full segment of audit entries of about 1 KB each and 50 more.
func oldDataDir(t *testing.T) *backuptest.DataDir {
	t.Helper()
	ctx := context.Background()
	d := backuptest.NewDataDir(t, filepath.Join(t.TempDir(), "data"))
	for _, q := range []string{`PRAGMA auto_vacuum = NONE`, `VACUUM`} {
		if _, err := d.DB.Write.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	pad := strings.Repeat("p", 1000)
	es := make([]*bitnobi.AuditEntry, store.DefaultAuditSegmentSize+50)
	for i := range es {
		es[i] = &bitnobi.AuditEntry{At: time.Now(), ActorID: "u", ActorName: "test", Action: bitnobi.ActionSignIn, Detail: `{"pad":"` + pad + `"}`}
	}
	if err := d.DB.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, es) }); err != nil {
		t.Fatal(err)
	}
	return d
}

// rawSpace returns the auto_vacuum mode and the page count of the SQLite
// database at path, opened without Bitnobi's settings.
func rawSpace(t *testing.T, path string) (mode, pages int64) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT a.auto_vacuum, p.page_count FROM pragma_auto_vacuum() a, pragma_page_count() p`).Scan(&mode, &pages); err != nil {
		t.Fatal(err)
	}
	return mode, pages
}

// TestAuditSeal_Vacuum checks that "audit seal --vacuum" converts a
// database without auto-vacuum and shrinks it to its data, and that it
// refuses to run while another process holds the data directory.
func TestAuditSeal_Vacuum(t *testing.T) {
	d := oldDataDir(t)
	dataDir := d.Dir.Path()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dataDir, "bitnobi.db")
	mode, before := rawSpace(t, dbPath)
	if mode != 0 {
		t.Fatalf("old database: auto_vacuum=%d, want 0", mode)
	}

	lock, err := lockfile.Acquire(filepath.Join(dataDir, "bitnobi.lock"), "serve")
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runMain(t, nil, "audit", "seal", "--vacuum", "--data-dir", dataDir); code != ExitLocked {
		t.Fatalf("locked: exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitLocked, out, errOut)
	}
	if err := lock.Release(); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runMain(t, nil, "audit", "seal", "--vacuum", "--data-dir", dataDir)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(out, "sealed 1 segment") || !strings.Contains(out, "vacuumed the database") {
		t.Fatalf("audit seal --vacuum printed %q", out)
	}
	mode, after := rawSpace(t, dbPath)
	if mode != 2 {
		t.Errorf("vacuumed: auto_vacuum=%d, want 2", mode)
	}
	if after > before/4 {
		t.Errorf("vacuumed: %d pages, want at most a quarter of the %d before", after, before)
	}
	if code, out, errOut := runMain(t, nil, "audit", "verify", "--data-dir", dataDir); code != ExitOK {
		t.Fatalf("audit verify: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// TestSealLoop_FreeSpaceNotice checks that the server's first seal, when
// it leaves much free space in a database without auto-vacuum, logs how
// to give it back.
func TestSealLoop_FreeSpaceNotice(t *testing.T) {
	d := oldDataDir(t)
	defer func(v int64) { vacuumNoticeMin = v }(vacuumNoticeMin)
	vacuumNoticeMin = 1 << 20 // the test's log frees about 20 MiB
	var logs syncBuffer
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sealLoop(ctx, d.DB, time.Hour, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(logs.String(), "free space"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no free-space notice; logs:\n%s", logs.String())
		}
	}
	stop()
	<-done
	if got := logs.String(); !strings.Contains(got, "bitnobi audit seal --vacuum") {
		t.Fatalf("notice does not say how to give the space back:\n%s", got)
	}
}
