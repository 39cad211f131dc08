package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// holesBackup makes a seeded data directory and one backup of it, and
// returns the data directory, its key file and the backup's path.
func holesBackup(t *testing.T) (root, keyFile, bk string) {
	t.Helper()
	root = t.TempDir()
	src := backuptest.NewDataDir(t, filepath.Join(root, "src"))
	backuptest.Seed(t, src)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := Create(context.Background(), CreateOptions{Local: sqlite.Local{}, DataDir: src.Dir.Path(), Folder: filepath.Join(root, "backup")})
	if err != nil {
		t.Fatal(err)
	}
	return root, src.Dir.Key(), res.Path
}

// TestDiscardPreviousKilled checks that --discard-previous renames the
// previous state to a .deleting-* name before deleting it, so that a kill
// mid-deletion leaves no partial state under a kept state's name, and
// that the next restore, or the recovery serve and backup run, finishes
// the deletion.
func TestDiscardPreviousKilled(t *testing.T) {
	root, keyFile, bk := holesBackup(t)
	for _, tt := range []struct {
		name   string
		finish func(dataDir string) error
	}{
		{"NextRestore", func(dataDir string) error {
			_, err := Restore(context.Background(), RestoreOptions{Backup: bk, DataDir: dataDir, Local: sqlite.Local{}, KeyFile: keyFile})
			return err
		}},
		{"Recovery", RecoverInterruptedRestore},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(root, tt.name)
			if _, err := Restore(context.Background(), RestoreOptions{Backup: bk, DataDir: dataDir, Local: sqlite.Local{}, KeyFile: keyFile}); err != nil {
				t.Fatal(err)
			}
			// Stop the deletion half-way, as a kill would: remove one file
			// of the doomed state and leave the rest.
			var doomed string
			discardHook = func(d string) {
				doomed = d
				if err := os.Remove(filepath.Join(d, "bitnobi.db")); err != nil {
					t.Error(err)
				}
				panic(errCrash)
			}
			func() {
				defer func() {
					if r := recover(); r != errCrash {
						t.Fatalf("recovered %v, want the simulated crash", r)
					}
				}()
				Restore(context.Background(), RestoreOptions{Backup: bk, DataDir: dataDir, Local: sqlite.Local{}, KeyFile: keyFile, DiscardPrevious: true})
			}()
			discardHook = nil
			if !strings.HasPrefix(filepath.Base(doomed), filepath.Base(dataDir)+".deleting-") {
				t.Fatalf("previous state deleted as %s, want a %s.deleting-* name", doomed, filepath.Base(dataDir))
			}
			if m, _ := filepath.Glob(dataDir + ".before-restore-*"); len(m) != 0 {
				t.Fatalf("partly deleted state left under a kept state's name: %v", m)
			}
			if err := tt.finish(dataDir); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(doomed); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s still there after %s: %v", doomed, tt.name, err)
			}
		})
	}
}

// TestRefusedRestoreLeavesNoLock checks that a restore refused for a
// missing or wrong master key leaves an existing empty directory empty:
// no bitnobi.lock.
func TestRefusedRestoreLeavesNoLock(t *testing.T) {
	root, _, bk := holesBackup(t)
	wrong := filepath.Join(root, "wrong.key")
	if _, _, err := secret.LoadOrCreateKeyFile(wrong); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		keyFile string
		want    error
	}{
		{"ErrKeyMissing", filepath.Join(root, "missing.key"), ErrKeyMissing},
		{"ErrKeyMismatch", wrong, ErrKeyMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(root, "empty-"+tt.name)
			if err := os.Mkdir(dataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			_, err := Restore(context.Background(), RestoreOptions{Backup: bk, DataDir: dataDir, Local: sqlite.Local{}, KeyFile: tt.keyFile})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Restore: %v, want %v", err, tt.want)
			}
			entries, err := os.ReadDir(dataDir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 0 {
				t.Fatalf("refused restore left %s in the empty directory", entries[0].Name())
			}
		})
	}
}

// TestRestoreFailsInterruptedRuns checks that a workflow run in progress
// when the backup was taken comes back from the restore as failed, with
// an error saying it was interrupted, not "running" for ever.
func TestRestoreFailsInterruptedRuns(t *testing.T) {
	root := t.TempDir()
	src := backuptest.NewDataDir(t, filepath.Join(root, "src"))
	backuptest.Seed(t, src)
	ctx := context.Background()
	if err := src.DB.WriteTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO workflow_runs (id, workflow_id, started_by, status, started_at) VALUES ('run-live', 'wf-1', 'u-alice', 'running', '2026-01-01T00:00:00Z')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	res, err := Create(ctx, CreateOptions{Local: sqlite.Local{}, DataDir: src.Dir.Path(), Folder: filepath.Join(root, "backup")})
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(root, "restored")
	if _, err := Restore(ctx, RestoreOptions{Backup: res.Path, DataDir: dataDir, Local: sqlite.Local{}, KeyFile: src.Dir.Key()}); err != nil {
		t.Fatal(err)
	}
	d := backuptest.Open(t, dataDir)
	defer d.Close()
	var status, msg string
	if err := d.DB.Read.QueryRow(`SELECT status, error FROM workflow_runs WHERE id = 'run-live'`).Scan(&status, &msg); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || msg != store.InterruptedRunError {
		t.Fatalf("restored run: status %q, error %q; want failed, %q", status, msg, store.InterruptedRunError)
	}
}
