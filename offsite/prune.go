package offsite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/backup/retention"
	"github.com/minio/minio-go/v7"
)

// DefaultGrace is how long a pending push is protected from a prune.
const DefaultGrace = 24 * time.Hour

// PruneOptions configures [Remote.Prune].
type PruneOptions struct {
	// Policy says which complete backups to keep, with the rules of
	// "bitnobi backups prune"; it must not be empty
	// ([backup.ErrEmptyPolicy]).
	Policy retention.Policy
	// DryRun decides and reports, and deletes nothing.
	DryRun bool
	// Grace protects the objects of a pending (under way or interrupted)
	// push younger than it (default [DefaultGrace]); older pending
	// manifests are removed.
	Grace time.Duration
}

// PruneResult describes what [Remote.Prune] did, or would do.
type PruneResult struct {
	// Decisions has the policy's verdict on every complete backup,
	// newest first.
	Decisions []retention.Decision
	// Removed names the backups removed (in a dry run: that would be).
	Removed []string
	// Damaged names the backups whose manifest cannot be read: never
	// removed, and while there is one no object is deleted, since the
	// objects it needs cannot be known.
	Damaged []string
	// Pending names the pushes under way or interrupted; StalePending
	// those older than the grace period, removed.
	Pending, StalePending []string
	// Objects and Bytes count the data objects removed (in a dry run:
	// that would be): those no kept backup and no recent pending push
	// uses.
	Objects, Bytes int64
}

// Prune removes the complete remote backups that opts.Policy does not
// keep, deciding as "bitnobi backups prune" does on the manifests'
// creation times (the newest is always kept), then the data objects that
// no kept backup uses. A backup is removed by deleting its manifest.json
// first, so that it is never seen complete with objects missing; an
// interrupted prune leaves unused objects, which the next prune removes.
// An object still used by a kept backup, or by a pending push younger
// than the grace period, is never removed.
func (r *Remote) Prune(ctx context.Context, opts PruneOptions) (*PruneResult, error) {
	if opts.Policy.Empty() {
		return nil, &backup.HintError{Err: backup.ErrEmptyPolicy, Hint: "bitnobi backups prune --remote --keep-daily 7 --keep-weekly 4 --dry-run"}
	}
	grace := opts.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	entries, err := r.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	res := &PruneResult{}
	var items []retention.Item
	byName := map[string]*format.Manifest{}
	for _, e := range entries {
		switch {
		case e.Complete && e.Manifest != nil:
			items = append(items, retention.Item{Name: e.Name, Time: e.Manifest.CreatedAt})
			byName[e.Name] = e.Manifest
		case e.Complete:
			res.Damaged = append(res.Damaged, e.Name)
		}
	}
	res.Decisions = retention.Apply(items, opts.Policy, r.Now())
	used := map[string]bool{}
	for _, d := range res.Decisions {
		if d.Keep {
			for _, f := range byName[d.Item.Name].Files {
				used[f.SHA256] = true
			}
		} else {
			res.Removed = append(res.Removed, d.Item.Name)
		}
	}
	// Pending pushes: recent ones keep their objects, stale ones go.
	now := r.Now()
	for obj := range r.client.ListObjects(ctx, r.t.Bucket, minio.ListObjectsOptions{Prefix: r.backupsPrefix(), Recursive: true}) {
		if obj.Err != nil {
			return res, fmt.Errorf("prune: %w", r.classify("list "+r.backupsPrefix(), obj.Err))
		}
		name, object, _ := strings.Cut(strings.TrimPrefix(obj.Key, r.backupsPrefix()), "/")
		if object != pendingObject {
			continue
		}
		if now.Sub(obj.LastModified) > grace {
			res.StalePending = append(res.StalePending, name)
			continue
		}
		res.Pending = append(res.Pending, name)
		data, err := r.readSmall(ctx, obj.Key, maxManifest)
		if err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
		m, err := format.ParseManifest(data)
		if err != nil {
			// A pending manifest that cannot be read protects nothing
			// that we can know of: keep everything this time.
			res.Damaged = append(res.Damaged, name+" (pending)")
			continue
		}
		for _, f := range m.Files {
			used[f.SHA256] = true
		}
	}
	have, err := r.listData(ctx)
	if err != nil {
		return res, fmt.Errorf("prune: %w", err)
	}
	var unused []string
	if len(res.Damaged) == 0 {
		for sum, size := range have {
			if !used[sum] {
				unused = append(unused, sum)
				res.Objects++
				res.Bytes += size
			}
		}
	}
	if opts.DryRun {
		return res, nil
	}
	for _, name := range res.Removed {
		// manifest.json first: from then on the backup is not complete.
		for _, object := range []string{manifestObject, pendingObject} {
			if err := r.remove(ctx, r.backupKey(name, object)); err != nil {
				return res, fmt.Errorf("prune %s: %w", name, err)
			}
		}
	}
	for _, name := range res.StalePending {
		if err := r.remove(ctx, r.backupKey(name, pendingObject)); err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
	}
	for _, sum := range unused {
		if err := r.remove(ctx, r.dataKey(sum)); err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
	}
	return res, nil
}

// remove deletes key; a missing key is no error.
func (r *Remote) remove(ctx context.Context, key string) error {
	err := r.client.RemoveObject(ctx, r.t.Bucket, key, minio.RemoveObjectOptions{})
	if err != nil && !isNotFound(err) {
		return r.classify("remove "+key, err)
	}
	return nil
}
