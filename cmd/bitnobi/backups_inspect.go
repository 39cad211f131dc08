package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bitnobi/bitnobi/backup"
)

const backupsInspectHelp = `Usage: bitnobi backups inspect NAME [ENTITY] [--json] [flags]

Shows what a backup holds, read from its table files without restoring
it: to examine the state of an earlier date. Without ENTITY: the number of
rows of every table, then every user, policy, data source, workflow,
report and remote server with its owner (as a username) and times. With
ENTITY (users, policies, datasources, workflows, reports or remotes): that
list only.

Secrets are never shown: no password hash, no data-source, remote-server
or e-mail password, sealed or not. Each table file is checked against the
manifest before it is read. Safe while the server or a backup runs.
`

func (m *Main) runBackupsInspect(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backups inspect", backupsInspectHelp)
	dataDir := m.dataDirFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	loadKeys := m.keysFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("bitnobi backups inspect backup-20250102_1504 [users]", "inspect takes a backup name and optionally an entity")
	}
	var entities []string
	if len(pos) == 2 {
		e, ok := backup.ParseEntity(pos[1])
		if !ok {
			return usagef("bitnobi backups inspect "+pos[0]+" users", "unknown entity %q: use one of %s", pos[1], strings.Join(backup.InspectEntities, ", "))
		}
		entities = []string{e}
	}
	keys, err := loadKeys()
	if err != nil {
		return err
	}
	p, err := m.resolveBackup(pos[0], *backupDirFlag, *dataDir)
	if err != nil {
		return err
	}
	r, err := backup.OpenReader(p, keys)
	if err != nil {
		return backupError(err)
	}
	in, err := backup.Inspect(ctx, r, entities...)
	if interrupted(ctx, err) {
		return readOnlyInterrupted("inspect")
	}
	if err != nil {
		return backupError(err)
	}
	if *asJSON {
		return m.writeJSON(in)
	}
	return writeInspection(m.Stdout, in, len(entities) == 0)
}

// writeInspection prints an inspection as tables; counts only when
// everything was asked for.
func writeInspection(w io.Writer, in *backup.Inspection, counts bool) error {
	fmt.Fprintf(w, "%s: taken %s on %s, bitnobi %s, schema %d, %s, instance %s\n",
		in.Backup, in.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), orDash(in.Host), in.AppVersion, in.SchemaVersion, in.Engine, orDash(in.InstanceID))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	section := func(title string, n int, header string) {
		tw.Flush()
		fmt.Fprintf(w, "\n%s (%d)\n", title, n)
		if n > 0 {
			fmt.Fprintln(tw, header)
		}
	}
	if counts {
		tw.Flush()
		fmt.Fprintln(w, "\nCOUNTS")
		fmt.Fprintln(tw, "TABLE\tROWS\tHOLDS")
		for _, c := range in.Counts {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", c.Table, c.Rows, c.Entity)
		}
		tw.Flush()
		fmt.Fprintf(w, "audit log: %d entries (%d sealed in %d segments, %d live)\n", in.Audit.Entries, in.Audit.Sealed, in.Audit.Segments, in.Audit.Live)
	}
	if in.Users != nil {
		section("USERS", len(in.Users), "USERNAME\tEMAIL\tADMIN\tATTRIBUTES\tCREATED\tUPDATED")
		for _, u := range in.Users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.Email, yesNo(u.Admin), attrText(u.Attributes), timeText(u.CreatedAt), timeText(u.UpdatedAt))
		}
	}
	if in.Policies != nil {
		section("POLICIES", len(in.Policies), "NAME\tOWNER\tGLOBAL\tATTRIBUTES\tCREATED\tUPDATED")
		for _, p := range in.Policies {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", oneLine(p.Name), p.Owner, yesNo(p.Global), attrText(p.Attributes), timeText(p.CreatedAt), timeText(p.UpdatedAt))
		}
	}
	if in.DataSources != nil {
		section("DATA SOURCES", len(in.DataSources), "NAME\tOWNER\tKIND\tSOURCE\tCREATED\tUPDATED")
		for _, d := range in.DataSources {
			src := fmt.Sprintf("%s (%s, %s)", d.Filename, d.Format, humanBytes(d.Size))
			if d.Kind == "sql" {
				src = fmt.Sprintf("%s://%s@%s:%d/%s", d.SQLDriver, d.SQLUser, d.SQLHost, d.SQLPort, d.SQLDB)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", oneLine(d.Name), d.Owner, d.Kind, oneLine(src), timeText(d.CreatedAt), timeText(d.UpdatedAt))
		}
	}
	if in.Workflows != nil {
		section("WORKFLOWS", len(in.Workflows), "NAME\tOWNER\tPOLICIES\tRUNS\tLAST RUN\tCREATED\tUPDATED")
		for _, wf := range in.Workflows {
			last := "-"
			if wf.LastRun != "" {
				last = wf.LastRun + " " + timeText(wf.LastRunAt)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", oneLine(wf.Name), wf.Owner, orDash(oneLine(strings.Join(wf.Policies, ", "))), wf.Runs, last, timeText(wf.CreatedAt), timeText(wf.UpdatedAt))
		}
	}
	if in.Reports != nil {
		section("REPORTS", len(in.Reports), "NAME\tOWNER\tWORKFLOW\tCREATED\tUPDATED")
		for _, r := range in.Reports {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", oneLine(r.Name), r.Owner, oneLine(r.Workflow), timeText(r.CreatedAt), timeText(r.UpdatedAt))
		}
	}
	if in.RemoteServers != nil {
		section("REMOTE SERVERS", len(in.RemoteServers), "NAME\tURL\tSERVICE ID\tENABLED\tCREATED\tUPDATED")
		for _, r := range in.RemoteServers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", oneLine(r.Name), oneLine(r.URL), oneLine(r.ServiceID), yesNo(r.Enabled), timeText(r.CreatedAt), timeText(r.UpdatedAt))
		}
	}
	return tw.Flush()
}

// attrText renders attributes as sorted key=value pairs.
func attrText(attrs map[string]string) string {
	if len(attrs) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		parts = append(parts, k+"="+attrs[k])
	}
	return oneLine(strings.Join(parts, ","))
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// oneLine keeps a value on one line and out of the table's columns:
// control characters (newlines, tabs) are shown escaped.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			q := strconv.Quote(string(r))
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
