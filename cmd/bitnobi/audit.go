package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/store"
)

const auditHelp = `Usage: bitnobi audit COMMAND [flags]

Checks the audit log, which records every action with each entry's hash
chained to the one before it.

Commands:
`

// auditFooter follows the list of commands in the help of "bitnobi audit".
const auditFooter = `
Run "bitnobi audit verify --help" for details.
Exit codes: 0 the chain is whole, 2 bad input, 4 the chain is broken,
130 interrupted (SIGINT or SIGTERM; it only reads).

Flags of audit verify:
`

const auditVerifyHelp = `Usage: bitnobi audit verify [flags]

Checks the audit log's hash chain: every entry's hash over its content and
the previous entry's hash. A changed, removed or reordered entry is reported
with its sequence number. Safe while the server runs (it only reads).
With --db (or BITNOBI_DB), the log of that PostgreSQL database.
Exit code 0 when the chain is whole, 4 when it is broken, 130 when
interrupted.
`

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
