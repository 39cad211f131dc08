package backup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// appendAudit appends n audit entries in one transaction.
func appendAudit(tb testing.TB, db *store.DB, n int) {
	tb.Helper()
	ctx := context.Background()
	err := db.WriteTx(ctx, func(tx *store.Tx) error {
		for i := range n {
			e := &bitnobi.AuditEntry{At: tx.Now(), ActorName: "test", Action: "test.append", TargetID: fmt.Sprint(i)}
			if err := tx.AppendAudit(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// table returns the manifest's entry for name.
func table(tb testing.TB, m *format.Manifest, name string) format.Table {
	tb.Helper()
	i := slices.IndexFunc(m.Tables, func(t format.Table) bool { return t.Name == name })
	if i < 0 {
		tb.Fatalf("no table %s in the manifest", name)
	}
	return m.Tables[i]
}

// sameFile reports whether rel is one file (hard-linked) in backups a and b.
func sameFile(tb testing.TB, a, b *backup.Result, rel string) bool {
	tb.Helper()
	return sameFileAt(tb, a, rel, b, rel)
}

// sameFileAt reports whether file relA of backup a and relB of backup b
// are one file, hard-linked.
func sameFileAt(tb testing.TB, a *backup.Result, relA string, b *backup.Result, relB string) bool {
	tb.Helper()
	fa, err := os.Stat(filepath.Join(a.Path, relA))
	if err != nil {
		tb.Fatal(err)
	}
	fb, err := os.Stat(filepath.Join(b.Path, relB))
	if err != nil {
		tb.Fatal(err)
	}
	return os.SameFile(fa, fb)
}

// TestSegments_Incremental follows a database through backups that link
// what did not change: tables by change stamp, audit_log segment by
// segment, on every engine, plain and encrypted (where the previous
// backup's link index says what its tables hold).
func TestSegments_Incremental(t *testing.T) {
	t.Cleanup(backup.SetSegmentKeys(1024)) // after the parallel subtests
	dbtest.Run(t, func(t *testing.T, engine string) {
		t.Run("Plain", func(t *testing.T) { testSegmentsIncremental(t, engine, nil, nil) })
		id := newIdentity(t)
		t.Run("Encrypted", func(t *testing.T) { testSegmentsIncremental(t, engine, toRecipients(id), format.NewKeys(id)) })
	})
}

// testSegmentsIncremental runs TestSegments_Incremental on engine, with
// backups encrypted with enc (nil: plain) and opened with idKeys.
func testSegmentsIncremental(t *testing.T, engine string, enc *format.EncryptOptions, idKeys *format.Keys) {
	ctx := context.Background()
	// Small ranges, so that few entries make several segments. The
	// subtests run in parallel, with the same value.
	const keys = 1024
	root := t.TempDir()
	d, dsn := backuptest.NewDataDirOn(t, filepath.Join(root, "data"), engine)
	backuptest.Seed(t, d)
	// Enough entries for two key ranges of audit_log.
	appendAudit(t, d.DB, keys+100)
	folder := filepath.Join(root, "backup")
	create := func() *backup.Result {
		t.Helper()
		res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: folder, OpenDB: backuptest.OpenDB(dsn), Encrypt: enc})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if res.Manifest.Encrypted() != (enc != nil) {
			t.Fatalf("backup encrypted: %v, want %v", res.Manifest.Encrypted(), enc != nil)
		}
		return res
	}
	b1 := create()
	audit := table(t, b1.Manifest, "audit_log")
	if len(audit.Segments) != 2 || *audit.Segments[0].Keys != [2]int64{0, keys - 1} ||
		audit.Segments[0].Rows != keys-1 || audit.Segments[1].First != keys {
		t.Fatalf("audit_log segments %+v, want [0, %d] with seq 1.. and the next range", audit.Segments, keys-1)
	}

	// Nothing changed: every file is linked, none written.
	b2 := create()
	if s := b2.Manifest.Stats; s.FilesWritten != 0 || s.FilesLinked != int64(len(b2.Manifest.Files)) {
		t.Fatalf("no-change backup stats %+v, want all %d files linked", s, len(b2.Manifest.Files))
	}
	for _, f := range b2.Manifest.Files {
		if !sameFile(t, b1, b2, f.Path) {
			t.Fatalf("%s is not linked from the previous backup", f.Path)
		}
	}

	// A day of use: entries appended, a user changed. The full first
	// audit range and the untouched tables are linked; the rest written.
	appendAudit(t, d.DB, 10)
	if _, err := d.DB.Write.ExecContext(ctx, d.DB.Dialect.Rebind(`UPDATE users SET email = ? WHERE username = ?`), "new@example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	b3 := create()
	a3 := table(t, b3.Manifest, "audit_log")
	if !sameFile(t, b2, b3, a3.Segments[0].File) || sameFile(t, b2, b3, a3.Segments[1].File) {
		t.Fatal("after appends, want the first audit segment linked and the second written")
	}
	if a3.Segments[1].Rows != audit.Segments[1].Rows+10 || a3.Rows != audit.Rows+10 {
		t.Fatalf("audit_log after appends: %+v", a3)
	}
	users := table(t, b3.Manifest, "users").Segments[0].File
	policies := table(t, b3.Manifest, "policies").Segments[0].File
	if sameFile(t, b2, b3, users) || !sameFile(t, b2, b3, policies) {
		t.Fatal("want users written (changed) and policies linked (unchanged)")
	}
	if _, err := backup.Verify(ctx, b3.Path, backup.VerifyOptions{Keys: idKeys}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// What was linked and what was written make one snapshot.
	restored := filepath.Join(root, "restored")
	mustRestore(t, b3.Path, restored, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: d.Dir.Key(), Keys: idKeys})
	r := backuptest.Open(t, restored)
	defer r.Close()
	got, want := backuptest.Dump(t, r.DB), backuptest.Dump(t, d.DB)
	for name, rows := range want {
		switch name {
		case "audit_log", "meta": // the restore's own entry; restore facts
			if !isSubset(rows, got[name]) || len(got[name]) > len(rows)+1 && name == "audit_log" {
				t.Errorf("%s: restored rows are not the live ones (+ the restore's entry)", name)
			}
		default:
			if !slices.Equal(got[name], rows) {
				t.Errorf("table %s differs after restore", name)
			}
		}
	}

	// Rewriting an audit entry (no service does) replaces the stamp:
	// no audit segment is linked.
	if _, err := d.DB.Write.ExecContext(ctx, `UPDATE audit_log SET detail = 'rewritten' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	b4 := create()
	for _, s := range table(t, b4.Manifest, "audit_log").Segments {
		if sameFile(t, b3, b4, s.File) {
			t.Fatalf("%s linked after an UPDATE of audit_log", s.File)
		}
	}
	if !sameFile(t, b3, b4, policies) {
		t.Fatal("policies not linked")
	}
}

// TestSegments_EmptyTablesLinked: a new installation's empty tables,
// those split by key included (their one segment has no key range), are
// linked by the next backup like any unchanged table.
func TestSegments_EmptyTablesLinked(t *testing.T) {
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	folder := filepath.Join(root, "backup")
	b1 := mustCreate(t, d.Dir.Path(), folder, nil)
	empty := 0
	for _, tb := range b1.Manifest.Tables {
		cols := make([]store.Column, len(tb.Columns))
		for i, c := range tb.Columns {
			cols[i] = store.Column(c)
		}
		if _, split := (store.Table{Name: tb.Name, Columns: cols, PrimaryKey: tb.PrimaryKey}).IntegerKey(); split && tb.Rows == 0 {
			empty++
		}
	}
	if empty == 0 {
		t.Fatal("no empty table split by key in a new installation: the test proves nothing")
	}
	b2 := mustCreate(t, d.Dir.Path(), folder, nil)
	if s := b2.Manifest.Stats; s.FilesWritten != 0 || s.FilesLinked != int64(len(b2.Manifest.Files)) {
		t.Fatalf("no-change backup of a new installation: %+v, want all %d files linked", s, len(b2.Manifest.Files))
	}
}

// TestSegments_InsertBeforeFirst: an entry inserted below a segment's
// first key (no service does; appends leave the stamp alone) is seen.
func TestSegments_InsertBeforeFirst(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.data.DB.Write.ExecContext(ctx, `INSERT INTO audit_log (seq, at, action, prev_hash, hash) VALUES (0, '2025-01-01T00:00:00.000000000Z', 'x', '', '')`)
	if err != nil {
		t.Fatal(err)
	}
	r2 := mustCreate(t, f.data.Dir.Path(), f.folder, nil)
	a := table(t, r2.Manifest, "audit_log")
	if sameFile(t, f.res, r2, a.Segments[0].File) || a.Segments[0].First != 0 || a.Rows != table(t, f.res.Manifest, "audit_log").Rows+1 {
		t.Fatalf("audit_log %+v: want segment 0 written with seq 0", a.Segments)
	}
}

// TestSegments_ModifiedNotLinked: a previous backup's file modified after
// that backup was complete is written afresh, not linked.
func TestSegments_ModifiedNotLinked(t *testing.T) {
	f := newFixture(t)
	rel := table(t, f.res.Manifest, "policies").Segments[0].File
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(f.res.Path, rel), later, later); err != nil {
		t.Fatal(err)
	}
	r2 := mustCreate(t, f.data.Dir.Path(), f.folder, nil)
	if sameFile(t, f.res, r2, rel) {
		t.Fatalf("%s linked though modified after its backup", rel)
	}
	if !sameFile(t, f.res, r2, table(t, r2.Manifest, "users").Segments[0].File) {
		t.Fatal("users not linked")
	}
}

// TestSegments_NotAcrossDatabases: a backup of another database (here
// the restored copy, whose stamps are new) into the same folder links no
// table from it.
func TestSegments_NotAcrossDatabases(t *testing.T) {
	f := newFixture(t)
	other := filepath.Join(f.root, "copy")
	mustRestore(t, f.res.Path, other, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: f.data.Dir.Key(), AsCopy: true})
	r2 := mustCreate(t, other, f.folder, nil)
	for _, tb := range r2.Manifest.Tables {
		for _, s := range tb.Segments {
			if sameFile(t, f.res, r2, s.File) {
				t.Fatalf("%s linked from a backup of another database", s.File)
			}
		}
	}
}
