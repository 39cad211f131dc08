package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/retention"
)

const backupsPruneHelp = `Usage: bitnobi backups prune --keep-... [--dry-run] [--json] [flags]

Removes the backups of the backup folder that a retention policy does not
keep. The rules are restic's ("forget"): --keep-last N keeps the N newest;
--keep-hourly/daily/weekly/monthly/yearly N keep the newest backup of each
of the N newest hours, days, ISO weeks, months and years (UTC) that have
one; --keep-within D keeps every backup made less than D before the
newest, in restic's notation: y years, m MONTHS (not minutes), w weeks,
d days, h hours, largest first (36h, 14d, 2w, 1y2m3d4h); anything else,
such as Go's 1h30m, is refused. A backup is kept if any rule keeps it, and
the newest complete backup is always kept. Unlike restic 0.16 and later,
the oldest backup is not kept extra when a count rule has fewer backups
than its count. A policy with no rule is refused.

--dry-run removes nothing and prints what would be removed, and why each
kept backup is kept. Decisions go by each manifest's creation time, not by
the directory's name. Only complete backups are ever removed: damaged,
incomplete and foreign entries are listed and left alone.

Prune takes the backup folder's lock, so it never runs beside a backup or
an import (--wait waits for one to finish). Each backup is renamed to a
.tmp-backup-prune-* name and then deleted, so an interrupted prune leaves
nothing that looks like a backup; the next backup or prune finishes it.
Blob files hard-linked between backups stay intact in the backups kept.

--remote prunes the off-site S3 bucket instead (BITNOBI_S3_*, see
"bitnobi backups push --help"), with the same rules: each backup removed
loses its manifest first (so it is never seen complete with files
missing), then every object that no kept backup, and no push younger than
a day that is under way or interrupted, uses is deleted. No object is
deleted while a remote manifest cannot be read. Run it when no push to the
same bucket and prefix runs.

Exit codes: 0 ok, 1 failed, 2 bad flags or an empty policy, 3 the backup
folder is locked, 5 the off-site storage could not be used, 130 interrupted (SIGINT or SIGTERM; between two backups,
and the message says how many were removed).
`

func (m *Main) runBackupsPrune(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backups prune", backupsPruneHelp)
	dataDir := m.dataDirFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	var p retention.Policy
	fs.IntVar(&p.Last, "keep-last", 0, "keep the `N` newest backups")
	fs.IntVar(&p.Hourly, "keep-hourly", 0, "keep the newest backup of each of the `N` newest hours that have one")
	fs.IntVar(&p.Daily, "keep-daily", 0, "keep the newest backup of each of the `N` newest days that have one")
	fs.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest backup of each of the `N` newest ISO weeks that have one")
	fs.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest backup of each of the `N` newest months that have one")
	fs.IntVar(&p.Yearly, "keep-yearly", 0, "keep the newest backup of each of the `N` newest years that have one")
	within := fs.String("keep-within", "", "keep every backup made less than `DURATION` before the newest (restic's units: 36h, 14d, 2w, 1y2m3d4h; m is months)")
	dryRun := fs.Bool("dry-run", false, "remove nothing; print what would be removed and why the others are kept")
	asJSON := fs.Bool("json", false, "print JSON")
	wait := fs.Duration("wait", 0, "how long to wait while a backup writes into the folder (0: fail at once)")
	remote := fs.Bool("remote", false, "prune the off-site S3 bucket (BITNOBI_S3_*) instead of the folder")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bitnobi backups prune --help", "prune takes no arguments, got %q", fs.Args())
	}
	if *within != "" {
		months, d, err := retention.ParseWithin(*within)
		if err != nil {
			return usagef("--keep-within 14d", "--keep-within: %v", err)
		}
		p.WithinMonths, p.Within = months, d
	}
	for _, n := range []int{p.Last, p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly} {
		if n < 0 {
			return usagef("bitnobi backups prune --help", "--keep-* counts must not be negative")
		}
	}
	if *remote {
		return m.pruneRemote(ctx, p, *dryRun, *asJSON)
	}
	folder, err := m.backupDir(*backupDirFlag, *dataDir)
	if err != nil {
		return err
	}
	res, err := backup.Prune(ctx, backup.PruneOptions{Folder: folder, Policy: p, DryRun: *dryRun, LockWait: *wait})
	if errors.Is(err, backup.ErrEmptyPolicy) {
		return &UsageError{Err: err, Hint: backup.Hint(err)}
	}
	if res == nil {
		if interrupted(ctx, err) { // waiting for the folder's lock, say
			return interruptedf("prune interrupted: no backup was removed")
		}
		return backupError(err)
	}
	if *asJSON {
		if jerr := m.writeJSON(pruneJSON(p, *dryRun, res)); jerr != nil {
			return jerr
		}
	} else {
		writePrune(m.Stdout, p, *dryRun, res)
	}
	if errors.Is(err, context.Canceled) {
		// Stopped between two backups (a removal, once begun, is
		// finished): res.Removed lists those removed.
		toRemove := 0
		for _, d := range res.Decisions {
			if !d.Keep {
				toRemove++
			}
		}
		return interruptedf("prune interrupted: removed %d of the %s it was to remove (see above); the others are kept",
			len(res.Removed), count(toRemove, "backup", "backups"))
	}
	return backupError(err)
}

// pruneReport is the output of "backups prune --json".
type pruneReport struct {
	Policy      string         `json:"policy"`
	DryRun      bool           `json:"dry_run"`
	Backups     []pruneBackup  `json:"backups"` // newest first
	Removed     []string       `json:"removed"` // or, in a dry run, would be
	Ignored     []ignoredEntry `json:"ignored,omitempty"`
	RemovedTemp []string       `json:"removed_temp,omitempty"`
}

type pruneBackup struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Keep      bool      `json:"keep"`
	Reasons   []string  `json:"reasons,omitempty"`
}

type ignoredEntry struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

func pruneJSON(p retention.Policy, dryRun bool, res *backup.PruneResult) pruneReport {
	r := pruneReport{Policy: p.String(), DryRun: dryRun, Removed: res.Removed, RemovedTemp: res.RemovedTemp}
	if r.Removed == nil {
		r.Removed = []string{}
	}
	for _, d := range res.Decisions {
		r.Backups = append(r.Backups, pruneBackup{Name: d.Item.Name, CreatedAt: d.Item.Time.UTC(), Keep: d.Keep, Reasons: d.Reasons})
	}
	for _, e := range res.Ignored {
		r.Ignored = append(r.Ignored, ignoredEntry{Name: e.Name, Kind: e.Kind})
	}
	return r
}

// writePrune prints, newest first, each backup with what happens to it
// and why.
func writePrune(w io.Writer, p retention.Policy, dryRun bool, res *backup.PruneResult) {
	fmt.Fprintf(w, "policy: %s\n", p)
	remove := "remove"
	if dryRun {
		remove = "would remove"
	}
	removed := map[string]bool{}
	for _, n := range res.Removed {
		removed[n] = true
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, d := range res.Decisions {
		t := d.Item.Time.UTC().Format("2006-01-02 15:04")
		switch {
		case d.Keep:
			fmt.Fprintf(tw, "keep\t%s\t%s\t%s\n", d.Item.Name, t, strings.Join(d.Reasons, "; "))
		case removed[d.Item.Name]:
			fmt.Fprintf(tw, "%s\t%s\t%s\n", remove, d.Item.Name, t)
		default:
			fmt.Fprintf(tw, "NOT REMOVED\t%s\t%s\t(stopped by the error below)\n", d.Item.Name, t)
		}
	}
	for _, e := range res.Ignored {
		fmt.Fprintf(tw, "leave\t%s\t\t%s: not a complete backup, never pruned\n", e.Name, e.Kind)
	}
	for _, n := range res.RemovedTemp {
		fmt.Fprintf(tw, "cleaned\t%s\t\tleft by an interrupted backup, import or prune\n", n)
	}
	tw.Flush()
	kept := len(res.Decisions) - len(res.Removed)
	if dryRun {
		fmt.Fprintf(w, "dry run: %s would be removed, %d kept\n", count(len(res.Removed), "backup", "backups"), kept)
	} else {
		fmt.Fprintf(w, "%s removed, %d kept\n", count(len(res.Removed), "backup", "backups"), kept)
	}
}
