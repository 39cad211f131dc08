package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/internal/lockfile"
)

func TestBackupsDelete(t *testing.T) {
	root, dataDir := seededDataDir(t)
	first := mustBackup(t, dataDir)
	second := mustBackup(t, dataDir)
	folder := filepath.Join(root, "backup")
	if code, out, errOut := runMain(t, nil, "backups", "verify", "--backup-dir", folder, filepath.Base(first)); code != ExitOK {
		t.Fatalf("verify exit %d\n%s\n%s", code, out, errOut)
	}

	t.Run("ErrNotABackup", func(t *testing.T) {
		for _, arg := range []string{"backup-20200101_0000", "../backup", first} {
			if code, _, errOut := runMain(t, nil, "backups", "delete", "--backup-dir", folder, arg); code != ExitUsage {
				t.Errorf("delete %q: exit %d, want %d\n%s", arg, code, ExitUsage, errOut)
			}
		}
	})
	t.Run("ErrLocked", func(t *testing.T) {
		l, err := lockfile.Acquire(filepath.Join(folder, ".lock"), "backup")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release()
		if code, _, errOut := runMain(t, nil, "backups", "delete", "--backup-dir", folder, filepath.Base(first)); code != ExitLocked {
			t.Fatalf("delete while locked: exit %d, want %d\n%s", code, ExitLocked, errOut)
		}
	})
	t.Run("OK", func(t *testing.T) {
		if code, _, errOut := runMain(t, nil, "backups", "delete", "--backup-dir", folder, filepath.Base(first)); code != ExitOK {
			t.Fatalf("delete exit %d\n%s", code, errOut)
		}
		if _, err := os.Stat(first); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still there: %v", first, err)
		}
		if _, err := os.Stat(filepath.Join(folder, backup.VerifiedDir, filepath.Base(first)+".json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("verification record of %s still there: %v", first, err)
		}
		// The other backup shares blob files with the deleted one through
		// hard links: it must still verify.
		if code, out, errOut := runMain(t, nil, "backups", "verify", "--backup-dir", folder, filepath.Base(second)); code != ExitOK {
			t.Fatalf("verify %s after delete: exit %d\n%s\n%s", second, code, out, errOut)
		}
		entries, _ := os.ReadDir(folder)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".tmp-") {
				t.Errorf("left %s behind", e.Name())
			}
		}
	})
}

// TestProgressLines: with BITNOBI_PROGRESS=lines a backup reports its
// progress as lines on stderr (not a terminal here), which the backups
// page shows live.
func TestProgressLines(t *testing.T) {
	_, dataDir := seededDataDir(t)
	code, out, errOut := runMain(t, map[string]string{EnvProgress: "lines"}, "backup", "--data-dir", dataDir)
	if code != ExitOK {
		t.Fatalf("backup exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "progress: tables") || !strings.Contains(errOut, "progress: blobs") {
		t.Fatalf("stderr has no progress lines for tables and blobs:\n%s", errOut)
	}
	if strings.Contains(errOut, "\r") {
		t.Errorf("progress lines hold a carriage return:\n%q", errOut)
	}
	_, _, errOut = runMain(t, nil, "backup", "--data-dir", dataDir)
	if strings.Contains(errOut, "progress:") {
		t.Errorf("progress lines without %s:\n%s", EnvProgress, errOut)
	}
}
