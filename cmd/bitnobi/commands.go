package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// command is one command of the CLI. The table [commands] is the one list
// of them: [Main.Run] dispatches by it, the usage text and each group's
// help list it, and help_test runs every command's --help from it. A new
// command is a row here and a run method in a file of its own.
type command struct {
	name    string // "backup"; within a group, "verify"
	args    string // what follows the name in a group's list: "NAME | --all"
	summary string // for the list; each line after the first is indented under the first
	// help is a command's --help text, printed before its flags by
	// [Main.newFlagSet]. A group's help is what comes before its list of
	// commands, and footer what comes after.
	help   string
	footer string
	run    func(m *Main, ctx context.Context, args []string) error
	subs   []command // a group's commands
	hidden bool      // left out of the usage text (dev)
	// needs is a group's hint when no command is given ("bitnobi backups
	// list"); "" means "bitnobi GROUP --help".
	needs string
	// printHelp, if set, prints a group's help instead of the help, list
	// and footer (audit adds the flags its commands share).
	printHelp func(m *Main, w io.Writer)
}

// commands is the CLI, in the order the usage text lists it.
var commands = []command{
	{name: "serve", summary: "run the server (SQLite and a blob folder in --data-dir)", help: serveHelp, run: (*Main).runServe},
	{name: "backup", summary: "write a consistent backup of all state, while the server runs", help: backupHelp, run: (*Main).runBackup},
	{name: "restore", summary: "restore a backup into a data directory, atomically", help: restoreHelp, run: (*Main).runRestore},
	{
		name: "backups", summary: "list, verify, inspect, diff, prune, export and import backups,\nand push and pull them to and from S3-compatible storage",
		help: backupsHelp, footer: backupsFooter, needs: "bitnobi backups list",
		subs: backupsCommands,
	},
	{
		name: "audit", summary: "verify the audit log's hash chain; seal its closed history",
		help: auditHelp, footer: auditFooter, needs: "bitnobi audit verify", printHelp: (*Main).printAuditHelp,
		subs: auditCommands,
	},
	{name: "version", summary: "print the app, schema and backup-format versions", help: versionHelp, run: (*Main).runVersion},
	{name: "health", summary: "ask a running server whether it is alive (the container's check)", help: healthHelp, run: (*Main).runHealth},
	{
		name: "dev", summary: "tools for developers", hidden: true,
		help: devHelp, needs: "bitnobi dev seed --help",
		subs: devCommands,
	},
}

// backupsCommands are the commands of "bitnobi backups".
var backupsCommands = []command{
	{name: "list", summary: "the backups, newest first: time, versions, size,\nbytes unique to each, encryption, last verification", help: backupsListHelp, run: (*Main).runBackupsList},
	{name: "verify", args: "NAME | --all", summary: "re-read every file against the manifest;\n--deep also restores into a temporary directory\nand checks the restored state", help: backupsVerifyHelp, run: (*Main).runBackupsVerify},
	{name: "inspect", args: "NAME [ENTITY]", summary: "counts, and users, policies, data sources,\nworkflows, reports, remote servers of a backup,\nwithout restoring it (never secrets)", help: backupsInspectHelp, run: (*Main).runBackupsInspect},
	{name: "diff", args: "A B", summary: "what changed from backup A to backup B, or to the\nlive data directory when B is \"live\"", help: backupsDiffHelp, run: (*Main).runBackupsDiff},
	{name: "prune", args: "--keep-...", summary: "remove the backups a retention policy does not\nkeep (--dry-run shows what and why)", help: backupsPruneHelp, run: (*Main).runBackupsPrune},
	{name: "export", args: "NAME FILE|-", summary: "write one backup as a single archive (tar, zstd)", help: backupsExportHelp, run: (*Main).runBackupsExport},
	{name: "import", args: "FILE|-", summary: "verify an archive and add it to the backup folder", help: backupsImportHelp, run: (*Main).runBackupsImport},
	{name: "push", args: "NAME", summary: "copy a backup to the off-site S3 bucket (only\nthe files the bucket lacks; manifest last)", help: backupsPushHelp, run: (*Main).runBackupsPush},
	{name: "pull", args: "NAME", summary: "copy a backup from the bucket into the folder,\nverified as an import is", help: backupsPullHelp, run: (*Main).runBackupsPull},
	{name: "delete", args: "NAME", summary: "remove one backup from the folder", help: backupsDeleteHelp, run: (*Main).runBackupsDelete},
}

// auditCommands are the commands of "bitnobi audit".
var auditCommands = []command{
	{name: "verify", summary: "check the hash chain; safe while the server runs", help: auditVerifyHelp, run: (*Main).runAuditVerify},
	{name: "seal", summary: "seal full segments of the log into immutable files\n(serve does it by itself)", help: auditSealHelp, run: (*Main).runAuditSeal},
}

// devCommands are the commands of "bitnobi dev".
var devCommands = []command{
	{name: "seed", summary: "fill a data directory with realistic state for benchmarks", help: devSeedHelp, run: (*Main).runDevSeed},
}

const usageHeader = `Bitnobi: share data under attribute-based policies, and keep its state safe.

Usage:
  bitnobi COMMAND [flags]

Commands:
`

const usageFooter = `
Run "bitnobi COMMAND --help" for the flags of a command.
Exit codes: 0 ok, 1 failed, 2 bad input, 3 data directory in use,
4 a backup did not verify, 5 off-site storage unusable, 130 interrupted.
`

// usage is the text of "bitnobi --help".
var usage = usageHeader + listCommands(commands) + usageFooter

// listCommands lists cmds, one row each (more where a summary runs over
// several lines), the summaries in one column.
func listCommands(cmds []command) string {
	width := 0
	for _, c := range cmds {
		if n := len(strings.TrimSpace(c.name + " " + c.args)); !c.hidden && n > width {
			width = n
		}
	}
	width += 2
	if width < 10 {
		width = 10
	}
	var b strings.Builder
	for _, c := range cmds {
		if c.hidden {
			continue
		}
		for i, line := range strings.Split(c.summary, "\n") {
			left := ""
			if i == 0 {
				left = strings.TrimSpace(c.name + " " + c.args)
			}
			fmt.Fprintf(&b, "  %-*s %s\n", width, left, line)
		}
	}
	return b.String()
}

// groupHelp is the help of the group g: its text, its commands, its
// footer.
func groupHelp(g command) string {
	return g.help + listCommands(g.subs) + g.footer
}

// findCommand returns the command of cmds called name.
func findCommand(cmds []command, name string) (command, bool) {
	for _, c := range cmds {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// runCommand runs c with args: a group dispatches to its command.
func (m *Main) runCommand(ctx context.Context, c command, args []string) error {
	if c.subs == nil {
		return c.run(m, ctx, args)
	}
	printHelp := func(w io.Writer) {
		if c.printHelp != nil {
			c.printHelp(m, w)
			return
		}
		fmt.Fprint(w, groupHelp(c))
	}
	if len(args) == 0 {
		printHelp(m.Stderr)
		var names []string
		for _, s := range c.subs {
			names = append(names, s.name)
		}
		list := names[0]
		if n := len(names); n > 1 {
			list = strings.Join(names[:n-1], ", ") + " or " + names[n-1]
		}
		hint := c.needs
		if hint == "" {
			hint = "bitnobi " + c.name + " --help"
		}
		return usagef(hint, "%s needs a command: %s", c.name, list)
	}
	if isHelpFlag(args[0]) || args[0] == "help" {
		printHelp(m.Stdout)
		return nil
	}
	sub, ok := findCommand(c.subs, args[0])
	if !ok {
		return usagef("bitnobi "+c.name+" --help", "unknown %s command %q", c.name, args[0])
	}
	return sub.run(m, ctx, args[1:])
}
