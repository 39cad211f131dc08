// Package fsutil holds the small file-system helpers that durability rests
// on, shared by the blob store, the secret key file and the backup engine.
package fsutil

import (
	"os"
	"runtime"
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
