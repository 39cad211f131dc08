package main

import (
	"context"
	"encoding/json"
	"fmt"
)

const backupsHelp = `Usage: bitnobi backups COMMAND [flags]

Manage the backups in the backup folder (--backup-dir, $BITNOBI_BACKUP_DIR,
or "backup" beside --data-dir). Everything works on the backup folder
alone: no server is needed, and a running server or backup is never
disturbed.

Commands:
  list                    the backups, newest first: time, versions, size,
                          bytes unique to each, encryption, last verification
  verify NAME | --all     re-read every file against the manifest;
                          --deep also restores into a temporary directory
                          and checks the restored state
  inspect NAME [ENTITY]   counts, and users, policies, data sources,
                          workflows, reports, remote servers of a backup,
                          without restoring it (never secrets)
  diff A B                what changed from backup A to backup B, or to the
                          live data directory when B is "live"
  prune --keep-...        remove the backups a retention policy does not
                          keep (--dry-run shows what and why)
  export NAME FILE|-      write one backup as a single archive (tar, zstd)
  import FILE|-           verify an archive and add it to the backup folder
  push NAME               copy a backup to the off-site S3 bucket (only
                          the files the bucket lacks; manifest last)
  pull NAME               copy a backup from the bucket into the folder,
                          verified as an import is

list, verify and prune take --remote to work on the bucket instead of
the folder; "bitnobi restore s3://BUCKET/PREFIX/NAME" restores from it.
The bucket is configured by BITNOBI_S3_* variables (see push --help).

Run "bitnobi backups COMMAND --help" for a command's flags.
Exit codes: 0 ok, 1 failed, 2 bad input, 3 the backup folder is locked by
a running backup, 4 a backup did not verify, 5 the off-site storage
could not be used (unreachable, credentials refused, no bucket), 130 interrupted (SIGINT or
SIGTERM; the message says what was and was not done).
`

func (m *Main) runBackups(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, backupsHelp)
		return usagef("bitnobi backups list", "backups needs a command: list, verify, inspect, diff, prune, export, import, push or pull")
	}
	rest := args[1:]
	switch args[0] {
	case "list":
		return m.runBackupsList(ctx, rest)
	case "verify":
		return m.runBackupsVerify(ctx, rest)
	case "inspect":
		return m.runBackupsInspect(ctx, rest)
	case "diff":
		return m.runBackupsDiff(ctx, rest)
	case "prune":
		return m.runBackupsPrune(ctx, rest)
	case "export":
		return m.runBackupsExport(ctx, rest)
	case "import":
		return m.runBackupsImport(ctx, rest)
	case "push":
		return m.runBackupsPush(ctx, rest)
	case "pull":
		return m.runBackupsPull(ctx, rest)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(m.Stdout, backupsHelp)
		return nil
	}
	return usagef("bitnobi backups --help", "unknown backups command %q", args[0])
}

// readOnlyInterrupted is the error of a command that only reads (inspect,
// diff) and that SIGINT or SIGTERM stopped before it printed its result.
func readOnlyInterrupted(cmd string) error {
	return interruptedf("%s interrupted: nothing was printed (it only reads, and changed nothing)", cmd)
}

// writeJSON prints v as indented JSON on stdout.
func (m *Main) writeJSON(v any) error {
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
