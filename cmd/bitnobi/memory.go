package main

import (
	"runtime/debug"
)

// backupMemoryLimit is the Go heap's soft limit for the commands that
// move a whole state (backup, restore, backups ...): issue 7 asks a backup
// and a restore to stay under 256 MiB of RSS at any state size. Without a
// limit the collector lets the heap grow to twice what is live, and a
// full backup at size M, compressing on every core, peaked at 243 MiB;
// with it, 172 MiB, in the same time (docs/benchmarks.md). The server
// keeps Go's default: its memory is the operator's to set (GOMEMLIMIT).
const backupMemoryLimit = 128 << 20

// limitMemory sets [backupMemoryLimit] for the commands in args that
// need it, unless the operator set GOMEMLIMIT, which then rules. It
// returns the limit set, or 0.
func limitMemory(args []string, getenv func(string) string) int64 {
	if len(args) == 0 || getenv("GOMEMLIMIT") != "" {
		return 0
	}
	switch args[0] {
	case "backup", "restore", "backups":
		debug.SetMemoryLimit(backupMemoryLimit)
		return backupMemoryLimit
	}
	return 0
}
