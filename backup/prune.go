package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bitnobi/bitnobi/backup/retention"
	"github.com/bitnobi/bitnobi/internal/fsutil"
)

// ErrEmptyPolicy means a prune was asked for with no retention rule: it
// would remove every backup but the newest, which is almost certainly a
// mistake.
var ErrEmptyPolicy = errors.New("the retention policy keeps nothing: give at least one --keep-* rule")

// PruneOptions configures [Prune].
type PruneOptions struct {
	// Folder is the backup folder. Required.
	Folder string
	// Policy says which backups to keep; it must not be empty.
	Policy retention.Policy
	// DryRun decides and reports without removing anything or taking the
	// folder's lock.
	DryRun bool
	// LockWait is how long to wait while a backup writes into Folder; 0
	// fails at once with an error matching lockfile.ErrLocked.
	LockWait time.Duration
	// Now is the clock (default time.Now); see [retention.Apply].
	Now func() time.Time
}

// PruneResult describes what [Prune] did, or would do in a dry run.
type PruneResult struct {
	// Decisions has the policy's verdict on every complete backup,
	// newest first, with the reasons each kept one is kept.
	Decisions []retention.Decision
	// Removed names the backups removed (in a dry run: that would be).
	Removed []string
	// Ignored lists the folder's entries that are not complete backups
	// (damaged, incomplete, foreign). Prune never removes a damaged or
	// foreign one; it removes incomplete ones unless DryRun, see
	// RemovedTemp.
	Ignored []FolderEntry
	// RemovedTemp names the temporary directories of interrupted
	// backups, imports and prunes that were removed.
	RemovedTemp []string
}

// Prune removes the complete backups of a folder that opts.Policy does not
// keep, deciding with [retention.Apply] on their manifests' creation
// times. It never removes the newest complete backup, nor a directory
// that is not a complete backup, and refuses an empty policy
// ([ErrEmptyPolicy]).
//
// Unless DryRun, it holds the folder's lock throughout, so it never runs
// beside a backup or an import. Each backup is removed by renaming it to
// a .tmp-backup-prune-* name first and then deleting that: an
// interrupted prune leaves nothing that looks like a backup, and the next
// backup or prune finishes the deletion. Deleting a backup removes its
// links to blob files; a file that another backup links too stays intact
// there. The verification record of each removed backup goes with it.
func Prune(ctx context.Context, opts PruneOptions) (*PruneResult, error) {
	if opts.Policy.Empty() {
		return nil, &HintError{
			Err:  fmt.Errorf("prune: %w", ErrEmptyPolicy),
			Hint: "for example --keep-daily 7 --keep-weekly 4 --keep-monthly 12",
		}
	}
	if opts.Folder == "" {
		return nil, errors.New("prune: backup folder required")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	res := &PruneResult{}
	if ok, err := exists(opts.Folder); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	} else if !ok {
		return res, nil // no folder, no backups
	}
	if !opts.DryRun {
		lock, err := lockFolder(ctx, opts.Folder, opts.LockWait)
		if err != nil {
			return nil, err
		}
		defer lock.Release()
		if res.RemovedTemp, err = removeStaleTemp(opts.Folder); err != nil {
			return nil, fmt.Errorf("prune: %w", err)
		}
	}

	entries, err := Folder{Path: opts.Folder}.Entries()
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	var items []retention.Item
	for _, e := range entries {
		if e.Kind != KindBackup {
			res.Ignored = append(res.Ignored, e)
			continue
		}
		items = append(items, retention.Item{Name: e.Name, Time: e.Manifest.CreatedAt})
	}
	res.Decisions = retention.Apply(items, opts.Policy, now())
	for i, d := range res.Decisions {
		if d.Keep {
			continue
		}
		if i == 0 { // Apply promises this never happens
			return nil, fmt.Errorf("prune: internal error: the policy would remove the newest backup %s", d.Item.Name)
		}
		res.Removed = append(res.Removed, d.Item.Name)
	}
	if opts.DryRun {
		return res, nil
	}
	for i, name := range res.Removed {
		if err := ctx.Err(); err != nil {
			res.Removed = res.Removed[:i]
			return res, fmt.Errorf("prune: %w", err)
		}
		if err := removeBackup(opts.Folder, name); err != nil {
			res.Removed = res.Removed[:i]
			return res, err
		}
	}
	if _, err := removeOrphanVerifications(opts.Folder); err != nil {
		return res, fmt.Errorf("prune: remove verification records: %w", err)
	}
	return res, nil
}

// removeBackup removes the backup called name from folder: renamed to a
// temporary name first, so that an interruption leaves no partial
// backup, then deleted, with its verification record. The caller holds
// the folder's lock.
func removeBackup(folder, name string) error {
	var rnd [4]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(folder, tmpPrefix+"prune-"+name+"-"+hex.EncodeToString(rnd[:]))
	if err := renameNoReplace(filepath.Join(folder, name), tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone already
		}
		return fmt.Errorf("prune: remove %s: %w", name, err)
	}
	if err := fsutil.SyncDir(folder); err != nil {
		return fmt.Errorf("prune: remove %s: %w", name, err)
	}
	if err := removeVerification(folder, name); err != nil {
		return fmt.Errorf("prune: remove %s: verification record: %w", name, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return &HintError{
			Err:  fmt.Errorf("prune: remove %s (renamed %s): %w", name, filepath.Base(tmp), err),
			Hint: "the next backup or prune removes it",
		}
	}
	if err := fsutil.SyncDir(folder); err != nil {
		return fmt.Errorf("prune: remove %s: %w", name, err)
	}
	return nil
}
