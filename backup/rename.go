package backup

import (
	"io/fs"
	"os"
)

// renameCheck renames oldpath to newpath after checking that newpath does
// not exist.
func renameCheck(oldpath, newpath string) error {
	if ok, err := exists(newpath); err != nil {
		return err
	} else if ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	}
	return os.Rename(oldpath, newpath)
}
