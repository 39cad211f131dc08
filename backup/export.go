package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/bitnobi/bitnobi/backup/archive"
	"github.com/bitnobi/bitnobi/internal/fsutil"
)

// ErrArchive means an archive given to [Import] or [Unpack] was refused:
// it is malformed, or holds something a backup never holds (a path that
// leaves the backup, a link, a device, a duplicate, a file of no shape the
// format uses, an entry after the manifest). It matches [ErrVerify].
var ErrArchive error = verifyError("archive refused")

// ErrExists means the backup being imported is in the backup folder
// already.
var ErrExists = errors.New("backup already in the folder")

// Export writes the backup in dir to w as one tar archive, zstd-compressed
// when compress is set: every file the manifest lists, in its order, then
// manifest.json last. It first checks each file's size and SHA-256
// against the manifest, so a damaged backup is never shipped off-site as
// a good one; the bytes are copied as they are (an encrypted backup stays
// encrypted). On error what was written to w is incomplete.
func Export(ctx context.Context, dir string, w io.Writer, compress bool) (*Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if err := checkFiles(ctx, dir, m, nil, nil); err != nil {
		return m, fmt.Errorf("export: backup %s: %w", filepath.Base(dir), err)
	}
	files := make([]string, 0, len(m.Files)+1)
	for _, f := range m.Files {
		files = append(files, f.Path)
	}
	files = append(files, ManifestName)
	if err := archive.Write(ctx, w, dir, files, compress); err != nil {
		return m, fmt.Errorf("export: %w", err)
	}
	return m, nil
}

// UnpackOptions configures [Unpack] and [Import].
type UnpackOptions struct {
	// Keys unlocks an encrypted backup so that its content is verified
	// too; without them only its files' ciphertext is (see [VerifyWith]).
	// nil for a plain backup.
	Keys *Keys
	// Limits bounds what is extracted (zero: [archive.DefaultLimits]).
	Limits archive.Limits
	// Progress, if set, is called while the extracted backup is verified.
	Progress func(Progress)
}

// Unpacked is a backup that [Unpack] extracted and verified.
type Unpacked struct {
	// Dir is the backup's directory, named after its manifest's time
	// (see [Name]), inside a temporary directory.
	Dir      string
	Manifest *Manifest
	root     string // the temporary directory
}

// Remove removes the temporary directory holding the backup.
func (u *Unpacked) Remove() error { return os.RemoveAll(u.root) }

// Unpack extracts the backup archive read from r into a new temporary
// directory under parent whose name starts with prefix, verifies it
// completely ([VerifyWith]), and returns it. On error nothing is left under
// parent. The caller removes the result with [Unpacked.Remove].
//
// The manifest is the archive's last entry, so it cannot vouch for the
// entries before it as they are read. Unpack therefore checks what it can
// while extracting, through [archive.Extract] and its allow function:
// every entry is a regular file or directory under the destination with a
// path of a shape the format uses (manifest.json, manifest.age,
// tables/<name>.jsonl.zst, blobs/<aa>/<sha256>), no entry follows
// manifest.json, and there are no links, devices or duplicates. Then it verifies everything against the
// extracted manifest, which refuses any file the manifest does not list
// and any listed file that is missing or differs. Only a backup that
// passes is returned.
func Unpack(ctx context.Context, r io.Reader, parent, prefix string, opts UnpackOptions) (u *Unpacked, err error) {
	root, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return nil, fmt.Errorf("unpack: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(root)
		}
	}()
	incoming := filepath.Join(root, "incoming")
	if err := os.Mkdir(incoming, dirPerm); err != nil {
		return nil, fmt.Errorf("unpack: %w", err)
	}
	sawManifest := false
	allow := func(name string, size int64) error {
		if sawManifest {
			return fmt.Errorf("%w: %s follows %s, which must be the last entry", ErrUnexpectedFile, name, ManifestName)
		}
		if name == SealedName { // the encrypted part of an encrypted backup
			return nil
		}
		if name == ManifestName {
			if size > maxManifestSize {
				return fmt.Errorf("%w: %s of %d bytes", ErrMalformed, ManifestName, size)
			}
			sawManifest = true
			return nil
		}
		return checkPath(name)
	}
	if _, err := archive.Extract(ctx, r, incoming, allow, opts.Limits); err != nil {
		if archiveFault(err) {
			return nil, &HintError{Err: fmt.Errorf("unpack: %w: %w", ErrArchive, err),
				Hint: "make the archive again with bitnobi backups export"}
		}
		return nil, fmt.Errorf("unpack: %w", err)
	}
	if !sawManifest {
		return nil, &HintError{Err: fmt.Errorf("unpack: %w: the archive holds no %s", ErrArchive, ManifestName),
			Hint: "make the archive again with bitnobi backups export"}
	}
	m, err := VerifyWith(ctx, incoming, VerifyOptions{Keys: opts.Keys, Progress: opts.Progress})
	if err != nil {
		return nil, fmt.Errorf("unpack: the archive's backup: %w", err)
	}
	dir := filepath.Join(root, Name(m.CreatedAt))
	if err := os.Rename(incoming, dir); err != nil {
		return nil, fmt.Errorf("unpack: %w", err)
	}
	return &Unpacked{Dir: dir, Manifest: m, root: root}, nil
}

// archiveFault reports whether an error of archive.Extract is the
// archive's fault.
func archiveFault(err error) bool {
	for _, e := range []error{archive.ErrUnsafePath, archive.ErrLink, archive.ErrUnsupportedType,
		archive.ErrDuplicate, archive.ErrNotAllowed, archive.ErrTooLarge, archive.ErrCorrupt} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ImportOptions configures [Import].
type ImportOptions struct {
	UnpackOptions
	// Folder is the backup folder to import into, created if missing.
	// Required.
	Folder string
	// LockWait is how long to wait while a backup writes into Folder; 0
	// fails at once with an error matching lockfile.ErrLocked.
	LockWait time.Duration
}

// ImportResult describes a backup [Import] added.
type ImportResult struct {
	Name     string // its directory name in the folder
	Path     string
	Manifest *Manifest
}

// Import adds the backup archive read from r (as [Export] writes it) to
// the backup folder opts.Folder. It holds the folder's lock, unpacks and
// verifies the archive in a .tmp-backup-import-* directory of the folder
// (see [Unpack]), then renames the backup into place under the name its
// manifest's time gives ([Name], with -2, -3... if a different backup has
// that name). It refuses a backup the folder holds already, identified by
// its manifest checksum ([ErrExists]), and never replaces anything. On
// error the folder is left as it was; an interruption leaves only the
// temporary directory, which the next backup or prune removes.
func Import(ctx context.Context, r io.Reader, opts ImportOptions) (*ImportResult, error) {
	if opts.Folder == "" {
		return nil, errors.New("import: backup folder required")
	}
	folder, err := filepath.Abs(opts.Folder)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if err := os.MkdirAll(folder, dirPerm); err != nil {
		return nil, fmt.Errorf("import: create backup folder: %w", err)
	}
	lock, err := lockFolder(ctx, folder, opts.LockWait)
	if err != nil {
		return nil, err
	}
	defer lock.Release()

	u, err := Unpack(ctx, r, folder, tmpPrefix+"import-", opts.UnpackOptions)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer u.Remove()
	infos, err := Folder{Path: folder}.Backups()
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	for _, in := range infos {
		if in.Err == nil && in.Manifest.ManifestChecksum == u.Manifest.Public().ManifestChecksum {
			return nil, &HintError{
				Err:  fmt.Errorf("import: %w as %s", ErrExists, in.Name),
				Hint: "nothing to do: bitnobi backups verify " + in.Name,
			}
		}
	}
	name, err := renameIntoPlace(u.Dir, folder, filepath.Base(u.Dir))
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if err := fsutil.SyncDir(folder); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return &ImportResult{Name: name, Path: filepath.Join(folder, name), Manifest: u.Manifest}, nil
}
