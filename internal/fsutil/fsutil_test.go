package fsutil_test

import (
	"errors"
	"io/fs"
	"path/filepath"
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
