package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/fsutil"
	"github.com/bitnobi/bitnobi/internal/lockfile"
)

const backupsExportHelp = `Usage: bitnobi backups export NAME FILE|- [--no-compress] [--force] [flags]

Writes the backup NAME (a backup of the backup folder, or a path) as one
archive to FILE, or to stdout with "-": a tar stream, zstd-compressed
unless --no-compress, holding every file of the backup and manifest.json
last. Use it to keep a copy off-site (scp, rclone, a tape) or to move a
backup to another machine; "bitnobi backups import" and "bitnobi restore"
read it.

Every file is checked against the manifest first, so a damaged backup is
never exported as a good one. The bytes are copied as they are: an
encrypted backup stays encrypted. FILE is written under a temporary name
and renamed when complete; an existing FILE is refused unless --force.
Like a backup, an export runs at low priority unless --priority normal.
`

const backupsImportHelp = `Usage: bitnobi backups import FILE|- [--backup-dir DIR] [flags]

Adds the backup in the archive FILE (or stdin with "-"), as "bitnobi
backups export" writes it, to the backup folder.

The archive is treated as hostile. It is unpacked into a temporary
directory of the folder (.tmp-backup-import-*), refusing absolute paths,
"..", links, devices, duplicates, any path of a shape a backup never
holds, and any entry after manifest.json (which comes last, so it cannot
vouch for the entries as they are read). The unpacked backup is then
verified completely against its manifest (every file listed, present, of
its size and SHA-256, and nothing else; every table and blob decoded), and
only then renamed into place, named after its manifest's creation time
(backup-YYYYMMDD_HHMM, with -2, -3... if another backup has that name).
A backup the folder holds already is refused; nothing is ever replaced.
On any error the folder is left as it was.

Import takes the backup folder's lock, like a backup (--wait waits).
Exit codes: 0 ok, 1 failed, 2 bad input or already imported, 3 the backup
folder is locked, 4 the archive was refused or its backup does not verify,
130 interrupted (SIGINT or SIGTERM; nothing is added).
`

func (m *Main) runBackupsExport(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backups export", backupsExportHelp)
	dataDir := m.dataDirFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	noCompress := fs.Bool("no-compress", false, "write a plain tar, not zstd-compressed")
	force := fs.Bool("force", false, "replace FILE if it exists")
	priority := m.priorityFlag(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("bitnobi backups export backup-20250102_1504 /mnt/offsite/backup-20250102_1504.tar.zst", "export takes a backup and a file (or - for stdout)")
	}
	if err := m.applyPriority(*priority, false, m.warnLogger()); err != nil {
		return err
	}
	src, err := m.resolveBackup(pos[0], *backupDirFlag, *dataDir)
	if err != nil {
		return err
	}
	name := filepath.Base(src)
	if pos[1] == "-" {
		_, err := backup.Export(ctx, src, m.Stdout, !*noCompress)
		if interrupted(ctx, err) {
			return interruptedf("export interrupted: the archive written to stdout is incomplete; do not keep it")
		}
		return backupError(err)
	}
	dst := pos[1]
	_, err = os.Lstat(dst)
	if err == nil && !*force {
		return usagef("another file name, or --force", "%s exists", dst)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	dstExisted := err == nil
	// The archive is written beside dst and renamed over it only once
	// complete: an interrupted export leaves dst as it was.
	var mf *format.Manifest
	exported := false
	err = fsutil.WriteFileAtomic(dst, 0o600, func(w io.Writer) error {
		var err error
		mf, err = backup.Export(ctx, src, w, !*noCompress)
		exported = err == nil
		return err
	})
	if interrupted(ctx, err) {
		// The archive so far was in the temporary file, which
		// WriteFileAtomic removed.
		if dstExisted {
			return interruptedf("export interrupted: %s was left as it was", dst)
		}
		return interruptedf("export interrupted: %s was not written", dst)
	}
	if err != nil && !exported {
		return backupError(err)
	} else if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stderr, "exported %s (%s, taken %s) to %s, %s\n", name, count(len(mf.Files)+1, "file", "files"),
		mf.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), dst, humanBytes(fi.Size()))
	fmt.Fprintln(m.Stdout, absPath(dst))
	return nil
}

func (m *Main) runBackupsImport(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backups import", backupsImportHelp)
	dataDir := m.dataDirFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	wait := fs.Duration("wait", 0, "how long to wait while a backup writes into the folder (0: fail at once)")
	quiet := fs.Bool("quiet", false, "print only the imported backup's path")
	loadKeys := m.keysFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("bitnobi backups import /mnt/offsite/backup-20250102_1504.tar.zst", "import takes one archive file (or - for stdin)")
	}
	keys, err := loadKeys()
	if err != nil {
		return err
	}
	folder, err := m.backupDir(*backupDirFlag, *dataDir)
	if err != nil {
		return err
	}
	r, closeIn, err := m.openArchive(pos[0])
	if err != nil {
		return err
	}
	defer closeIn()
	prog := m.newProgress(*quiet)
	res, err := backup.Import(ctx, r, backup.ImportOptions{
		Folder:        folder,
		LockWait:      *wait,
		UnpackOptions: backup.UnpackOptions{Keys: keys, Progress: prog.update},
	})
	prog.done()
	if interrupted(ctx, err) {
		// Import adds the backup with its last step, a rename, and
		// removes its temporary directory on any error before.
		return interruptedf("import interrupted: nothing was added to %s", folder)
	}
	if errors.Is(err, backup.ErrExists) {
		return &UsageError{Err: err, Hint: backup.Hint(err)}
	}
	if err != nil {
		return backupError(err)
	}
	if !*quiet {
		mf := res.Manifest
		fmt.Fprintf(m.Stderr, "imported %s (taken %s, bitnobi %s, schema %d) and verified it\n",
			res.Name, mf.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), mf.AppVersion, mf.SchemaVersion)
	}
	fmt.Fprintln(m.Stdout, res.Path)
	return nil
}

// openArchive opens an archive file, or stdin for "-".
func (m *Main) openArchive(name string) (io.Reader, func(), error) {
	if name == "-" {
		return m.Stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, usagef("an archive written by bitnobi backups export", "%v", err)
	}
	return f, func() { f.Close() }, nil
}

// isArchiveArg reports whether the BACKUP argument of restore names an
// archive (a regular file, or "-" for stdin) rather than a directory.
func isArchiveArg(arg string) bool {
	if arg == "-" {
		return true
	}
	fi, err := os.Stat(arg)
	return err == nil && fi.Mode().IsRegular()
}

// unpackForRestore unpacks and verifies the archive arg into a temporary
// directory beside the data directory (on the same file system, where
// the restore builds its state), DATA_DIR.restore-archive-*, for restore
// to restore from. The caller calls cleanup when done, which removes it.
//
// The temporary directory holds a lock (unpackLockName) for as long as it
// is in use, so that [removeStaleArchives] tells the directory of a
// running restore from one a killed restore left behind.
func (m *Main) unpackForRestore(ctx context.Context, arg, dataDir string, opts backup.UnpackOptions) (u *backup.Unpacked, cleanup func(), err error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, nil, err
	}
	parent := filepath.Dir(abs)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, nil, err
	}
	r, closeIn, err := m.openArchive(arg)
	if err != nil {
		return nil, nil, err
	}
	defer closeIn()
	removeStaleArchives(abs)
	root, err := os.MkdirTemp(parent, archivePrefix(abs))
	if err != nil {
		return nil, nil, err
	}
	lock, err := lockfile.Acquire(filepath.Join(root, unpackLockName), "restore: unpack an archive")
	if err != nil {
		os.RemoveAll(root)
		return nil, nil, err
	}
	cleanup = func() {
		os.RemoveAll(root) // the lock file too: held, it is still removed
		lock.Release()
	}
	u, err = backup.Unpack(ctx, r, root, "unpack-", opts)
	if err != nil {
		cleanup()
		return nil, nil, backupError(err)
	}
	return u, cleanup, nil
}

// unpackLockName is the lock file in a DATA_DIR.restore-archive-*
// directory that the restore using it holds.
const unpackLockName = "unpack.lock"

// archivePrefix is the name prefix of the directories beside dataDir
// (absolute) that restores unpack archives into.
func archivePrefix(dataDir string) string {
	return strings.TrimPrefix(filepath.Base(dataDir), ".") + ".restore-archive-"
}

// removeStaleArchives removes the DATA_DIR.restore-archive-* directories
// beside dataDir (absolute) that killed restores left behind: those whose
// lock no running restore holds. Failures cost only disk space, and are
// ignored.
func removeStaleArchives(dataDir string) {
	parent := filepath.Dir(dataDir)
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	prefix := archivePrefix(dataDir)
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		lock, err := lockfile.Acquire(filepath.Join(dir, unpackLockName), "restore: remove a stale archive")
		if err != nil {
			continue // in use by a running restore, or not ours to judge
		}
		os.RemoveAll(dir)
		lock.Release()
	}
}

// checkDataDirFree refuses, before any work, a restore into a data
// directory a server holds. It only probes: a shared lock fails while
// the server's exclusive one is held, and nothing is created (Restore
// takes the real lock later).
func checkDataDirFree(dataDir string) error {
	lockPath := datadir.Dir(dataDir).Lock()
	if _, err := os.Stat(lockPath); err != nil {
		return nil // no lock file, no server; Restore checks again
	}
	l, err := lockfile.AcquireShared(lockPath, "restore: probe")
	if err != nil {
		return backupError(fmt.Errorf("restore: %w", err))
	}
	return l.Release()
}
