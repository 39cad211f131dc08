package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/bitnobi/bitnobi/backup"
)

const backupsHelp = `Usage: bitnobi backups COMMAND [flags]

Commands:
  list             list the backups in the backup folder, oldest first
  verify NAME      check one backup completely: every file's SHA-256, every
                   table's rows, every blob's content
  verify --all     check every backup in the folder

"list" only checks each manifest; "verify" reads everything. Neither changes
anything, and both are safe while the server or a backup runs.
Exit codes: 0 ok, 1 failed, 2 bad input, 4 a backup did not verify.
`

func (m *Main) runBackups(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, backupsHelp)
		return usagef("bitnobi backups list", "backups needs a command: list or verify")
	}
	switch args[0] {
	case "list":
		return m.runBackupsList(ctx, args[1:])
	case "verify":
		return m.runBackupsVerify(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(m.Stdout, backupsHelp)
		return nil
	}
	return usagef("bitnobi backups --help", "unknown backups command %q", args[0])
}

// listEntry is one line of "backups list --json".
type listEntry struct {
	Name          string        `json:"name"`
	Path          string        `json:"path"`
	CreatedAt     time.Time     `json:"created_at,omitzero"`
	AppVersion    string        `json:"app_version,omitempty"`
	SchemaVersion int           `json:"schema_version,omitempty"`
	InstanceID    string        `json:"instance_id,omitempty"`
	Stats         *backup.Stats `json:"stats,omitempty"`
	Error         string        `json:"error,omitempty"`
}

func (m *Main) runBackupsList(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backups list", backupsHelp)
	dataDir := m.dataDirFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bitnobi backups list --help", "list takes no arguments, got %q", fs.Args())
	}
	folder, err := m.backupDir(*backupDirFlag, *dataDir)
	if err != nil {
		return err
	}
	infos, err := backup.List(folder)
	if err != nil {
		return err
	}
	entries := make([]listEntry, 0, len(infos))
	for _, in := range infos {
		e := listEntry{Name: in.Name, Path: in.Path}
		if in.Err != nil {
			e.Error = in.Err.Error()
		} else {
			mf := in.Manifest
			e.CreatedAt, e.AppVersion, e.SchemaVersion, e.InstanceID = mf.CreatedAt, mf.AppVersion, mf.SchemaVersion, mf.InstanceID
			e.Stats = &mf.Stats
		}
		entries = append(entries, e)
	}
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(m.Stderr, "no backups in %s\n", folder)
		return nil
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED (UTC)\tAPP\tSCHEMA\tROWS\tBLOBS\tWRITTEN\tLINKED\tSTATUS")
	for _, e := range entries {
		if e.Error != "" {
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t\tdamaged: %s\n", e.Name, e.Error)
			continue
		}
		s := e.Stats
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d (%s)\t%s\t%s\tok\n", e.Name, e.CreatedAt.UTC().Format("2006-01-02 15:04:05"),
			e.AppVersion, e.SchemaVersion, s.Rows, s.Blobs, humanBytes(s.BlobBytes), humanBytes(s.BytesWritten), humanBytes(s.BytesLinked))
	}
	return tw.Flush()
}

func (m *Main) runBackupsVerify(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backups verify", backupsHelp)
	dataDir := m.dataDirFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	all := fs.Bool("all", false, "verify every backup in the backup folder")
	quiet := fs.Bool("quiet", false, "print only failures")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *all == (len(pos) == 1) || len(pos) > 1 {
		return usagef("bitnobi backups verify backup-20250102_1504, or bitnobi backups verify --all", "verify takes one backup name or --all")
	}
	var paths []string
	if *all {
		folder, err := m.backupDir(*backupDirFlag, *dataDir)
		if err != nil {
			return err
		}
		infos, err := backup.List(folder)
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
	var failed []error
	for _, p := range paths {
		prog := m.newProgress(*quiet)
		mf, err := backup.Verify(ctx, p, prog.update)
		prog.done()
		if errors.Is(err, context.Canceled) {
			return err
		}
		if err != nil {
			fmt.Fprintf(m.Stdout, "%s: FAILED: %v\n", p, err)
			failed = append(failed, err)
			continue
		}
		if !*quiet {
			fmt.Fprintf(m.Stdout, "%s: OK (%d files, %d rows, %d blobs, taken %s)\n", p, len(mf.Files), mf.Stats.Rows, mf.Stats.Blobs, mf.CreatedAt.Format(time.RFC3339))
		}
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return backupError(failed[0])
	}
	return &ExitError{Code: ExitVerify, Err: fmt.Errorf("%d of %d backups did not verify", len(failed), len(paths)),
		Hint: "restore from a backup that verifies"}
}
