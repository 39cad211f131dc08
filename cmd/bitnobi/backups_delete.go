package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bitnobi/bitnobi/backup"
)

const backupsDeleteHelp = `Usage: bitnobi backups delete NAME [--backup-dir DIR] [--wait D] [flags]

Removes the backup NAME (backup-YYYYMMDD_HHMM) from the backup folder, with
its verification record. Only a complete backup of the folder is removed:
give its name, not a path. Files it shares with other backups through hard
links stay intact in those. To remove backups by age, use "backups prune".

Delete takes the backup folder's lock, like a backup or prune, so it never
runs beside one (--wait waits for the lock). The backup is renamed to a
.tmp-backup-delete-* name first and then deleted: an interrupted delete
leaves nothing that looks like a backup, and the next backup finishes it.
Exit codes: 0 removed, 1 failed, 2 no such backup, 3 the backup folder is
locked.
`

func (m *Main) runBackupsDelete(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backups delete", backupsDeleteHelp)
	dataDir := m.dataDirFlag(fs)
	backupDirFlag := m.backupDirFlag(fs)
	wait := fs.Duration("wait", 0, "how long to wait while a backup or prune holds the folder")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("bitnobi backups delete backup-20250102_1504", "delete takes one backup name")
	}
	name := pos[0]
	if filepath.Base(name) != name || name == "." || name == ".." {
		return usagef("bitnobi backups list shows the names", "%q is not a backup name: give the name of a backup of the folder, not a path", name)
	}
	folder, err := m.backupDir(*backupDirFlag, *dataDir)
	if err != nil {
		return err
	}
	// The lock a backup, prune or import takes; held, it is exit code 3.
	lock, err := backup.Folder{Path: folder}.Lock(ctx, *wait)
	if err != nil {
		return backupError(err)
	}
	defer lock.Release()
	entries, err := backup.Folder{Path: folder}.Entries()
	if err != nil {
		return err
	}
	found := false
	for _, e := range entries {
		if e.Name == name && e.Kind == backup.KindBackup {
			found = true
		}
	}
	if !found {
		return usagef("bitnobi backups list --backup-dir "+folder, "no complete backup %q in %s", name, folder)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(folder, ".tmp-backup-delete-"+name+"-"+hex.EncodeToString(rnd[:]))
	if err := os.Rename(filepath.Join(folder, name), tmp); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	if err := os.Remove(filepath.Join(folder, backup.VerifiedDir, name+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete %s: verification record: %w", name, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	fmt.Fprintf(m.Stderr, "removed %s\n", name)
	return nil
}
