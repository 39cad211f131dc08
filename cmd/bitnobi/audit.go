package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/store"
)

const auditHelp = `Usage: bitnobi audit verify [flags]

Checks the audit log's hash chain: every entry's hash over its content and
the previous entry's hash. A changed, removed or reordered entry is reported
with its sequence number. Safe while the server runs (it only reads).
With --db (or BITNOBI_DB), the log of that PostgreSQL database.
Exit code 0 when the chain is whole, 4 when it is broken.
`

func (m *Main) runAudit(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(m.Stdout, auditHelp)
			return nil
		}
		return usagef("bitnobi audit verify", "audit needs a subcommand: verify")
	}
	fs := m.newFlagSet("audit verify", auditHelp)
	dataDir := m.dataDirFlag(fs)
	dbFlag := m.dbFlag(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	dsn, err := m.dbURL(*dbFlag)
	if err != nil {
		return err
	}
	dir := datadir.Dir(*dataDir)
	db, err := openExisting(ctx, dir, dsn, "bitnobi audit")
	if err != nil {
		return err
	}
	defer db.Close()
	var n int64
	var last string
	err = db.ReadTx(ctx, func(tx *store.Tx) error {
		n, last, err = store.VerifyAudit(ctx, tx)
		return err
	})
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
	fmt.Fprintf(m.Stdout, "audit chain OK: %s, head %s\n", count(n, "entry", "entries"), short(last))
	return nil
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}
