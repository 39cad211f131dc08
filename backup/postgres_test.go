package backup_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
	"github.com/google/go-cmp/cmp"
)

// TestRestore_PostgresInPlace restores a backup into the PostgreSQL
// database it was taken from, after changes: the new state is exactly the
// backup's (plus the restore's own record), the previous one is kept in
// schema bitnobi_before_restore_<time> unless DiscardPrevious, and no
// staging schema is left behind.
func TestRestore_PostgresInPlace(t *testing.T) {
	for _, discard := range []bool{false, true} {
		t.Run(map[bool]string{false: "KeepPrevious", true: "DiscardPrevious"}[discard], func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			root := t.TempDir()
			d, dsn := backuptest.NewDataDirOn(t, filepath.Join(root, "data"), dbtest.Postgres)
			backuptest.Seed(t, d)
			want := backuptest.Dump(t, d.DB)
			res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(root, "backup"), OpenDB: backuptest.OpenDB(dsn)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Manifest.Engine != "postgres" {
				t.Fatalf("manifest engine %q, want postgres", res.Manifest.Engine)
			}
			// Changes after the backup, which the restore undoes.
			if err := d.DB.WriteTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, `DELETE FROM policies WHERE id = 'p-acme'`); err != nil {
					return err
				}
				return tx.SetMeta(ctx, "after_backup", "yes")
			}); err != nil {
				t.Fatal(err)
			}
			changed := backuptest.Dump(t, d.DB)

			// A server on the database: refused, naming its session.
			held, err := postgres.OpenNoMigrate(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			release, err := postgres.AcquireLock(ctx, held.Write)
			if err != nil {
				t.Fatal(err)
			}
			_, err = backup.Restore(ctx, backup.RestoreOptions{Backup: res.Path, DataDir: d.Dir.Path(), Local: sqlite.Local{}, Target: &postgres.RestoreTarget{DSN: dsn}})
			var locked *postgres.LockedError
			if !errors.As(err, &locked) || locked.PID == 0 {
				t.Fatalf("restore beside a server: %v, want a *postgres.LockedError naming its pid", err)
			}
			release()
			held.Close()
			d.Close()

			at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
			now := func() time.Time { return at }
			rres := mustRestore(t, res.Path, d.Dir.Path(), backup.RestoreOptions{
				Local:  sqlite.Local{},
				Target: &postgres.RestoreTarget{DSN: dsn, Now: now}, DiscardPrevious: discard, Now: now,
			})
			r := backuptest.OpenOn(t, d.Dir.Path(), dsn)
			got := backuptest.Dump(t, r.DB)
			verifyAudit(t, r.DB)
			if action, _, _ := lastAudit(t, r.DB); action != "system.restore" {
				t.Fatalf("last audit entry %s, want system.restore", action)
			}
			// Take out the restore's record: the rest is the backup's state.
			if n := len(got["audit_log"]); n != len(want["audit_log"])+1 {
				t.Fatalf("%d audit entries after the restore, want %d + 1", n, len(want["audit_log"]))
			}
			got["audit_log"] = slices.DeleteFunc(got["audit_log"], func(row string) bool { return !slices.Contains(want["audit_log"], row) })
			got["meta"] = slices.DeleteFunc(got["meta"], func(row string) bool { return !slices.Contains(want["meta"], row) })
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("restored state differs from the backup's (-backup +restored):\n%s", diff)
			}

			schemas := func(prefix string) []string {
				var out []string
				rows, err := r.DB.Read.QueryContext(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY 1`, prefix)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				for rows.Next() {
					var s string
					rows.Scan(&s)
					out = append(out, s)
				}
				return out
			}
			if s := schemas(postgres.RestoreSchemaPrefix); len(s) != 0 {
				t.Fatalf("staging schemas left behind: %v", s)
			}
			prev := postgres.PreviousSchemaPrefix + "20250304_050607"
			if discard {
				if s := schemas(postgres.PreviousSchemaPrefix); len(s) != 0 || rres.Previous != "" {
					t.Fatalf("previous schemas %v (Previous %q) with DiscardPrevious", s, rres.Previous)
				}
				return
			}
			if rres.Previous != prev {
				t.Fatalf("Previous=%q, want %s", rres.Previous, prev)
			}
			old, err := postgres.OpenWith(ctx, dsn, postgres.Options{Schema: prev})
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			if diff := cmp.Diff(changed, backuptest.Dump(t, old)); diff != "" {
				t.Fatalf("the previous schema is not the state before the restore (-before +kept):\n%s", diff)
			}
		})
	}
}

// TestRestore_PostgresInterrupted cancels a restore into PostgreSQL while
// it loads, and checks that it returns an *InterruptedError and changed
// nothing but add blobs: the database holds its state, no staging schema
// is left, and the data directory, which had no master key, got none.
func TestRestore_PostgresInterrupted(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, dsn := backuptest.NewDataDirOn(t, filepath.Join(root, "data"), dbtest.Postgres)
	backuptest.Seed(t, d)
	res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(root, "backup"), OpenDB: backuptest.OpenDB(dsn)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.DB.WriteTx(ctx, func(tx *store.Tx) error { return tx.SetMeta(ctx, "after_backup", "yes") }); err != nil {
		t.Fatal(err)
	}
	before := backuptest.Dump(t, d.DB)
	d.Close()

	target := filepath.Join(root, "new") // blobs and the key would go here
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, err = backup.Restore(cctx, backup.RestoreOptions{
		Backup:  res.Path,
		DataDir: target,
		Local:   sqlite.Local{},
		Target:  &postgres.RestoreTarget{DSN: dsn},
		KeyFile: d.Dir.Key(),
		Progress: func(p backup.Progress) {
			if p.Phase == "load" && p.Items > 0 {
				cancel()
			}
		},
	})
	var ie *backup.InterruptedError
	if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Restore err=%v, want an *InterruptedError matching context.Canceled", err)
	}
	r := backuptest.OpenOn(t, d.Dir.Path(), dsn)
	if diff := cmp.Diff(before, backuptest.Dump(t, r.DB)); diff != "" {
		t.Fatalf("an interrupted restore changed the database (-before +after):\n%s", diff)
	}
	var staged int
	if err := r.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_namespace WHERE starts_with(nspname, $1)`, postgres.RestoreSchemaPrefix).Scan(&staged); err != nil {
		t.Fatal(err)
	}
	if staged != 0 {
		t.Fatalf("%d staging schemas left behind", staged)
	}
	if _, err := os.Stat(filepath.Join(target, "master.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an interrupted restore installed the master key (stat err=%v)", err)
	}
}
