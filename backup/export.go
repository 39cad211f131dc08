package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/bitnobi/bitnobi/backup/archive"
	"github.com/bitnobi/bitnobi/backup/format"
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
// when compress is set: manifest.json first, then every file the manifest
// lists, in its order. (Older versions put the manifest last; [Unpack]
// reads both.) It first checks each file's size and SHA-256 against the
// manifest, so a damaged backup is never shipped off-site as
// a good one; the bytes are copied as they are (an encrypted backup stays
// encrypted). On error what was written to w is incomplete.
func Export(ctx context.Context, dir string, w io.Writer, compress bool) (*format.Manifest, error) {
	m, err := format.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if err := checkFiles(ctx, dir, m, nil, nil); err != nil {
		return m, fmt.Errorf("export: backup %s: %w", filepath.Base(dir), err)
	}
	// The manifest first: an importer then knows every file's name and
	// size before it writes any (see [Unpack]).
	files := make([]string, 0, len(m.Files)+1)
	files = append(files, format.ManifestName)
	for _, f := range m.Files {
		files = append(files, f.Path)
	}
	if err := archive.Write(ctx, w, dir, files, compress); err != nil {
		return m, fmt.Errorf("export: %w", err)
	}
	return m, nil
}

// UnpackOptions configures [Unpack] and [Import].
type UnpackOptions struct {
	// Keys unlocks an encrypted backup so that its content is verified
	// too; without them only its files' ciphertext is (see [Verify]).
	// nil for a plain backup.
	Keys *format.Keys
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
	Manifest *format.Manifest
	root     string // the temporary directory
}

// Remove removes the temporary directory holding the backup.
func (u *Unpacked) Remove() error { return os.RemoveAll(u.root) }

// Unpack extracts the backup archive read from r into a new temporary
// directory under parent whose name starts with prefix, verifies it
// completely ([Verify]), and returns it. On error nothing is left under
// parent. The caller removes the result with [Unpacked.Remove].
//
// Unpacking is bounded before it writes. [Export] puts manifest.json
// first: Unpack then refuses any later entry that the manifest does not
// list or whose declared size differs from the listed one (the tar reader
// never yields more than the declared size), and a manifest whose files
// add up to more than parent's free space less a margin (5% and 64 MiB).
// Archives from older exports have the manifest last, so the sizes their
// entries declare may add up to at most that free space less the margin.
// Either way, through [archive.Extract] and its allow function, every
// entry is a regular file or directory under the destination with a path
// of a shape the format uses (manifest.json, manifest.age,
// tables/<name>.<n>.jsonl.zst, blobs/<aa>/<sha256>), there are no links,
// devices or duplicates, and the manifest is the first or the last entry.
// Then it verifies everything against the extracted manifest, which
// refuses any file the manifest does not list and any listed file that is
// missing or differs. Only a backup that passes is returned. A refused
// archive gives an error matching [ErrArchive].
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
	// Unpacking is bounded before anything is written. An archive of
	// today's "backups export" starts with the manifest: each later entry
	// must be a file it lists, with the size it lists, so that nothing
	// beyond what the (checksummed) manifest declares is ever written,
	// and the sum of its sizes must fit in the free space. An older
	// archive (manifest last) cannot vouch for its entries as they come:
	// the sizes they declare may add up to at most the free space of
	// parent less a margin (unpackBudget).
	budget, err := unpackBudget(parent)
	if err != nil {
		return nil, fmt.Errorf("unpack: %w", err)
	}
	var (
		first       = true
		sawManifest = false
		lead        = false          // manifest.json was the first file
		listed      map[string]int64 // a leading manifest's files not yet seen
		declared    int64            // the sizes declared so far (manifest last)
	)
	allow := func(name string, size int64) error {
		wasFirst := first
		first = false
		if name == format.ManifestName {
			if sawManifest {
				return fmt.Errorf("%w: a second %s", ErrUnexpectedFile, format.ManifestName)
			}
			if size > format.MaxManifestSize {
				return fmt.Errorf("%w: %s of %d bytes", ErrMalformed, format.ManifestName, size)
			}
			sawManifest, lead = true, wasFirst
			return nil
		}
		if sawManifest && !lead {
			return fmt.Errorf("%w: %s follows %s, which must be the first or the last entry", ErrUnexpectedFile, name, format.ManifestName)
		}
		if lead {
			if listed == nil { // the manifest is on disk by now
				var err error
				if listed, err = listedSizes(incoming, budget); err != nil {
					return err
				}
			}
			want, ok := listed[name]
			switch {
			case !ok && name == format.SealedName:
				if size > format.MaxSealedSize {
					return fmt.Errorf("%w: %s of %d bytes", ErrMalformed, format.SealedName, size)
				}
			case !ok:
				return fmt.Errorf("%w: %s is not listed in %s, or comes twice", ErrUnexpectedFile, name, format.ManifestName)
			case size != want:
				return fmt.Errorf("%w: %s declares %d bytes, %s lists %d", ErrMalformed, name, size, format.ManifestName, want)
			}
			delete(listed, name)
		} else if declared += size; declared > budget {
			return fmt.Errorf("%w: the archive's files declare more than the %d bytes that may be unpacked in %s (its free space less a margin)", ErrMalformed, budget, parent)
		}
		if name == format.SealedName { // the encrypted part of an encrypted backup
			return nil
		}
		return format.CheckPath(name)
	}
	if _, err := archive.Extract(ctx, r, incoming, allow, opts.Limits); err != nil {
		if archiveFault(err) {
			return nil, &HintError{Err: fmt.Errorf("unpack: %w: %w", ErrArchive, err),
				Hint: "make the archive again with bitnobi backups export"}
		}
		return nil, fmt.Errorf("unpack: %w", err)
	}
	if !sawManifest {
		return nil, &HintError{Err: fmt.Errorf("unpack: %w: the archive holds no %s", ErrArchive, format.ManifestName),
			Hint: "make the archive again with bitnobi backups export"}
	}
	m, err := verify(ctx, incoming, VerifyOptions{Keys: opts.Keys, Progress: opts.Progress})
	if err != nil {
		return nil, fmt.Errorf("unpack: the archive's backup: %w", err)
	}
	dir := filepath.Join(root, Name(m.CreatedAt))
	if err := os.Rename(incoming, dir); err != nil {
		return nil, fmt.Errorf("unpack: %w", err)
	}
	return &Unpacked{Dir: dir, Manifest: m, root: root}, nil
}

// unpackMargin is the free space an unpack leaves on its file system, at
// least: a fixed part plus a share of what is free.
const (
	unpackMarginBytes = 64 << 20
	unpackMarginShare = 20 // 1/20 = 5%
)

// unpackBudget returns how many bytes of files an archive may unpack into
// parent: its free space less the margin (math.MaxInt64 where free space
// cannot be known).
func unpackBudget(parent string) (int64, error) {
	free, ok, err := freeSpace(parent)
	if err != nil {
		return 0, err
	}
	if !ok {
		return math.MaxInt64, nil
	}
	return max(free-free/unpackMarginShare-unpackMarginBytes, 0), nil
}

// listedSizes reads the manifest a leading manifest.json entry unpacked
// into dir and returns the size of each file it lists. It fails when the
// manifest does not parse or its files add up to more than budget.
func listedSizes(dir string, budget int64) (map[string]int64, error) {
	m, err := format.ReadManifest(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, format.ManifestName, err)
	}
	sizes := make(map[string]int64, len(m.Public().Files))
	var total int64
	for _, f := range m.Public().Files {
		if f.Size < 0 {
			return nil, fmt.Errorf("%w: %s lists %s with %d bytes", ErrMalformed, format.ManifestName, f.Path, f.Size)
		}
		sizes[f.Path] = f.Size
		if total += f.Size; total > budget {
			return nil, fmt.Errorf("%w: %s lists more than the %d bytes that may be unpacked here (the free space less a margin)", ErrMalformed, format.ManifestName, budget)
		}
	}
	return sizes, nil
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
	Manifest *format.Manifest
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
