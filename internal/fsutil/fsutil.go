// Package fsutil holds the small file-system helpers that durability rests
// on, shared by the blob store, the secret key file and the backup engine.
package fsutil

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// SyncDir fsyncs a directory, so that the entries created, renamed or
// removed in it survive a power loss. On Windows, where a directory cannot
// be opened for syncing, it does nothing.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDirs fsyncs every directory of dirs, several at a time: each fsync
// mostly waits for the file system's journal, and fsyncs issued together
// share a commit, so a backup's hundreds of blob shard directories take
// about as long as a few. It returns the first error, naming its
// directory.
func SyncDirs(dirs []string) error {
	const parallel = 32
	sem := make(chan struct{}, parallel)
	errs := make(chan error, len(dirs))
	for _, d := range dirs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			if err := SyncDir(d); err != nil {
				errs <- fmt.Errorf("sync directory %s: %w", d, err)
			}
		}()
	}
	for range parallel {
		sem <- struct{}{}
	}
	close(errs)
	return <-errs
}

// Within reports whether path is dir or inside it, lexically: both should
// be absolute and clean. It is the one containment check of backup
// folders, data directories and backups against each other.
func Within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
