package backup

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/lockfile"
)

// Kinds of entry in a backup folder, as [Folder.Entries] classifies them.
const (
	// KindBackup is a complete backup: a backup-* directory whose
	// manifest reads and checks. Only [Verify] says whether its files do.
	KindBackup = "backup"
	// KindDamaged is a backup-* directory whose manifest is missing,
	// damaged or of a newer format: never taken for a backup.
	KindDamaged = "damaged"
	// KindIncomplete is the temporary directory (.tmp-backup-*) of a
	// backup, import or prune that is running or was interrupted; the next
	// backup or prune removes it.
	KindIncomplete = "incomplete"
	// KindForeign is anything else: bitnobi neither reads nor removes it.
	KindForeign = "foreign"
)

// VerifiedDir is the directory of a backup folder that keeps the outcome
// of the last verification of each backup, as <name>.json (see
// [Verification]). It is outside the backups, which never change once
// written.
const VerifiedDir = ".verified"

// LockName is the backup folder's lock file, which a backup, prune or
// import holds while it changes the folder.
const LockName = ".lock"

// Folder is a backup folder: the directory whose backup-* directories
// ([Prefix], [Name]) are backups, with its lock ([LockName]), which a
// backup, prune or import holds while it changes the folder, and the
// verification records ([VerifiedDir]). It is the one handle on a folder
// for reading it: its backups, its entries, the newest backup, the
// records. [Create], [Prune] and [Import] change a folder, under its lock.
type Folder struct {
	// Path is the folder's path, absolute when made by [OpenFolder].
	Path string
}

// OpenFolder returns the backup folder at path, made absolute. The folder
// need not exist: a missing folder has no backups.
func OpenFolder(path string) (Folder, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Folder{}, fmt.Errorf("backup folder: %w", err)
	}
	return Folder{Path: abs}, nil
}

// Backup returns the path of the backup called name in the folder.
func (f Folder) Backup(name string) string { return filepath.Join(f.Path, name) }

// Lock takes the folder's lock, as a backup, prune or import does,
// waiting up to wait while another holds it (0: failing at once with an
// error matching [lockfile.ErrLocked]).
func (f Folder) Lock(ctx context.Context, wait time.Duration) (*lockfile.Lock, error) {
	return lockFolder(ctx, f.Path, wait)
}

// FolderEntry is one entry of a backup folder, as [Folder.Entries] found
// it.
type FolderEntry struct {
	Name string // file or directory name
	Path string // full path
	Kind string // KindBackup, KindDamaged, KindIncomplete or KindForeign
	// Manifest is the backup's manifest, for KindBackup.
	Manifest *format.Manifest
	// Err says why a KindDamaged directory is not a backup.
	Err error
	// Files and Size count the regular files beneath the entry (the
	// manifest included) and their bytes on disk.
	Files int64
	Size  int64
	// Unique is how many of those bytes no other backup of the folder
	// shares: a file's bytes are shared when it has more than one hard
	// link and another backup-* directory of the folder holds the same
	// file. Removing the backup frees about this much. Where hard links
	// cannot be told apart, Unique equals Size.
	Unique int64
	// Encrypted reports whether the backup's content is encrypted.
	Encrypted bool
	// Verification is the outcome of the last "backups verify" of this
	// very backup (same manifest checksum), or nil.
	Verification *Verification
}

// Time returns when the entry's backup was made: the manifest's time, or
// for a damaged backup the time in its name, or else the zero time.
func (e *FolderEntry) Time() time.Time {
	if e.Manifest != nil {
		return e.Manifest.CreatedAt
	}
	base, _ := format.SplitName(e.Name)
	t, err := time.Parse("backup-20060102_1504", base)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Entries lists everything in the folder: the complete backups and the
// damaged ones, newest first, then the incomplete (temporary) directories
// and foreign entries by name. It reads each backup's manifest and the
// verification records, and stats every file to count sizes and hard
// links; it reads no file's content but manifests. The folder's own lock
// file and [VerifiedDir] are not listed. A missing folder has no entries.
func (f Folder) Entries() ([]FolderEntry, error) {
	folder := f.Path
	dirents, err := os.ReadDir(folder)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("scan backup folder: %w", err)
	}
	var entries []FolderEntry
	for _, d := range dirents {
		name := d.Name()
		if name == LockName || name == VerifiedDir {
			continue
		}
		e := FolderEntry{Name: name, Path: filepath.Join(folder, name)}
		switch {
		case IsTemp(name):
			e.Kind = KindIncomplete
		case strings.HasPrefix(name, Prefix) && d.IsDir():
			e.Manifest, e.Err = format.ReadManifest(e.Path)
			if e.Err != nil {
				e.Kind, e.Manifest = KindDamaged, nil
			} else {
				e.Kind = KindBackup
				e.Encrypted = e.Manifest.Encrypted()
				if v, err := f.Verification(name); err == nil && v != nil && v.ManifestChecksum == e.Manifest.ManifestChecksum {
					e.Verification = v
				}
			}
		default:
			e.Kind = KindForeign
		}
		entries = append(entries, e)
	}
	if err := measure(entries); err != nil {
		return nil, fmt.Errorf("scan backup folder: %w", err)
	}
	rank := func(k string) int {
		if k == KindBackup || k == KindDamaged {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(entries, func(a, b FolderEntry) int {
		if c := cmp.Compare(rank(a.Kind), rank(b.Kind)); c != 0 {
			return c
		}
		if rank(a.Kind) == 0 {
			if c := b.Time().Compare(a.Time()); c != 0 {
				return c
			}
			switch {
			case format.NameLess(a.Name, b.Name):
				return 1
			case format.NameLess(b.Name, a.Name):
				return -1
			}
			return 0
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return entries, nil
}

// fileID identifies a file on one machine.
type fileID struct{ dev, ino uint64 }

// measure counts the files and bytes of every entry, and the bytes each
// backup shares with no other.
func measure(entries []FolderEntry) error {
	type file struct {
		id    fileID
		links uint64
		size  int64
		known bool
	}
	files := make([][]file, len(entries))
	holders := map[fileID]map[int]bool{} // which backups hold each linked file
	for i := range entries {
		e := &entries[i]
		isBackup := e.Kind == KindBackup || e.Kind == KindDamaged
		err := filepath.WalkDir(e.Path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed meanwhile (a prune, a finished backup)
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			} else if err != nil {
				return err
			}
			f := file{size: fi.Size()}
			f.id, f.links, f.known = fileLinks(fi)
			e.Files++
			e.Size += f.size
			if isBackup {
				files[i] = append(files[i], f)
				if f.known && f.links > 1 {
					if holders[f.id] == nil {
						holders[f.id] = map[int]bool{}
					}
					holders[f.id][i] = true
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !isBackup {
			e.Unique = e.Size
		}
	}
	for i, list := range files {
		for _, f := range list {
			if f.known && f.links > 1 && len(holders[f.id]) > 1 {
				continue // shared with another backup
			}
			entries[i].Unique += f.size
		}
	}
	return nil
}

// Verification is the outcome of one verification of a backup, kept in
// the backup folder as .verified/<name>.json by [Folder.RecordVerification].
type Verification struct {
	Backup string `json:"backup"`
	// ManifestChecksum identifies the backup verified, so that another
	// backup later given the same name does not inherit the outcome.
	ManifestChecksum string    `json:"manifest_checksum"`
	At               time.Time `json:"verified_at"`
	OK               bool      `json:"ok"`
	// Deep reports whether a trial restore was part of it
	// ([Verify] with Deep).
	Deep  bool   `json:"deep"`
	Error string `json:"error,omitempty"`
}

// verificationPath is where the outcome for the backup called name is kept.
func verificationPath(folder, name string) string {
	return filepath.Join(folder, VerifiedDir, name+".json")
}

// RecordVerification writes v as the latest outcome for backup v.Backup
// of the folder, atomically (a temporary file renamed into place), so a
// reader sees the old outcome or the new one.
func (f Folder) RecordVerification(v Verification) error {
	folder := f.Path
	if !strings.HasPrefix(v.Backup, Prefix) || strings.ContainsAny(v.Backup, `/\`) {
		return fmt.Errorf("record verification: %q is not a backup name", v.Backup)
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("record verification: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(folder, VerifiedDir), dirPerm); err != nil {
		return fmt.Errorf("record verification: %w", err)
	}
	if err := writeFileSync(verificationPath(folder, v.Backup), append(data, '\n')); err != nil {
		return fmt.Errorf("record verification: %w", err)
	}
	return nil
}

// Verification returns the latest recorded outcome for the backup called
// name in the folder, or nil if there is none.
func (f Folder) Verification(name string) (*Verification, error) {
	data, err := os.ReadFile(verificationPath(f.Path, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var v Verification
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("read verification of %s: %w", name, err)
	}
	return &v, nil
}

// removeVerification removes the recorded outcome for the backup called
// name, if any.
func removeVerification(folder, name string) error {
	err := os.Remove(verificationPath(folder, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// removeOrphanVerifications removes the recorded outcomes of backups that
// are no longer in folder, and returns their names.
func removeOrphanVerifications(folder string) ([]string, error) {
	dirents, err := os.ReadDir(filepath.Join(folder, VerifiedDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var removed []string
	for _, d := range dirents {
		name, ok := strings.CutSuffix(d.Name(), ".json")
		if !ok || !strings.HasPrefix(name, Prefix) {
			continue // a temporary file of RecordVerification, or not ours
		}
		if ok, err := exists(filepath.Join(folder, name)); err != nil {
			return removed, err
		} else if ok {
			continue
		}
		if err := removeVerification(folder, name); err != nil {
			return removed, err
		}
		removed = append(removed, name)
	}
	return removed, nil
}

// Name returns the backup's directory name for a backup created at t
// (UTC, to the minute): "backup-YYYYMMDD_HHMM". A second backup in the
// same minute gets "-2", "-3"... appended. See [format.Name].
func Name(t time.Time) string { return format.Name(t) }

// Prefix starts the directory name of every backup in a folder.
const Prefix = format.Prefix

// tmpPrefix starts the name of a backup being written.
const tmpPrefix = format.TempPrefix

// IsTemp reports whether name is the directory of a backup being written
// or interrupted. Restore and list never take one for a backup.
func IsTemp(name string) bool { return format.IsTemp(name) }
