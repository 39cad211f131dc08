package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/store"
)

const backupsDiffHelp = `Usage: bitnobi backups diff A B [--json] [--limit N] [flags]

Shows what changed from backup A to backup B, table by table: the rows
added, removed and changed, matched by primary key, each named (a user by
its username, a policy by its name...) and, for a changed row, the columns
that differ. Values other than keys and names are never shown, so secrets
and password hashes stay hidden.

B may be "live": the current state of --data-dir (or of the PostgreSQL
database --db), read in one read-only transaction, which never blocks the
running server.

Both sides are read a row at a time in primary-key order and merge-joined,
so memory does not grow with the tables; counts are exact, and at most
--limit rows of each table are listed. Exit code 0 whether or not there
are differences (use --json to act on them).
`

func (m *Main) runBackupsDiff(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backups diff", backupsDiffHelp)
	dataDir := m.dataDirFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	dbFlag := m.dbFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 20, "list at most N added, removed or changed rows of each table (0: counts only)")
	loadKeys := m.keysFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("bitnobi backups diff backup-20250101_1504 backup-20250102_1504, or ... live", "diff takes two backups (the second may be \"live\")")
	}
	if *limit < 0 {
		return usagef("bitnobi backups diff --help", "--limit must not be negative")
	}
	keys, err := loadKeys()
	if err != nil {
		return err
	}
	open := func(name string) (*backup.Reader, error) {
		p, err := m.resolveBackup(name, *backupDirFlag, *dataDir)
		if err != nil {
			return nil, err
		}
		r, err := backup.OpenReader(p, keys)
		if err != nil {
			return nil, backupError(err)
		}
		return r, nil
	}
	a, err := open(pos[0])
	if err != nil {
		return err
	}
	opts := backup.DiffOptions{Limit: *limit}
	var d *backup.Difference
	if pos[1] == backup.LiveName {
		db, err := m.openLive(ctx, *dataDir, *dbFlag)
		if interrupted(ctx, err) {
			return readOnlyInterrupted("diff")
		}
		if err != nil {
			return err
		}
		defer db.Close()
		d, err = backup.DiffLive(ctx, a, db, opts)
		if interrupted(ctx, err) {
			return readOnlyInterrupted("diff")
		}
		if err != nil {
			return backupError(err)
		}
	} else {
		b, err := open(pos[1])
		if err != nil {
			return err
		}
		d, err = backup.Diff(ctx, a, b, opts)
		if interrupted(ctx, err) {
			return readOnlyInterrupted("diff")
		}
		if err != nil {
			return backupError(err)
		}
	}
	if *asJSON {
		return m.writeJSON(d)
	}
	return writeDifference(m.Stdout, d)
}

// openLive opens the live database read-only in spirit: without
// migrating it or taking the data directory's lock, as a running server
// holds it.
func (m *Main) openLive(ctx context.Context, dataDir, dbFlag string) (*store.DB, error) {
	dsn, err := m.dbURL(dbFlag)
	if err != nil {
		return nil, err
	}
	dir := datadir.Dir(dataDir)
	if _, err := os.Stat(dir.DB()); dsn == "" && errors.Is(err, os.ErrNotExist) {
		return nil, usagef("bitnobi backups diff A live --data-dir DIR", "no Bitnobi database in %s", dir.Path())
	}
	return openExisting(ctx, dir, dsn, "bitnobi backup")
}

// writeDifference prints a difference, tables without changes left out.
func writeDifference(w io.Writer, d *backup.Difference) error {
	fmt.Fprintf(w, "from %s to %s\n", d.A, d.B)
	if !d.Changed() {
		fmt.Fprintln(w, "no differences")
		return nil
	}
	marks := map[string]string{backup.ChangeAdded: "+", backup.ChangeRemoved: "-", backup.ChangeChanged: "~"}
	for _, t := range d.Tables {
		if t.Added+t.Removed+t.Changed+t.Sealed == 0 && t.Note == "" {
			continue
		}
		sealed := ""
		if t.Sealed > 0 {
			sealed = fmt.Sprintf(", %d sealed into segments", t.Sealed)
		}
		fmt.Fprintf(w, "\n%s (%s): %d added, %d removed, %d changed%s\n", t.Entity, t.Table, t.Added, t.Removed, t.Changed, sealed)
		if t.Note != "" {
			fmt.Fprintf(w, "  note: %s\n", t.Note)
		}
		for _, r := range t.Rows {
			line := "  " + marks[r.Change] + " " + oneLine(r.Key)
			if r.Name != "" {
				line += "  " + oneLine(r.Name)
			}
			if len(r.Columns) > 0 {
				line += "  (" + strings.Join(r.Columns, ", ") + ")"
			}
			fmt.Fprintln(w, line)
		}
		if t.Unlisted > 0 {
			fmt.Fprintf(w, "  ... and %d more\n", t.Unlisted)
		}
	}
	return nil
}
