package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/store"
)

// ErrTrialRestore means a backup whose files all match its manifest did
// not restore, or restored into a state that does not hold together: what
// [Verify] with Deep finds and checksums cannot. It matches [ErrVerify].
var ErrTrialRestore error = verifyError("trial restore failed")

// verifyDeep is [Verify] with Deep: the checks of verify, then the
// trial restore.
func verifyDeep(ctx context.Context, dir string, opts VerifyOptions) (*format.Manifest, error) {
	if opts.Local = localDB(opts.Local); opts.Local == nil {
		return nil, errNoLocal
	}
	m, err := verify(ctx, dir, VerifyOptions{Keys: opts.Keys, Progress: opts.Progress})
	if err != nil {
		return m, err
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "bitnobi-verify-")
	if err != nil {
		return m, fmt.Errorf("verify: trial restore: %w", err)
	}
	defer os.RemoveAll(tmp)
	target := filepath.Join(tmp, "data")
	_, err = Restore(ctx, RestoreOptions{
		Backup:          dir,
		DataDir:         target,
		Local:           opts.Local,
		KeyFile:         opts.KeyFile,
		Keys:            opts.Keys,
		DiscardPrevious: true,
		RestoredBy:      "bitnobi backups verify --deep",
		Progress:        opts.Progress,
		Logger:          slog.New(slog.DiscardHandler),
	})
	if err != nil {
		if errors.Is(err, ErrKeyMissing) || errors.Is(err, ErrKeyUnusable) || errors.Is(err, ErrKeyMismatch) || errors.Is(err, ErrKeyRequired) ||
			errors.Is(err, ErrWrongKey) || errors.Is(err, ErrNoSpace) || errors.Is(err, context.Canceled) ||
			errors.Is(err, ErrNewerVersion) {
			return m, err // not the backup's fault
		}
		return m, &HintError{Err: fmt.Errorf("%w: %w", ErrTrialRestore, err), Hint: Hint(err)}
	}
	if err := checkRestored(ctx, opts.Local, target); err != nil {
		return m, &HintError{Err: fmt.Errorf("%w: %w", ErrTrialRestore, err), Hint: "restore from another backup"}
	}
	return m, nil
}

// checkRestored checks the referential integrity of a restored data
// directory.
func checkRestored(ctx context.Context, local LocalDB, dataDir string) error {
	dir := datadir.Dir(dataDir)
	db, err := local.OpenNoMigrate(ctx, dir.DB())
	if err != nil {
		return err
	}
	defer db.Close()
	blobs := blob.NewStore(dir.Blobs())
	db.Blobs = blobs
	var problems []string
	add := func(format string, args ...any) bool {
		problems = append(problems, fmt.Sprintf(format, args...))
		return len(problems) < maxReported
	}
	err = db.ReadTx(ctx, func(tx *store.Tx) error {
		// Every foreign key resolves.
		broken, err := db.Dialect.BrokenReferences(ctx, tx, maxReported)
		if err != nil {
			return err
		}
		problems = append(problems, broken...)

		// Every blob row has its file, with the right content.
		rows, err := tx.Query(ctx, `SELECT id, size FROM blobs ORDER BY id`)
		if err != nil {
			return fmt.Errorf("check blobs: %w", err)
		}
		defer rows.Close()
		for rows.Next() && len(problems) < maxReported {
			var id string
			var size int64
			if err := rows.Scan(&id, &size); err != nil {
				return fmt.Errorf("check blobs: %w", err)
			}
			if !blob.ValidID(id) {
				add("blobs row %q is not a blob id", id)
				continue
			}
			sum, n, err := blob.HashFile(blobs.Path(id))
			switch {
			case err != nil:
				add("blob %s has no readable file: %v", id, err)
			case sum != id || n != size:
				add("blob %s: the file has %d bytes with SHA-256 %s, the row says %d bytes", id, n, sum, size)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("check blobs: %w", err)
		}

		// The audit chain verifies, across the sealed segments (each
		// file read, hashed and decoded) and the live tail.
		if _, _, err := db.VerifyAudit(ctx, tx); err != nil {
			add("audit log: %v", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch len(problems) {
	case 0:
	case 1:
		return fmt.Errorf("the restored state has a problem: %s", problems[0])
	default:
		return fmt.Errorf("the restored state has %d problems: %s", len(problems), strings.Join(problems, "; "))
	}
	return nil
}
