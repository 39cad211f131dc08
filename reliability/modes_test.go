package reliability_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/internal/testutil"
)

// TestModes checks that nothing a backup or a restore writes, temporary
// files and the previous state included, is readable by anyone but the
// owner, even with a permissive umask: it watches the tree while they run
// and walks it afterwards.
func TestModes(t *testing.T) {
	old := syscall.Umask(0o002) // children inherit it: a lax but usual umask
	defer syscall.Umask(old)
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	data, folder := filepath.Join(root, "data"), filepath.Join(root, "backups")
	seedDataDir(t, data, 8, "marker-live", "")

	var mu sync.Mutex
	bad := map[string]fs.FileMode{}
	walk := func() {
		filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if err != nil || p == root {
				return nil // files come and go while watching
			}
			fi, err := de.Info()
			if err != nil {
				return nil
			}
			if fi.Mode()&fs.ModeSymlink == 0 && fi.Mode().Perm()&0o077 != 0 {
				mu.Lock()
				bad[strings.TrimPrefix(p, root)] = fi.Mode()
				mu.Unlock()
			}
			return nil
		})
	}
	watching := func(f func()) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				walk()
				time.Sleep(time.Millisecond)
			}
		}()
		f()
		close(stop)
		wg.Wait()
	}
	var b string
	watching(func() {
		b = testutil.LastLine(mustRun(t, "backup", "--quiet", "--data-dir", data, "--backup-dir", folder).Stdout)
	})
	watching(func() {
		mustRun(t, "restore", b, "--quiet", "--data-dir", data) // in place: keeps the previous state
	})
	watching(func() {
		mustRun(t, "restore", b, "--quiet", "--data-dir", filepath.Join(root, "new", "data"), "--key-file", filepath.Join(data, "master.key"))
	})
	watching(func() {
		mustRun(t, "backups", "export", "--backup-dir", folder, b, filepath.Join(root, "archive.tar.zst"))
	})
	walk()
	if len(entries(t, root, "data.before-restore-")) != 1 {
		t.Fatalf("no previous state kept: %v", entries(t, root, ""))
	}
	for p, m := range bad {
		t.Errorf("%s has mode %v: readable by others", p, m)
	}
	record(t, "file modes (umask 002, backup, restore in place and into a new directory, export)", 1, "every file 0600 and directory 0700 (watched while running, and afterwards)")
}
