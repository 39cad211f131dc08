package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/store"
)

const auditHelp = `Usage: bitnobi audit COMMAND [flags]

Checks and seals the audit log, which records every action with each
entry's hash chained to the one before it.

Commands:
`

// auditFooter follows the list of commands in the help of "bitnobi audit".
const auditFooter = `
Run "bitnobi audit verify --help" or "bitnobi audit seal --help" for details.
Exit codes: 0 the chain is whole, 2 bad input, 4 the chain is broken,
130 interrupted (SIGINT or SIGTERM; verify only reads, and an interrupted
seal leaves every entry either sealed or in the database).

Flags of both commands:
`

const auditVerifyHelp = `Usage: bitnobi audit verify [flags]

Checks the audit log's hash chain: every entry's hash over its content and
the previous entry's hash. A changed, removed or reordered entry is reported
with its sequence number. Sealed segments (see "bitnobi audit seal --help")
are read from the blob folder of the data directory, each checked against
its content hash, and the chain followed across them into the live entries:
an altered or missing segment file is reported with its range of sequence
numbers. Safe while the server runs (it only reads).
With --db (or BITNOBI_DB), the log of that PostgreSQL database: give the
server's --data-dir too, where its sealed segments are (a data directory
that holds none of the database's files is a usage error, exit 2).
Exit code 0 when the chain is whole, 4 when it is broken, 130 when
interrupted.
`

const auditSealHelp = `Usage: bitnobi audit seal [flags]

Seals the audit log's closed history: each full segment of 16384 entries
(sequence numbers 16384-32767, 32768-49151, ..., and 1-16383 first) that
has at least one newer entry is written, hash chain checked, as one compressed, immutable file to
the blob folder of the data directory, and its entries are then removed
from the database in one transaction. Sealed entries are still read by the
API, the pages, the Audit Log element and "audit verify" as before; backups
copy the files rather than the rows.

"bitnobi serve" seals by itself at start-up and then every minute, so this
command is for an installation whose server is not running, or to see what
is left to seal. It is safe while the server runs: sealers take turns, and
a crash or ^C at any point leaves each entry either in the database or in a
sealed file, never neither. It prints what it sealed. With --db, the
--data-dir must be the server's and exist: one whose blob folder lacks a
segment already sealed, or holds none of the database's files, is refused
(exit 2), since its segments would be where the server never reads them.
Exit code 0 when done, 4 when the chain is broken (nothing broken is
sealed), 130 when interrupted.

With --vacuum (SQLite only), it then gives the space of the removed
entries back to the file system: the database file shrinks. The server
must be stopped (the command takes the data directory's lock, exit 3 if
the server holds it), and the disk needs free space for a copy of the
database while it runs. A database created by an earlier version keeps
the free space after sealing; --vacuum converts it once (to SQLite's
incremental auto-vacuum), after which the server gives the space back
after each seal by itself. With --db, PostgreSQL's own autovacuum reuses
the space: --vacuum is refused.
`

// auditSealFlags returns the flags of "audit seal": the flag set,
// --data-dir, --db and --vacuum.
func (m *Main) auditSealFlags() (*flag.FlagSet, *string, *string, *bool) {
	fs := m.newFlagSet("audit seal", auditSealHelp)
	dataDir, db := m.dataDirFlag(fs), m.dbFlag(fs)
	vacuum := fs.Bool("vacuum", false, "after sealing, shrink the SQLite database file to its data (server stopped; needs free disk space for a copy of the database)")
	return fs, dataDir, db, vacuum
}

func (m *Main) runAuditSeal(ctx context.Context, args []string) error {
	fs, dataDir, dbFlag, vacuum := m.auditSealFlags()
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bitnobi audit seal --help", "audit seal takes no arguments, got %q", fs.Args())
	}
	dsn, err := m.dbURL(*dbFlag)
	if err != nil {
		return err
	}
	if *vacuum && dsn != "" {
		return usagef("bitnobi audit seal --db ... (without --vacuum)",
			"--vacuum shrinks a SQLite database file; PostgreSQL's autovacuum reuses the space of sealed entries by itself")
	}
	dir := datadir.Dir(*dataDir)
	if err := recoverInterruptedRestore(dir.Path()); err != nil {
		return err
	}
	if *vacuum {
		if _, err := os.Stat(dir.DB()); err != nil {
			return usagef("bitnobi audit seal --vacuum --data-dir DATA_DIR", "no Bitnobi database in %s", dir.Path())
		}
		// VACUUM rewrites the whole file and blocks every writer while
		// it runs: only with the server stopped.
		lock, err := lockfile.Acquire(dir.Lock(), "audit seal --vacuum")
		if err != nil {
			return lockError(err)
		}
		defer lock.Release()
	}
	if dsn != "" {
		// With PostgreSQL the data directory is given apart from the
		// database: sealing into another one would put the segments
		// where the server never reads them and delete their rows.
		// (openApp creates a missing one: look before.)
		if fi, err := os.Stat(dir.Path()); err != nil || !fi.IsDir() {
			return usagef("bitnobi audit seal --db ... --data-dir SERVER_DATA_DIR (the server's --data-dir or "+EnvDataDir+")",
				"data directory %s does not exist: sealing puts the audit log's segments in the server's data directory, give it with --data-dir", dir.Path())
		}
	}
	// Migrated, as the server would: an installation of an earlier
	// version gets the table of sealed segments here.
	a, err := m.openApp(ctx, dir, dsn, false)
	if interrupted(ctx, err) {
		return sealInterrupted()
	} else if err != nil {
		return err
	}
	defer a.Close()
	if dsn != "" {
		if err := sealDataDirMatches(ctx, a.DB, dir); err != nil {
			return err
		}
	}
	res, err := a.DB.SealAudit(ctx)
	if interrupted(ctx, err) {
		return sealInterrupted()
	}
	if errors.Is(err, store.ErrAuditChain) {
		return &ExitError{Code: ExitVerify, Err: fmt.Errorf("audit log of %s: %w", dir.Path(), err),
			Hint: "run bitnobi audit verify; restore the audit log from a backup that verifies: bitnobi backups verify --all"}
	} else if err != nil {
		return err
	}
	if res.Segments == 0 {
		fmt.Fprintf(m.Stdout, "nothing to seal: sealed up to seq %d\n", res.SealedUpTo)
	} else {
		fmt.Fprintf(m.Stdout, "sealed %s (%s, %s) in %s: sealed up to seq %d\n",
			count(res.Segments, "segment", "segments"), count(res.Entries, "entry", "entries"), humanBytes(res.Bytes),
			res.Duration.Round(time.Millisecond), res.SealedUpTo)
	}
	if *vacuum {
		return m.vacuumDB(ctx, a.DB)
	}
	return nil
}

// vacuumDB rebuilds the SQLite database without its free pages
// ([store.DB.Compact], which also turns on incremental auto-vacuum in a
// database created without it) and prints the file's size before and
// after.
func (m *Main) vacuumDB(ctx context.Context, db *store.DB) error {
	start := time.Now()
	before, _, err := sqliteSpace(ctx, db)
	if err != nil {
		return err
	}
	if err := db.Compact(ctx); interrupted(ctx, err) {
		return interruptedf("audit seal --vacuum interrupted: the database is as it was before the vacuum")
	} else if err != nil {
		return err
	}
	after, _, err := sqliteSpace(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "vacuumed the database in %s: %s, was %s\n",
		time.Since(start).Round(time.Millisecond), humanBytes(after), humanBytes(before))
	return nil
}

// sqliteSpace returns the size of db's SQLite database, in pages' bytes,
// and how much of it is free pages.
func sqliteSpace(ctx context.Context, db *store.DB) (size, free int64, err error) {
	var pages, freePages, pageSize int64
	err = db.Write.QueryRowContext(ctx, `SELECT p.page_count, f.freelist_count, s.page_size
		FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s`).Scan(&pages, &freePages, &pageSize)
	if err != nil {
		return 0, 0, fmt.Errorf("database size: %w", err)
	}
	return pages * pageSize, freePages * pageSize, nil
}

// sealInterrupted is the error of an interrupted "audit seal".
func sealInterrupted() error {
	return interruptedf("audit seal interrupted: the segments sealed so far are sealed, the other entries are still in the database")
}

// printAuditHelp writes the help of "bitnobi audit", with the flags of
// its one command, to w.
func (m *Main) printAuditHelp(w io.Writer) {
	fmt.Fprint(w, auditHelp+listCommands(auditCommands)+auditFooter)
	fs, _, _ := m.auditVerifyFlags()
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// auditVerifyFlags returns the flags of "audit verify": the flag set,
// --data-dir and --db.
func (m *Main) auditVerifyFlags() (*flag.FlagSet, *string, *string) {
	fs := m.newFlagSet("audit verify", auditVerifyHelp)
	return fs, m.dataDirFlag(fs), m.dbFlag(fs)
}

func (m *Main) runAuditVerify(ctx context.Context, args []string) error {
	fs, dataDir, dbFlag := m.auditVerifyFlags()
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bitnobi audit verify --help", "audit verify takes no arguments, got %q", fs.Args())
	}
	dsn, err := m.dbURL(*dbFlag)
	if err != nil {
		return err
	}
	dir := datadir.Dir(*dataDir)
	// As backup does: a restore a crash cut short leaves no data
	// directory until it is finished.
	if err := recoverInterruptedRestore(dir.Path()); err != nil {
		return err
	}
	db, err := openExisting(ctx, dir, dsn, "bitnobi audit")
	if interrupted(ctx, err) {
		return auditInterrupted()
	} else if err != nil {
		return err
	}
	defer db.Close()
	// Sealed segments are blobs of the data directory, whatever the
	// engine.
	db.Blobs = blob.NewStore(dir.Blobs())
	var n int64
	var last string
	err = db.ReadTx(ctx, func(tx *store.Tx) error {
		n, last, err = db.VerifyAudit(ctx, tx)
		return err
	})
	if interrupted(ctx, err) {
		return auditInterrupted()
	}
	if errors.Is(err, store.ErrSegmentMissing) && dsn != "" {
		// A segment file that is missing, not altered: with PostgreSQL
		// the data directory is given apart from the database, so first
		// tell a wrong --data-dir from a loss.
		if uerr := wrongDataDir(ctx, db, dir, "verify"); uerr != nil {
			return uerr
		}
	}
	if errors.Is(err, store.ErrAuditChain) {
		where := dir.Path()
		if dsn != "" {
			where = "the PostgreSQL database"
		}
		return &ExitError{Code: ExitVerify, Err: fmt.Errorf("audit log of %s: %w (after %s)", where, err, count(n, "good entry", "good entries")),
			Hint: "restore the audit log from a backup that verifies: bitnobi backups verify --all"}
	} else if err != nil {
		return err
	}
	head := ""
	if last != "" {
		head = ", head " + short(last)
	}
	fmt.Fprintf(m.Stdout, "audit chain OK: %s%s\n", count(n, "entry", "entries"), head)
	return nil
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// auditInterrupted is the error of an interrupted "audit verify".
func auditInterrupted() error {
	return interruptedf("audit verify interrupted: the audit log was not checked to the end (it only reads, and changed nothing)")
}

// dataDirHint is the "Try:" line of a data directory that is not the
// server's.
func dataDirHint(command string) string {
	return "bitnobi audit " + command + " --db ... --data-dir SERVER_DATA_DIR (the server's --data-dir or " + EnvDataDir + ")"
}

// wrongDataDir returns a usage error when the blob folder of dir holds
// none of the blob files db records (or is missing): dir is then not the
// server's data directory, rather than one that lost files. It returns
// nil when dir holds some of them, or db records none.
func wrongDataDir(ctx context.Context, db *store.DB, dir datadir.Dir, command string) error {
	recorded, holds, err := store.BlobStoreHolds(ctx, db.Read, blob.NewStore(dir.Blobs()))
	if err != nil {
		return err
	}
	if recorded == 0 || holds {
		return nil
	}
	return usagef(dataDirHint(command),
		"%s holds none of the %s the database records (sealed audit segments among them): %s is not the server's data directory, pass the server's --data-dir",
		dir.Blobs(), count(recorded, "blob file", "blob files"), dir.Path())
}

// sealDataDirMatches refuses to seal into a data directory whose blob
// folder does not hold every segment already sealed, or none of the blob
// files the database records: it is not the server's data directory (or
// has lost files, which "audit verify" tells).
func sealDataDirMatches(ctx context.Context, db *store.DB, dir datadir.Dir) error {
	if err := wrongDataDir(ctx, db, dir, "seal"); err != nil {
		return err
	}
	indexed, missing, err := store.MissingAuditSegments(ctx, db.Read, db.Blobs)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return usagef(dataDirHint("seal")+"; if it is the server's, run bitnobi audit verify",
			"%s lacks %d of the %s the database indexes (the first: seq %d-%d): sealing there would put new segments where the server does not read them; pass the server's --data-dir",
			dir.Blobs(), len(missing), count(int64(indexed), "sealed audit segment", "sealed audit segments"), missing[0].FirstSeq, missing[0].LastSeq)
	}
	return nil
}
