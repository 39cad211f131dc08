package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/fsutil"
	"github.com/bitnobi/bitnobi/offsite"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/sqlite"
)

const restoreHelp = `Usage: bitnobi restore BACKUP [flags]

Restores the backup BACKUP (a path, or the name of a backup in the backup
folder, or an archive file written by "bitnobi backups export", or "-" for
such an archive on stdin, or s3://BUCKET/PREFIX/NAME for a backup that
"bitnobi backups push" copied off-site: BITNOBI_S3_ENDPOINT and the
credentials come from the environment, see "bitnobi backups push --help") into --data-dir: a new or empty directory, or an
existing data directory whose state is replaced.

With --db postgres://... (or BITNOBI_DB) the tables go into that PostgreSQL
database instead, empty or in use by Bitnobi, and only the blobs (added
beside any already there) and, when it has none, the master key go into
--data-dir. The new state is built in a schema of its own,
bitnobi_restore_YYYYMMDD_HHMMSS, then switched in with one transaction that
renames the current schema (normally public) to
bitnobi_before_restore_YYYYMMDD_HHMMSS (dropped with --discard-previous) and
the new one to its name. A backup taken on either engine restores into
either. A server running on the database is detected and refused. The server must be
stopped; a restore refuses while one holds the data directory. An archive
is first unpacked and verified in a temporary directory beside the data
directory (DATA_DIR.restore-archive-*), removed afterwards; so is an
s3:// backup, downloaded there first. One a killed restore left is
removed by the next restore, serve or backup.

Nothing is changed until every check has passed: the backup's format and
schema version (an older one is migrated forward, a newer one is refused),
the SHA-256 of every file, the master key, free disk space. The new state
is then built beside the data directory and switched in with renames, so an
interruption leaves the old state or the new one, never a mix. The
previous state is kept as DATA_DIR.before-restore-YYYYMMDD_HHMMSS unless
--discard-previous is given: then it is renamed DATA_DIR.deleting-* and
deleted, and a deletion a crash cut short is finished by the next restore,
serve or backup.

The master key is not in the backup. It is read from --key-file, else from
$BITNOBI_MASTER_KEY_FILE, else from the data directory's master.key, must
be the one the backup was made with, and is installed in the restored data
directory.

An encrypted backup ("bitnobi backup --encrypt") needs the identity file
(--identity, age-keygen's output) or the passphrase file
(--passphrase-file) it was encrypted for, and nothing else: it carries the
master key, sealed with everything else, and --key-file is not read. A
missing or wrong identity or passphrase is refused (exit code 2), and an
encrypted file that was altered (exit code 4), naming the file, before
anything is changed.

A plain restore keeps the installation's identity (instance ID): use it to
recover or to move an installation. --as-copy makes a duplicate that never
acts as the original: a new instance ID, and e-mail and remote servers
disabled.

Exit codes: 0 ok, 1 failed, 2 bad input (not a backup, newer version,
missing or wrong master key, identity or passphrase), 3 the data directory
is in use, 4 the backup does not verify (damaged or altered), 5 the
off-site storage could not be used (unreachable, credentials refused, no
such bucket), 130
interrupted (SIGINT or SIGTERM; the message says what was left as it
was).
`

func (m *Main) runRestore(ctx context.Context, args []string) error {
	fs := m.newFlagSet("restore", restoreHelp)
	dataDir := m.dataDirFlag(fs)
	dbFlag := m.dbFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	keyFile := fs.String("key-file", "", "master key file for a plain backup (default $"+EnvKeyFile+", else DATA_DIR/master.key)")
	asCopy := fs.Bool("as-copy", false, "restore as a copy: new instance ID, e-mail and remote servers disabled")
	discard := fs.Bool("discard-previous", false, "do not keep the data directory's previous state")
	quiet := fs.Bool("quiet", false, "print nothing but errors and the data directory's path")
	loadKeys := m.keysFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("bitnobi restore backup/backup-20250102_1504 --data-dir "+*dataDir, "restore takes one backup, got %s", count(len(pos), "argument", "arguments"))
	}
	keys, err := loadKeys()
	if err != nil {
		return err
	}
	dsn, err := m.dbURL(*dbFlag)
	if err != nil {
		return err
	}
	var target backup.Target
	var pgTarget *postgres.RestoreTarget
	if dsn != "" {
		pgTarget = &postgres.RestoreTarget{DSN: dsn, ApplicationName: "bitnobi restore"}
		target = pgTarget
	}
	dir := datadir.Dir(*dataDir)
	if abs, err := filepath.Abs(dir.Path()); err == nil {
		removeStaleArchives(abs) // unpacked archives killed restores left
	}
	var src string
	if offsite.IsURL(pos[0]) || isArchiveArg(pos[0]) {
		// A server holding the data directory refuses the restore anyway:
		// say so before downloading or unpacking a whole backup beside it.
		if err := checkDataDirFree(dir.Path()); err != nil {
			return err
		}
	}
	if offsite.IsURL(pos[0]) { // off-site: download and verify it first, as an archive
		u, err := m.unpackRemoteForRestore(ctx, pos[0], *dataDir, backup.UnpackOptions{Keys: keys})
		if interrupted(ctx, err) {
			return restoreInterrupted(dir.Path(), pgTarget, false)
		}
		if err != nil {
			return err
		}
		defer u.Remove()
		src = u.Dir
	} else if isArchiveArg(pos[0]) { // an archive of "backups export": unpack and verify it first
		u, cleanup, err := m.unpackForRestore(ctx, pos[0], *dataDir, backup.UnpackOptions{Keys: keys})
		if interrupted(ctx, err) {
			return restoreInterrupted(dir.Path(), pgTarget, false)
		}
		if err != nil {
			return err
		}
		defer cleanup()
		src = u.Dir
	} else if src, err = m.resolveBackup(pos[0], *backupDirFlag, *dataDir); err != nil {
		return err
	} else if err := checkRestoreSource(src, *dataDir); err != nil {
		return err
	}
	key := *keyFile
	if key == "" {
		key = m.Getenv(EnvKeyFile)
	}
	prog := m.newProgress(*quiet)
	res, err := backup.Restore(ctx, backup.RestoreOptions{
		Backup:          src,
		DataDir:         dir.Path(),
		Local:           sqlite.Local{},
		Target:          target,
		KeyFile:         key,
		Keys:            keys,
		AsCopy:          *asCopy,
		DiscardPrevious: *discard,
		Progress:        prog.update,
		Logger:          m.warnLogger(),
	})
	prog.done()
	var ie *backup.InterruptedError
	if errors.As(err, &ie) {
		if ie.Recovered != "" {
			return interruptedf("restore interrupted: it first %s, which a crash had cut short, in %s; nothing else was changed", ie.Recovered, dir.Path())
		}
		return restoreInterrupted(dir.Path(), pgTarget, true)
	}
	if interrupted(ctx, err) {
		// During the switch, which Restore does not stop for: only a
		// --db target's Commit can be cut short. Its error, shown as it
		// is, tells what it did.
		return &ExitError{Code: ExitInterrupted, Err: fmt.Errorf("restore interrupted while switching to the restored state: %w", err), Hint: backup.Hint(err)}
	}
	if err != nil {
		return backupError(err)
	}
	if !*quiet {
		mf := res.Manifest
		fmt.Fprintf(m.Stdout, "restored %s (taken %s on %s, bitnobi %s, schema %d) into %s in %s\n",
			filepath.Base(src), mf.CreatedAt.Format(time.RFC3339), mf.Host, mf.AppVersion, mf.SchemaVersion, res.DataDir, res.Duration.Round(time.Millisecond))
		if res.CloneOf != "" {
			fmt.Fprintf(m.Stdout, "copy: instance %s (a copy of %s); e-mail and remote servers are disabled\n", res.InstanceID, res.CloneOf)
		} else {
			fmt.Fprintf(m.Stdout, "instance %s\n", res.InstanceID)
		}
		if res.Previous != "" && target != nil {
			fmt.Fprintf(m.Stdout, "previous state kept in schema %s of the database (drop it when satisfied: DROP SCHEMA %s CASCADE)\n", res.Previous, res.Previous)
		} else if res.Previous != "" {
			fmt.Fprintf(m.Stdout, "previous state kept in %s\n", res.Previous)
		}
	}
	fmt.Fprintln(m.Stdout, res.DataDir)
	return nil
}

// restoreInterrupted is the error of a restore into dataDir that SIGINT
// or SIGTERM stopped before it changed anything (before or while the
// archive was unpacked, or with a [backup.InterruptedError]), saying what
// was left as it was. db is the --db target, if any; blobsCopied says
// whether the restore may have copied blobs into dataDir by then.
func restoreInterrupted(dataDir string, db *postgres.RestoreTarget, blobsCopied bool) error {
	if db != nil {
		msg := "restore interrupted: the database, " + db.Describe() + ", was left as it was"
		if blobsCopied {
			msg += " (any blobs already copied into " + datadir.Dir(dataDir).Blobs() + " are unused: the server's blob collection removes them)"
		}
		return interruptedf("%s", msg)
	}
	if _, err := os.Stat(dataDir); errors.Is(err, fs.ErrNotExist) {
		return interruptedf("restore interrupted: nothing was restored, and there is no data directory %s", dataDir)
	}
	return interruptedf("restore interrupted: the data directory %s was left as it was", dataDir)
}

// resolveBackup turns the BACKUP argument into a path: as given if it
// exists, else the backup of that name in the backup folder.
func (m *Main) resolveBackup(arg, backupDirFlag, dataDir string) (string, error) {
	if _, err := os.Stat(arg); err == nil || strings.ContainsRune(arg, filepath.Separator) {
		return arg, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	folder, err := m.backupDir(backupDirFlag, dataDir)
	if err != nil {
		return "", err
	}
	p := filepath.Join(folder, arg)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		// A name is looked up in the backup folder of --data-dir, which
		// for a restore into a new directory is not where the backups are.
		return "", usagef("give the backup's path, or --backup-dir FOLDER; bitnobi backups list --backup-dir FOLDER shows the names",
			"no backup %q: neither a path nor a backup in the folder %s", arg, folder)
	}
	return p, nil
}

// checkRestoreSource refuses, as bad input, a BACKUP argument that is not
// a backup (before anything else: "restore /tmp --data-dir /tmp/x" is
// first of all not a backup) or that overlaps the data directory.
// backup.Restore makes both checks too, but reports an overlap as a plain
// failure.
func checkRestoreSource(src, dataDir string) error {
	if _, err := format.ReadManifest(src); err != nil {
		return backupError(err)
	}
	absSrc, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	absData, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	if fsutil.Within(absSrc, absData) || fsutil.Within(absData, absSrc) {
		return usagef("keep backups in a folder beside the data directory, and restore into a directory outside it",
			"the backup %s and the data directory %s overlap", absSrc, absData)
	}
	return nil
}

// parseInterleaved parses flags given before, between and after the
// positional arguments, which it returns ("restore B --data-dir D" and
// "restore --data-dir D B" alike).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil // after "--", all are arguments
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
