package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi/backup/format"
)

// Info is a backup found in a backup folder by [Folder.Backups].
type Info struct {
	Name     string           // directory name
	Path     string           // full path
	Manifest *format.Manifest // nil when Err is set
	// Err says why the directory is not a usable backup: its manifest is
	// missing, damaged or of a newer format. Only the manifest is
	// checked; [Verify] checks every file.
	Err error

	files     map[string]format.File // path -> file of the manifest, for linking
	completed time.Time              // manifest.json's mtime, for linking
}

// intact reports whether the file at path looks as the backup wrote it:
// a regular file of the size its manifest entry f says, not modified
// after the manifest, which is written last. Linking from the previous
// backup relies on it instead of reading the file again: backups never
// change once complete, and damage that leaves the metadata alone is
// what verify finds (a link shares the damaged file anyway).
func (in *Info) intact(path string, f format.File) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == f.Size && !fi.ModTime().After(in.completed)
}

// Backups returns the backups in the folder, oldest first: every
// directory named backup-*, with its manifest read and checked (Err set
// for a damaged one). Temporary directories of backups being written or
// interrupted are skipped. A missing folder has no backups. For every
// entry of the folder, newest first, with sizes and verification records,
// see [Folder.Entries].
func (f Folder) Backups() ([]Info, error) {
	folder := f.Path
	names, err := backupNames(folder)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	infos := make([]Info, 0, len(names))
	for _, name := range names {
		in := Info{Name: name, Path: filepath.Join(folder, name)}
		in.Manifest, in.Err = format.ReadManifest(in.Path)
		infos = append(infos, in)
	}
	return infos, nil
}

// backupNames returns the names of the backup-* directories of folder,
// oldest first (see nameLess); none for a missing folder.
func backupNames(folder string) ([]string, error) {
	entries, err := os.ReadDir(folder)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), Prefix) {
			names = append(names, e.Name())
		}
	}
	sort.Slice(names, func(i, j int) bool { return format.NameLess(names[i], names[j]) })
	return names, nil
}
