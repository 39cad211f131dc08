package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/store"
)

// ErrTrialRestore means a backup whose files all match its manifest did
// not restore, or restored into a state that does not hold together: what
// [VerifyDeep] finds and checksums cannot. It matches [ErrVerify].
var ErrTrialRestore error = verifyError("trial restore failed")

// DeepOptions configures [VerifyDeep].
type DeepOptions struct {
	// KeyFile is the master key the trial restore of a plain backup
	// needs, as for [RestoreOptions.KeyFile]; it must be the one the
	// backup was made with. Required for a plain backup: the temporary
	// data directory holds no key.
	KeyFile string
	// Keys unlocks an encrypted backup (which carries its master key);
	// nil for a plain one.
	Keys *Keys
	// TempDir is where the temporary data directory is made ("" means
	// os.TempDir()). It needs room for the restored state.
	TempDir string
	// Progress, if set, is called as work advances.
	Progress func(Progress)
	// Local builds and opens the trial restore's database file; nil
	// means the registered engine (see [LocalDB]).
	Local LocalDB
}

// VerifyDeep checks the backup in dir as [VerifyWith] does, then restores it
// with [Restore] into a temporary data directory, which it removes after,
// and checks the restored state: every foreign key resolves
// ([store.Dialect].BrokenReferences), every row of the blobs table has its file
// with the SHA-256 and size recorded, and the audit log's hash chain
// verifies. So it answers "will this backup restore?" for a backup whose
// files are intact but whose content does not hold together, such as a
// table file rewritten, with a manifest to match, to refer to a user who
// is not there.
//
// An error about the backup matches [ErrVerify] ([ErrTrialRestore] for
// what only the trial restore found); a missing or wrong key gives the
// errors of [Restore] ([ErrKeyMissing], [ErrKeyUnusable], [ErrKeyMismatch],
// [ErrKeyRequired], [ErrWrongKey]), which say nothing about the backup.
func VerifyDeep(ctx context.Context, dir string, opts DeepOptions) (*Manifest, error) {
	if opts.Local = localDB(opts.Local); opts.Local == nil {
		return nil, errNoLocal
	}
	m, err := VerifyWith(ctx, dir, VerifyOptions{Keys: opts.Keys, Progress: opts.Progress})
	if err != nil {
		return m, err
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "bitnobi-verify-")
	if err != nil {
		return m, fmt.Errorf("verify: trial restore: %w", err)
	}
	defer os.RemoveAll(tmp)
	target := filepath.Join(tmp, "data")
	_, err = Restore(ctx, dir, target, RestoreOptions{
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
