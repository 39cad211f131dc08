package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/store"
)

// betweenRenames leaves dataDir as a restore killed between its two
// renames leaves it: the old state moved to a .before-restore-* name, the
// restored state in the staging directory, the journal beside them, and
// no data directory.
func betweenRenames(t *testing.T, dataDir, bk string) (previous string) {
	t.Helper()
	previous = dataDir + ".before-restore-20260101_000000"
	staging := dataDir + ".restore-staging"
	if code, out, errOut := runMain(t, nil, "restore", bk, "--data-dir", staging, "--key-file", filepath.Join(dataDir, "master.key")); code != ExitOK {
		t.Fatalf("restore into staging: exit %d\n%s\n%s", code, out, errOut)
	}
	if err := os.Rename(dataDir, previous); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(map[string]any{"version": 1, "data_dir": dataDir, "staging": staging,
		"previous": previous, "backup": filepath.Base(bk), "started": time.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dataDir+".restore-journal", j, 0o600); err != nil {
		t.Fatal(err)
	}
	return previous
}

// TestFinishInterruptedRestore checks that backup and audit verify finish
// a restore killed between its two renames (no data directory, a journal)
// instead of failing with "no Bitnobi database".
func TestFinishInterruptedRestore(t *testing.T) {
	for _, cmd := range [][]string{{"backup"}, {"audit", "verify"}} {
		t.Run(cmd[0], func(t *testing.T) {
			_, dataDir := seededDataDir(t)
			bk := mustBackup(t, dataDir)
			betweenRenames(t, dataDir, bk)
			code, out, errOut := runMain(t, nil, append(cmd, "--data-dir", dataDir)...)
			if code != ExitOK {
				t.Fatalf("%v: exit %d, want 0\nstdout: %s\nstderr: %s", cmd, code, out, errOut)
			}
			if _, err := os.Stat(filepath.Join(dataDir, "bitnobi.db")); err != nil {
				t.Fatalf("after %v: %v; want the restored state switched in", cmd, err)
			}
			if _, err := os.Stat(dataDir + ".restore-journal"); !os.IsNotExist(err) {
				t.Fatalf("journal still there after %v: %v", cmd, err)
			}
		})
	}
}

// exportArchive backs dataDir up and exports the backup to a .tar.zst
// beside it, returning the archive's path.
func exportArchive(t *testing.T, root, dataDir string) string {
	t.Helper()
	bk := mustBackup(t, dataDir)
	archive := filepath.Join(root, "b.tar.zst")
	if code, out, errOut := runMain(t, nil, "backups", "export", "--data-dir", dataDir, filepath.Base(bk), archive); code != ExitOK {
		t.Fatalf("export: exit %d\n%s\n%s", code, out, errOut)
	}
	return archive
}

// TestStaleRestoreArchives checks that the DATA_DIR.restore-archive-*
// directories killed restores leave are removed by the next restore and
// by the recovery backup runs, and that one a running restore holds is
// left alone.
func TestStaleRestoreArchives(t *testing.T) {
	root, dataDir := seededDataDir(t)
	archive := exportArchive(t, root, dataDir)
	key := filepath.Join(dataDir, "master.key")
	for _, tt := range []struct {
		name string
		run  func(target string) []string
	}{
		{"Restore", func(target string) []string {
			return []string{"restore", archive, "--data-dir", target, "--key-file", key}
		}},
		{"Backup", func(string) []string { return []string{"backup", "--data-dir", dataDir} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := filepath.Join(root, "t-"+tt.name, "bitnobi-data")
			if tt.name == "Backup" {
				target = dataDir
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				t.Fatal(err)
			}
			stale := target + ".restore-archive-111"
			live := target + ".restore-archive-222"
			for _, d := range []string{filepath.Join(stale, "unpack-1", "tables"), filepath.Join(live, "unpack-1")} {
				if err := os.MkdirAll(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(stale, "unpack-1", "tables", "users.0.jsonl.zst"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			held, err := lockfile.Acquire(filepath.Join(live, unpackLockName), "test: a running restore")
			if err != nil {
				t.Fatal(err)
			}
			defer held.Release()
			if code, out, errOut := runMain(t, nil, tt.run(target)...); code != ExitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("stale %s still there: %v", stale, err)
			}
			if _, err := os.Stat(live); err != nil {
				t.Fatalf("the running restore's %s was removed: %v", live, err)
			}
		})
	}
}

// TestRestoreArchiveChecksLockFirst checks that restoring an archive into
// a data directory a server holds is refused (exit 3) before anything is
// unpacked beside it.
func TestRestoreArchiveChecksLockFirst(t *testing.T) {
	root, dataDir := seededDataDir(t)
	archive := exportArchive(t, root, dataDir)
	held, err := lockfile.Acquire(datadir.Dir(dataDir).Lock(), "serve")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	var unpacked []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // watch for an unpack directory, however briefly it lives
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if m, _ := filepath.Glob(dataDir + ".restore-archive-*"); len(m) > 0 {
				unpacked = m
			}
			time.Sleep(time.Millisecond)
		}
	}()
	code, out, errOut := runMain(t, nil, "restore", archive, "--data-dir", dataDir)
	close(stop)
	<-done
	if code != ExitLocked {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitLocked, out, errOut)
	}
	if unpacked != nil {
		t.Fatalf("unpacked %v before noticing the lock", unpacked)
	}
}

// TestServeFailsInterruptedRuns checks that serve, on start-up, marks a
// run left "running" by a server that was killed as failed, interrupted.
func TestServeFailsInterruptedRuns(t *testing.T) {
	_, dataDir := seededDataDir(t)
	d := backuptest.Open(t, dataDir)
	ctx := context.Background()
	if err := d.DB.WriteTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO workflow_runs (id, workflow_id, started_by, status, started_at) VALUES ('run-live',
			(SELECT id FROM workflows WHERE name = 'Count by org'), (SELECT id FROM users WHERE username = 'alice'), 'running', '2026-01-01T00:00:00Z')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	startServer(t, dataDir, nil).Stop(t)
	d = backuptest.Open(t, dataDir)
	defer d.Close()
	var status, msg string
	if err := d.DB.Read.QueryRow(`SELECT status, error FROM workflow_runs WHERE id = 'run-live'`).Scan(&status, &msg); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || msg != store.InterruptedRunError {
		t.Fatalf("run after serve started: status %q, error %q; want failed, %q", status, msg, store.InterruptedRunError)
	}
}

// TestLoosePassphraseFileWarns checks that a passphrase file readable by
// others is used, with a warning on stderr (as ssh warns of a key), for
// backup and for restore, and that a 0600 one gets no warning.
func TestLoosePassphraseFileWarns(t *testing.T) {
	root, dataDir := seededDataDir(t)
	pass := filepath.Join(root, "passphrase.txt")
	for _, tt := range []struct {
		name string
		mode os.FileMode
		warn bool
	}{
		{"Private", 0o600, false},
		{"Loose", 0o644, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(pass, []byte("a long passphrase\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(pass, tt.mode); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runMain(t, nil, "backup", "--data-dir", dataDir, "--encrypt", "--passphrase-file", pass, "--quiet")
			if code != ExitOK {
				t.Fatalf("backup: exit %d\n%s\n%s", code, out, errOut)
			}
			if got := strings.Contains(errOut, "Warning: passphrase file "+pass) && strings.Contains(errOut, "chmod 600"); got != tt.warn {
				t.Fatalf("backup stderr %q: warning %v, want %v", errOut, got, tt.warn)
			}
			code, _, errOut = runMain(t, nil, "restore", testutil.LastLine(out), "--data-dir", filepath.Join(root, "r-"+tt.name), "--passphrase-file", pass, "--quiet")
			if code != ExitOK {
				t.Fatalf("restore: exit %d\n%s", code, errOut)
			}
			if got := strings.Contains(errOut, "Warning: passphrase file "+pass); got != tt.warn {
				t.Fatalf("restore stderr %q: warning %v, want %v", errOut, got, tt.warn)
			}
		})
	}
}
