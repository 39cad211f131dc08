package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
)

const backupsListHelp = `Usage: bitnobi backups list [--backup-dir DIR | --remote] [--json]

Lists the backup folder, newest backup first. For each backup: its name,
when it was taken (UTC), the bitnobi and schema versions that wrote it,
its size on disk, the bytes unique to it (those it shares with no other
backup of the folder through hard links: about what removing it frees),
whether it is encrypted, and the outcome of its last "backups verify".

Only each manifest is read, never the files' content: "list" is fast and
says nothing about damage to the other files; "backups verify" does.
Directories that are not complete backups are listed as such, never as
backups: "damaged" (a backup-* directory whose manifest is missing or
damaged), "incomplete" (.tmp-backup-*: a backup, import or prune running
or interrupted; the next backup removes it) and "foreign" (not made by
bitnobi; left alone).

--remote lists the backups of the off-site S3 bucket instead (see
"bitnobi backups push --help" for its BITNOBI_S3_* settings), with each
one's s3:// address for restore, and "incomplete" for a push under way or
interrupted. UNIQUE is then the bytes no other remote backup shares.
`

// listEntry is one entry of "backups list --json".
type listEntry struct {
	Name          string               `json:"name"`
	Path          string               `json:"path"`
	Kind          string               `json:"kind"` // backup, damaged, incomplete, foreign
	CreatedAt     time.Time            `json:"created_at,omitzero"`
	AppVersion    string               `json:"app_version,omitempty"`
	SchemaVersion int                  `json:"schema_version,omitempty"`
	Encrypted     bool                 `json:"encrypted"`
	Files         int64                `json:"files"`
	Size          int64                `json:"size"`
	Unique        int64                `json:"unique"`
	Stats         *format.Stats        `json:"stats,omitempty"`
	Verified      *backup.Verification `json:"last_verified,omitempty"`
	Error         string               `json:"error,omitempty"`
}

func (m *Main) runBackupsList(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backups list", backupsListHelp)
	dataDir := m.dataDirFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	remote := fs.Bool("remote", false, "list the backups of the off-site S3 bucket (BITNOBI_S3_*)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bitnobi backups list --help", "list takes no arguments, got %q", fs.Args())
	}
	if *remote {
		return m.listRemote(ctx, *asJSON)
	}
	folder, err := m.backupDir(*backupDirFlag, *dataDir)
	if err != nil {
		return err
	}
	found, err := backup.Folder{Path: folder}.Entries()
	if err != nil {
		return err
	}
	entries := make([]listEntry, 0, len(found))
	for _, f := range found {
		e := listEntry{Name: f.Name, Path: f.Path, Kind: f.Kind, Files: f.Files, Size: f.Size, Unique: f.Unique,
			Encrypted: f.Encrypted, Verified: f.Verification}
		if f.Err != nil {
			e.Error = f.Err.Error()
		}
		if mf := f.Manifest; mf != nil {
			e.CreatedAt, e.AppVersion, e.SchemaVersion = mf.CreatedAt, mf.AppVersion, mf.SchemaVersion
			e.Stats = &mf.Stats
		}
		entries = append(entries, e)
	}
	if *asJSON {
		return m.writeJSON(entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(m.Stderr, "no backups in %s\n", folder)
		return nil
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED (UTC)\tAPP\tSCHEMA\tSIZE\tUNIQUE\tENCRYPTED\tLAST VERIFIED")
	for _, e := range entries {
		switch e.Kind {
		case backup.KindBackup:
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", e.Name, e.CreatedAt.UTC().Format("2006-01-02 15:04:05"),
				e.AppVersion, e.SchemaVersion, humanBytes(e.Size), humanBytes(e.Unique), yesNo(e.Encrypted), verifiedText(e.Verified))
		case backup.KindDamaged:
			fmt.Fprintf(tw, "%s\tdamaged: %s\n", e.Name, e.Error)
		case backup.KindIncomplete:
			fmt.Fprintf(tw, "%s\tincomplete: a backup, import or prune running or interrupted (%s; the next backup removes it)\n", e.Name, humanBytes(e.Size))
		default:
			fmt.Fprintf(tw, "%s\tforeign: not a bitnobi backup, left alone\n", e.Name)
		}
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// verifiedText renders the last verification for "backups list".
func verifiedText(v *backup.Verification) string {
	if v == nil {
		return "never"
	}
	s := "FAILED"
	if v.OK {
		s = "ok"
	}
	s += " " + v.At.UTC().Format("2006-01-02 15:04")
	if v.Deep {
		s += " (deep)"
	}
	return s
}
