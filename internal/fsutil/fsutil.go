// Package fsutil holds the small file-system helpers that durability rests
// on, shared by the blob store, the secret key file and the backup engine.
package fsutil

import (
	"fmt"
	"io"
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

// WriteFileAtomic writes the file at path through a temporary file in the
// same directory: write fills it, then it is given mode perm, fsynced,
// renamed over path and the directory fsynced. A crash or an error leaves
// path as it was (the temporary file is removed on error), never a part
// of the new content.
func WriteFileAtomic(path string, perm os.FileMode, write func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename, a no-op
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// WriteFileNew writes data to a new file at path with mode perm, failing
// if path exists, and fsyncs it (not its directory: the caller fsyncs
// that once for all the files it makes there).
func WriteFileNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
