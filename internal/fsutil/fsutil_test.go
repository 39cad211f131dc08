package fsutil_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/internal/fsutil"
)

func TestSyncDir(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		if err := fsutil.SyncDir(t.TempDir()); err != nil {
			t.Fatalf("SyncDir() = %v", err)
		}
	})
	t.Run("ErrNotExist", func(t *testing.T) {
		err := fsutil.SyncDir(filepath.Join(t.TempDir(), "missing"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("SyncDir(missing) = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestSyncDirs(t *testing.T) {
	var dirs []string
	for range 100 {
		dirs = append(dirs, t.TempDir())
	}
	if err := fsutil.SyncDirs(dirs); err != nil {
		t.Fatalf("SyncDirs() = %v", err)
	}
	if err := fsutil.SyncDirs(nil); err != nil {
		t.Fatalf("SyncDirs(nil) = %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	err := fsutil.SyncDirs(append(dirs, missing))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("SyncDirs(with a missing one) = %v, want fs.ErrNotExist naming it", err)
	}
}
