package backup

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bitnobi/bitnobi/internal/fsutil"
)

const (
	dirPerm  = 0o700
	filePerm = 0o600
)

// exists reports whether path exists (without following a final
// symbolic link).
func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// syncTree fsyncs every regular file and directory under root, children
// before parents.
func syncTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			dirs = append(dirs, p)
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			err = f.Sync()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := fsutil.SyncDir(dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// writeFileSync writes data to path (mode 0600) atomically, fsynced with
// its directory (see [fsutil.WriteFileAtomic]).
func writeFileSync(path string, data []byte) error {
	return fsutil.WriteFileAtomic(path, filePerm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
