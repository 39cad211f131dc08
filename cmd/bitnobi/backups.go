package main

import (
	"encoding/json"
)

const backupsHelp = `Usage: bitnobi backups COMMAND [flags]

Manage the backups in the backup folder (--backup-dir, $BITNOBI_BACKUP_DIR,
or "backup" beside --data-dir). Everything works on the backup folder
alone: no server is needed, and a running server or backup is never
disturbed.

Commands:
`

// backupsFooter follows the list of commands in the help of "bitnobi backups".
const backupsFooter = `
list, verify and prune take --remote to work on the bucket instead of
the folder; "bitnobi restore s3://BUCKET/PREFIX/NAME" restores from it.
The bucket is configured by BITNOBI_S3_* variables (see push --help).

Run "bitnobi backups COMMAND --help" for a command's flags.
Exit codes: 0 ok, 1 failed, 2 bad input, 3 the backup folder is locked by
a running backup, 4 a backup did not verify, 5 the off-site storage
could not be used (unreachable, credentials refused, no bucket), 130 interrupted (SIGINT or
SIGTERM; the message says what was and was not done).
`

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
