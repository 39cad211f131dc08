package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

const backupsVerifyHelp = `Usage: bitnobi backups verify NAME | --all [--deep | --remote] [flags]

Checks a backup completely against its manifest, without changing it: the
manifest's own checksum, that every file it lists is there with its size
and SHA-256 and nothing else is, that every table decodes to the rows
recorded, and that every blob decodes to its SHA-256. NAME is a backup of
the backup folder or a path; --all checks every backup of the folder,
reading a file that several backups share (a hard link) once: a folder of
daily backups costs about one backup plus what each day changed.

--deep also performs a trial restore into a temporary data directory
(under --tmp-dir; removed after) and checks the restored state: every
foreign key resolves, every blob row has its file with the right hash, and
the audit log's hash chain verifies. It catches what checksums cannot, such
as a table file rewritten, with a manifest to match, to refer to a user who
is not there: a backup that passes --deep will restore. It needs the
master key the backup was made with (--key-file, else
$BITNOBI_MASTER_KEY_FILE, else DATA_DIR/master.key) and room for the
restored state.

An encrypted backup is checked completely only with its key (--identity
or --passphrase-file): then its encrypted part must open and match
manifest.json too. Without the key only each file's size and the SHA-256
of its ciphertext are checked, and the output says so: that finds damaged
or altered bytes, but not a manifest.json rewritten, checksum and all, by
someone who knows the format.

Each outcome is recorded in the backup folder (.verified/NAME.json) for
"backups list". Safe while the server or a backup runs, and by default
at low priority (--priority, as for "bitnobi backup").

--remote checks a backup of the off-site S3 bucket instead (BITNOBI_S3_*,
see "bitnobi backups push --help"), or all of them with --all: its
manifest's checksum, and every object it names, downloaded and hashed
(size and SHA-256), so an object altered, truncated or deleted in the
bucket is found and named. Nothing is written to disk; "backups pull"
decodes every table and blob as well. Exit code 5 when the storage cannot
be used.

Exit codes: 0 every backup passed, 4 one or more did not (each bad file is
named), 2 bad input: flags or arguments, a directory that is not a backup,
a backup newer than this bitnobi, a missing or wrong master key (--deep),
identity or passphrase; 130 interrupted (SIGINT or SIGTERM: the results
printed before stand, the backup being checked gets none).
`

func (m *Main) runBackupsVerify(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backups verify", backupsVerifyHelp)
	dataDir := m.dataDirFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	all := fs.Bool("all", false, "verify every backup in the backup folder")
	deep := fs.Bool("deep", false, "also restore into a temporary directory and check the restored state")
	keyFile := fs.String("key-file", "", "master key for --deep (default $"+EnvKeyFile+", else DATA_DIR/master.key)")
	tmpDir := fs.String("tmp-dir", "", "where --deep builds its temporary data directory (default the system's temporary directory)")
	quiet := fs.Bool("quiet", false, "print only failures")
	loadKeys := m.keysFlags(fs)
	priority := m.priorityFlag(fs)
	remote := fs.Bool("remote", false, "verify backups of the off-site S3 bucket (BITNOBI_S3_*)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *all == (len(pos) == 1) || len(pos) > 1 {
		return usagef("bitnobi backups verify backup-20250102_1504, or bitnobi backups verify --all", "verify takes one backup name or --all")
	}
	if *remote {
		if *deep {
			return usagef("bitnobi backups pull NAME, then bitnobi backups verify --deep NAME", "--deep does not apply to --remote")
		}
		return m.verifyRemote(ctx, pos, *all, *quiet)
	}
	if err := m.applyPriority(*priority, *quiet, m.warnLogger()); err != nil {
		return err
	}
	keys, err := loadKeys()
	if err != nil {
		return err
	}
	folder, err := m.backupDir(*backupDirFlag, *dataDir)
	if err != nil {
		return err
	}
	var paths []string
	if *all {
		infos, err := backup.Folder{Path: folder}.Backups()
		if err != nil {
			return err
		}
		for _, in := range infos {
			paths = append(paths, in.Path)
		}
		if len(paths) == 0 {
			fmt.Fprintf(m.Stderr, "no backups in %s\n", folder)
			return nil
		}
	} else {
		p, err := m.resolveBackup(pos[0], *backupDirFlag, *dataDir)
		if err != nil {
			return err
		}
		paths = []string{p}
	}
	deepOpts := backup.VerifyOptions{Deep: true, Local: sqlite.Local{}, Keys: keys, TempDir: *tmpDir, KeyFile: *keyFile}
	if *deep && deepOpts.KeyFile == "" {
		deepOpts.KeyFile = m.keyFile(datadir.Dir(*dataDir))
	}

	var failed []error
	// A file hard-linked into several backups is read once.
	cache := backup.NewVerifyCache()
	for i, p := range paths {
		prog := m.newProgress(*quiet)
		reusedFiles, reusedBytes := cache.Reused()
		var mf *format.Manifest
		var err error
		if *deep {
			opts := deepOpts
			opts.Progress = prog.update
			mf, err = backup.Verify(ctx, p, opts)
		} else {
			mf, err = backup.Verify(ctx, p, backup.VerifyOptions{Keys: keys, Progress: prog.update, Cache: cache})
		}
		prog.done()
		if interrupted(ctx, err) {
			return verifyInterrupted(p, i, len(paths))
		}
		if kerr := keyModeError(err); kerr != nil {
			return kerr // the master key for --deep, the same for every backup
		}
		m.recordVerification(p, mf, *deep, err)
		if err != nil {
			fmt.Fprintf(m.Stdout, "%s: FAILED: %v\n", p, err)
			failed = append(failed, err)
			continue
		}
		if mf.Locked() {
			// Encrypted, and no key given: only the ciphertext was checked.
			if !*quiet {
				fmt.Fprintf(m.Stdout, "%s: OK, ciphertext only (%s: size and SHA-256, taken %s); content not checked: it is encrypted, give --identity or --passphrase-file to check it\n",
					p, count(len(mf.Files), "encrypted file", "encrypted files"), mf.CreatedAt.Format(time.RFC3339))
			}
			continue
		}
		if !*quiet {
			how := "every file"
			if *deep {
				how = "every file and a trial restore"
			}
			shared := ""
			if files, bytes := cache.Reused(); files > reusedFiles {
				shared = fmt.Sprintf("; %s (%s) verified above, in a backup that shares them, not read again",
					count(files-reusedFiles, "file", "files"), humanBytes(bytes-reusedBytes))
			}
			fmt.Fprintf(m.Stdout, "%s: OK (%s: %s, %s, %s, taken %s%s)\n",
				p, how, count(len(mf.Files), "file", "files"), count(mf.Stats.Rows, "row", "rows"), count(mf.Stats.Blobs, "blob", "blobs"),
				mf.CreatedAt.Format(time.RFC3339), shared)
		}
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		err := backupError(failed[0])
		var ue *UsageError
		if errors.As(err, &ue) {
			// Not a backup, a newer one, or the wrong key or identity:
			// bad input (exit 2), not a backup that failed to verify.
			return err
		}
		hint := backup.Hint(failed[0])
		if hint == "" {
			hint = "restore from a backup that verifies: bitnobi backups list"
		}
		return &ExitError{Code: ExitVerify, Err: err, Hint: hint}
	}
	return &ExitError{Code: ExitVerify, Err: fmt.Errorf("%d of %d backups did not verify", len(failed), len(paths)),
		Hint: "restore from a backup that verifies: bitnobi backups list"}
}

// verifyInterrupted is the error of a verification that SIGINT or
// SIGTERM stopped while it checked path, the i-th of n backups: what was
// checked and what was not. (Verifying never changes a backup, and a
// trial restore's temporary directory is removed.)
func verifyInterrupted(path string, i, n int) error {
	msg := "verify interrupted: " + path + " was not checked to the end, and no result was recorded for it"
	if n > 1 {
		msg += fmt.Sprintf("; checked before it: %d of %d backups (see above); not checked after it: %d", i, n, n-i-1)
	}
	return interruptedf("%s", msg)
}

// recordVerification records the outcome of verifying the backup at path
// for "backups list", when the backup is in a backup folder and the
// outcome is about the backup: not when the key was missing or wrong, or
// the disk full.
func (m *Main) recordVerification(path string, mf *format.Manifest, deep bool, err error) {
	name := filepath.Base(path)
	if !strings.HasPrefix(name, backup.Prefix) {
		return
	}
	if err != nil && !errors.Is(err, backup.ErrVerify) && !errors.Is(err, store.ErrAuditChain) {
		return
	}
	v := backup.Verification{Backup: name, At: time.Now().UTC(), OK: err == nil, Deep: deep}
	if mf != nil {
		v.ManifestChecksum = mf.Public().ManifestChecksum
	}
	if err != nil {
		v.Error = err.Error()
	}
	folder := filepath.Dir(path)
	if _, serr := os.Stat(filepath.Join(folder, backup.VerifiedDir)); serr != nil {
		// Only a backup folder gets a .verified directory: one made by
		// bitnobi (it holds its lock file), not any parent of a backup.
		if _, lerr := os.Stat(filepath.Join(folder, backup.LockName)); lerr != nil {
			return
		}
	}
	if rerr := (backup.Folder{Path: folder}).RecordVerification(v); rerr != nil {
		fmt.Fprintf(m.Stderr, "Warning: %v\n", rerr)
	}
}
