package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/backup/retention"
	"github.com/bitnobi/bitnobi/offsite"
)

// offsiteHelp is the part of every off-site command's help that says
// where the target comes from.
const offsiteHelp = `
The off-site target comes from the environment:
  BITNOBI_S3_ENDPOINT                host:port, or https://host:port, or
                                     http://host:port for a server without TLS
  BITNOBI_S3_BUCKET                  an existing bucket (never created)
  BITNOBI_S3_PREFIX                  where in the bucket (optional), e.g. bitnobi/prod
  BITNOBI_S3_REGION                  the bucket's region (optional)
  BITNOBI_S3_ACCESS_KEY_ID           the access key
  BITNOBI_S3_SECRET_ACCESS_KEY_FILE  a file (mode 0600) whose first line is the
                                     secret key; else BITNOBI_S3_SECRET_ACCESS_KEY
  BITNOBI_S3_TLS                     off for plain HTTP (default on)
  BITNOBI_S3_SSE                     server-side encryption: s3, kms (with
                                     BITNOBI_S3_SSE_KMS_KEY_ID) or c (with
                                     BITNOBI_S3_SSE_C_KEY_FILE, 32 bytes or base64)
In the bucket, every file is stored once under its SHA-256 (PREFIX/data/),
and each backup is its manifest (PREFIX/backups/NAME/manifest.json).
`

const remoteExitCodes = `
Exit codes: 0 ok, 1 failed, 2 bad input (no such remote backup, another
backup under that name, a target not configured), 3 the backup folder is
locked, 4 a backup did not verify, 5 the off-site storage could not be
used (unreachable, credentials refused, no such bucket; the message says
which), 130 interrupted (SIGINT or SIGTERM).
`

const backupsPushHelp = `Usage: bitnobi backups push NAME [--as REMOTE_NAME] [--repair] [--quiet] [flags]

Copies the backup NAME (a backup of the backup folder, or a path) to the
off-site S3 bucket. Only the files the bucket does not hold yet are sent:
the tables and blobs that did not change since the last backup pushed are
never sent twice. Each upload carries its SHA-256, which the server checks,
and each object is checked after upload (size and SHA-256) against the
manifest; a local file that does not match its manifest is refused. The
manifest goes last: a push that is interrupted (or whose server goes away)
leaves a backup that is listed as incomplete and is never restored; push
again to finish it (what arrived is not sent again).

An encrypted backup is copied as it is, so it stays encrypted in the
bucket. A remote backup is never replaced: pushing a backup that is there
already does nothing, and a different backup under the same name is
refused (--as gives another name). Prints the backup's s3:// address.

--repair mends a remote backup that "backups verify --remote" found
damaged: every object the backup needs that the bucket holds is
downloaded and hashed, and each one altered or missing is sent again from
the local copy.
` + offsiteHelp + remoteExitCodes

const backupsPullHelp = `Usage: bitnobi backups pull NAME|s3://BUCKET/PREFIX/NAME [--backup-dir DIR] [flags]

Copies the backup NAME from the off-site S3 bucket into the backup folder.
It is downloaded into a temporary directory of the folder
(.tmp-backup-import-*) and verified exactly as "bitnobi backups import"
verifies an archive (every file listed, present, of its size and SHA-256,
and nothing else; every table and blob decoded; with --identity or
--passphrase-file, an encrypted backup's content too) before it is renamed
into place; a damaged or altered remote backup never appears in the
folder. A backup the folder holds already is refused.
` + offsiteHelp + remoteExitCodes

func (m *Main) runBackupsPush(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backups push", backupsPushHelp)
	dataDir := m.dataDirFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	as := fs.String("as", "", "the backup's name in the bucket (default its directory's name)")
	quiet := fs.Bool("quiet", false, "print only the backup's s3:// address")
	repair := fs.Bool("repair", false, "download and check every object already in the bucket; send again those altered or missing")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("bitnobi backups push backup-20250102_1504", "push takes one backup")
	}
	src, err := m.resolveBackup(pos[0], *backupDirFlag, *dataDir)
	if err != nil {
		return err
	}
	r, err := m.openRemote(ctx, "", "")
	if err != nil {
		return err
	}
	prog := m.newProgress(*quiet)
	start := time.Now()
	res, err := r.Push(ctx, src, offsite.PushOptions{Name: *as, Progress: prog.update, Repair: *repair})
	prog.done()
	if interrupted(ctx, err) {
		return interruptedf("push interrupted: the remote copy is incomplete and is not listed as a backup; push again to finish it (what arrived is not sent again)")
	}
	if err != nil && res != nil {
		// Stopped while uploading: say what the bucket holds now.
		return fmt.Errorf("%w\n(the remote copy is incomplete and is not listed as a backup; push again to finish it: what arrived is not sent again)", remoteError(err))
	}
	if err != nil {
		return remoteError(err)
	}
	if !*quiet {
		if res.Repaired > 0 {
			fmt.Fprintf(m.Stderr, "repaired %s: %s in the bucket were altered or missing and were sent again\n", res.Name, count(res.Repaired, "object", "objects"))
		}
		if res.UpToDate {
			fmt.Fprintf(m.Stderr, "%s is in the bucket already: nothing sent\n", res.Name)
		} else {
			fmt.Fprintf(m.Stderr, "pushed %s: %s sent (%s), %d already in the bucket, in %s\n", res.Name,
				count(res.Uploaded, "file", "files"), humanBytes(res.UploadedBytes), res.Files-res.Uploaded,
				time.Since(start).Round(time.Millisecond))
		}
	}
	fmt.Fprintln(m.Stdout, res.URL)
	return nil
}

func (m *Main) runBackupsPull(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backups pull", backupsPullHelp)
	dataDir := m.dataDirFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	wait := fs.Duration("wait", 0, "how long to wait while a backup writes into the folder (0: fail at once)")
	quiet := fs.Bool("quiet", false, "print only the pulled backup's path")
	loadKeys := m.keysFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("bitnobi backups pull backup-20250102_1504", "pull takes one remote backup (see bitnobi backups list --remote)")
	}
	keys, err := loadKeys()
	if err != nil {
		return err
	}
	folder, err := m.backupDir(*backupDirFlag, *dataDir)
	if err != nil {
		return err
	}
	name, bucket, prefix := pos[0], "", ""
	if offsite.IsURL(name) {
		if bucket, prefix, name, err = offsite.ParseURL(name); err != nil {
			return usagef("s3://BUCKET/PREFIX/backup-20250102_1504", "%v", err)
		}
	}
	r, err := m.openRemote(ctx, bucket, prefix)
	if err != nil {
		return err
	}
	prog := m.newProgress(*quiet)
	res, err := r.Pull(ctx, name, backup.ImportOptions{Folder: folder, LockWait: *wait,
		UnpackOptions: backup.UnpackOptions{Keys: keys, Progress: prog.update}})
	prog.done()
	if interrupted(ctx, err) {
		return interruptedf("pull interrupted: nothing was added to %s", folder)
	}
	if errors.Is(err, backup.ErrExists) {
		return &UsageError{Err: err, Hint: backup.Hint(err)}
	}
	if err != nil {
		return remoteError(err)
	}
	if !*quiet {
		mf := res.Manifest
		fmt.Fprintf(m.Stderr, "pulled %s (taken %s, bitnobi %s, schema %d) and verified it\n",
			res.Name, mf.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), mf.AppVersion, mf.SchemaVersion)
	}
	fmt.Fprintln(m.Stdout, res.Path)
	return nil
}

// remoteListEntry is one entry of "backups list --remote --json".
type remoteListEntry struct {
	Name          string        `json:"name"`
	URL           string        `json:"url"`
	Kind          string        `json:"kind"` // backup, damaged, incomplete
	CreatedAt     time.Time     `json:"created_at,omitzero"`
	AppVersion    string        `json:"app_version,omitempty"`
	SchemaVersion int           `json:"schema_version,omitempty"`
	Encrypted     bool          `json:"encrypted"`
	Files         int64         `json:"files"`
	Size          int64         `json:"size"`
	Unique        int64         `json:"unique"`
	Stats         *format.Stats `json:"stats,omitempty"`
	Error         string        `json:"error,omitempty"`
}

// listRemote is "backups list --remote".
func (m *Main) listRemote(ctx context.Context, asJSON bool) error {
	r, err := m.openRemote(ctx, "", "")
	if err != nil {
		return err
	}
	found, err := r.List(ctx)
	if err != nil {
		return remoteError(err)
	}
	entries := make([]remoteListEntry, 0, len(found))
	for _, f := range found {
		e := remoteListEntry{Name: f.Name, URL: f.URL, Files: f.Files, Size: f.Size, Unique: f.Unique}
		switch {
		case !f.Complete:
			e.Kind = "incomplete"
		case f.Err != nil:
			e.Kind, e.Error = backup.KindDamaged, f.Err.Error()
		default:
			e.Kind = backup.KindBackup
		}
		if mf := f.Manifest; mf != nil {
			e.CreatedAt, e.AppVersion, e.SchemaVersion, e.Encrypted = mf.CreatedAt, mf.AppVersion, mf.SchemaVersion, mf.Encrypted()
			e.Stats = &mf.Stats
		}
		entries = append(entries, e)
	}
	if asJSON {
		return m.writeJSON(entries)
	}
	t := r.Target()
	if len(entries) == 0 {
		fmt.Fprintf(m.Stderr, "no backups in %s\n", t.URL(""))
		return nil
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED (UTC)\tAPP\tSCHEMA\tSIZE\tUNIQUE\tENCRYPTED")
	for _, e := range entries {
		switch e.Kind {
		case backup.KindBackup:
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.Name, e.CreatedAt.UTC().Format("2006-01-02 15:04:05"),
				e.AppVersion, e.SchemaVersion, humanBytes(e.Size), humanBytes(e.Unique), yesNo(e.Encrypted))
		case backup.KindDamaged:
			fmt.Fprintf(tw, "%s\tdamaged: %s\n", e.Name, e.Error)
		default:
			fmt.Fprintf(tw, "%s\tincomplete: a push under way or interrupted (push it again to finish it)\n", e.Name)
		}
	}
	return tw.Flush()
}

// verifyRemote is "backups verify --remote NAME|--all".
func (m *Main) verifyRemote(ctx context.Context, names []string, all, quiet bool) error {
	r, err := m.openRemote(ctx, "", "")
	if err != nil {
		return err
	}
	if all {
		entries, err := r.List(ctx)
		if err != nil {
			return remoteError(err)
		}
		for _, e := range entries {
			if e.Complete {
				names = append(names, e.Name)
			}
		}
		if len(names) == 0 {
			fmt.Fprintf(m.Stderr, "no backups in %s\n", r.Target().URL(""))
			return nil
		}
	}
	var failed []error
	for i, name := range names {
		prog := m.newProgress(quiet)
		res, err := r.Verify(ctx, name, prog.update)
		prog.done()
		if interrupted(ctx, err) {
			return interruptedf("verify interrupted at %s (%d of %d): nothing was changed", name, i+1, len(names))
		}
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			if errors.Is(err, offsite.ErrUnreachable) || errors.Is(err, offsite.ErrAccessDenied) || errors.Is(err, offsite.ErrNoBucket) ||
				(errors.Is(err, offsite.ErrNotFound) && !all) {
				return remoteError(err)
			}
			fmt.Fprintf(m.Stdout, "FAILED  %s: %v\n", name, err)
			if res != nil && len(res.Problems) > 1 {
				for _, p := range res.Problems {
					fmt.Fprintf(m.Stdout, "        %s: %v\n", p.Path, p.Err)
				}
			}
			failed = append(failed, err)
			continue
		}
		if !quiet {
			fmt.Fprintf(m.Stdout, "ok      %s: %s (%s) match the manifest\n", name, count(res.Files, "object", "objects"), humanBytes(res.Bytes))
		}
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return remoteError(failed[0])
	}
	return &ExitError{Code: ExitVerify, Err: fmt.Errorf("%d of %d remote backups did not verify", len(failed), len(names)),
		Hint: "push them again from a machine that holds them, or pull another one"}
}

// pruneRemote is "backups prune --remote".
func (m *Main) pruneRemote(ctx context.Context, p retention.Policy, dryRun, asJSON bool) error {
	if p.Empty() {
		return &UsageError{Err: backup.ErrEmptyPolicy, Hint: "bitnobi backups prune --remote --keep-daily 7 --keep-weekly 4 --dry-run"}
	}
	r, err := m.openRemote(ctx, "", "")
	if err != nil {
		return err
	}
	res, err := r.Prune(ctx, offsite.PruneOptions{Policy: p, DryRun: dryRun})
	if res != nil {
		if asJSON {
			rep := pruneReport{Policy: p.String(), DryRun: dryRun, Removed: res.Removed}
			if rep.Removed == nil {
				rep.Removed = []string{}
			}
			for _, d := range res.Decisions {
				rep.Backups = append(rep.Backups, pruneBackup{Name: d.Item.Name, CreatedAt: d.Item.Time.UTC(), Keep: d.Keep, Reasons: d.Reasons})
			}
			for _, n := range res.Damaged {
				rep.Ignored = append(rep.Ignored, ignoredEntry{Name: n, Kind: backup.KindDamaged})
			}
			if jerr := m.writeJSON(rep); jerr != nil {
				return jerr
			}
		} else {
			writePrune(m.Stdout, p, dryRun, &backup.PruneResult{Decisions: res.Decisions, Removed: res.Removed})
			for _, n := range res.Damaged {
				fmt.Fprintf(m.Stdout, "leave %s: its manifest cannot be read; no object is deleted while it is there\n", n)
			}
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			fmt.Fprintf(m.Stdout, "objects no kept backup uses: %s %s (%s)\n", verb, count(res.Objects, "object", "objects"), humanBytes(res.Bytes))
		}
	}
	if interrupted(ctx, err) {
		return interruptedf("prune interrupted: a backup is removed with its manifest first, so none is half-removed; run it again to remove what is left")
	}
	return remoteError(err)
}

// unpackRemoteForRestore downloads and verifies the off-site backup at
// url (s3://BUCKET/PREFIX/NAME) into a temporary directory beside the
// data directory, as [Main.unpackForRestore] does an archive. The caller
// removes it with Remove.
func (m *Main) unpackRemoteForRestore(ctx context.Context, url, dataDir string, opts backup.UnpackOptions) (*backup.Unpacked, error) {
	bucket, prefix, name, err := offsite.ParseURL(url)
	if err != nil {
		return nil, usagef("bitnobi restore s3://BUCKET/PREFIX/backup-20250102_1504 (see bitnobi backups list --remote)", "%v", err)
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(abs)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	r, err := m.openRemote(ctx, bucket, prefix)
	if err != nil {
		return nil, err
	}
	prog := m.newProgress(false)
	opts.Progress = prog.update
	u, err := r.Unpack(ctx, name, parent, strings.TrimPrefix(filepath.Base(abs), ".")+".restore-archive-", opts)
	prog.done()
	if err != nil {
		return nil, remoteError(err)
	}
	return u, nil
}
