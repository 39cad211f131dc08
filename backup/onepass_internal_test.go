package backup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/sqlite"
)

// TestRestore_ReadsEachFileOnce counts the opens of the backup's files
// during a restore: each table and blob file is read once, checked as it
// is restored, but for the secrets table's, which the key check reads
// first (a few hundred bytes).
func TestRestore_ReadsEachFileOnce(t *testing.T) {
	root, src, res := seededBackup(t)
	opened := countOpens(t, res.Path)
	if _, err := Restore(context.Background(), RestoreOptions{Backup: res.Path, DataDir: filepath.Join(root, "data"), Local: sqlite.Local{}, KeyFile: src.Dir.Key()}); err != nil {
		t.Fatal(err)
	}
	blobs := 0
	for _, f := range res.Manifest.Files {
		want := 1
		if strings.HasPrefix(f.Path, "tables/secrets.") {
			want = 2
		}
		if f.Blob != "" {
			blobs++
		}
		if got := opened[f.Path]; got != want {
			t.Errorf("%s read %d times, want %d", f.Path, got, want)
		}
	}
	if blobs == 0 {
		t.Fatal("the backup has no blob file: the test checks nothing of blobs")
	}
}

// seededBackup returns a temporary root folder, a seeded data directory
// in it and a backup of it.
func seededBackup(t *testing.T) (root string, src *backuptest.DataDir, res *Result) {
	t.Helper()
	root = t.TempDir()
	src = backuptest.NewDataDir(t, filepath.Join(root, "src"))
	backuptest.Seed(t, src)
	res, err := Create(context.Background(), CreateOptions{Local: sqlite.Local{}, DataDir: src.Dir.Path(), Folder: filepath.Join(root, "backup")})
	if err != nil {
		t.Fatal(err)
	}
	return root, src, res
}

// countOpens counts, until the test ends, the opens of the files of the
// backup in dir through format.OpenFile, by slash path relative to dir.
// Read the map after the work whose opens it counts has returned.
func countOpens(t *testing.T, dir string) map[string]int {
	var mu sync.Mutex
	opened := map[string]int{}
	old := format.OpenFile
	t.Cleanup(func() { format.OpenFile = old })
	format.OpenFile = func(name string) (*os.File, error) {
		if rel, err := filepath.Rel(dir, name); err == nil && !strings.HasPrefix(rel, "..") {
			mu.Lock()
			opened[filepath.ToSlash(rel)]++
			mu.Unlock()
		}
		return os.Open(name)
	}
	return opened
}
