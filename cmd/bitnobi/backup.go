package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

const backupHelp = `Usage: bitnobi backup [flags]

Writes a backup of all Bitnobi state in --data-dir (every table and every
uploaded file; with --db, the tables come from that PostgreSQL database,
as for "bitnobi serve --db") into a new directory of the backup folder, named
backup-YYYYMMDD_HHMM after the current time in UTC; a second backup in the
same minute gets -2, -3... It never overwrites a backup. The new backup's
path is the last line printed on stdout.

The server may keep running: the backup reads one consistent snapshot (on
PostgreSQL, one REPEATABLE READ, READ ONLY transaction) and does not stop
or lock out the server. What did not change since the newest backup of
the folder (blobs, tables whose change stamp is the same, older audit log
segments) is hard-linked from it rather than read and written again, so a
backup costs about what changed. An interrupted backup
leaves only a .tmp-backup-* directory, which the next backup removes.

A plain backup does not contain the master key (master.key, which seals
the stored passwords): keep a copy of it off-site, apart from the backups.
A restore needs it.

Encryption (--encrypt): every file of the backup is encrypted with age
(https://age-encryption.org), to one or more public keys (--recipient
age1..., repeatable, or --recipients-file FILE with one per line, as
age-keygen prints them) or under a passphrase (--passphrase-file FILE, its
first line; never on the command line). An encrypted backup carries the
master key, sealed with everything else, so a restore on a new machine
needs only the backup and the identity file (age-keygen's output) or the
passphrase: keep those safe and apart from the backups, since without
them the backup cannot be read at all. What stays readable without them
is only what "backups list" shows: the backup's time, the app, schema and
format versions, and the files' sizes and ciphertext checksums. Files
are hard-linked from the previous backup only when it was encrypted to
the same recipients or passphrase (with the same master key), so keep
one series of keys per folder.

  age-keygen -o backup-key.txt      # prints the public key: age1...
  bitnobi backup --encrypt --recipient age1...
  bitnobi restore backup-20250102_1504 --identity backup-key.txt

Priority (--priority, $BITNOBI_BACKUP_PRIORITY): by default ("low") the
backup runs at nice 19 and at the lowest best-effort I/O priority (on
Linux; elsewhere nothing changes), so that the server's requests go first
and the backup takes what is left: it takes longer on a busy machine and
about as long on an idle one. A priority that is lower already (nice 19,
"ionice -c3") is kept; a backup that leads its session (a systemd unit,
"setsid -w bitnobi backup") lowers the session's nice value too, which is
what counts against a server in another session where the kernel groups
processes by session (autogroups). "normal" leaves the priorities as they
are. If the priority cannot be lowered, the backup warns and runs anyway.
The I/O priority counts only where the disk's I/O scheduler honours it
(bfq; mq-deadline only by class), and for reads more than for writes,
which the kernel mostly writes back from threads of its own.

Exit codes: 0 ok, 1 failed, 2 bad input (an unusable recipient or
passphrase file, an unknown --priority), 3 another backup is writing into
the folder (see --wait), 130 interrupted (SIGINT or SIGTERM; nothing is
kept).
`

func (m *Main) runBackup(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backup", backupHelp)
	dataDir := m.dataDirFlag(fs)
	dbFlag := m.dbFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	quiet := fs.Bool("quiet", false, "print only the backup's path: no progress, summary or notes")
	wait := fs.Duration("wait", 0, "how long to wait while another backup writes into the folder (0: fail at once)")
	encFlags := m.encryptFlags(fs)
	priority := m.priorityFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bitnobi backup --help", "backup takes no arguments, got %q", fs.Args())
	}
	logger := m.warnLogger()
	if err := m.applyPriority(*priority, *quiet, logger); err != nil {
		return err
	}
	encrypt, err := encFlags.options()
	if err != nil {
		return err
	}
	folder, err := m.backupDir(*backupDirFlag, *dataDir)
	if err != nil {
		return err
	}
	dsn, err := m.dbURL(*dbFlag)
	if err != nil {
		return err
	}
	dir := datadir.Dir(*dataDir)
	// Finish a restore a crash cut short first: between its two renames
	// the data directory is missing, and the checks below would call it
	// "no Bitnobi database" (backup.Create recovers too, but too late).
	if err := recoverInterruptedRestore(dir.Path()); err != nil {
		return err
	}
	var openDB func(context.Context) (*store.DB, error)
	if dsn != "" {
		if _, err := os.Stat(dir.Path()); errors.Is(err, os.ErrNotExist) {
			return usagef("bitnobi backup --db ... --data-dir DIR, with the directory bitnobi serve uses (its blobs and master key)", "no data directory %s", dir.Path())
		}
		openDB = func(ctx context.Context) (*store.DB, error) {
			return postgres.OpenWith(ctx, dsn, postgres.Options{ApplicationName: "bitnobi backup"})
		}
	} else if _, err := os.Stat(dir.DB()); errors.Is(err, os.ErrNotExist) {
		return usagef("bitnobi backup --data-dir DIR, with the directory bitnobi serve uses", "no Bitnobi database in %s", dir.Path())
	}
	prog := m.newProgress(*quiet)
	res, err := backup.Create(ctx, backup.CreateOptions{
		Local:    sqlite.Local{},
		DataDir:  dir.Path(),
		OpenDB:   openDB,
		Folder:   folder,
		KeyFile:  m.keyFile(dir),
		Encrypt:  encrypt,
		LockWait: *wait,
		Progress: prog.update,
		Logger:   logger,
	})
	prog.done()
	if interrupted(ctx, err) {
		// Whatever was cut short (often the database open, so the cause
		// reads "open sqlite ...: context canceled"), the operator needs
		// to know that Create removed its partial backup.
		return interruptedf("backup interrupted: nothing was kept (no new backup in %s)", folder)
	}
	if err != nil {
		return backupError(err)
	}
	if !*quiet {
		for _, w := range res.Warnings {
			fmt.Fprintf(m.Stderr, "Warning: %s\n", w)
		}
		if len(res.RemovedTemp) > 0 {
			fmt.Fprintf(m.Stderr, "Removed %s: %s\n", count(len(res.RemovedTemp), "interrupted backup", "interrupted backups"), strings.Join(res.RemovedTemp, ", "))
		}
		if e := res.Manifest.Encryption; e != nil {
			how := "identity (the private key of a recipient)"
			if e.Mode == format.EncryptPassphrase {
				how = "passphrase"
			}
			fmt.Fprintf(m.Stderr, "Note: the backup is encrypted and carries the master key (fingerprint %s), sealed with it. Restoring needs only the %s: keep it safe and apart from the backups, as nothing can read the backup without it.\n",
				res.Manifest.MasterKey.Fingerprint, how)
		} else {
			fmt.Fprintf(m.Stderr, "Note: the backup does not contain the master key (fingerprint %s). Keep a copy of %s off-site, apart from the backups: restoring needs it.\n",
				res.Manifest.MasterKey.Fingerprint, absPath(m.keyFile(dir)))
		}
		st := res.Manifest.Stats
		fmt.Fprintf(m.Stdout, "%s: %s, %s, %s (%s), schema %d\n",
			res.Name, count(len(res.Manifest.Tables), "table", "tables"), count(st.Rows, "row", "rows"),
			count(st.Blobs, "blob", "blobs"), humanBytes(st.BlobBytes), res.Manifest.SchemaVersion)
		linked := ""
		if st.FilesLinked > 0 {
			linked = " from " + res.Manifest.Previous
		}
		fmt.Fprintf(m.Stdout, "written %s in %s, linked %s in %s%s, in %s\n",
			humanBytes(st.BytesWritten), count(st.FilesWritten, "file", "files"), humanBytes(st.BytesLinked), count(st.FilesLinked, "file", "files"),
			linked, res.Duration.Round(time.Millisecond))
	}
	fmt.Fprintln(m.Stdout, res.Path)
	return nil
}

// backupError gives the backup package's errors their exit codes and
// hints: 3 for a lock held by someone else, 4 for a backup that does not
// verify (altered or damaged, encrypted files included), 2 for input that
// cannot be accepted (a missing or wrong identity or passphrase among
// them).
func backupError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	if kerr := keyModeError(err); kerr != nil {
		return kerr
	}
	hint := backup.Hint(err)
	var pgHeld *postgres.LockedError
	switch {
	case errors.As(err, &pgHeld):
		return &ExitError{Code: ExitLocked, Err: err, Hint: "stop the server using the database first"}
	case errors.Is(err, lockfile.ErrLocked):
		var held *lockfile.HeldError
		if hint == "" && errors.As(err, &held) {
			hint = fmt.Sprintf("stop process %d (%s) first", held.PID, held.Purpose)
		}
		return &ExitError{Code: ExitLocked, Err: err, Hint: hint}
	case errors.Is(err, backup.ErrArchive):
		// A hostile or malformed archive is input that cannot be
		// accepted (exit 2, as the README says), though ErrArchive
		// matches ErrVerify too.
		if hint == "" {
			hint = "make the archive again with bitnobi backups export"
		}
		return &UsageError{Err: err, Hint: hint}
	case errors.Is(err, backup.ErrVerify), errors.Is(err, store.ErrAuditChain):
		if hint == "" {
			hint = "pick another backup: bitnobi backups list"
		}
		return &ExitError{Code: ExitVerify, Err: err, Hint: hint}
	case errors.Is(err, backup.ErrNotBackup), errors.Is(err, backup.ErrNewerVersion),
		errors.Is(err, backup.ErrKeyMissing), errors.Is(err, backup.ErrKeyUnusable), errors.Is(err, backup.ErrKeyMismatch),
		errors.Is(err, backup.ErrKeyRequired), errors.Is(err, backup.ErrWrongKey), errors.Is(err, backup.ErrKeyFile),
		errors.Is(err, backup.ErrTargetNotEmpty),
		errors.Is(err, secret.ErrInsecureKeyFile), errors.Is(err, secret.ErrMalformedKeyFile):
		return &UsageError{Err: err, Hint: hint}
	case hint != "":
		return &ExitError{Code: ExitFailed, Err: err, Hint: hint}
	}
	return err
}

// keyModeError returns, for an error about a key file refused for its
// mode (wrapping [secret.ErrInsecureKeyFile]), a [UsageError] that says
// so and how to fix it, and nil for any other error. The backup package
// wraps the refusal in messages of its own, one per command: backup's
// hint points at BITNOBI_MASTER_KEY_FILE, as for a file that is not
// there; this one message, the same for backup, restore and
// "backups verify --deep", names the mode and the fix.
func keyModeError(err error) error {
	var kfe *secret.KeyFileError
	if !errors.Is(err, secret.ErrInsecureKeyFile) || !errors.As(err, &kfe) {
		return nil
	}
	return &UsageError{Err: &insecureKeyError{kfe}, Hint: "chmod 600 " + kfe.Path}
}

// insecureKeyError is a master key file refused because other users may
// access it.
type insecureKeyError struct{ kfe *secret.KeyFileError }

func (e *insecureKeyError) Error() string {
	mode := "its mode"
	if fi, err := os.Stat(e.kfe.Path); err == nil {
		mode = fmt.Sprintf("its mode %04o", fi.Mode().Perm())
	}
	return fmt.Sprintf("master key file %s refused: %s lets other users access it; it must be readable by its owner only", e.kfe.Path, mode)
}

func (e *insecureKeyError) Unwrap() error { return e.kfe }

// recoverInterruptedRestore finishes a restore into dataDir that a crash
// interrupted (see backup.RecoverInterruptedRestore), and removes the
// DATA_DIR.restore-archive-* directories killed restores left; serve,
// backup and audit verify call it before taking the data directory.
func recoverInterruptedRestore(dataDir string) error {
	if abs, err := filepath.Abs(dataDir); err == nil {
		removeStaleArchives(abs) // unpacked archives killed restores left
	}
	return backupError(backup.RecoverInterruptedRestore(dataDir))
}

// collectGarbage removes the blobs nothing refers to, waiting while a
// backup copies blobs.
func collectGarbage(ctx context.Context, a *app, logger *slog.Logger) error {
	res, err := a.DB.CollectGarbage(ctx, a.Dir.GCLock(), store.DefaultGCGrace)
	if err != nil {
		return err
	}
	logger.Debug("blob garbage collection", "rows", res.RowsDeleted, "files", res.FilesRemoved, "bytes", res.BytesFreed)
	return nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// EnvProgress set to "lines" makes the commands report their progress as
// lines on stderr, for a program that runs them (see newProgress).
const EnvProgress = "BITNOBI_PROGRESS"

// progress draws a one-line progress report on stderr when it is a
// terminal: phase, items and bytes done, rate and time left.
type progress struct {
	w          io.Writer // nil: draw nothing
	lines      bool      // one "progress: ..." line per update (EnvProgress=lines)
	phase      string
	phaseStart time.Time
	last       time.Time
	drawn      bool
}

// newProgress returns a progress line on m.Stderr, or one that draws
// nothing when quiet or when stderr is not a terminal.
//
// With BITNOBI_PROGRESS=lines, it writes one "progress: ..." line per
// update instead (at most five a second, and at each new phase), whatever
// stderr is: the server sets it for the commands it runs for the backups
// page, which shows the last line live.
func (m *Main) newProgress(quiet bool) *progress {
	p := &progress{}
	if m.Getenv(EnvProgress) == "lines" {
		p.w, p.lines = m.Stderr, true
		return p
	}
	if f, ok := m.Stderr.(*os.File); ok && !quiet && term.IsTerminal(int(f.Fd())) {
		p.w = f
	}
	return p
}

func (p *progress) update(u backup.Progress) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if u.Phase != p.phase {
		p.phase, p.phaseStart = u.Phase, now
	} else if now.Sub(p.last) < 200*time.Millisecond && (u.ItemsTotal == 0 || u.Items < u.ItemsTotal) {
		return
	}
	p.last = now
	if p.lines {
		fmt.Fprintf(p.w, "progress: %s\n", formatProgress(u, now.Sub(p.phaseStart)))
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s", formatProgress(u, now.Sub(p.phaseStart)))
	p.drawn = true
}

// done clears the progress line.
func (p *progress) done() {
	if p.w != nil && p.drawn && !p.lines {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// formatProgress renders one progress line, e.g.
//
//	blobs 12/40  1.2 GiB/3.4 GiB  85.3 MiB/s  ETA 27s
func formatProgress(u backup.Progress, elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString(u.Phase)
	if u.ItemsTotal > 0 {
		fmt.Fprintf(&b, " %d/%d", u.Items, u.ItemsTotal)
	} else if u.Items > 0 {
		fmt.Fprintf(&b, " %d", u.Items)
	}
	if u.Bytes > 0 {
		b.WriteString("  " + humanBytes(u.Bytes))
		if u.BytesTotal > 0 {
			b.WriteString("/" + humanBytes(u.BytesTotal))
		}
		if secs := elapsed.Seconds(); secs > 0.5 {
			rate := float64(u.Bytes) / secs
			fmt.Fprintf(&b, "  %s/s", humanBytes(int64(rate)))
			if u.BytesTotal > u.Bytes && rate > 0 {
				eta := time.Duration(float64(u.BytesTotal-u.Bytes) / rate * float64(time.Second))
				fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
			}
		}
	}
	return b.String()
}

// count formats n and the noun for it, singular or plural: "1 blob",
// "2 blobs", "0 entries".
func count[N ~int | ~int64](n N, singular, plural string) string {
	if n == 1 {
		return "1 " + singular
	}
	return fmt.Sprintf("%d %s", n, plural)
}

// humanBytes formats n bytes with a binary unit: 512 B, 1.5 KiB, 3.2 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
